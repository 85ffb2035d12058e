"""Identification statistics as published: the period snapped to whole weeks or months, counts
from the base grid with small groups left out (storage.statistics.disclosure), rates with
Wilson intervals, and a version for citing the table."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import asyncpg
import msgspec

from schemas.stats import Dimension, StatsRow
from storage.incidents import folder
from storage.incidents.grouping import DEFAULT_GROUPING, GroupingRule
from storage.statistics.cube import KeptGroup, cells_of, kept_groups, range_generation
from storage.statistics.disclosure import Cell
from storage.statistics.query import StatsQuery, period_end, period_start, snapped
from storage.statistics.wilson import rate, wilson_interval


@dataclass(frozen=True, slots=True)
class Table:
    rows: list[StatsRow]
    dataset_version: str
    date_from: date | None
    date_to: date | None
    """The period answered (whole weeks or months), inclusive; None: unbounded."""


def publish(cells: Sequence[Cell], query: StatsQuery, threshold: int) -> Table:
    """Rows with rates and intervals for the cells of a snapped query."""
    rows = [_row(query.group_by, cell) for cell in cells]
    return Table(
        rows=rows,
        dataset_version=dataset_version(query, threshold, rows),
        date_from=query.date_from,
        date_to=query.date_to,
    )


def _row(group_by: Sequence[Dimension], cell: Cell) -> StatsRow:
    keys = {d.value: value for d, value in zip(group_by, cell.key, strict=True)}
    decided = cell.not_identified + cell.identified
    interval = wilson_interval(cell.not_identified, decided)
    value = rate(cell.not_identified, decided)
    return StatsRow(
        **keys,
        total=cell.total,
        not_identified=cell.not_identified,
        identified=cell.identified,
        unclear=cell.unclear,
        rate_not_identified=None if value is None else round(value, 4),
        ci_low=None if interval is None else round(interval[0], 4),
        ci_high=None if interval is None else round(interval[1], 4),
        suppressed=False,
    )


def dataset_version(query: StatsQuery, threshold: int, rows: Sequence[StatsRow]) -> str:
    """A digest of what is published (filters of the period answered, threshold, rows): the
    same data gives the same version on any day and any replica, and any change to the table
    gives a new one."""
    digest = hashlib.sha256()
    digest.update(msgspec.json.encode([query.filters, query.time_zone.key, threshold]))
    digest.update(msgspec.json.encode(rows))
    return digest.hexdigest()[:24]


MONTH_GENERATIONS = """
select month, generation from stats_cube_months
where ($1::date is null or month >= $1) and ($2::date is null or month <= $2)
order by month
"""


class TableCache:
    """Published tables of this process, valid while no count in the months a table covers
    changes (the fold marks each month it changes with its generation). Under live ingest
    tables of past periods therefore stay cached. Least recently used tables go first.

    Beneath them, the kept groups of each month (storage.statistics.cube.kept_groups), valid
    while that month's generation stays: a table over months placed before, in any grouping
    and any range, is summed from them without reading the incidents again."""

    def __init__(self, capacity: int = 256, month_capacity: int = 2048) -> None:
        self.capacity = capacity
        self.month_capacity = month_capacity
        self._tables: OrderedDict[tuple[object, ...], Table] = OrderedDict()
        self._months: OrderedDict[tuple[object, ...], list[KeptGroup]] = OrderedDict()

    def get(self, key: tuple[object, ...]) -> Table | None:
        table = self._tables.get(key)
        if table is not None:
            self._tables.move_to_end(key)
        return table

    def put(self, key: tuple[object, ...], table: Table) -> None:
        self._tables[key] = table
        self._tables.move_to_end(key)
        while len(self._tables) > self.capacity:
            self._tables.popitem(last=False)

    def month(self, key: tuple[object, ...]) -> list[KeptGroup] | None:
        groups = self._months.get(key)
        if groups is not None:
            self._months.move_to_end(key)
        return groups

    def put_month(self, key: tuple[object, ...], groups: list[KeptGroup]) -> None:
        self._months[key] = groups
        self._months.move_to_end(key)
        while len(self._months) > self.month_capacity:
            self._months.popitem(last=False)


async def identification_table(
    conn: asyncpg.Connection,
    query: StatsQuery,
    threshold: int,
    cache: TableCache | None = None,
    *,
    rule: GroupingRule = DEFAULT_GROUPING,
) -> Table:
    """The published table for the query's period snapped outward to whole periods, from
    every report committed so far (the folder runs first, grouping with ``rule``: the
    service's configured one).

    On a connection outside a transaction the fold commits by itself (its lock is held only
    that long) and the counting then reads one snapshot, with the months' generations it
    belongs to; inside a caller's transaction everything runs in that."""
    await folder.fold(conn, rule, query.time_zone.key)
    whole = snapped(query)
    if conn.is_in_transaction():
        return await _published(conn, whole, threshold, cache)
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        return await _published(conn, whole, threshold, cache)


async def _published(
    conn: asyncpg.Connection, query: StatsQuery, threshold: int, cache: TableCache | None
) -> Table:
    key = (await range_generation(conn, query), query, threshold)
    if cache is not None and (table := cache.get(key)) is not None:
        return table
    groups = await _kept_groups(conn, query, threshold, cache or TableCache(0, 0))
    table = publish(cells_of(groups, query), query, threshold)
    if cache is not None:
        cache.put(key, table)
    return table


async def _kept_groups(
    conn: asyncpg.Connection, query: StatsQuery, threshold: int, cache: TableCache
) -> list[KeptGroup]:
    """The kept groups of every month the query's period touches (a month with no row in
    stats_cube_months has never counted anything); the months not cached are placed in one
    statement over their span."""
    first = None if query.date_from is None else period_start(query.date_from, "month")
    last = None if query.date_to is None else period_start(query.date_to, "month")
    family = (query.period, query.status, query.unit, query.time_zone.key, threshold)
    groups: list[KeptGroup] = []
    missing: dict[date, tuple[object, ...]] = {}
    for month, generation in await conn.fetch(MONTH_GENERATIONS, first, last):
        key = (*family, month, generation)
        cached = cache.month(key)
        if cached is None:
            missing[month] = key
        else:
            groups.extend(cached)
    if missing:
        start, end = min(missing), period_end(max(missing), "month") + timedelta(days=1)
        placed = await kept_groups(
            conn, query.period, query.status, query.unit, query.time_zone, threshold, start, end
        )
        by_month: dict[date, list[KeptGroup]] = {month: [] for month in missing}
        for group in placed:
            month = group.start.replace(day=1)
            if month in by_month:  # months between the missing ones were cached already
                by_month[month].append(group)
        for month, month_groups in by_month.items():
            cache.put_month(missing[month], month_groups)
            groups.extend(month_groups)
    return groups
