"""Identification statistics as published: the period snapped to whole weeks or months, counts
from the base grid with small groups left out (storage.statistics.disclosure), rates with
Wilson intervals, and a version for citing the table."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Final

import asyncpg
import msgspec
import numpy as np
import numpy.typing as npt
from msgspec import UNSET

from schemas.stats import Dimension, StatsRow
from storage.incidents import folder
from storage.incidents.grouping import DEFAULT_GROUPING, GroupingRule
from storage.statistics.cube import placed_cells_sql, range_generation
from storage.statistics.query import StatsQuery, period_start, snapped
from storage.statistics.wilson import wilson_intervals


@dataclass(frozen=True, slots=True)
class Table:
    rows: list[StatsRow]
    dataset_version: str
    date_from: date | None
    date_to: date | None
    """The period answered (whole weeks or months), inclusive; None: unbounded."""


def publish_records(records: Sequence[asyncpg.Record], query: StatsQuery, threshold: int) -> Table:
    """Rows with rates and Wilson intervals (vectorised) for the cells of a snapped query:
    records of its keys in group_by order, then the three counts, sorted by key."""
    width = len(query.group_by)
    counts = np.array([tuple(record[width:]) for record in records], dtype=np.int64)
    counts = counts.reshape(len(records), 3)
    not_identified, identified, unclear = counts[:, 0], counts[:, 1], counts[:, 2]
    decided = not_identified + identified
    low, high = wilson_intervals(not_identified, decided)
    with np.errstate(invalid="ignore", divide="ignore"):
        rates = not_identified / decided
    # Every key column named (absent ones UNSET, as omitted): keyword arguments built per
    # row with ** cost twenty times as much as the rest of the row.
    unset = [UNSET] * len(records)
    keys = {d: [record[i] for record in records] for i, d in enumerate(query.group_by)}
    rows = [
        StatsRow(
            month=month,
            week=week,
            area=area,
            agency=agency,
            masked=masked,
            kind=kind,
            total=n + i + u,
            not_identified=n,
            identified=i,
            unclear=u,
            rate_not_identified=None if d == 0 else r,
            ci_low=None if d == 0 else lo,
            ci_high=None if d == 0 else hi,
            suppressed=False,
        )
        for month, week, area, agency, masked, kind, n, i, u, d, r, lo, hi in zip(
            *(keys.get(d, unset) for d in KEY_ORDER),
            not_identified.tolist(),
            identified.tolist(),
            unclear.tolist(),
            decided.tolist(),
            rounded(rates),
            rounded(low),
            rounded(high),
            strict=True,
        )
    ]
    return Table(
        rows=rows,
        dataset_version=dataset_version(query, threshold, rows),
        date_from=query.date_from,
        date_to=query.date_to,
    )


KEY_ORDER: Final = (
    Dimension.MONTH,
    Dimension.WEEK,
    Dimension.AREA,
    Dimension.AGENCY,
    Dimension.MASKED,
    Dimension.KIND,
)
ROUNDED_PLACES: Final = 4


def rounded(values: npt.NDArray[np.float64]) -> list[float]:
    """``round(value, 4)`` of each value (NaN stays NaN), vectorised: rint of the value
    times 10**4, divided back, is the same float unless the product lands within rounding
    error of a tie, and those few are rounded one by one."""
    scale = 10.0**ROUNDED_PLACES
    scaled = values * scale
    result = np.rint(scaled) / scale
    near_tie = np.abs(scaled - np.floor(scaled) - 0.5) < 1e-6
    for index in np.flatnonzero(near_tie).tolist():
        result[index] = round(float(values[index]), ROUNDED_PLACES)
    out: list[float] = result.tolist()
    return out


def dataset_version(query: StatsQuery, threshold: int, rows: Sequence[StatsRow]) -> str:
    """A digest of what is published (filters of the period answered, threshold, rows): the
    same data gives the same version on any day and any replica, and any change to the table
    gives a new one."""
    digest = hashlib.sha256()
    digest.update(msgspec.json.encode([query.filters, query.time_zone.key, threshold]))
    digest.update(msgspec.json.encode(rows))
    return digest.hexdigest()[:24]


PLACE_ATTEMPTS = 3
"""A fold may commit between placing a query's months and reading them: then again."""


class TableCache:
    """Published tables of this process, valid while no count in the months a table covers
    changes (the fold marks each month it changes with its generation). Under live ingest
    tables of past periods therefore stay cached. Least recently used tables go first."""

    def __init__(self, capacity: int = 256) -> None:
        self.capacity = capacity
        self._tables: OrderedDict[tuple[object, ...], Table] = OrderedDict()

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
    service's configured one, and places the groups of the months it changed).

    On a connection outside a transaction the fold and the placing commit by themselves
    (the folder's lock is held only that long) and the table is then summed in one snapshot
    from the stored groups, checked there to be placed at the months' generations; inside
    a caller's transaction everything runs in that."""
    await folder.fold(conn, rule, query.time_zone.key)
    whole = snapped(query)
    family = folder.Family(threshold, whole.period, whole.status, whole.unit)
    months = _months(whole)
    if conn.is_in_transaction():
        await _placed(conn, family, months)
        return await _published(conn, whole, threshold, cache)
    for _ in range(PLACE_ATTEMPTS):
        await _placed(conn, family, months)
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            if not await folder.stale_months(conn, family, *months):
                return await _published(conn, whole, threshold, cache)
    raise RuntimeError(f"the months of {whole} kept changing while they were placed")


def _months(query: StatsQuery) -> tuple[date | None, date | None]:
    return (
        None if query.date_from is None else period_start(query.date_from, "month"),
        None if query.date_to is None else period_start(query.date_to, "month"),
    )


async def _placed(
    conn: asyncpg.Connection, family: folder.Family, months: tuple[date | None, date | None]
) -> None:
    """The family's groups of the query's months placed at their current generations: the
    folder places what it has not (only a read when it has, the usual case)."""
    if await folder.stale_months(conn, family, *months):
        await folder.place(conn, family, *months)


async def _published(
    conn: asyncpg.Connection, query: StatsQuery, threshold: int, cache: TableCache | None
) -> Table:
    key = (await range_generation(conn, query), query, threshold)
    if cache is not None and (table := cache.get(key)) is not None:
        return table
    sql, args = placed_cells_sql(query, threshold)
    table = publish_records(await conn.fetch(sql, *args), query, threshold)
    if cache is not None:
        cache.put(key, table)
    return table
