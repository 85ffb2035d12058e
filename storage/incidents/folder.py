"""The folder: the only writer of what is derived from reports.

Ingest only appends a report (its ``fold_pending_since`` defaults to the insert's time);
withdrawals, reviews and retention update the report and set ``fold_pending_since`` again.
The folder takes pending reports in batches, oldest first, and derives in set-based
statements:

- membership: a report that should count and has no incident joins every incident with a
  report within the rule's distance and window (merging them into the oldest; storage/
  bulk_grouping.py is the one implementation of the rule), or starts a new one; a report that
  no longer counts leaves its incident, whose remaining reports are re-evaluated by the same
  rule (it may split, or disappear). Reports whose cell retention coarsened keep their
  membership (the rule is defined on res-9 cells) and start an incident of their own if they
  join again;
- the change log (``log_changes``, and ``log_stored`` for an import: the only writers of
  ``stats_changes``): each report's exact difference between what the statistics count of it
  (``reports.counted``) and what they should, and every incident whose facts may have changed;
- then ``fold_statistics`` moves the change log into the cube (incident facts are worked out
  there, from the changed incidents' reports);
- the researcher tier's kept groups (``place``: storage/statistics/disclosure.py's base grid,
  stored in stats_placed_groups) of every month whose cube generation moved on since they
  were placed: on demand before a statistics query reads them, and in the background
  (``place_changed``) at most every few seconds per month, so a fold under live ingest does
  not re-place the current month twice a second.

An import folds its reports before they are stored (``join_unstored``: the same grouping,
all of them at once), so they are written once, with their incident and counted, instead of
being stored pending and then read, locked and rewritten here (which cost more than storing
them); ``log_stored`` then logs what they count.

One folder at a time per database: a transaction advisory lock (``locks.FOLDER``), which
``fold_statistics`` takes too. Anything that folds inside its own transaction (reviews,
withdrawals, manual merges and splits, the import) takes that lock first, before any row
lock, so folders never wait for each other in opposite orders.
"""

from __future__ import annotations

import time
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo

import asyncpg
import h3.api.basic_int as h3i
import numpy as np

from schemas.codes import ReportStatus
from schemas.report import COARSE_H3_RESOLUTION
from schemas.stats import StatusScope, Unit
from storage.db import locks
from storage.incidents.bulk_grouping import components, connected_components, links_to_new
from storage.incidents.bulk_grouping import microseconds as micros
from storage.incidents.grouping import GroupingRule
from storage.statistics.cube import kept_groups_sql
from storage.statistics.query import Period

DEFAULT_BATCH: Final = 5000

