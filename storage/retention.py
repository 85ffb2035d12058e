"""Retention: what is not kept once reports are old (``plainsight retention run``, and hourly
inside ``serve``).

After ``days`` (PLAINSIGHT_RETENTION_DAYS) counted from ``received_at`` (the server's clock;
``occurred_at`` is the reporter's claim and may be anything):

- coarsen: the report's H3 cell, in the ``h3_cell`` column and in the stored content JSON
  (``location.h3_cell``), becomes its resolution-7 parent (~5 km²). ``incident_id`` is left as
  it is: grouping never runs on coarsened cells (``storage.incidents`` keeps an incident with a
  coarsened member whole). The fold's remembered facts (``stats_folded.h3_cell``) are
  coarsened with them. The statistics cube keys areas by ``h3_parent(cell, 7)``, the identity
  on a res-7 cell, so no count moves;
- purge free text of rejected reports rejected at least ``days`` ago (a moderator may
  reinstate a mistaken rejection meanwhile): ``narrative``, ``location.description`` and an
  officer note's ``officer.incident_reference`` become null;
- purge photos (rows, then blobs after commit as a withdrawal does: a crash in between leaves
  orphans for ``plainsight gc``, never a row without its blob) of withdrawn reports (any age:
  withdrawal already deletes them, this sweeps what was left) and of rejected reports as above.
  Withdrawn reports' content was purged at withdrawal.

Every step is set-based in batches of ``batch_size`` rows, each batch its own transaction:
interrupted, a run leaves every report either done or untouched, and a re-run does the rest.
Batches lock their rows ``for update skip locked`` so they never wait for (or deadlock with)
ingest, withdrawals, reviews or photo uploads; a row skipped is done by the next run. One run at
a time: a session advisory lock, and a run that cannot take it does nothing (another replica
is at work). The clock is passed in (``now``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

import asyncpg

from storage import audit
from storage.blobs import BlobStore
from storage.photos import release_blobs

RETENTION_LOCK = 7351000109  # session advisory lock: one retention run at a time
FOLD_LOCK = 7351000101  # fold_statistics' lock (migration 0004): stats_folded rows
COARSE_RESOLUTION = 7
DEFAULT_BATCH_SIZE = 5000

# Candidates: a cell finer than res 7 (resolution in bits 52-55), received before the cutoff.
COUNT_COARSEN = """
select count(*) from reports
where received_at < $1 and h3_cell is not null and ((h3_cell >> 52) & 15) > 7
"""
COARSEN_BATCH = """
with batch as (
    select id from reports
    where received_at < $1 and h3_cell is not null and ((h3_cell >> 52) & 15) > 7
    order by id limit $2 for update skip locked
)
update reports r
set h3_cell = h3_parent(r.h3_cell, 7),
    content = case when r.content -> 'location' ? 'h3_cell'
                   then jsonb_set(r.content, '{location,h3_cell}',
                                  to_jsonb(lpad(to_hex(h3_parent(r.h3_cell, 7)), 15, '0')))
                   else r.content end
from batch where r.id = batch.id
returning r.incident_id
"""
COARSEN_FOLDED = """
update stats_folded set h3_cell = h3_parent(h3_cell, 7)
where incident_id = any($1::bigint[]) and ((h3_cell >> 52) & 15) > 7
"""
# Candidates: rejected before the cutoff, with free text left.
COUNT_NARRATIVES = """
select count(*) from reports
where status = 'rejected' and coalesce(reviewed_at, received_at) < $1
  and content is not null
  and (content ->> 'narrative' is not null
       or content -> 'location' ->> 'description' is not null
       or content -> 'officer' ->> 'incident_reference' is not null)
"""
# The new content is worked out from the locked (latest) row version the batch returns.
PURGE_NARRATIVES_BATCH = """
with batch as (
    select id, content || '{"narrative": null}' as content from reports
    where status = 'rejected' and coalesce(reviewed_at, received_at) < $1
      and content is not null
      and (content ->> 'narrative' is not null
           or content -> 'location' ->> 'description' is not null
           or content -> 'officer' ->> 'incident_reference' is not null)
    order by id limit $2 for update skip locked
), without_place as (
    select id, case when content ? 'location'
                    then jsonb_set(content, '{location,description}', 'null')
                    else content end as content
    from batch
)
update reports r
set content = case when p.content ? 'officer'
                   then jsonb_set(p.content, '{officer,incident_reference}', 'null')
                   else p.content end
