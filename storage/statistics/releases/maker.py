"""Making releases: which months are due, and a new version when a month's counts changed.

A month is due once it has ended and the publication delay has passed since its end: its
first version counts every report received up to ``now - delay`` (so the delay has passed
since the receipt of every report it counts). Later checks count the reports received up to
the new ``now - delay``; when that changes an exact count, a correction (the next version)
is made, and the earlier versions stay as they are. A month is looked at again only when the
folder changed its counts or reports about it came past the delay since the last look.

One maker at a time per database (a transaction advisory lock): replicas do not publish the
same version twice, and a replica that finds the lock taken skips its round.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg

from schemas.settings import Settings
from schemas.stats import StatusScope
from storage.db import locks
from storage.incidents import folder
from storage.incidents.grouping import GroupingRule
from storage.reports.receipts import ReceiptSigner
from storage.statistics.releases import store
from storage.statistics.releases.counts import exact_counts
from storage.statistics.releases.document import ReleaseSpec, build_release, encode

# The earliest incident the releases count (a backdated report nobody verified does not make
# years of empty releases, each spending the budget).
FIRST_INCIDENT = "select min(earliest_at) from stats_folded where scope = $1"
GENERATIONS = "select month, generation from stats_cube_months"
CHECKS = "select month, generation, received_through from public_release_checks"
# Months (in the time zone $3) of every report of an incident that gained a report received
# in ($1, $2]: the counts of any of them may have changed.
RECEIVED_SINCE = """
select distinct date_trunc('month', m.occurred_at at time zone $3)::date as month
from reports r
join reports m on m.incident_id = r.incident_id
where r.received_at > $1 and r.received_at <= $2 and r.incident_id is not null
"""
RECORD_CHECK = """
insert into public_release_checks (month, generation, received_through) values ($1, $2, $3)
on conflict (month) do update
set generation = excluded.generation, received_through = excluded.received_through
"""


@dataclass(frozen=True, slots=True)
class ReleasePolicy:
    """The settings a release is made under."""

    epsilon: float
    delta: float
    status: StatusScope
    delay: timedelta
    time_zone: str

    @classmethod
    def from_settings(cls, settings: Settings) -> ReleasePolicy:
        return cls(
            epsilon=settings.release_epsilon,
            delta=settings.release_delta,
            status=StatusScope(settings.release_status),
            delay=timedelta(days=settings.publication_delay_days),
            time_zone=settings.timezone,
        )


@dataclass(frozen=True, slots=True)
class Published:
    month: date
    version: int
    areas: int
    epsilon: float
    month_epsilon: float


def month_bounds(month: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The month's first instant and the next month's, in ``zone``."""
    following = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    start = datetime(month.year, month.month, 1, tzinfo=zone)
    end = datetime(following.year, following.month, 1, tzinfo=zone)
    return start, end


def _months(first: date, last: date) -> list[date]:
    months = []
    month = first
    while month <= last:
        months.append(month)
        month = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return months


async def make_releases(
    conn: asyncpg.Connection,
    policy: ReleasePolicy,
    signer: ReceiptSigner,
    rule: GroupingRule,
    *,
    now: datetime | None = None,
    wait: bool = True,
) -> list[Published] | None:
    """Publish every version that is due; None when another maker holds the lock and
    ``wait`` is false."""
    now = now or datetime.now(UTC)
    # Everything committed is folded first, so the counts are current (the fold commits on
    # its own and holds its lock only that long).
    await folder.fold(conn, rule, policy.time_zone)
    async with conn.transaction():
        if wait:
            await conn.execute("select pg_advisory_xact_lock($1)", locks.RELEASES)
        elif not await conn.fetchval("select pg_try_advisory_xact_lock($1)", locks.RELEASES):
            return None
        received_through = now - policy.delay
        published = []
        for month, generation in await _due(conn, policy, received_through):
            made = await _release_month(conn, policy, signer, month, now, received_through)
            if made is not None:
                published.append(made)
            await conn.execute(RECORD_CHECK, month, generation, received_through)
        return published


async def _due(
    conn: asyncpg.Connection, policy: ReleasePolicy, received_through: datetime
) -> list[tuple[date, int]]:
    """Ended months past the delay since their end (from the first month with an incident
    the releases count) that were never looked at, or whose counts or receipts changed since
    the last look."""
    zone = ZoneInfo(policy.time_zone)
    earliest = await conn.fetchval(FIRST_INCIDENT, policy.status.value)
    if earliest is None:
        return []
    earliest = earliest.astimezone(zone)
    first = date(earliest.year, earliest.month, 1)
    local = received_through.astimezone(zone)
    last = date(local.year, local.month, 1) - timedelta(days=1)  # the last month ended by then
    closed = [m for m in _months(first, last.replace(day=1)) if month_bounds(m, zone)[1] <= local]
    generations = {row["month"]: row["generation"] for row in await conn.fetch(GENERATIONS)}
    checks = {row["month"]: row for row in await conn.fetch(CHECKS)}
    received: set[date] = set()
    if checks:
        since = min(row["received_through"] for row in checks.values())
        rows = await conn.fetch(RECEIVED_SINCE, since, received_through, policy.time_zone)
        received = {row["month"] for row in rows}
    due = []
    for month in closed:
        generation = generations.get(month, 0)
        check = checks.get(month)
        if check is None or check["generation"] != generation or month in received:
            due.append((month, generation))
    return due


async def _release_month(
    conn: asyncpg.Connection,
    policy: ReleasePolicy,
    signer: ReceiptSigner,
    month: date,
    now: datetime,
    received_through: datetime,
) -> Published | None:
    """The month's next version if its exact counts differ from the latest version's."""
    start, end = month_bounds(month, ZoneInfo(policy.time_zone))
    counts = await exact_counts(conn, start, end, received_through, policy.status)
    digest = counts.digest()
    latest = await store.latest_version(conn, month)
    if latest is not None and latest.exact_digest == digest:
        return None
    version = 1 if latest is None else latest.version + 1
    spent = await store.spent(conn, month)
    spec = ReleaseSpec(
        month=month,
        version=version,
        published_at=now,
        received_through=received_through,
        time_zone=policy.time_zone,
        status=policy.status,
        delay_days=policy.delay.days,
        epsilon=policy.epsilon,
        delta=policy.delta,
        spent_month=spent.month,
        spent_total=spent.total,
    )
    release = build_release(counts, spec, signer)
    await store.insert(
        conn,
        month=month,
        version=version,
        published_at=now,
        received_through=received_through,
        epsilon=policy.epsilon,
        delta=policy.delta,
        exact_digest=digest,
        document=encode(release),
    )
    return Published(
        month=month,
        version=version,
        areas=len(release.tables.area),
        epsilon=policy.epsilon,
        month_epsilon=release.meta.privacy.budget.month_epsilon,
    )
