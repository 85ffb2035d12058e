"""The not-identified rate over time, with its Wilson 95% interval as a band, as server-rendered
SVG.

A period with no rate (not listed by the statistics, or no identified/not-identified answers)
breaks the line and the band there: joining across it would draw a figure nobody measured. A
rate standing alone between two gaps is drawn as a point with a vertical interval bar.

No inline style and no <style> element (the Content-Security-Policy forbids them): the look is
given by presentation attributes, which any rule of the page's stylesheet overrides, on these
classes:

- ``ps-chart``, ``ps-rate-chart``: the <svg> root
- ``ps-grid``: horizontal gridlines; ``ps-axis``: the 0% baseline; ``ps-tick``: a period's tick
- ``ps-tick-label``: tick labels of both axes, plus ``ps-period-label`` on the x axis's;
  ``ps-axis-label``: the two axis titles
- ``ps-band``: the interval band (polygon); ``ps-whisker``: the interval of a lone point (line)
- ``ps-line``: the rate (polyline); ``ps-point``: a rate's marker (circle, with a <title>)
- ``ps-empty``: the message shown when no period has a rate
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup

from api.web.graphics.figures import check_figure
from api.web.graphics.numbers import format_percent
from api.web.graphics.periods import complete_periods
from api.web.graphics.svg import checked_id_prefix, coordinate, document, points, text
from api.web.graphics.wording import RateWording, describe_rate

WIDTH = 640
HEIGHT = 340
PLOT_LEFT = 56
PLOT_RIGHT = WIDTH - 12
PLOT_TOP = 16
PLOT_BOTTOM = HEIGHT - 84
Y_TICKS = 5
"""Gridlines every 100 / Y_TICKS percent."""
CHAR_WIDTH = 6.2
"""The advance of a digit at 11px in common sans-serif fonts (0.56 em)."""
LABEL_GAP = 4.0
LINE_PITCH = 20.0
"""Distance kept between slanted period labels, measured along the axis."""
SLANT = -40
"""Degrees period labels are turned when they do not fit side by side."""
MAX_PERIODS = 1000
"""Beyond this (about 19 years of weeks) the x axis is unreadable: ask for months instead."""

INK = "#3b528b"
TEXT_FILL = "#333333"
GRID_STROKE = "#d9d9d9"


@dataclass(frozen=True, slots=True)
class RatePoint:
    """One period's figures as the statistics give them; rate and interval are None together."""

    period: str
    rate: float | None
    ci_low: float | None
    ci_high: float | None
    total: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ChartText:
    """The chart's translated words."""

    title: str
    description: str
    x_axis: str
    y_axis: str
    empty: str
    wording: RateWording


def _x(index: int, count: int) -> float:
    return PLOT_LEFT + (PLOT_RIGHT - PLOT_LEFT) * (index + 0.5) / count


def _y(proportion: float) -> float:
    return PLOT_BOTTOM - (PLOT_BOTTOM - PLOT_TOP) * proportion


@dataclass(frozen=True, slots=True)
class _Placed:
    """A period with a rate, in pixels."""

    x: float
    rate: float
    low: float
    high: float
    point: RatePoint


def _runs(series: list[RatePoint | None]) -> list[list[_Placed]]:
    """Consecutive periods that have a rate, placed; a period without one ends a run."""
    runs: list[list[_Placed]] = []
    current: list[_Placed] = []
    for index, point in enumerate(series):
        # check_figure made the interval present whenever the rate is.
        if point is None or point.rate is None or point.ci_low is None or point.ci_high is None:
            if current:
                runs.append(current)
                current = []
            continue
        x = _x(index, len(series))
        current.append(_Placed(x, _y(point.rate), _y(point.ci_low), _y(point.ci_high), point))
    if current:
        runs.append(current)
    return runs


def _grid(decimal_mark: str) -> list[str]:
    parts: list[str] = []
    for step in range(Y_TICKS + 1):
        proportion = step / Y_TICKS
        y = coordinate(_y(proportion))
        css = "ps-axis" if step == 0 else "ps-grid"
        stroke = TEXT_FILL if step == 0 else GRID_STROKE
        parts.append(
            f'<line class="{css}" x1="{PLOT_LEFT}" y1="{y}" x2="{PLOT_RIGHT}" y2="{y}" '
            f'stroke="{stroke}" stroke-width="1"/>'
            f'<text class="ps-tick-label" x="{PLOT_LEFT - 8}" y="{y}" text-anchor="end" '
            f'dominant-baseline="middle" font-size="12" fill="{TEXT_FILL}">'
            f"{text(format_percent(proportion, digits=0, decimal_mark=decimal_mark))}</text>"
        )
    return parts


