"""The explorer's chart and map figures from the table it shows: one figure per period (the
chart) or per area (the map), summed over the listed cells that share it.

Only published cells are summed, so nothing here is finer or smaller than the table; a cell
left out of the table (below the threshold) is left out of the sums too, and the page says so.
When the table is grouped by the period (or the area) alone, each sum is one cell and the
figure is the table's own. Sums, rates and Wilson intervals are computed on whole columns at
once: the table can have thousands of cells.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from schemas.stats import Dimension, StatsRow
from storage.statistics.published import rounded
from storage.statistics.wilson import wilson_intervals


@dataclass(frozen=True, slots=True)
class Figure:
    key: str
    rate: float | None
    ci_low: float | None
    ci_high: float | None
    total: int


def figures_by(rows: Sequence[StatsRow], dimension: Dimension) -> list[Figure]:
    """One figure per value of ``dimension`` (which the rows must be grouped by), in order of
    that value."""
    if not rows:
        return []
    index: dict[str, int] = {}
    name = dimension.value
    positions = [index.setdefault(getattr(row, name), len(index)) for row in rows]
    size = len(index)

    def summed(column: str) -> np.ndarray:
        values = np.fromiter((getattr(row, column) for row in rows), np.int64, len(rows))
        return np.bincount(positions, weights=values, minlength=size).astype(np.int64)

    not_identified, identified = summed("not_identified"), summed("identified")
    totals = summed("total")
    decided = not_identified + identified
    low, high = wilson_intervals(not_identified, decided)
    with np.errstate(invalid="ignore", divide="ignore"):
        rates = not_identified / decided
    figures = [
        Figure(key, None, None, None, total) if d == 0 else Figure(key, rate, lo, hi, total)
        for key, total, d, rate, lo, hi in zip(
            index,
            totals.tolist(),
            decided.tolist(),
            rounded(rates),
            rounded(low),
            rounded(high),
            strict=True,
        )
    ]
    figures.sort(key=lambda figure: figure.key)
    return figures