LOCK = "select pg_advisory_xact_lock($1)"
TRY_LOCK = "select pg_try_advisory_xact_lock($1)"
# One probe of reports_fold_pending_idx, and of the (nearly always empty) change log, when
# nothing is pending: a statistics query folds first at that cost.
NEEDS_FOLD = """
select exists (select from reports where fold_pending_since is not null)
    or ($1::text is not null and (
        exists (select from stats_changes)
        or (select time_zone from stats_cube_settings) is distinct from $1))
"""
# What the statistics should count of a report (reports.counted's scale).
SHOULD_COUNT = """(case
    when r.status in ('withdrawn', 'rejected') or r.content is null or r.occurred_at is null
         or r.h3_cell is null then 0
    when r.status = 'verified' then 2
    else 1
end)"""
PENDING_COLUMNS = f"r.id, r.incident_id, r.h3_cell, r.occurred_at, {SHOULD_COUNT} as should"
# Oldest first, from reports_fold_pending_idx. Rows another transaction holds are left for
# the next round: the folder never waits for a review or a retention batch.
PENDING_BATCH = f"""
select {PENDING_COLUMNS} from reports r
where r.fold_pending_since is not null
order by r.fold_pending_since limit $1 for update of r skip locked
"""  # noqa: S608 - constants only
# A fold that waits (a statistics query's, a release's, the CLI's) must take in every report
# committed before it, so it also waits for rows another transaction holds (a photo upload
# locks its report until it commits). Every transaction that holds a report row and folds
# takes the folder's lock before the row, so this wait cannot close a cycle.
PENDING_BATCH_WAITING = f"""
select {PENDING_COLUMNS} from reports r
where r.fold_pending_since is not null
order by r.fold_pending_since limit $1 for update of r
"""  # noqa: S608 - constants only
PENDING_GIVEN = f"""
select {PENDING_COLUMNS} from reports r
where r.id = any($1::uuid[]) and r.fold_pending_since is not null
order by r.id for update of r
"""  # noqa: S608 - constants only
LEAVE = "update reports set incident_id = null where id = any($1::uuid[])"
MEMBERS = """
select id, incident_id, h3_cell, occurred_at from reports
where incident_id = any($1::bigint[]) order by incident_id, occurred_at, id
"""
# Counted reports in the given cells within each cell's time range: a superset of the
# neighbours (the exact rule is applied in storage/incidents/bulk_grouping.py).
# reports_grouping_idx.
NEIGHBOURS = """
select r.incident_id, r.h3_cell, r.occurred_at
from unnest($1::bigint[], $2::bigint[], $3::bigint[]) as n (cell, low, high)
join reports r on r.h3_cell = n.cell
    and r.occurred_at between 'epoch'::timestamptz + n.low * interval '1 microsecond'
                          and 'epoch'::timestamptz + n.high * interval '1 microsecond'
where r.incident_id is not null
"""
NEW_INCIDENTS = """
insert into incidents (created_at) select now() from generate_series(1, $1) returning id
"""
ASSIGN = """
update reports r set incident_id = u.incident_id
from unnest($1::uuid[], $2::bigint[]) as u (id, incident_id)
where r.id = u.id
"""
MERGE = """
update reports r set incident_id = m.survivor
from unnest($1::bigint[], $2::bigint[]) as m (absorbed, survivor)
where r.incident_id = m.absorbed
"""
DROP_EMPTY = """
delete from incidents i
where i.id = any($1::bigint[]) and not exists (select from reports r where r.incident_id = i.id)
"""
# Each scope's difference between what should count and what counts, with the report's
# dimensions (a withdrawn report keeps them until this has run: SETTLE purges them).
LOG_REPORT_CHANGES = f"""
insert into stats_changes (incident_id, scope, report_sign, occurred_at, h3_cell, agency,
                           masked, kind, identification)
select r.incident_id, s.scope, s.sign, r.occurred_at, r.h3_cell, r.agency, r.masked, r.kind,
       r.identification
from reports r
cross join lateral (values
    ('all', ({SHOULD_COUNT} >= 1)::integer - (r.counted >= 1)::integer),
    ('verified', ({SHOULD_COUNT} = 2)::integer - (r.counted = 2)::integer)
) as s (scope, sign)
where r.id = any($1::uuid[]) and s.sign <> 0
"""  # noqa: S608 - constants only
# Reports stored already folded (an import): the owner's received at one instant.
# reports_owner_page_idx.
LOG_STORED = """
insert into stats_changes (incident_id, scope, report_sign, occurred_at, h3_cell, agency,
                           masked, kind, identification)
select r.incident_id, s.scope, 1, r.occurred_at, r.h3_cell, r.agency, r.masked, r.kind,
       r.identification
from reports r
cross join lateral (values ('all', r.counted >= 1), ('verified', r.counted = 2))
    as s (scope, counts)
where r.owner_id = $1 and r.received_at = $2 and s.counts
"""
CUBE_TIME_ZONE = "select time_zone from stats_cube_settings"
LOG_INCIDENT_CHANGES = """
insert into stats_changes (incident_id) select distinct unnest($1::bigint[])
"""
# The batch's reports as folded: the incidents joined, what counts, no longer pending (a
# withdrawn report's last traces go now that the counts no longer need them).
SETTLE = f"""
update reports r
set incident_id = coalesce(u.incident_id, r.incident_id), counted = {SHOULD_COUNT},
    fold_pending_since = null,
    occurred_at = case when r.status = 'withdrawn' then null else r.occurred_at end,
    h3_cell = case when r.status = 'withdrawn' then null else r.h3_cell end,
    identification = case when r.status = 'withdrawn' then null else r.identification end,
    masked = case when r.status = 'withdrawn' then null else r.masked end,
    agencies_claimed = case when r.status = 'withdrawn' then null else r.agencies_claimed end,
    agencies_suspected = case when r.status = 'withdrawn' then null
                              else r.agencies_suspected end,
    agency = case when r.status = 'withdrawn' then null else r.agency end
from unnest($1::uuid[], $2::bigint[]) as u (id, incident_id)
where r.id = u.id
"""  # noqa: S608 - constants only
FOLD_STATISTICS = "select fold_statistics($1)"
# Months of a family (threshold, period, scope, unit) whose groups are not placed at the
# month's current generation, within an optional range of months.
STALE_MONTHS = """
select m.month from stats_cube_months m
left join stats_placed_months p
    on p.threshold = $1 and p.period = $2 and p.scope = $3 and p.unit = $4 and p.month = m.month
where ($5::date is null or m.month >= $5) and ($6::date is null or m.month <= $6)
  and p.generation is distinct from m.generation
order by m.month
"""
# Months placed before whose generation moved on, placed longer ago than $1 (the background),
# oldest placement first; then, with a threshold in $3, the months never placed of that
# threshold's eight families (after an import or an upgrade), newest month first.
STALE_PLACED = """
(select p.threshold, p.period, p.scope, p.unit, p.month
 from stats_placed_months p join stats_cube_months m using (month)
 where p.generation <> m.generation and p.placed_at < clock_timestamp() - $1::interval
 order by p.placed_at limit $2)
union all
(select f.threshold, f.period, f.scope, f.unit, m.month
 from (select $3::integer as threshold, period, scope, unit
       from unnest(array['month', 'week']) as period,
            unnest(array['all', 'verified']) as scope,
            unnest(array['incident', 'report']) as unit
       where $3::integer is not null) as f
 cross join stats_cube_months m
 where not exists (
     select from stats_placed_months p
     where (p.threshold, p.period, p.scope, p.unit, p.month)
         = (f.threshold, f.period, f.scope, f.unit, m.month))
 order by m.month desc limit $2)
"""
UNPLACE = """
delete from stats_placed_groups
where threshold = $1 and period = $2 and scope = $3 and unit = $4
  and unit_start >= $5 and unit_start < $6
"""
MARK_PLACED = """
insert into stats_placed_months as p (threshold, period, scope, unit, month, generation,
                                      placed_at)
select $1, $2, $3, $4, m.month, m.generation, clock_timestamp()
from stats_cube_months m where m.month >= $5 and m.month < $6
on conflict (threshold, period, scope, unit, month) do update
set generation = excluded.generation, placed_at = excluded.placed_at
"""
PLACE_EVERY: Final = timedelta(seconds=5)
"""The background re-places a changed month at most this often (a query places on demand)."""
PLACE_MONTHS_PER_ROUND: Final = 6
PLACE_BUDGET_S: Final = 0.25
"""A background round stops placing once it has spent this long (after an import every month
changed, and a fold waits for the lock meanwhile): about three months at 1M reports."""
# For /metrics: from reports_fold_pending_idx (the oldest is its first entry).
PENDING_STATE = """
select count(*) as pending,
       coalesce(extract(epoch from clock_timestamp() - min(fold_pending_since)), 0)::float8
           as lag_seconds
from reports where fold_pending_since is not null
"""