from without_place p
where r.id = p.id
"""
# Candidates: withdrawn (any age), or rejected before the cutoff, with photo rows left.
COUNT_PHOTOS = """
select count(*) from photos p join reports r on r.id = p.report_id
where r.status = 'withdrawn'
   or (r.status = 'rejected' and coalesce(r.reviewed_at, r.received_at) < $1)
"""
PURGE_PHOTOS_BATCH = """
with batch as (
    select r.id from reports r
    where (r.status = 'withdrawn'
           or (r.status = 'rejected' and coalesce(r.reviewed_at, r.received_at) < $1))
      and exists (select from photos p where p.report_id = r.id)
    order by r.id limit $2 for update skip locked
)
delete from photos p using batch where p.report_id = batch.id
returning p.sha256
"""
TRY_LOCK = "select pg_try_advisory_lock($1)"
UNLOCK = "select pg_advisory_unlock($1)"

Progress = Callable[[str, int], None]
"""Called after each batch with the step's name and the rows it changed."""


@dataclass(frozen=True, slots=True)
class RetentionSummary:
    reports_coarsened: int = 0
    narratives_purged: int = 0
    photos_purged: int = 0
    blobs_deleted: int = 0

    def details(self) -> dict[str, int]:
        return asdict(self)

    @property
    def total(self) -> int:
        return self.reports_coarsened + self.narratives_purged + self.photos_purged


class RetentionBusy(Exception):
    """Another retention run holds the lock."""


def cutoff(now: datetime, days: int) -> datetime:
    return now - timedelta(days=days)


async def pending(conn: asyncpg.Connection, *, now: datetime, days: int) -> RetentionSummary:
    """What a run at ``now`` would do (blobs: not known before the rows are gone)."""
    before = cutoff(now, days)
    return RetentionSummary(
        reports_coarsened=await conn.fetchval(COUNT_COARSEN, before),
        narratives_purged=await conn.fetchval(COUNT_NARRATIVES, before),
        photos_purged=await conn.fetchval(COUNT_PHOTOS, before),
    )


async def run_retention(
    conn: asyncpg.Connection,
    blobs: BlobStore,
    *,
    now: datetime,
    days: int,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Progress | None = None,
    audit_empty: bool = True,
) -> RetentionSummary:
    """Apply retention as of ``now``; audited as ``retention.run`` with the counts (a run that
    did nothing only if ``audit_empty``). Raises ``RetentionBusy`` if another run is at work.
    ``conn`` must not be in a transaction: every batch commits on its own."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    if not await conn.fetchval(TRY_LOCK, RETENTION_LOCK):
        raise RetentionBusy("another retention run is in progress")
    try:
        summary = await _run(conn, blobs, cutoff(now, days), batch_size, progress)
        if summary.total or audit_empty:
            async with conn.transaction():
                await audit.record(
                    conn,
                    actor=None,
                    action="retention.run",
                    details={**summary.details(), "days": days, "now": now.isoformat()},
                )
        return summary
    finally:
        await conn.fetchval(UNLOCK, RETENTION_LOCK)


async def _run(
    conn: asyncpg.Connection,
    blobs: BlobStore,
    before: datetime,
    batch_size: int,
    progress: Progress | None,
) -> RetentionSummary:
    def report(step: str, count: int) -> None:
        if progress is not None:
            progress(step, count)

    coarsened = 0
    while True:
        async with conn.transaction():
            rows = await conn.fetch(COARSEN_BATCH, before, batch_size)
            incidents = sorted({r["incident_id"] for r in rows if r["incident_id"] is not None})
            if incidents:
                # The fold's lock first: the fold writes stats_folded under it.
                await conn.execute("select pg_advisory_xact_lock($1)", FOLD_LOCK)
                await conn.execute(COARSEN_FOLDED, incidents)
        if not rows:
            break
        coarsened += len(rows)
        report("coarsen", len(rows))

    purged = 0
    while True:
        async with conn.transaction():
            status = await conn.execute(PURGE_NARRATIVES_BATCH, before, batch_size)
        count = int(status.split()[-1])
        if not count:
            break
        purged += count
        report("narratives", count)

    photos = deleted = 0
    while True:
        async with conn.transaction():
            keys = [r["sha256"] for r in await conn.fetch(PURGE_PHOTOS_BATCH, before, batch_size)]
        if not keys:
            break
        photos += len(keys)
        # After the commit, as a withdrawal does: a blob goes once no row refers to it.
        deleted += await release_blobs(conn, blobs, sorted(set(keys)))
        report("photos", len(keys))
    return RetentionSummary(
        reports_coarsened=coarsened,
        narratives_purged=purged,
        photos_purged=photos,
        blobs_deleted=deleted,
    )
