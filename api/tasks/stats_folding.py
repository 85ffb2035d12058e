"""The folder inside ``serve``: twice a second, at a fixed rate (a tick starts one interval
after the previous one started, not after it ended), so incidents and counts lag ingest by the
interval plus one fold (at the ingest benchmark's full rate the lag's maximum was 2.1 s with a
one-second interval, 1.5 s with half a second). Each replica tries the folder's lock and skips
the tick when another holds it; an error is logged and the next tick tries again. Statistics
queries also run the folder first."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator

from api.middleware.metrics import FOLDED_REPORTS
from storage.db.pool import Database
from storage.incidents import folder
from storage.incidents.grouping import GroupingRule

log = logging.getLogger(__name__)
FOLD_INTERVAL_S = 0.5


@contextlib.asynccontextmanager
async def background_folding(
    db: Database,
    rule: GroupingRule,
    time_zone: str,
    interval_s: float = FOLD_INTERVAL_S,
    threshold: int | None = None,
) -> AsyncIterator[None]:
    """With ``threshold`` (the service's), the background also places the statistics groups of
    that threshold's families that no query has placed yet."""
    task = asyncio.create_task(_fold_forever(db, rule, time_zone, interval_s, threshold))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _fold_forever(
    db: Database, rule: GroupingRule, time_zone: str, interval_s: float, threshold: int | None
) -> None:
    next_tick = time.monotonic() + interval_s
    while True:
        await asyncio.sleep(max(0.0, next_tick - time.monotonic()))
        # A tick that overran skips the ticks it missed rather than running them back to back.
        next_tick = max(next_tick + interval_s, time.monotonic())
        try:
            await fold_once(db, rule, time_zone, threshold)
        except Exception:
            log.warning("the folder failed; will retry", exc_info=True)


async def fold_once(
    db: Database, rule: GroupingRule, time_zone: str, threshold: int | None = None
) -> folder.FoldSummary | None:
    """One round of the folder (None: another replica holds its lock)."""
    async with db.acquire() as conn:
        summary = await folder.fold(conn, rule, time_zone, wait=False)
        if summary is not None:
            # The kept groups of the months that changed, at most every few seconds each.
            await folder.place_changed(conn, threshold=threshold)
    if summary is not None and summary.reports:
        FOLDED_REPORTS.inc(summary.reports)
        log.debug(
            "folded reports",
            extra={"reports": summary.reports, "changes": summary.changes},
        )
    return summary
