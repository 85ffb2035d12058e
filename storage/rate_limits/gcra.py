"""GCRA (the generic cell rate algorithm) over buckets kept in this process's memory.

A bucket is one number, its theoretical arrival time (TAT): when it will be empty again. A
request adds one emission interval (period / count) to it and is refused if that would put the
TAT more than one period ahead of now. So ``count`` requests may come at once, then one per
interval; a check is O(1) and a bucket that has drained is the same as no bucket.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from itertools import islice
from typing import Protocol

from schemas.rate_limits import Rate

MAX_BUCKETS = 100_000


class Buckets(Protocol):
    async def hit(self, bucket: str, rate: Rate) -> float:
        """Count one request; 0 if allowed, else the seconds until one would be."""
        ...

    async def peek(self, bucket: str, rate: Rate) -> float:
        """What ``hit`` would answer now, without counting anything."""
        ...

    def clear(self) -> None:
        """Forget every bucket (their names were derived from a key that is gone)."""
        ...


def gcra(tat: float | None, now: float, rate: Rate) -> tuple[float, float]:
    """(new TAT, 0) when allowed; (old TAT, seconds to wait) when not."""
    start = now if tat is None or tat < now else tat
    new_tat = start + rate.interval_s
    wait = new_tat - rate.period_s - now
    if wait > 0:
        return start, wait
    return new_tat, 0.0


class MemoryBuckets:
    """Buckets in a dict kept in least-recently-hit order, so that when it is full the entries
    dropped are the ones most likely drained already (a dropped live bucket only starts afresh)."""

    def __init__(
        self, clock: Callable[[], float] = time.monotonic, *, max_buckets: int = MAX_BUCKETS
    ) -> None:
        self.clock = clock
        self.max_buckets = max_buckets
        self._tats: dict[str, float] = {}

    async def hit(self, bucket: str, rate: Rate) -> float:
        return self.hit_now(bucket, rate)

    def hit_now(self, bucket: str, rate: Rate) -> float:
        tat, wait = gcra(self._tats.pop(bucket, None), self.clock(), rate)
        if len(self._tats) >= self.max_buckets:
            self._drop_oldest(self.max_buckets // 10 or 1)
        self._tats[bucket] = tat
        return wait

    async def peek(self, bucket: str, rate: Rate) -> float:
        return gcra(self._tats.get(bucket), self.clock(), rate)[1]

    def clear(self) -> None:
        self._tats.clear()

    def _drop_oldest(self, count: int) -> None:
        for key in list(islice(self._tats, count)):
            del self._tats[key]

    def __len__(self) -> int:
        return len(self._tats)
