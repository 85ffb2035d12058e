"""A bounded walk over the ISO-BMFF boxes of an uploaded MP4/MOV, for the provenance reader:
the XMP packets (a top-level XMP ``uuid`` box, ``moov/udta/XMP_``, a track's ``udta/XMP_``),
whether a C2PA manifest store is embedded, and whether any other ``uuid`` box is there.

Only box headers are read, by seeking; the media data (``mdat``) is never read, and a box's
payload is read only when it is XMP and at most ``MAX_XMP_BYTES`` long. Hostile files never
raise: a broken box ends the walk with what was found so far.
"""

from __future__ import annotations

import contextlib
import struct
from dataclasses import dataclass, field
from typing import BinaryIO, Final

MAX_XMP_BYTES: Final = 2 * 1024 * 1024
XMP_UUID: Final = bytes.fromhex("be7acfcb97a942e89c71999491e3afac")
C2PA_UUID: Final = bytes.fromhex("d8fec3d61b0e483c92975828877ec481")
_CONTAINERS: Final = frozenset({b"moov", b"trak", b"udta", b"meta"})
_MAX_BOXES: Final = 10_000
_MAX_DEPTH: Final = 4


@dataclass(slots=True)
class BoxFacts:
    xmp: list[bytes] = field(default_factory=list)
    c2pa: bool = False
    """A C2PA manifest store (its ``uuid`` box) is embedded."""
    uuid_boxes: int = 0
    """``uuid`` boxes of any kind (XMP, C2PA, vendors' private data)."""


def scan_boxes(file: BinaryIO, size: int) -> BoxFacts:
    facts = BoxFacts()
    with contextlib.suppress(OSError, ValueError, struct.error):
        _walk(file, 0, size, 0, facts, [0])
    return facts


def _walk(
    file: BinaryIO, start: int, end: int, depth: int, facts: BoxFacts, count: list[int]
) -> None:
    pos = start
    while pos + 8 <= end:
        count[0] += 1
        if count[0] > _MAX_BOXES:
            return
        file.seek(pos)
        header = file.read(8)
        if len(header) < 8:
            return
        length, kind = struct.unpack(">I4s", header)
        header_size = 8
        if length == 1:
            large = file.read(8)
            if len(large) < 8:
                return
            length = struct.unpack(">Q", large)[0]
            header_size = 16
        elif length == 0:
            length = end - pos
        if length < header_size or pos + length > end:
            length = end - pos  # a box running past its parent: read what is there
            if length < header_size:
                return
        body = pos + header_size
        box_end = pos + length
        if kind == b"uuid":
            facts.uuid_boxes += 1
            ident = file.read(16)
            if ident == C2PA_UUID:
                facts.c2pa = True
            elif ident == XMP_UUID and box_end - body - 16 <= MAX_XMP_BYTES:
                facts.xmp.append(file.read(box_end - body - 16))
        elif kind == b"XMP_" and box_end - body <= MAX_XMP_BYTES:
            facts.xmp.append(file.read(box_end - body))
        elif kind in _CONTAINERS and depth < _MAX_DEPTH:
            # ``meta`` is a full box (4 bytes of version and flags) in MP4, a plain one in MOV.
            child = body
            if kind == b"meta":
                peek = file.read(8)
                if len(peek) == 8 and peek[4:8] != b"hdlr":
                    child += 4
            _walk(file, child, box_end, depth + 1, facts, count)
        pos = box_end
