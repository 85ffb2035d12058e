"""Pieces every console graphic shares: the root element with its accessible name, numbers
written as coordinates, and checked element ids.

Graphics are built as lists of strings joined once; every piece of text from outside (labels,
translations, cell ids) goes through ``markupsafe.escape``, which also escapes quotes, so the
same call is safe in element content and in attribute values.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from markupsafe import Markup, escape

_ID_PREFIX = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,39}")


def checked_id_prefix(prefix: str) -> str:
    """The prefix of a graphic's element ids, which must be unique on the page (two graphics
    on one page each need their own) and safe inside ``url(#…)`` without escaping."""
    if not _ID_PREFIX.fullmatch(prefix):
        raise ValueError(
            f"id_prefix must be a letter then up to 39 letters, digits, '-' or '_', got {prefix!r}"
        )
    return prefix


def coordinate(value: float) -> str:
    """A coordinate to one decimal: a tenth of a viewBox unit is finer than a screen shows at
    the sizes drawn here, and fixed rounding keeps the output the same bytes for the same
    input."""
    return f"{value:.1f}"


def points(flat: Sequence[float]) -> str:
    """The ``points`` attribute of a polygon or polyline from flat [x0, y0, x1, y1, …]."""
    if len(flat) % 2:
        raise ValueError(f"points need x, y pairs; got {len(flat)} numbers")
    # One %-format per shape, not one call per number: a 2,000-cell map writes ~24,000
    # numbers, and per-number formatting was a large part of its render time.
    return " ".join(["%.1f,%.1f"] * (len(flat) // 2)) % tuple(flat)


def text(value: str) -> str:
    """Outside text made safe for SVG content and attribute values."""
    return str(escape(value))


def document(
    *,
    width: float,
    height: float,
    role: str,
    css_class: str,
    id_prefix: str,
    title: str,
    description: str,
    body: Iterable[str],
) -> Markup:
    """The whole ``<svg>``: named by its <title> and described by its <desc> for screen
    readers, sized by its viewBox only, so the page's stylesheet decides how wide it is."""
    title_id, desc_id = f"{id_prefix}-title", f"{id_prefix}-desc"
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {coordinate(width)} '
        f'{coordinate(height)}" role="{role}" aria-labelledby="{title_id}" '
        f'aria-describedby="{desc_id}" class="{css_class}">'
        f'<title id="{title_id}">{text(title)}</title>'
        f'<desc id="{desc_id}">{text(description)}</desc>'
    )
    # Every piece of body was built from escaped text above; Markup tells Jinja not to
    # escape the finished element again.
    return Markup(head + "".join(body) + "</svg>")  # noqa: S704


def wrapped_lines(words: str, max_chars: int) -> list[str]:
    """A note split at spaces into lines of at most ``max_chars`` characters (a longer word
    keeps a line of its own): SVG text does not wrap by itself."""
    lines: list[str] = []
    current = ""
    for word in words.split():
        if current and len(current) + 1 + len(word) > max_chars:
            lines.append(current)
            current = word
        else:
            current = f"{current} {word}" if current else word
    if current:
        lines.append(current)
    return lines