@dataclass(slots=True)
class FoldSummary:
    """What a fold did: reports taken in, incidents created, merged away and split off,
    and statistics changes moved into the cube."""

    reports: int = 0
    batches: int = 0
    new_incidents: int = 0
    merged_incidents: int = 0
    split_incidents: int = 0
    changes: int = 0

    def add(self, other: FoldSummary) -> None:
        self.reports += other.reports
        self.batches += other.batches
        self.new_incidents += other.new_incidents
        self.merged_incidents += other.merged_incidents
        self.split_incidents += other.split_incidents
        self.changes += other.changes


@dataclass(frozen=True, slots=True)
class _Pending:
    id: uuid.UUID
    incident_id: int | None
    cell: int | None
    at: datetime | None
    should: int


async def lock(conn: asyncpg.Connection) -> None:
    """Take the folder's lock for the caller's transaction: first, before any row lock."""
    await conn.execute(LOCK, locks.FOLDER)


async def fold(
    conn: asyncpg.Connection,
    rule: GroupingRule,
    time_zone: str | None,
    *,
    batch_size: int = DEFAULT_BATCH,
    wait: bool = True,
) -> FoldSummary | None:
    """Take in every pending report and bring the statistics cube up to date (with its
    periods in ``time_zone``; None: leave the changes logged for the next fold that names
    one), in one transaction (the caller's, if it is in one). ``wait=False``: None at once
    when another folder holds the lock (the background loop on several replicas), and
    reports whose rows another transaction holds are left for the next round."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    # Outside a transaction, the probe holds no lock while this waits for the folder's (an
    # import waiting for a table lock behind it would deadlock).
    if not await conn.fetchval(NEEDS_FOLD, time_zone):
        return FoldSummary()
    async with conn.transaction():
        if wait:
            await lock(conn)
        elif not await conn.fetchval(TRY_LOCK, locks.FOLDER):
            return None
        summary = FoldSummary()
        pending = PENDING_BATCH_WAITING if wait else PENDING_BATCH
        while True:
            rows = await conn.fetch(pending, batch_size)
            if rows:
                summary.add(await _fold_rows(conn, rule, [_pending(row) for row in rows]))
            # A short batch: what is left was committed after it started (or, not waiting,
            # is locked by another transaction); the next round takes it (a busy ingest
            # cannot keep one fold going for ever).
            if len(rows) < batch_size:
                break
        if time_zone is not None:
            summary.changes = await conn.fetchval(FOLD_STATISTICS, time_zone)
        return summary


async def fold_reports(
    conn: asyncpg.Connection, rule: GroupingRule, report_ids: Sequence[uuid.UUID]
) -> FoldSummary:
    """Take in the given pending reports now, in the caller's transaction (a review or a
    withdrawal answers with the result); the cube takes the changes in at its next fold.
    The caller took the folder's lock (``lock``) before locking any row."""
    await lock(conn)
    rows = await conn.fetch(PENDING_GIVEN, list(report_ids))
    if not rows:
        return FoldSummary()
    return await _fold_rows(conn, rule, [_pending(row) for row in rows])


