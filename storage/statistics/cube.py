"""Counting for statistics, two ways.

``count_cells`` gives plain counts per cell from the cube's rollups where they hold the answer,
and the sources (incident facts, or counted reports) for the rest: a date range is answered
from whole periods of the query's grain (month, or ISO week when the query groups by week) in
the rollup that has the dimensions asked for; partial periods at the ends come from the day
rollup (attribute queries) or from the sources (area queries); area and attributes together
read the sources only (those cells are nearly one per incident, no fewer than the facts).

The researcher tier's cells come from the base grid of storage.statistics.disclosure:
``kept_groups_sql`` places the groups of whole months from the sources in one statement (the
folder stores them: storage.incidents.folder.place), ``placed_cells_sql`` sums the stored
groups of a query's period at the levels it counts.

The SQL is assembled only from the allow-listed fragments below; every value is a parameter.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Final, Literal
from zoneinfo import ZoneInfo

import asyncpg

from schemas.stats import Dimension, StatusScope, Unit
from storage.statistics.disclosure import LEVELS, Cell, Level, levels_counted
from storage.statistics.query import Period, StatsQuery

Grain = Literal["month", "week", "day"]
# (grain, with area) -> stats_rollups.id (with area: area only; without: the attributes)
ROLLUPS: Final[dict[tuple[Grain, bool], int]] = {
    ("month", True): 1,
    ("month", False): 2,
    ("week", True): 3,
    ("week", False): 4,
    ("day", False): 5,
}
ATTRIBUTES: Final = frozenset({Dimension.AGENCY, Dimension.MASKED, Dimension.KIND})
RANGE_GENERATION = """
select max(generation) from stats_cube_months
where ($1::date is null or month >= $1) and ($2::date is null or month <= $2)
"""
CLASSES: Final = ("not_identified", "identified", "unclear")
SOURCE: Final = None
"""A piece read from the incident facts or reports rather than from a rollup."""

_CUBE_KEYS: Final = {
    Dimension.MONTH: "to_char(c.period, 'YYYY-MM')",
    Dimension.WEEK: """to_char(c.period, 'IYYY-"W"IW')""",
    # Areas leave the database coarsened and in their string form (an H3 index in hexadecimal).
    Dimension.AREA: "to_hex(h3_parent(c.area, {res}))",
    Dimension.AGENCY: "c.agency",
    Dimension.MASKED: "c.masked",
    Dimension.KIND: "c.kind",
}


@dataclass(frozen=True, slots=True)
class _Source:
    keys: dict[Dimension, str]
    table: str
    time: str
    classification: str
    scopes: dict[StatusScope, str]


# {tz} becomes a parameter. Counted reports are exactly those in an incident (the folder
# sets both together).
_SOURCES: Final = {
    # What the cube counts per incident, as of the last fold (so it agrees with the cube).
    Unit.INCIDENT: _Source(
        keys={
            Dimension.MONTH: "to_char(f.earliest_at at time zone {tz}, 'YYYY-MM')",
            Dimension.WEEK: """to_char(f.earliest_at at time zone {tz}, 'IYYY-"W"IW')""",
            Dimension.AREA: "to_hex(h3_parent(f.h3_cell, {res}))",
            Dimension.AGENCY: "f.agency",
            Dimension.MASKED: "f.masked",
            Dimension.KIND: "f.kind",
        },
        table="stats_folded f",
        time="f.earliest_at",
        classification="f.classification",
        scopes={
            StatusScope.ALL: "f.scope = 'all'",
            StatusScope.VERIFIED: "f.scope = 'verified'",
        },
    ),
    Unit.REPORT: _Source(
        keys={
            Dimension.MONTH: "to_char(r.occurred_at at time zone {tz}, 'YYYY-MM')",
            Dimension.WEEK: """to_char(r.occurred_at at time zone {tz}, 'IYYY-"W"IW')""",
            Dimension.AREA: "to_hex(h3_parent(r.h3_cell, {res}))",
            Dimension.AGENCY: "r.agency",
            Dimension.MASKED: "r.masked",
            Dimension.KIND: "r.kind",
        },
        table="reports r",
        time="r.occurred_at",
        classification="r.identification",
        scopes={
            StatusScope.ALL: "r.incident_id is not null",
            # What the folder counted (reports.counted), as the cube does.
            StatusScope.VERIFIED: "r.incident_id is not null and r.counted = 2",
        },
    ),
}


@dataclass(frozen=True, slots=True)
class Piece:
    """Local days ``start <= day < end`` (None: unbounded) from a rollup, or the sources."""

    rollup: int | None
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


def day_range(query: StatsQuery) -> tuple[date | None, date | None]:
    """The local days the query counts, ``start <= day < end`` (None: unbounded)."""
    end = query.date_to + timedelta(days=1) if query.date_to is not None else None
    if query.before_day is not None and (end is None or query.before_day < end):
        end = query.before_day
    return query.date_from, end


def plan(query: StatsQuery) -> list[Piece]:
    """Pieces that together cover exactly the query's days, each counted once."""
    grain = grain_of(query.group_by)
    with_area = Dimension.AREA in query.group_by
    with_attributes = bool(ATTRIBUTES & set(query.group_by))
    start, end = day_range(query)
    if with_area and with_attributes:
        return [Piece(SOURCE, start, end)]
    edge_rollup = SOURCE if with_area else ROLLUPS[("day", False)]
    if grain == "day":
        return [Piece(edge_rollup, start, end)]
    whole_start = start
    if start is not None and period_start(start, grain) != start:
        whole_start = next_period(period_start(start, grain), grain)
    whole_end = period_start(end, grain) if end is not None else None
    if whole_start is not None and whole_end is not None and whole_start >= whole_end:
        return [Piece(edge_rollup, start, end)]  # no whole period inside the range
    pieces = [Piece(ROLLUPS[(grain, with_area)], whole_start, whole_end)]
    if start is not None and whole_start is not None and whole_start > start:
        pieces.append(Piece(edge_rollup, start, whole_start))
    if end is not None and whole_end is not None and whole_end < end:
        pieces.append(Piece(edge_rollup, whole_end, end))
    return pieces


