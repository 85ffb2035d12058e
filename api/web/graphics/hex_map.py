"""A map of H3 areas as hexagons in SVG, coloured by the not-identified rate: no tiles, no
script, nothing fetched.

Privacy: the statistics never list an area below the suppression threshold, and this map
draws only the areas it is given. An area not listed is not drawn at all (never as zero or as
"suppressed", which would reveal that something is there), and the legend says in words what an
undrawn area may mean. An area that is listed but has no rate (no identified/not-identified
answers, only unclear ones) is drawn hatched, with its own legend entry.

No inline style and no <style> element (the Content-Security-Policy forbids them): the look is
given by presentation attributes, which any rule of the page's stylesheet overrides, on these
classes:

- ``ps-chart``, ``ps-hex-map``: the <svg> root
- ``ps-cells``: the group of all hexagons (it carries their outline)
- ``ps-cell``: every hexagon, plus ``ps-bin-0`` to ``ps-bin-4`` (rate bins, low to high) or
  ``ps-no-rate`` (listed, but no rate); each has a <title> for tooltips and screen readers
- ``ps-legend-title``, ``ps-legend-label``: legend text; ``ps-legend-swatch``: its squares
- ``ps-legend-note``: the note on areas not drawn
- ``ps-empty``: the message shown when no area is listed
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import h3
from markupsafe import Markup

from api.web.graphics.colour_scale import RATE_BINS, bin_index
from api.web.graphics.figures import check_figure
from api.web.graphics.hex_geometry import project_cells
from api.web.graphics.numbers import format_interval
from api.web.graphics.svg import (
    checked_id_prefix,
    coordinate,
    document,
    points,
    text,
    wrapped_lines,
)
from api.web.graphics.wording import RateWording, describe_rate

WIDTH = 640
MAP_HEIGHT = 440
PADDING = 16
MIN_CELL_RADIUS = 2.5
"""Pixels from a hexagon's centre to a corner below which it is enlarged to stay visible."""
RESOLUTIONS = range(5, 8)
"""The area resolutions the statistics offer."""
NOTE_CHARS = 92
"""Characters per line of the legend note: about the width at 12px."""

CELL_STROKE = "#666666"
TEXT_FILL = "#333333"
HATCH_INK = "#666666"
HATCH_PAPER = "#ffffff"


@dataclass(frozen=True, slots=True)
class CellRate:
    """One listed area's figures: an H3 cell of resolution 5 to 7 and its rate, interval and
    total; rate and interval are None together."""

    cell: str
    rate: float | None
    ci_low: float | None
    ci_high: float | None
    total: int


@dataclass(frozen=True, slots=True, kw_only=True)
class MapText:
    """The map's translated words. ``absent_note`` is the sentence on areas not drawn, e.g.
    "Areas not drawn: no incidents, or fewer than 11 incidents (withheld)"."""

    title: str
    description: str
    legend_title: str
    absent_note: str
    empty: str
    wording: RateWording


def _checked(cells: Sequence[CellRate]) -> list[CellRate]:
    """The cells sorted by id (the same bytes for the same set, whatever the order given);
    raises ValueError on a bad cell, a resolution outside 5 to 7 or mixed, or a
    repeated cell."""
    resolutions: set[int] = set()
    seen: set[str] = set()
    for item in cells:
        if not isinstance(item.cell, str) or not h3.is_valid_cell(item.cell):
            raise ValueError(f"{item.cell!r} is not an H3 cell")
        resolution = h3.get_resolution(item.cell)
        if resolution not in RESOLUTIONS:
            raise ValueError(f"cell {item.cell} has resolution {resolution}, not 5 to 7")
        resolutions.add(resolution)
        if item.cell in seen:
            raise ValueError(f"cell {item.cell} is listed twice")
        seen.add(item.cell)
        check_figure(item.rate, item.ci_low, item.ci_high, item.total, item.cell)
    if len(resolutions) > 1:
        raise ValueError(f"cells mix resolutions {sorted(resolutions)}")
    return sorted(cells, key=lambda item: item.cell)


def _hatch(pattern_id: str) -> str:
    return (
        f'<defs><pattern id="{pattern_id}" patternUnits="userSpaceOnUse" width="6" height="6" '
        f'patternTransform="rotate(45)"><rect width="6" height="6" fill="{HATCH_PAPER}"/>'
        f'<line x1="0" y1="0" x2="0" y2="6" stroke="{HATCH_INK}" stroke-width="2"/>'
        f"</pattern></defs>"
    )