@dataclass(frozen=True, slots=True)
class Membership:
    """Where reports about to be stored belong (``join_unstored``)."""

    incidents: list[int]
    """Each report's incident, in the order given."""
    new_incidents: int
    merged_incidents: int


def counted_as(status: ReportStatus) -> int:
    """``reports.counted`` of a report with content in this status (SHOULD_COUNT's scale)."""
    if status in (ReportStatus.WITHDRAWN, ReportStatus.REJECTED):
        return 0
    return 2 if status is ReportStatus.VERIFIED else 1


async def join_unstored(
    conn: asyncpg.Connection, rule: GroupingRule, cells: Sequence[int], times: Sequence[int]
) -> Membership:
    """Fold reports before they are stored, all at once (the import): the same grouping as
    for pending reports, but the caller then stores each report with its incident, counted
    (``counted_as``) and not pending, and calls ``log_stored``, instead of the folder
    reading, locking and rewriting every row again. ``cells`` are res 9, ``times`` in
    microseconds. The caller holds the folder's lock and keeps submissions out until it
    commits."""
    if any(_is_coarse(cell) for cell in cells):
        raise ValueError("reports stored already folded must have res-9 cells")
    grouped = await _group(conn, rule, cells, times)
    await log_changes(conn, [], grouped.touched)
    if grouped.absorbed:
        await conn.execute(DROP_EMPTY, sorted(grouped.touched))
    return Membership(grouped.incidents, len(grouped.new), grouped.absorbed)