class _Parameters:
    def __init__(self) -> None:
        self.values: list[object] = []

    def add(self, value: object, sql_type: str) -> str:
        self.values.append(value)
        return f"${len(self.values)}::{sql_type}"


def _group_clause(query: StatsQuery) -> str:
    if not query.group_by:
        return ""
    return " group by " + ", ".join(str(i + 1) for i in range(len(query.group_by)))


def cube_sql(query: StatsQuery, pieces: list[Piece]) -> tuple[str, list[object]]:
    params = _Parameters()
    placeholders = {}
    if Dimension.AREA in query.group_by:
        placeholders["res"] = params.add(query.area_resolution, "integer")
    keys = [
        _CUBE_KEYS[d].format(**placeholders) + f" as d{i}" for i, d in enumerate(query.group_by)
    ]
    counts = [f"coalesce(sum(c.{name}), 0) as {name}" for name in CLASSES]
    ranges = []
    for piece in pieces:
        parts = [f"c.rollup = {params.add(piece.rollup, 'smallint')}"]
        if piece.start is not None:
            parts.append(f"c.period >= {params.add(piece.start, 'date')}")
        if piece.end is not None:
            parts.append(f"c.period < {params.add(piece.end, 'date')}")
        ranges.append("(" + " and ".join(parts) + ")")
    scope = params.add(query.status.value, "text")
    unit = params.add(query.unit.value, "text")
    # Only the allow-listed fragments above are spliced in; every value is a parameter.
    sql = f"select {', '.join([*keys, *counts])} from stats_cube c"  # noqa: S608
    sql += f" where c.scope = {scope} and c.unit = {unit} and ({' or '.join(ranges)})"
    return sql + _group_clause(query), params.values


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), zone).astimezone(UTC)


def source_sql(query: StatsQuery, piece: Piece) -> tuple[str, list[object]]:
    source = _SOURCES[query.unit]
    params = _Parameters()
    placeholders = {}
    if {Dimension.MONTH, Dimension.WEEK} & set(query.group_by):
        placeholders["tz"] = params.add(query.time_zone.key, "text")
    if Dimension.AREA in query.group_by:
        placeholders["res"] = params.add(query.area_resolution, "integer")
    keys = [
        source.keys[d].format(**placeholders) + f" as d{i}" for i, d in enumerate(query.group_by)
    ]
    counts = [
        f"count(*) filter (where {source.classification} = '{name}') as {name}" for name in CLASSES
    ]
    conditions = [source.scopes[query.status]]
    if piece.start is not None:
        start = local_midnight(piece.start, query.time_zone)
        conditions.append(f"{source.time} >= {params.add(start, 'timestamptz')}")
    if piece.end is not None:
        end = local_midnight(piece.end, query.time_zone)
        conditions.append(f"{source.time} < {params.add(end, 'timestamptz')}")
    sql = f"select {', '.join([*keys, *counts])} from {source.table}"  # noqa: S608
    sql += " where " + " and ".join(conditions)
    return sql + _group_clause(query), params.values


