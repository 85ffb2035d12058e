"""Reading the statistics cube (migration 0004): which rollups answer a query, and the SQL.

A date range is answered from whole periods of the query's grain (month, or ISO week when the
query groups by week) in the smallest rollup that has the dimensions asked for, plus the day
rollup for the partial periods at either end. The SQL is assembled only from the allow-listed
fragments below; every value travels as a parameter.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Final, Literal

import asyncpg
import h3.api.basic_int as h3i

from schemas.stats import Dimension
from storage.disclosure import Cell
from storage.stats_query import StatsQuery

Grain = Literal["month", "week", "day"]
# (grain, with area, with agency/masked/kind) -> stats_rollups.id; the day grain has both.
ROLLUPS: Final[dict[tuple[Grain, bool, bool], int]] = {
    ("month", True, True): 1,
    ("month", True, False): 2,
    ("month", False, True): 3,
    ("week", True, True): 4,
    ("week", True, False): 5,
    ("week", False, True): 6,
    ("day", True, True): 7,
}
ATTRIBUTES: Final = frozenset({Dimension.AGENCY, Dimension.MASKED, Dimension.KIND})
CUBE_AREA_RESOLUTION: Final = 7
FOLD = "select fold_statistics($1)"
_DIMENSIONS: Final = {
    Dimension.MONTH: "to_char(c.period, 'YYYY-MM')",
    Dimension.WEEK: """to_char(c.period, 'IYYY-"W"IW')""",
    Dimension.AGENCY: "c.agency",
    Dimension.MASKED: "c.masked",
    Dimension.KIND: "c.kind",
}


@dataclass(frozen=True, slots=True)
class Piece:
    """Cube rows of one rollup with ``start <= period < end`` (None: unbounded)."""

    rollup: int
    start: date | None
    end: date | None


def period_start(day: date, grain: Grain) -> date:
    if grain == "month":
        return day.replace(day=1)
    if grain == "week":
        return day - timedelta(days=day.weekday())
    return day


def next_period(start: date, grain: Grain) -> date:
    if grain == "month":
        return (start.replace(day=1) + timedelta(days=32)).replace(day=1)
    return start + timedelta(days=7 if grain == "week" else 1)


def grain_of(group_by: tuple[Dimension, ...]) -> Grain:
    if Dimension.WEEK in group_by:
        # Weeks straddle months: grouped by both, only days nest in both.
        return "day" if Dimension.MONTH in group_by else "week"
    return "month"


def plan(query: StatsQuery) -> list[Piece]:
    """The rollups and period ranges that together cover exactly the query's days."""
    grain = grain_of(query.group_by)
    dims = set(query.group_by)
    with_area, with_attributes = Dimension.AREA in dims, bool(dims & ATTRIBUTES)
    if grain == "day" or (with_area and with_attributes):
        rollup = ROLLUPS[(grain, True, True)]
    else:
        rollup = ROLLUPS[(grain, with_area, with_attributes or not with_area)]
    day_rollup = ROLLUPS[("day", True, True)]
    start = query.date_from
    end = query.date_to + timedelta(days=1) if query.date_to is not None else None
    if query.before_day is not None and (end is None or query.before_day < end):
        end = query.before_day
    if grain == "day":
        return [Piece(rollup, start, end)]
    whole_start = start
    if start is not None and period_start(start, grain) != start:
        whole_start = next_period(period_start(start, grain), grain)
    whole_end = period_start(end, grain) if end is not None else None
    if whole_start is not None and whole_end is not None and whole_start >= whole_end:
        return [Piece(day_rollup, start, end)]  # no whole period inside the range
    pieces = [Piece(rollup, whole_start, whole_end)]
    if start is not None and whole_start is not None and whole_start > start:
        pieces.append(Piece(day_rollup, start, whole_start))
    if end is not None and whole_end is not None and whole_end < end:
        pieces.append(Piece(day_rollup, whole_end, end))
    return pieces


def build_sql(query: StatsQuery) -> tuple[str, list[object]]:
    args: list[object] = [query.status.value, query.unit.value]

    def param(value: object, sql_type: str) -> str:
        args.append(value)
        return f"${len(args)}::{sql_type}"

    keys = []
    for i, dimension in enumerate(query.group_by):
        if dimension is Dimension.AREA:
            expression = "c.area"
            if query.area_resolution != CUBE_AREA_RESOLUTION:
                expression = f"h3_parent(c.area, {param(query.area_resolution, 'integer')})"
        else:
            expression = _DIMENSIONS[dimension]
        keys.append(f"{expression} as d{i}")
    ranges = []
    for piece in plan(query):
        parts = [f"c.rollup = {param(piece.rollup, 'smallint')}"]
        if piece.start is not None:
            parts.append(f"c.period >= {param(piece.start, 'date')}")
        if piece.end is not None:
            parts.append(f"c.period < {param(piece.end, 'date')}")
        ranges.append("(" + " and ".join(parts) + ")")
    counts = [
        f"coalesce(sum(c.{name}), 0) as {name}"
        for name in ("not_identified", "identified", "unclear")
    ]
    # Only the allow-listed fragments above are spliced in; every value is a parameter.
    sql = f"select {', '.join([*keys, *counts])} from stats_cube c"  # noqa: S608
    sql += " where c.scope = $1::text and c.unit = $2::text and (" + " or ".join(ranges) + ")"
    if query.group_by:
        sql += " group by " + ", ".join(str(i + 1) for i in range(len(query.group_by)))
    return sql, args


async def fold(conn: asyncpg.Connection, time_zone: str) -> int:
    """Move pending changes into the cube; returns how many there were."""
    folded: int = await conn.fetchval(FOLD, time_zone)
    return folded


async def count_cells(conn: asyncpg.Connection, query: StatsQuery) -> list[Cell]:
    """Counts per cell before disclosure control, sorted by key; empty cells absent."""
    await fold(conn, query.time_zone.key)
    sql, args = build_sql(query)
    records = await conn.fetch(sql, *args)
    area_index = query.group_by.index(Dimension.AREA) if Dimension.AREA in query.group_by else None
    cells = []
    for record in records:
        key = [record[f"d{i}"] for i in range(len(query.group_by))]
        if area_index is not None:
            key[area_index] = h3i.int_to_str(key[area_index])
        cell = Cell(
            key=tuple(key),
            not_identified=record["not_identified"],
            identified=record["identified"],
            unclear=record["unclear"],
        )
        if cell.total > 0:
            cells.append(cell)
    cells.sort(key=lambda c: c.key)
    return cells
