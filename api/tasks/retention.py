"""Retention inside ``serve``: every hour, one replica applies it (storage/reports/retention.py).

Replicas race for the run's advisory lock; the ones that lose skip this round. A round that
changed nothing is not audited, so an idle service does not write 24 audit entries a day (the
``plainsight retention run`` command audits every run)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

from storage.db.pool import Database
from storage.photos.blobs import BlobStore
from storage.reports.retention import RetentionBusy, run_retention

log = logging.getLogger(__name__)
RETENTION_INTERVAL_S = 3600.0


def _utc_now() -> datetime:
    return datetime.now(UTC)


@contextlib.asynccontextmanager
async def background_retention(
    db: Database,
    blobs: BlobStore,
    days: int,
    interval_s: float = RETENTION_INTERVAL_S,
    clock: Callable[[], datetime] = _utc_now,
) -> AsyncIterator[None]:
    task = asyncio.create_task(_retain_forever(db, blobs, days, interval_s, clock))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _retain_forever(
    db: Database,
    blobs: BlobStore,
    days: int,
    interval_s: float,
    clock: Callable[[], datetime],
) -> None:
    while True:
        await asyncio.sleep(interval_s)
        try:
            async with db.acquire() as conn:
                summary = await run_retention(
                    conn, blobs, now=clock(), days=days, audit_empty=False
                )
            if summary.total:
                log.info("retention applied", extra=summary.details())
        except RetentionBusy:
            log.debug("retention: another replica is at work; skipped")
        except Exception:
            log.warning("retention failed; will retry", exc_info=True)