async def range_generation(conn: asyncpg.Connection, query: StatsQuery) -> int:
    """The fold generation at which a count in the query's months last changed (0 before
    any): what the query counts is the same while this is."""
    start, end = day_range(query)
    generation: int | None = await conn.fetchval(
        RANGE_GENERATION,
        None if start is None else period_start(start, "month"),
        None if end is None else period_start(end - timedelta(days=1), "month"),
    )
    return generation or 0


async def count_cells(conn: asyncpg.Connection, query: StatsQuery) -> list[Cell]:
    """Counts per cell before disclosure control, sorted by key; empty cells absent.
    Reads the cube as it is: fold first for the latest counts."""
    pieces = plan(query)
    statements = [source_sql(query, piece) for piece in pieces if piece.rollup is SOURCE]
    from_cube = [piece for piece in pieces if piece.rollup is not SOURCE]
    if from_cube:
        statements.append(cube_sql(query, from_cube))
    width = len(query.group_by)
    # Several pieces give one key more than once; coarser areas were merged by the GROUP BY.
    totals: dict[tuple[str, ...], list[int]] = {}
    for sql, args in statements:
        for record in await conn.fetch(sql, *args):
            key = tuple(record[:width])
            counts = totals.get(key)
            if counts is None:
                totals[key] = [record[width], record[width + 1], record[width + 2]]
            else:
                counts[0] += record[width]
                counts[1] += record[width + 1]
                counts[2] += record[width + 2]
    cells = [Cell(key, *counts) for key, counts in totals.items() if any(counts)]
    cells.sort(key=lambda c: c.key)
    return cells


# --- the researcher tier's kept groups, on the base grid (storage.statistics.disclosure) ----

# The time unit a base cell belongs to, as a local date: its month, or its ISO week cut at
# month boundaries (a week piece starts on the later of the week's and the month's first day).
_TIME_UNITS: Final = {
    "month": "date_trunc('month', {time} at time zone {tz})::date",
    "week": (
        "greatest(date_trunc('week', {time} at time zone {tz}),"
        " date_trunc('month', {time} at time zone {tz}))::date"
    ),
}
_CELLS: Final = {Unit.INCIDENT: "f.h3_cell", Unit.REPORT: "r.h3_cell"}
_LEVEL_KEYS: Final = {
    Dimension.AGENCY: "agency",
    Dimension.MASKED: "masked",
    Dimension.KIND: "kind",
}
AREA_RESOLUTIONS: Final = (7, 6, 5)


def _level_partition(level: Level) -> str:
    area = "a7" if level.area_resolution == 7 else f"h3_parent(a7, {level.area_resolution})"
    return "partition by " + ", ".join(["t", area, *(_LEVEL_KEYS[d] for d in level.attributes)])


def _levels_knowing_area(resolution: int) -> int:
    """How many levels, from the finest, know a group's area at this resolution (a prefix:
    the levels are a chain); likewise for an attribute below."""
    return sum(1 for level in LEVELS if level.area_resolution >= resolution)


def _levels_knowing(attribute: Dimension) -> int:
    return sum(1 for level in LEVELS if attribute in level.attributes)