async def log_stored(
    conn: asyncpg.Connection, owner_id: uuid.UUID, received_at: datetime, time_zone: str
) -> None:
    """Log what reports stored already folded (``join_unstored``) count: the owner's reports
    received at ``received_at``. Nothing is logged when this transaction's fold in
    ``time_zone`` rebuilds the cube from the tables (the first fold, another zone): it
    would throw the changes away and count the stored reports anyway."""
    if await conn.fetchval(CUBE_TIME_ZONE) == time_zone:
        await conn.execute(LOG_STORED, owner_id, received_at)


async def merge_incidents(conn: asyncpg.Connection, incident_id: int, other_id: int) -> int:
    """A moderator's merge: ``other_id``'s reports join ``incident_id``, which the folder
    keeps as it is from now on. Returns how many reports moved."""
    await lock(conn)
    moved = await conn.execute(MERGE, [other_id], [incident_id])
    await conn.execute(DROP_EMPTY, [other_id])
    await log_changes(conn, [], [incident_id, other_id])
    return int(moved.split()[-1])


async def split_incident(
    conn: asyncpg.Connection, incident_id: int, report_ids: Sequence[uuid.UUID]
) -> int:
    """A moderator's split: the given reports of ``incident_id`` become a new incident."""
    await lock(conn)
    (new_id,) = await _new_incidents(conn, 1)
    await conn.execute(ASSIGN, list(report_ids), [new_id] * len(report_ids))
    await log_changes(conn, [], [incident_id, new_id])
    return new_id


async def log_changes(
    conn: asyncpg.Connection, report_ids: Sequence[uuid.UUID], incident_ids: Iterable[int]
) -> None:
    """Append to the statistics change log (the only code that does): the given reports'
    differences between what counts and what should, and the incidents whose facts may
    have changed. The caller holds the folder's lock."""
    if report_ids:
        await conn.execute(LOG_REPORT_CHANGES, list(report_ids))
    incidents = sorted(set(incident_ids))
    if incidents:
        await conn.execute(LOG_INCIDENT_CHANGES, incidents)


async def pending_state(conn: asyncpg.Connection) -> tuple[int, float]:
    """How many reports wait for the folder, and how long the oldest has waited (s)."""
    row = await conn.fetchrow(PENDING_STATE)
    assert row is not None
    return int(row["pending"]), float(row["lag_seconds"])


@dataclass(frozen=True, slots=True)
class Family:
    """What one set of placed groups belongs to: a threshold and a request family (time
    unit kind, status, unit; storage/statistics/disclosure.py)."""

    threshold: int
    period: Period
    status: StatusScope
    unit: Unit

    @property
    def key(self) -> tuple[int, str, str, str]:
        return (self.threshold, self.period, self.status.value, self.unit.value)


async def stale_months(
    conn: asyncpg.Connection, family: Family, first: date | None, last: date | None
) -> list[date]:
    """Months from ``first`` to ``last`` (None: unbounded) whose groups are not placed at
    their current generation."""
    return [row["month"] for row in await conn.fetch(STALE_MONTHS, *family.key, first, last)]


async def place(
    conn: asyncpg.Connection,
    family: Family,
    first: date | None,
    last: date | None,
) -> int:
    """Place the family's kept groups of every stale month from ``first`` to ``last``, in
    the cube's time zone, under the folder's lock (so the
    generation recorded is the one the groups were read at). Returns the months placed."""
    async with conn.transaction():
        await lock(conn)
        zone = await conn.fetchval(CUBE_TIME_ZONE)
        months = await stale_months(conn, family, first, last)
        if zone is None or not months:
            return 0
        for start, end in _runs(months):
            await _place_run(conn, family, ZoneInfo(zone), start, end)
        return len(months)


