"""Keeps the statistics cube close to current while nobody asks for statistics, so the
change log stays short and the first query after a quiet spell has little to fold. Folding
every second keeps each fold small: a long one competes with ingest for the CPU."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from storage.db import Database
from storage.stats_cube import fold

log = logging.getLogger(__name__)
FOLD_INTERVAL_S = 1.0


@contextlib.asynccontextmanager
async def background_folding(
    db: Database, time_zone: str, interval_s: float = FOLD_INTERVAL_S
) -> AsyncIterator[None]:
    task = asyncio.create_task(_fold_forever(db, time_zone, interval_s))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _fold_forever(db: Database, time_zone: str, interval_s: float) -> None:
    while True:
        await asyncio.sleep(interval_s)
        try:
            async with db.acquire() as conn:
                folded = await fold(conn, time_zone)
            if folded:
                log.debug("folded statistics changes", extra={"changes": folded})
        except Exception:
            log.warning("could not fold statistics changes; will retry", exc_info=True)
