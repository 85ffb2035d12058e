"""The folder's lag behind ingest, sampled beside a loaded run of the service.

A thread of its own (the benchmark's main thread waits on wrk) polls the folder's pending state
every ``interval_s`` on one connection of its own: how long the oldest report not yet folded has
waited (what ``plainsight_fold_lag_seconds`` exports). Membership and counts are written in the
same transaction, so that is the lag of both. After the load stops it waits until nothing is
pending: the drain time."""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
from dataclasses import dataclass

import asyncpg

from storage.incidents.folder import pending_state

TARGET_LAG_S = 2.0
DRAIN_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class LagFigures:
    samples: int
    median_s: float
    p95_s: float
    max_s: float
    drain_s: float
    """From the end of the load until the folder had everything (-1: not within the timeout)."""

    def describe(self) -> str:
        drained = f"{self.drain_s:.2f} s" if self.drain_s >= 0 else "not drained"
        return (
            f"fold lag, {self.samples} samples: median {self.median_s:.2f} s, "
            f"p95 {self.p95_s:.2f} s, max {self.max_s:.2f} s; drained {drained} after the load"
        )


class LagSampler:
    def __init__(self, dsn: str, interval_s: float = 0.1) -> None:
        self.dsn = dsn
        self.interval_s = interval_s
        self._load_over = threading.Event()
        self._lags: list[float] = []
        self._drain_s = -1.0
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="fold-lag", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> LagFigures:
        """Call when the load has stopped: waits for the drain, then gives the figures."""
        self._load_over.set()
        self._thread.join(DRAIN_TIMEOUT_S + 10)
        if self._error is not None:
            raise self._error
        lags = sorted(self._lags) or [0.0]
        return LagFigures(
            samples=len(self._lags),
            median_s=statistics.median(lags),
            p95_s=lags[max(0, int(len(lags) * 0.95) - 1)],
            max_s=lags[-1],
            drain_s=self._drain_s,
        )

    def _run(self) -> None:
        try:
            asyncio.run(self._sample())
        except BaseException as error:  # handed to the main thread by stop()
            self._error = error

    async def _sample(self) -> None:
        conn = await asyncpg.connect(self.dsn)
        try:
            while not self._load_over.is_set():
                self._lags.append((await pending_state(conn))[1])
                await asyncio.sleep(self.interval_s)
            load_over = time.monotonic()
            while time.monotonic() - load_over < DRAIN_TIMEOUT_S:
                if (await pending_state(conn))[0] == 0:
                    self._drain_s = time.monotonic() - load_over
                    return
                await asyncio.sleep(0.05)
        finally:
            await conn.close()