def families(threshold: int) -> list[Family]:
    """Every request family a researcher can ask of one threshold."""
    return [
        Family(threshold, period, status, unit)
        for period in ("month", "week")
        for status in StatusScope
        for unit in Unit
    ]


async def place_changed(
    conn: asyncpg.Connection, every: timedelta = PLACE_EVERY, threshold: int | None = None
) -> int | None:
    """The background: re-place the changed months of every family, each month at most once
    per ``every``, at most six months and about ``PLACE_BUDGET_S`` a round; then, with the
    service's ``threshold``, the months of its families not placed yet (so the first query
    after an import or an upgrade does not place them all). A query places what it reads on
    demand. None when another folder holds the lock."""
    async with conn.transaction():
        if not await conn.fetchval(TRY_LOCK, locks.FOLDER):
            return None
        placed = 0
        started = time.monotonic()
        for row in await conn.fetch(STALE_PLACED, every, PLACE_MONTHS_PER_ROUND, threshold):
            if time.monotonic() - started > PLACE_BUDGET_S:
                break
            family = Family(
                row["threshold"], row["period"], StatusScope(row["scope"]), Unit(row["unit"])
            )
            placed += await place(conn, family, row["month"], row["month"])
        return placed


def _runs(months: Sequence[date]) -> list[tuple[date, date]]:
    """Consecutive months as ``start <= month < end`` ranges: one statement each."""
    runs: list[tuple[date, date]] = []
    for month in months:
        following = (month + timedelta(days=32)).replace(day=1)
        if runs and runs[-1][1] == month:
            runs[-1] = (runs[-1][0], following)
        else:
            runs.append((month, following))
    return runs


async def _place_run(
    conn: asyncpg.Connection, family: Family, zone: ZoneInfo, start: date, end: date
) -> None:
    groups, args = kept_groups_sql(
        family.period, family.status, family.unit, zone, family.threshold, start, end
    )
    offset = len(args)
    names = ", ".join(
        f"${offset + i + 1}::{sql_type}"
        for i, sql_type in enumerate(("integer", "text", "text", "text"))
    )
    await conn.execute(UNPLACE, *family.key, start, end)
    # The groups' query comes from storage.statistics.cube (allow-listed fragments only).
    await conn.execute(
        f"insert into stats_placed_groups (threshold, period, scope, unit, unit_start, level,"  # noqa: S608
        f" a7, a6, a5, agency, masked, kind, not_identified, identified, unclear)"
        f" select {names}, g.* from ({groups}) as g",
        *args,
        *family.key,
    )
    await conn.execute(MARK_PLACED, *family.key, start, end)


def _pending(row: asyncpg.Record) -> _Pending:
    return _Pending(
        row["id"], row["incident_id"], row["h3_cell"], row["occurred_at"], row["should"]
    )


def _is_coarse(cell: int) -> bool:
    return bool(h3i.get_resolution(cell) <= COARSE_H3_RESOLUTION)


async def _fold_rows(
    conn: asyncpg.Connection, rule: GroupingRule, rows: list[_Pending]
) -> FoldSummary:
    """One batch, its rows locked: membership, change log, counted state."""
    summary = FoldSummary(reports=len(rows), batches=1)
    dirty: set[int] = set()
    leaving = [row for row in rows if row.should == 0 and row.incident_id is not None]
    joining = [row for row in rows if row.should > 0 and row.incident_id is None]
    # Still counted and still in its incident (a review between counted states, retention):
    # membership stays, the incident's facts may change.
    dirty.update(row.incident_id for row in rows if row.should > 0 and row.incident_id is not None)
    if leaving:
        left = sorted({row.incident_id for row in leaving if row.incident_id is not None})
        await conn.execute(LEAVE, [row.id for row in leaving])
        dirty.update(left)
        split = await _reevaluate(conn, rule, left)
        summary.split_incidents = len(split)
        dirty.update(split)
    joined: dict[uuid.UUID, int] = {}
    if joining:
        new, touched, absorbed = await _join(conn, rule, joining, joined)
        summary.new_incidents = len(new)
        summary.merged_incidents = absorbed
        dirty.update(new)
        dirty.update(touched)
    await log_changes(conn, [row.id for row in rows], dirty)
    await conn.execute(SETTLE, [row.id for row in rows], [joined.get(row.id) for row in rows])
    if dirty:
        await conn.execute(DROP_EMPTY, sorted(dirty))
    return summary