def _hexagons(cells: list[CellRate], pattern_id: str, wording: RateWording) -> list[str]:
    polygons = project_cells(
        [item.cell for item in cells],
        left=PADDING,
        top=PADDING,
        width=WIDTH - 2 * PADDING,
        height=MAP_HEIGHT - 2 * PADDING,
        min_radius=MIN_CELL_RADIUS,
    )
    parts: list[str] = []
    for item, corners in zip(cells, polygons, strict=True):
        if item.rate is None:
            css, fill = "ps-cell ps-no-rate", f"url(#{pattern_id})"
        else:
            index = bin_index(item.rate)
            css, fill = f"ps-cell ps-bin-{index}", RATE_BINS[index].fill
        tooltip = describe_rate(
            item.cell, item.rate, item.ci_low, item.ci_high, item.total, wording
        )
        parts.append(
            f'<polygon class="{css}" role="img" points="{points(corners)}" fill="{fill}">'
            f"<title>{text(tooltip)}</title></polygon>"
        )
    # The outline is set once on the group, which every hexagon inherits.
    return [
        f'<g class="ps-cells" stroke="{CELL_STROKE}" stroke-width="0.5">',
        *parts,
        "</g>",
    ]


def _swatch(x: float, y: float, fill: str, css: str) -> str:
    return (
        f'<rect class="ps-legend-swatch {css}" aria-hidden="true" x="{coordinate(x)}" '
        f'y="{coordinate(y)}" width="16" height="16" fill="{fill}" stroke="{CELL_STROKE}" '
        f'stroke-width="0.5"/>'
    )


def _label(x: float, y: float, words: str, css: str = "ps-legend-label") -> str:
    return (
        f'<text class="{css}" x="{coordinate(x)}" y="{coordinate(y)}" font-size="12" '
        f'fill="{TEXT_FILL}">{text(words)}</text>'
    )


def _legend(map_text: MapText, pattern_id: str, top: float) -> tuple[list[str], float]:
    """The legend's elements and the y where it ends."""
    decimal_mark = map_text.wording.decimal_mark
    parts = [_label(PADDING, top + 14, map_text.legend_title, "ps-legend-title")]
    row = top + 24
    for index, rate_bin in enumerate(RATE_BINS):
        x = PADDING + index * 96
        parts.append(_swatch(x, row, rate_bin.fill, f"ps-bin-{index}"))
        bounds = format_interval(rate_bin.low, rate_bin.high, digits=0, decimal_mark=decimal_mark)
        parts.append(_label(x + 22, row + 12, bounds))
    row += 26
    parts.append(_swatch(PADDING, row, f"url(#{pattern_id})", "ps-no-rate"))
    parts.append(_label(PADDING + 22, row + 12, map_text.wording.no_rate))
    row += 26
    note, end = _note(map_text.absent_note, row)
    return parts + note, end


def _note(words: str, top: float) -> tuple[list[str], float]:
    lines = wrapped_lines(words, NOTE_CHARS)
    parts = [
        _label(PADDING, top + 12 + 16 * index, line, "ps-legend-note")
        for index, line in enumerate(lines)
    ]
    return parts, top + 16 * len(lines) + 8


def render_hex_map(
    cells: Sequence[CellRate], map_text: MapText, *, id_prefix: str = "hex-map"
) -> Markup:
    """The map and its legend as one <svg> element, safe to put in a template as is.

    Only the given cells are drawn. ``id_prefix`` must be unique on the page. Raises
    ValueError (TypeError for wrong types) on a cell that is not H3, of a resolution outside
    5 to 7 or mixed, listed twice, or with a rate outside [0, 1] or outside its interval.
    """
    prefix = checked_id_prefix(id_prefix)
    listed = _checked(cells)
    pattern_id = f"{prefix}-no-rate"
    body = [_hatch(pattern_id)]
    if listed:
        body += _hexagons(listed, pattern_id, map_text.wording)
        legend, height = _legend(map_text, pattern_id, MAP_HEIGHT)
    else:
        body.append(
            f'<text class="ps-empty" x="{WIDTH // 2}" y="{MAP_HEIGHT // 2}" '
            f'text-anchor="middle" dominant-baseline="middle" font-size="14" '
            f'fill="{TEXT_FILL}">{text(map_text.empty)}</text>'
        )
        legend, height = _note(map_text.absent_note, MAP_HEIGHT)
    return document(
        width=WIDTH,
        height=height,
        role="group",
        css_class="ps-chart ps-hex-map",
        id_prefix=prefix,
        title=map_text.title,
        description=map_text.description,
        body=body + legend,
    )
