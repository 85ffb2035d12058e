"""Disclosure control for the researcher tier: small groups of incidents are left out of every
table, the same way in every table, so no combination of tables says anything about them.

The threat is subtraction: one table hides a small cell, another table (a coarser grouping, an
overlapping date window) publishes a total that includes it, and the difference gives the
hidden count, or at least its presence. Deciding suppression table by table cannot prevent
that. Here the decision is taken once, on a fixed **base grid**, before any table is made:

* A request family is everything asked of one time unit, status and unit: the time unit is the
  calendar month, or the ISO week when the request groups by week (cut at month boundaries, so
  that week pieces add up to months as well as weeks). Periods only ever cover whole units
  (storage.statistics.query.snapped), so every table of the family is a sum over whole units.
* Within one time unit the incidents (or reports) are placed on a chain of ever coarser
  partitions, ``LEVELS`` below: first res-7 area x agency x masked x kind, then kind, masked
  and agency are dropped in turn, then the area coarsens to res 6 and res 5. At each level
  the incidents not yet placed are grouped by that level's key; a group with at least k of
  them (the suppression threshold) is **kept** at that level, smaller groups go on to the
  next level. What is still left after res 5 is **dropped**: counted in no table at all.
* A table counts an incident only when it was kept at a level at least as fine as the table
  in every dimension (a kept res-6 group cannot be split into res-7 areas, so res-7 tables
  leave it out; an agency table leaves out groups kept after agency was dropped). Because the
  levels form a chain, that is always the finest few levels.

Why nothing about a dropped incident can be recovered: whether a group is kept depends only on
the incidents in it, and every published number is a sum over kept groups, each lying whole
inside one cell of the table. So every published number is a function of the kept groups
alone, and adding or removing a dropped incident changes none of them: no subtraction, across
any tables or date windows of the family, recovers its count or its presence. Every published
cell is at least k (it is made of kept groups), and nothing finer than a kept group (at least
k incidents) is ever published, so the breakdown of a kept group below its level stays hidden.
A grand total (no area) therefore counts what was kept down to res 5: no group of fewer than
k incidents in a res-5 area (about 250 km2) of one month or week ever counts in it.

What this costs: a table shows fewer incidents than exist, and coarse totals are not the sum
of everything; a cell that is published is exact. Limits: a dropped incident is revealed when
a later incident joins its group and pushes it to k (like any count crossing the threshold);
and each family has its own grid: subtracting a week table from a month table can place in
time (week within a month) incidents the week grid left out, and a status=all table minus a
verified one counts the unverified incidents of groups kept in both. An incident left out of
both grids (a quiet area) is in neither difference.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Final

from schemas.stats import Dimension


@dataclass(frozen=True, slots=True)
class Cell:
    """One published row: the grouping-dimension values and the three outcome counts."""

    key: tuple[str, ...]
    """Dimension values, in group_by order."""
    not_identified: int
    identified: int
    unclear: int

    def __post_init__(self) -> None:
        if min(self.not_identified, self.identified, self.unclear) < 0:
            raise ValueError(f"negative count in cell {self.key}")

    @property
    def total(self) -> int:
        return self.not_identified + self.identified + self.unclear


@dataclass(frozen=True, slots=True)
class Level:
    """One partition of the chain: the area resolution and attributes it keeps."""

    area_resolution: int
    attributes: tuple[Dimension, ...]


LEVELS: Final = (
    Level(7, (Dimension.AGENCY, Dimension.MASKED, Dimension.KIND)),
    Level(7, (Dimension.AGENCY, Dimension.MASKED)),
    Level(7, (Dimension.AGENCY,)),
    Level(7, ()),
    Level(6, ()),
    Level(5, ()),
)
"""Finest first, each coarser than the one before. Agency is dropped last because it is the
attribute researchers compare most."""


def levels_counted(group_by: Sequence[Dimension], area_resolution: int) -> int:
    """How many levels, from the finest, a table of this grouping counts: those at least as
    fine as the table in every dimension (always the first, which is finest in all)."""
    attributes = {d for d in group_by if d in (Dimension.AGENCY, Dimension.MASKED, Dimension.KIND)}
    counted = 0
    for level in LEVELS:
        if not attributes <= set(level.attributes):
            break
        if Dimension.AREA in group_by and level.area_resolution < area_resolution:
            break
        counted += 1
    return counted


BaseKey = tuple[Hashable, int, str, str, str]
"""A base cell: (time unit, res-7 area, agency, masked, kind)."""


def kept_levels(
    totals: dict[BaseKey, int], threshold: int, area_parent: Callable[[int, int], int]
) -> dict[BaseKey, int]:
    """The level (index into ``LEVELS``) each base cell is kept at; dropped cells are absent.

    The reference for the SQL in storage.statistics.cube (which does the same with window
    sums): ``totals`` maps each base cell to its count, ``area_parent(area, res)`` gives the
    H3 parent of a res-7 area."""
    if threshold < 1:
        raise ValueError(f"threshold must be >= 1, got {threshold}")

    def group(key: BaseKey, level: Level) -> tuple[object, ...]:
        time, area, agency, masked, kind = key
        attributes = {Dimension.AGENCY: agency, Dimension.MASKED: masked, Dimension.KIND: kind}
        return (
            time,
            area_parent(area, level.area_resolution),
            *(attributes[d] for d in level.attributes),
        )

    kept: dict[BaseKey, int] = {}
    left = {key for key, total in totals.items() if total > 0}
    for index, level in enumerate(LEVELS):
        sizes: dict[tuple[object, ...], int] = {}
        for key in left:
            g = group(key, level)
            sizes[g] = sizes.get(g, 0) + totals[key]
        placed = {key for key in left if sizes[group(key, level)] >= threshold}
        kept.update(dict.fromkeys(placed, index))
        left -= placed
    return kept