async def _reevaluate(
    conn: asyncpg.Connection, rule: GroupingRule, incidents: list[int]
) -> set[int]:
    """Split what no longer connects in incidents that lost reports; returns the new
    incidents. The part with the earliest report keeps the incident's id."""
    members: dict[int, list[asyncpg.Record]] = defaultdict(list)
    for row in await conn.fetch(MEMBERS, incidents):
        members[row["incident_id"]].append(row)
    moves: list[list[uuid.UUID]] = []
    for rows in members.values():
        if any(_is_coarse(row["h3_cell"]) for row in rows):
            continue  # membership of coarsened reports is kept, never re-derived
        labels = components(
            [row["h3_cell"] for row in rows],
            [micros(row["occurred_at"]) for row in rows],
            rule.distance,
            micros(rule.window),
        )
        parts: dict[int, list[uuid.UUID]] = defaultdict(list)
        for row, label in zip(rows, labels.tolist(), strict=True):
            parts[label].append(row["id"])
        moves.extend(ids for label, ids in parts.items() if label != 0)
    if not moves:
        return set()
    fresh = await _new_incidents(conn, len(moves))
    ids = [report for part in moves for report in part]
    targets = [incident for incident, part in zip(fresh, moves, strict=True) for _ in part]
    await conn.execute(ASSIGN, ids, targets)
    return set(fresh)


async def _join(
    conn: asyncpg.Connection,
    rule: GroupingRule,
    rows: list[_Pending],
    joined: dict[uuid.UUID, int],
) -> tuple[set[int], set[int], int]:
    """Group reports that count again or for the first time with the stored counted ones:
    fills ``joined`` (report to incident, for SETTLE to write) and returns the new incidents
    those the joins touched (survivors and merged away), and how many merged away."""
    fine = [row for row in rows if row.cell is not None and not _is_coarse(row.cell)]
    coarse = [row for row in rows if row.cell is not None and _is_coarse(row.cell)]
    grouped = await _group(
        conn,
        rule,
        [row.cell for row in fine if row.cell is not None],
        [micros(row.at) for row in fine if row.at is not None],
        alone=len(coarse),
    )
    ids = [row.id for row in fine] + [row.id for row in coarse]
    joined.update(zip(ids, grouped.incidents, strict=True))
    return grouped.new, grouped.touched, grouped.absorbed


@dataclass(slots=True)
class _Grouped:
    incidents: list[int]
    """Each report's incident, in the order given (the ones alone last)."""
    new: set[int]
    touched: set[int]
    """Stored incidents the reports joined: survivors and those merged into them."""
    absorbed: int


