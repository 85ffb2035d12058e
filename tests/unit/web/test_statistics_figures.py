"""The explorer's chart and map figures: listed cells summed per period or area, the rate
and its Wilson interval worked out here from the textbook formula."""

from __future__ import annotations

import math

import pytest

from api.web.statistics_figures import figures_by
from schemas.stats import Dimension, StatsRow

Z = 1.959963984540054


def row(month: str, area: str, not_identified: int, identified: int, unclear: int) -> StatsRow:
    # rate and interval of the cell itself do not enter the sums
    return StatsRow(
        month=month,
        area=area,
        total=not_identified + identified + unclear,
        not_identified=not_identified,
        identified=identified,
        unclear=unclear,
        rate_not_identified=None,
        ci_low=None,
        ci_high=None,
        suppressed=False,
    )


def wilson(k: int, n: int) -> tuple[float, float]:
    p = k / n
    centre = p + Z * Z / (2 * n)
    spread = Z * math.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n))
    return (centre - spread) / (1 + Z * Z / n), (centre + spread) / (1 + Z * Z / n)


ROWS = [
    row("2025-04", "87a", 6, 6, 0),
    row("2025-03", "87a", 8, 3, 1),
    row("2025-03", "87b", 12, 0, 0),
    row("2025-03", "87c", 0, 0, 11),
]


def test_one_figure_per_period_summed_over_its_cells_in_order() -> None:
    march, april = figures_by(ROWS, Dimension.MONTH)
    assert (march.key, march.total, april.key, april.total) == ("2025-03", 35, "2025-04", 12)
    # March: 8 + 12 not identified of 8 + 3 + 12 decided.
    assert march.rate == round(20 / 23, 4)
    low, high = wilson(20, 23)
    assert march.ci_low == pytest.approx(low, abs=5e-5)
    assert march.ci_high == pytest.approx(high, abs=5e-5)
    assert april.rate == 0.5


def test_an_area_with_only_unclear_answers_has_no_rate() -> None:
    by_area = {figure.key: figure for figure in figures_by(ROWS, Dimension.AREA)}
    assert sorted(by_area) == ["87a", "87b", "87c"]
    unclear = by_area["87c"]
    assert (unclear.rate, unclear.ci_low, unclear.ci_high, unclear.total) == (None, None, None, 11)
    # 12 of 12 not identified: the upper bound is exactly 1.
    assert (by_area["87b"].rate, by_area["87b"].ci_high) == (1.0, 1.0)
    assert by_area["87a"].total == 24


def test_no_rows_no_figures() -> None:
    assert figures_by([], Dimension.MONTH) == []
