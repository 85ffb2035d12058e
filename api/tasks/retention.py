"""Retention inside ``serve``: every hour (PLAINSIGHT_RETENTION_CHECK_SECONDS), one replica
applies it (storage/reports/retention.py).

Replicas race for the run's advisory lock; the ones that lose skip this round. A round that
changed nothing is not audited, so an idle service does not write 24 audit entries a day (the
``plainsight retention run`` command audits every run)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from api.tasks.periodic import every
from storage.db.pool import Database
from storage.evidence.store import SealedStore
from storage.photos.blobs import BlobStore
from storage.reports.retention import RetentionBusy, run_retention

log = logging.getLogger(__name__)
RETENTION_INTERVAL_S = 3600.0


def _utc_now() -> datetime:
    return datetime.now(UTC)


def background_retention(
    db: Database,
    blobs: BlobStore,
    days: int,
    interval_s: float = RETENTION_INTERVAL_S,
    clock: Callable[[], datetime] = _utc_now,
    *,
    sealed: SealedStore | None = None,
) -> contextlib.AbstractAsyncContextManager[None]:
    async def retention_round() -> None:
        try:
            async with db.acquire() as conn:
                summary = await run_retention(
                    conn, blobs, now=clock(), days=days, audit_empty=False, sealed=sealed
                )
        except RetentionBusy:
            log.debug("retention: another replica is at work; skipped")
            return
        if summary.total:
            log.info("retention applied", extra=summary.details())

    return every(interval_s, retention_round, log=log, failed="retention failed; will retry")