async def _group(
    conn: asyncpg.Connection,
    rule: GroupingRule,
    cells: Sequence[int],
    times: Sequence[int],
    *,
    alone: int = 0,
) -> _Grouped:
    """Incidents for reports not counted yet (res-9 ``cells``, ``times`` in microseconds)
    grouped by the rule with the counted ones: stored incidents they bridge merge into the
    oldest, reports that join none start new incidents (``alone`` more reports, whose cells
    retention coarsened, each start one of their own)."""
    window = micros(rule.window)
    count = len(cells)
    stored = await _neighbours(conn, rule, cells, times) if count else []
    incident_ids = sorted({row["incident_id"] for row in stored})
    node_of = {incident: count + i for i, incident in enumerate(incident_ids)}
    first, second = links_to_new(
        list(cells) + [row["h3_cell"] for row in stored],
        list(times) + [micros(row["occurred_at"]) for row in stored],
        [True] * count + [False] * len(stored),
        rule.distance,
        window,
    )
    # Stored reports stand for their incidents.
    nodes = np.asarray(
        list(range(count)) + [node_of[row["incident_id"]] for row in stored], dtype=np.int64
    )
    labels = connected_components(count + len(incident_ids), nodes[first], nodes[second])
    survivor: dict[int, int] = {}
    for incident in incident_ids:  # ascending: the first seen per component is the oldest
        survivor.setdefault(int(labels[node_of[incident]]), incident)
    absorbed = [i for i in incident_ids if survivor[int(labels[node_of[i]])] != i]
    if absorbed:
        await conn.execute(MERGE, absorbed, [survivor[int(labels[node_of[i]])] for i in absorbed])
    new_labels = labels[:count]
    fresh_labels = sorted(set(np.unique(new_labels).tolist()) - survivor.keys())
    fresh = await _new_incidents(conn, len(fresh_labels) + alone)
    target = dict(survivor)
    target.update(zip(fresh_labels, fresh[: len(fresh_labels)], strict=True))
    # Labels are node numbers below count + len(incident_ids): a lookup table maps them all.
    lookup = np.zeros(count + len(incident_ids), dtype=np.int64)
    lookup[list(target)] = list(target.values())
    incidents = lookup[new_labels].tolist() + fresh[len(fresh_labels) :]
    touched = set(survivor.values()) | set(absorbed)
    return _Grouped(incidents, set(fresh), touched, len(absorbed))


async def _neighbours(
    conn: asyncpg.Connection, rule: GroupingRule, cells: Sequence[int], times: Sequence[int]
) -> list[asyncpg.Record]:
    """Counted reports that may be within the rule of a joining one: one probe per cell of
    the joining reports' disks, over the time range of the reports whose disk it is in
    (a disk per distinct cell, not per report: an import brings many reports per cell)."""
    cell_array = np.asarray(cells, dtype=np.int64)
    time_array = np.asarray(times, dtype=np.int64)
    distinct, inverse = np.unique(cell_array, return_inverse=True)
    inverse = inverse.reshape(-1)
    low = np.full(len(distinct), np.iinfo(np.int64).max, dtype=np.int64)
    high = np.full(len(distinct), np.iinfo(np.int64).min, dtype=np.int64)
    np.minimum.at(low, inverse, time_array)
    np.maximum.at(high, inverse, time_array)
    per_cell = 1 + 3 * rule.distance * (rule.distance + 1)
    disks = np.zeros((len(distinct), per_cell), dtype=np.int64)
    for row, cell in enumerate(distinct.tolist()):
        disk = h3i.grid_disk(cell, rule.distance)
        disks[row, : len(disk)] = disk
    near = disks.reshape(-1)
    lows, highs = np.repeat(low, per_cell), np.repeat(high, per_cell)
    real = near != 0  # a disk around a pentagon has fewer cells
    near, lows, highs = near[real], lows[real], highs[real]
    order = np.argsort(near, kind="stable")
    near, lows, highs = near[order], lows[order], highs[order]
    starts = np.flatnonzero(np.r_[True, near[1:] != near[:-1]])
    window = micros(rule.window)
    rows: list[asyncpg.Record] = await conn.fetch(
        NEIGHBOURS,
        near[starts].tolist(),
        (np.minimum.reduceat(lows, starts) - window).tolist(),
        (np.maximum.reduceat(highs, starts) + window).tolist(),
    )
    return rows


async def _new_incidents(conn: asyncpg.Connection, count: int) -> list[int]:
    if count == 0:
        return []
    return sorted(row["id"] for row in await conn.fetch(NEW_INCIDENTS, count))