def kept_groups_sql(
    period: Period,
    status: StatusScope,
    unit: Unit,
    time_zone: ZoneInfo,
    threshold: int,
    start: date,
    end: date,
) -> tuple[str, list[object]]:
    """Every group kept in the time units of local days ``start <= day < end`` (whole months):
    base cells, placed level by level with window sums over what is not yet placed."""
    source = _SOURCES[unit]
    params = _Parameters()
    tz = params.add(time_zone.key, "text")
    k = params.add(threshold, "integer")
    columns = {
        "t": _TIME_UNITS[period].format(time=source.time, tz=tz),
        "a7": f"h3_parent({_CELLS[unit]}, 7)",
        "agency": source.keys[Dimension.AGENCY],
        "masked": source.keys[Dimension.MASKED],
        "kind": source.keys[Dimension.KIND],
    }
    conditions = [
        source.scopes[status],
        f"{source.time} >= {params.add(local_midnight(start, time_zone), 'timestamptz')}",
        f"{source.time} < {params.add(local_midnight(end, time_zone), 'timestamptz')}",
    ]
    counts = [
        f"count(*) filter (where {source.classification} = '{name}')::bigint as {name}"
        for name in CLASSES
    ]
    names = ", ".join(["t", "a7", "agency", "masked", "kind", *CLASSES])
    total = " + ".join(CLASSES)
    steps = [
        "base as (select "  # noqa: S608 (allow-listed fragments only; values are parameters)
        + ", ".join([*(f"{sql} as {name}" for name, sql in columns.items()), *counts])
        + f" from {source.table} where {' and '.join(conditions)} group by 1, 2, 3, 4, 5)",
        f"l0 as (select {names}, case when {total} >= {k} then 0 end as level from base)",  # noqa: S608
    ]
    for index, level in enumerate(LEVELS[1:], start=1):
        left = f"sum({total}) filter (where level is null) over ({_level_partition(level)})"
        kept = f"coalesce(level, case when {left} >= {k} then {index} end) as level"
        steps.append(f"l{index} as (select {names}, {kept} from l{index - 1})")  # noqa: S608
    known = [
        f"case when level < {_levels_knowing_area(res)} then h3_parent(a7, {res}) end as a{res}"
        for res in AREA_RESOLUTIONS
    ] + [
        f"case when level < {_levels_knowing(d)} then {column} end as {column}"
        for d, column in _LEVEL_KEYS.items()
    ]
    sums = [f"sum({name})::bigint as {name}" for name in CLASSES]
    sql = "with " + ",\n".join(steps)
    sql += f"\nselect t, level, {', '.join([*known, *sums])} from l{len(LEVELS) - 1}"
    sql += " where level is not null group by 1, 2, 3, 4, 5, 6, 7, 8"
    return sql, params.values


# Keys grouped and sorted as dates and numbers (cheaper than strings), put in their string
# form only for the cells: date order is the order of 'YYYY-MM' and of ISO weeks, and every
# H3 index of one resolution has fifteen hex digits, so numeric order is string order.
_PLACED_KEYS: Final = {
    Dimension.MONTH: "date_trunc('month', g.unit_start)::date",
    Dimension.WEEK: "g.unit_start - (extract(isodow from g.unit_start)::integer - 1)",
    Dimension.AGENCY: "g.agency",
    Dimension.MASKED: "g.masked",
    Dimension.KIND: "g.kind",
}
_PLACED_STRINGS: Final = {
    Dimension.MONTH: "to_char(d{i}, 'YYYY-MM')",
    Dimension.WEEK: """to_char(d{i}, 'IYYY-"W"IW')""",
    Dimension.AREA: "to_hex(d{i})",
}


def placed_cells_sql(query: StatsQuery, threshold: int) -> tuple[str, list[object]]:
    """The cells of a (snapped) query summed from the stored kept groups
    (stats_placed_groups) of its family and period, at the levels it counts; sorted by key
    as Python sorts strings. Every cell is at least the threshold."""
    params = _Parameters()
    keys = [
        f"g.a{query.area_resolution}" if d is Dimension.AREA else _PLACED_KEYS[d]
        for d in query.group_by
    ]
    if query.period == "month" and Dimension.MONTH in query.group_by:
        keys[query.group_by.index(Dimension.MONTH)] = "g.unit_start"  # a month already
    conditions = [
        f"g.threshold = {params.add(threshold, 'integer')}",
        f"g.period = {params.add(query.period, 'text')}",
        f"g.scope = {params.add(query.status.value, 'text')}",
        f"g.unit = {params.add(query.unit.value, 'text')}",
        f"g.level < {params.add(levels_counted(query.group_by, query.area_resolution), 'integer')}",
    ]
    if query.date_from is not None:
        conditions.append(f"g.unit_start >= {params.add(query.date_from, 'date')}")
    if query.date_to is not None:
        conditions.append(f"g.unit_start <= {params.add(query.date_to, 'date')}")
    sums = [f"sum(g.{name})::bigint as {name}" for name in CLASSES]
    columns = [f"{key} as d{i}" for i, key in enumerate(keys)]
    # Only the allow-listed fragments above are spliced in; every value is a parameter.
    inner = f"select {', '.join([*columns, *sums])} from stats_placed_groups g"  # noqa: S608
    # Without a grouping the sum of nothing is still one row: no cell.
    inner += " where " + " and ".join(conditions) + _group_clause(query) + " having count(*) > 0"
    strings = [
        _PLACED_STRINGS.get(d, "d{i}").format(i=i) + f" as d{i}"
        for i, d in enumerate(query.group_by)
    ]
    sql = f"select {', '.join([*strings, *CLASSES])} from ({inner}) as c"  # noqa: S608
    if query.group_by:
        sql += " order by " + ", ".join(f"c.d{i}" for i in range(len(query.group_by)))
    return sql, params.values