def _period_labels(labels: list[str]) -> list[str]:
    """Period labels under the axis: side by side when they all fit, else slanted, and then
    only every n-th once even slanted ones would touch."""
    count = len(labels)
    if count == 0:
        return []
    slot = (PLOT_RIGHT - PLOT_LEFT) / count
    upright = max(len(label) for label in labels) * CHAR_WIDTH + LABEL_GAP <= slot
    step = 1 if upright else math.ceil(LINE_PITCH / slot)
    label_y = coordinate(PLOT_BOTTOM + 18)
    tick_end = coordinate(PLOT_BOTTOM + 5)
    parts: list[str] = []
    for index in range(0, count, step):
        x = coordinate(_x(index, count))
        placing = (
            'text-anchor="middle"'
            if upright
            else f'text-anchor="end" transform="rotate({SLANT} {x} {label_y})"'
        )
        parts.append(
            f'<line class="ps-tick" x1="{x}" y1="{PLOT_BOTTOM}" x2="{x}" y2="{tick_end}" '
            f'stroke="{TEXT_FILL}" stroke-width="1"/>'
            f'<text class="ps-tick-label ps-period-label" x="{x}" y="{label_y}" {placing} '
            f'font-size="11" fill="{TEXT_FILL}">{text(labels[index])}</text>'
        )
    return parts


def _axis_titles(chart_text: ChartText) -> list[str]:
    middle_x = coordinate((PLOT_LEFT + PLOT_RIGHT) / 2)
    middle_y = coordinate((PLOT_TOP + PLOT_BOTTOM) / 2)
    return [
        f'<text class="ps-axis-label" x="{middle_x}" y="{HEIGHT - 12}" text-anchor="middle" '
        f'font-size="13" fill="{TEXT_FILL}">{text(chart_text.x_axis)}</text>',
        f'<text class="ps-axis-label" x="16" y="{middle_y}" text-anchor="middle" '
        f'transform="rotate(-90 16 {middle_y})" font-size="13" fill="{TEXT_FILL}">'
        f"{text(chart_text.y_axis)}</text>",
    ]


def _figures(series: list[RatePoint | None], wording: RateWording) -> list[str]:
    bands: list[str] = []
    lines: list[str] = []
    markers: list[str] = []
    for run in _runs(series):
        if len(run) == 1:
            alone = run[0]
            x = coordinate(alone.x)
            bands.append(
                f'<line class="ps-whisker" x1="{x}" y1="{coordinate(alone.high)}" x2="{x}" '
                f'y2="{coordinate(alone.low)}" stroke="{INK}" stroke-opacity="0.3" '
                f'stroke-width="6"/>'
            )
        else:
            # Along the upper edge left to right, back along the lower edge right to left.
            outline = [v for p in run for v in (p.x, p.high)]
            outline += [v for p in reversed(run) for v in (p.x, p.low)]
            bands.append(
                f'<polygon class="ps-band" points="{points(outline)}" fill="{INK}" '
                f'fill-opacity="0.2" stroke="none"/>'
            )
            line = [v for p in run for v in (p.x, p.rate)]
            lines.append(
                f'<polyline class="ps-line" points="{points(line)}" '
                f'fill="none" stroke="{INK}" stroke-width="2" stroke-linejoin="round"/>'
            )
        for placed in run:
            point = placed.point
            tooltip = describe_rate(
                point.period, point.rate, point.ci_low, point.ci_high, point.total, wording
            )
            markers.append(
                f'<circle class="ps-point" cx="{coordinate(placed.x)}" '
                f'cy="{coordinate(placed.rate)}" r="3.5" fill="{INK}">'
                f"<title>{text(tooltip)}</title></circle>"
            )
    # Bands under lines under markers, so no band hides a line and every marker is on top.
    return bands + lines + markers


def render_rate_chart(
    series: Sequence[RatePoint], chart_text: ChartText, *, id_prefix: str = "rate-chart"
) -> Markup:
    """The chart as one <svg> element, safe to put in a template as is.

    ``series`` holds months ("2025-11") or ISO weeks ("2025-W46"), strictly increasing; periods
    missing between them are drawn as gaps. ``id_prefix`` must be unique on the page.
    Raises ValueError (TypeError for wrong types) on periods out of order or of mixed kinds,
    and on a rate outside [0, 1] or outside its interval.
    """
    prefix = checked_id_prefix(id_prefix)
    for point in series:
        check_figure(point.rate, point.ci_low, point.ci_high, point.total, point.period)
    labels = complete_periods([point.period for point in series])
    if len(labels) > MAX_PERIODS:
        raise ValueError(f"{len(labels)} periods is more than a chart can show ({MAX_PERIODS})")
    by_period = {point.period: point for point in series}
    completed = [by_period.get(label) for label in labels]

    body = _grid(chart_text.wording.decimal_mark) + _period_labels(labels)
    body += _axis_titles(chart_text)
    if any(point is not None and point.rate is not None for point in completed):
        body += _figures(completed, chart_text.wording)
    else:
        body.append(
            f'<text class="ps-empty" x="{coordinate((PLOT_LEFT + PLOT_RIGHT) / 2)}" '
            f'y="{coordinate((PLOT_TOP + PLOT_BOTTOM) / 2)}" text-anchor="middle" '
            f'dominant-baseline="middle" font-size="14" fill="{TEXT_FILL}">'
            f"{text(chart_text.empty)}</text>"
        )
    return document(
        width=WIDTH,
        height=HEIGHT,
        role="img",
        css_class="ps-chart ps-rate-chart",
        id_prefix=prefix,
        title=chart_text.title,
        description=chart_text.description,
        body=body,
    )
