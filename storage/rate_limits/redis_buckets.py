"""GCRA buckets in Redis (or Valkey), shared by every process, and the daily key they share.

Each check is one atomic script call: one round trip, no race between processes. A bucket key
expires when the bucket has drained, so Redis holds only the counters of recent clients.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript

from schemas.rate_limits import Rate

# A limiter that waits on a sick Redis stalls every request: fail fast, the caller falls back.
TIMEOUT_S = 0.5

# KEYS[1] the bucket; ARGV: emission interval and period in ms, now in ms ("" = Redis's clock,
# the same for every process). Returns 0 when allowed, else the wait in whole ms (rounded up).
_HIT = """
local interval = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
if now == nil then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
end
local tat = tonumber(redis.call('GET', KEYS[1]))
if tat == nil or tat < now then tat = now end
local new_tat = tat + interval
local wait = new_tat - period - now
if wait > 0 then return math.ceil(wait) end
redis.call('SET', KEYS[1], string.format('%.3f', new_tat), 'PX', math.ceil(new_tat - now))
return 0
"""

# The same arithmetic without the SET: what a hit would answer, counting nothing.
_PEEK = """
local interval = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
if now == nil then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
end
local tat = tonumber(redis.call('GET', KEYS[1]))
if tat == nil or tat < now then tat = now end
local wait = tat + interval - period - now
if wait > 0 then return math.ceil(wait) end
return 0
"""

# KEYS[1] the day's key; ARGV: a fresh random key, its lifetime in seconds. The first process
# of the day sets it, every other one reads that.
_SHARED_KEY = """
redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2])
return redis.call('GET', KEYS[1])
"""


class RedisBuckets:
    def __init__(
        self, client: Redis, prefix: str, *, clock: Callable[[], float] | None = None
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.clock = clock
        self._hit = client.register_script(_HIT)
        self._peek = client.register_script(_PEEK)
        self._shared_key = client.register_script(_SHARED_KEY)

    @classmethod
    def connect(
        cls, url: str, prefix: str, *, clock: Callable[[], float] | None = None
    ) -> RedisBuckets:
        """Connections are opened on first use, in the loop that uses them."""
        client = Redis.from_url(
            url,
            socket_timeout=TIMEOUT_S,
            socket_connect_timeout=TIMEOUT_S,
            retry=Retry(NoBackoff(), 0),
        )
        return cls(client, prefix, clock=clock)

    async def hit(self, bucket: str, rate: Rate) -> float:
        return await self._run(self._hit, bucket, rate)

    async def peek(self, bucket: str, rate: Rate) -> float:
        return await self._run(self._peek, bucket, rate)

    async def _run(self, script: AsyncScript, bucket: str, rate: Rate) -> float:
        now_ms = "" if self.clock is None else repr(self.clock() * 1000)
        wait_ms = await script(
            keys=[self.prefix + bucket],
            args=[repr(rate.interval_s * 1000), repr(rate.period_s * 1000), now_ms],
        )
        return int(wait_ms) / 1000

    def clear(self) -> None:
        """Nothing to do: every bucket expires by itself."""

    async def shared_key(self, day: int, lifetime_s: int) -> bytes:
        """The address key of UTC day ``day``, made by whichever process asks first."""
        key: bytes = await self._shared_key(
            keys=[f"{self.prefix}address-key:{day}"],
            args=[secrets.token_bytes(32), max(1, lifetime_s)],
        )
        return key

    async def close(self) -> None:
        await self.client.aclose()
