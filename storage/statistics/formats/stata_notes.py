"""Dataset notes in a Stata .dta file (format 118), which pyreadstat cannot write.

Stata keeps notes as characteristics of `_dta`: `note0` holds how many there are and `note1`,
`note2`, ... the texts. pyreadstat writes an empty `<characteristics>` section; this fills it
and moves the section offsets in the file's `<map>` that lie after it. Layout from Stata's
"dta file format" description (version 118): the map is 14 unsigned 8-byte offsets, and a
characteristic is `<ch>`, a 4-byte length, the variable name and the characteristic name
(129 bytes each, NUL padded) and the NUL-terminated contents, then `</ch>`.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

NAME_BYTES = 129
MAP_ENTRIES = 14
CHARACTERISTICS_ENTRY = 8
EMPTY_SECTION = b"<characteristics></characteristics>"
MAX_NOTE_BYTES = 67_784 - 2 * NAME_BYTES - 1


def add_notes(dta: bytes, notes: Sequence[str]) -> bytes:
    if not dta.startswith(b"<stata_dta><header><release>118</release>"):
        raise ValueError("only format 118 .dta files are supported")
    order = "<" if b"<byteorder>LSF</byteorder>" in dta[:80] else ">"
    section = dta.index(EMPTY_SECTION)
    map_start = dta.index(b"<map>") + len(b"<map>")
    offsets = list(struct.unpack_from(f"{order}{MAP_ENTRIES}Q", dta, map_start))
    if offsets[CHARACTERISTICS_ENTRY] != section:
        raise ValueError("the map does not point at the characteristics section")
    entries = [
        _characteristic(order, "_dta", "note0", str(len(notes))),
        *(
            _characteristic(order, "_dta", f"note{n}", text)
            for n, text in enumerate(notes, start=1)
        ),
    ]
    inserted = b"".join(entries)
    moved = [o + len(inserted) if o > section else o for o in offsets]
    insert_at = section + len(b"<characteristics>")
    return (
        dta[:map_start]
        + struct.pack(f"{order}{MAP_ENTRIES}Q", *moved)
        + dta[map_start + 8 * MAP_ENTRIES : insert_at]
        + inserted
        + dta[insert_at:]
    )


def _characteristic(order: str, variable: str, name: str, text: str) -> bytes:
    contents = text.encode()[:MAX_NOTE_BYTES].decode(errors="ignore").encode()
    body = (
        variable.encode().ljust(NAME_BYTES, b"\0")
        + name.encode().ljust(NAME_BYTES, b"\0")
        + contents
        + b"\0"
    )
    return b"<ch>" + struct.pack(f"{order}I", len(body)) + body + b"</ch>"
