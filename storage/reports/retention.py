"""Retention: what is not kept once reports are old (``plainsight retention run``, and hourly
inside ``serve``).

After ``days`` (PLAINSIGHT_RETENTION_DAYS) counted from ``received_at`` (the server's clock;
``occurred_at`` is the reporter's claim and may be anything):

- coarsen: the report's H3 cell, in the ``h3_cell`` column and in the stored content JSON
  (``location.h3_cell``), becomes its resolution-7 parent (~5 km²). ``incident_id`` is left as
  it is: grouping never runs on coarsened cells (the folder keeps an incident with a
  coarsened member whole). A counted report is marked for the folder, which re-derives its
  incident's facts (and what the statistics remember of them) from the coarsened cell. The
  statistics cube keys areas by ``h3_parent(cell, 7)``, the identity on a res-7 cell, so no
  count moves;
- purge free text of rejected reports rejected at least ``days`` ago (a moderator may
  reinstate a mistaken rejection meanwhile): ``narrative``, ``location.description`` and an
  officer note's ``officer.incident_reference`` become null;
- either way the row's ``payload_sha256`` becomes the hash of the new content
  (``storage.reports.retained_content``) and its ``receipt_signature`` null: both covered what was
  received, and hashing the 49 res-9 children of the coarse cell (or guessed free text) into
  the stored content would find the one that matched. The reporter keeps their receipt;
- purge photos (rows, then blobs after commit as a withdrawal does: a crash in between leaves
  orphans for ``plainsight gc``, never a row without its blob) of withdrawn reports (any age:
  withdrawal already deletes them, this sweeps what was left) and of rejected reports as above.
  Withdrawn reports' content was purged at withdrawal. A purged photo's sealed original
  (storage/evidence) goes with it: its row by cascade, its blob after the photo batches
  (``sealed``; what a crash leaves queued, ``plainsight gc`` deletes).

Every step is set-based in batches of ``batch_size`` rows, each batch its own transaction
(a content rewrite: one statement locks and reads the batch, Python rewrites and hashes it,
one statement stores it): interrupted, a run leaves every report either done or untouched, and
a re-run does the rest.
Batches lock their rows ``for update skip locked`` so they never wait for (or deadlock with)
ingest, withdrawals, reviews or photo uploads; a row skipped is done by the next run. One run at
a time: a session advisory lock, and a run that cannot take it does nothing (another replica
is at work). The clock is passed in (``now``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

import asyncpg
import h3

from schemas.report import COARSE_H3_RESOLUTION, ReportContent
from storage.audit import log as audit
from storage.db import locks
from storage.evidence.sealer import purge_queued
from storage.evidence.store import SealedStore
from storage.photos.blobs import BlobStore
from storage.photos.store import release_blobs
from storage.reports.retained_content import (
    canonical_content,
    decode_stored,
    without_free_text,
)
from storage.reports.retained_content import coarsened as coarsen

RETENTION_LOCK = locks.RETENTION  # session advisory lock: one retention run at a time
DEFAULT_BATCH_SIZE = 5000

# Candidates: a cell finer than res 7 (resolution in bits 52-55), received before the cutoff.
COUNT_COARSEN = f"""
select count(*) from reports
where received_at < $1 and h3_cell is not null and ((h3_cell >> 52) & 15) > {COARSE_H3_RESOLUTION}
"""  # noqa: S608 - the only value put in is a constant
SELECT_COARSEN_BATCH = f"""
select id, content::text as content from reports
where received_at < $1 and h3_cell is not null and ((h3_cell >> 52) & 15) > {COARSE_H3_RESOLUTION}
order by id limit $2 for update skip locked
"""  # noqa: S608 - the only value put in is a constant
# The rows a batch locked get their rewritten content and its hash; the signature over the
# received content goes (the reporter holds the receipt). A counted report goes to the folder:
# its incident's facts (cell included) are derived again.
REWRITE_BATCH = """
update reports r
set h3_cell = u.h3_cell, content = u.content::jsonb, payload_sha256 = u.payload_sha256,
    receipt_signature = null,
    fold_pending_since = case when r.counted > 0 then now() else r.fold_pending_since end
from unnest($1::uuid[], $2::bigint[], $3::text[], $4::text[])
     as u (id, h3_cell, content, payload_sha256)
where r.id = u.id
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
SELECT_PURGE_BATCH = """
select id, content::text as content from reports
where status = 'rejected' and coalesce(reviewed_at, received_at) < $1
  and content is not null
  and (content ->> 'narrative' is not null
       or content -> 'location' ->> 'description' is not null
       or content -> 'officer' ->> 'incident_reference' is not null)
order by id limit $2 for update skip locked
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
    sealed: SealedStore | None = None,
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
        if sealed is not None:
            # Purging a photo row queued its sealed original (if any): delete those blobs now.
            await purge_queued(conn, sealed)
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
            count = await _rewrite_batch(conn, SELECT_COARSEN_BATCH, coarsen, before, batch_size)
        if not count:
            break
        coarsened += count
        report("coarsen", count)

    purged = 0
    while True:
        async with conn.transaction():
            count = await _rewrite_batch(conn, SELECT_PURGE_BATCH, purged_form, before, batch_size)
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


def purged_form(content: ReportContent) -> ReportContent:
    # Purged reports are as old as coarsened ones: a row the coarsening skipped (locked) is
    # coarsened here, so a purged report is always coarsened too (replays rely on it).
    return without_free_text(coarsen(content))


async def _rewrite_batch(
    conn: asyncpg.Connection,
    select_batch: str,
    rewrite: Callable[[ReportContent], ReportContent],
    before: datetime,
    batch_size: int,
) -> int:
    """Lock one batch, rewrite each row's content in Python (the hash must be the service's
    canonical JSON, which SQL cannot reproduce byte for byte), store it with its hash and
    without the signature (and mark it for the folder if it counts).
    The content is re-encoded from the schema's Struct, as at ingest: top-level fields the
    schema no longer knows are dropped with it."""
    rows = await conn.fetch(select_batch, before, batch_size)
    if not rows:
        return 0
    ids, cells, texts, hashes = [], [], [], []
    for row in rows:
        content = rewrite(decode_stored(row["content"]))
        ids.append(row["id"])
        cells.append(h3.str_to_int(content.location.h3_cell))
        body = canonical_content(content)
        texts.append(body.decode())
        hashes.append(hashlib.sha256(body).hexdigest())
    await conn.execute(REWRITE_BATCH, ids, cells, texts, hashes)
    return len(rows)
