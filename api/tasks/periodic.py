"""A round of work repeated inside ``serve`` until it stops: the first round one interval after
start-up, an error logged and retried at the next round, the task cancelled on the way out."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable


@contextlib.asynccontextmanager
async def every(
    interval_s: float, work: Callable[[], Awaitable[None]], *, log: logging.Logger, failed: str
) -> AsyncIterator[None]:
    """Runs ``work`` every ``interval_s`` (after each round ends) while the block runs; a
    round that raises is logged as ``failed`` at warning level, with its traceback."""

    async def forever() -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                await work()
            except Exception:
                log.warning(failed, exc_info=True)

    task = asyncio.create_task(forever())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
