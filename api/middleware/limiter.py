"""The rate limiter: named rules from the settings, buckets named by a keyed hash.

A bucket is named ``rule:HMAC-SHA256(day key, subject)`` (truncated), where the subject is a
client address or a device/account id. The day key is random, replaced every UTC day and never
written anywhere, so neither an address nor its hash is stored, logged or returned, and
yesterday's bucket names cannot be recomputed from an address once the key is gone.

With ``REDIS_URL`` the buckets, and the day key, live in Redis so that every process counts
against the same limits (a key per process would split each client's budget between them).
Redis is memory too, and the key expires at the end of its day; Redis must not persist to disk
(``save ""``, ``appendonly no``) or the key would reach it. When Redis cannot be reached the
limiter fails open to this process's own buckets, logs a warning and counts the error: limits
get looser for a while, reporters are never locked out by an outage.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import math
import secrets
import time
from collections.abc import Callable, Mapping
from typing import Protocol

from prometheus_client import Counter
from redis.exceptions import RedisError

from schemas.rate_limits import RATE_SETTINGS, Rate, parse_rate
from schemas.settings import Settings
from storage.errors import RateLimited
from storage.rate_limits.gcra import Buckets, MemoryBuckets
from storage.rate_limits.redis_buckets import RedisBuckets

log = logging.getLogger(__name__)

STORE_ERRORS = Counter(
    "plainsight_rate_limit_store_errors",
    "Rate-limit checks or key fetches that could not reach Redis (answered from process memory)",
)
REDIS_UNAVAILABLE = (RedisError, OSError, TimeoutError)
RETRY_REDIS_AFTER_S = 5.0
DAY_S = 86400
# A process whose clock runs a little behind still finds the day's key.
KEY_GRACE_S = 300


def utc_day() -> int:
    return int(time.time() // DAY_S)


class DailyKey(Protocol):
    async def current(self) -> bytes: ...


class LocalDailyKey:
    """A random key in this process's memory, replaced when the UTC day changes."""

    def __init__(self, today: Callable[[], int] = utc_day) -> None:
        self.today = today
        self._day = -1
        self._key = b""

    async def current(self) -> bytes:
        day = self.today()
        if day != self._day:
            self._day, self._key = day, secrets.token_bytes(32)
        return self._key


class Outage:
    """Remembers that Redis failed, so only one request per retry period waits for it."""

    def __init__(self) -> None:
        self._until = 0.0
        self._down = False

    def up(self) -> bool:
        return time.monotonic() >= self._until

    def failed(self, exc: BaseException) -> None:
        STORE_ERRORS.inc()
        self._until = time.monotonic() + RETRY_REDIS_AFTER_S
        if not self._down:
            self._down = True
            log.warning(
                "rate-limit store unreachable; limiting per process until it is back",
                extra={"error": type(exc).__name__},
            )

    def succeeded(self) -> None:
        if self._down:
            self._down = False
            log.info("rate-limit store reachable again")


class SharedDailyKey:
    """The day's key from Redis; while Redis is unreachable, a key of this process's own."""

    def __init__(self, redis: RedisBuckets, outage: Outage, today: Callable[[], int]) -> None:
        self.redis = redis
        self.outage = outage
        self.local = LocalDailyKey(today)
        self.today = today
        self._day = -1
        self._key = b""
        self._shared = False

    async def current(self) -> bytes:
        day = self.today()
        if day == self._day and (self._shared or not self.outage.up()):
            return self._key
        try:
            lifetime_s = (day + 1) * DAY_S - int(time.time()) + KEY_GRACE_S
            self._key = await self.redis.shared_key(day, lifetime_s)
            self._shared = True
            self.outage.succeeded()
        except REDIS_UNAVAILABLE as exc:
            self.outage.failed(exc)
            self._key = await self.local.current()
            self._shared = False
        self._day = day
        return self._key


class FailoverBuckets:
    """Redis buckets, or this process's while Redis is unreachable."""

    def __init__(self, redis: RedisBuckets, fallback: MemoryBuckets, outage: Outage) -> None:
        self.redis = redis
        self.fallback = fallback
        self.outage = outage

    async def hit(self, bucket: str, rate: Rate) -> float:
        if self.outage.up():
            try:
                wait = await self.redis.hit(bucket, rate)
            except REDIS_UNAVAILABLE as exc:
                self.outage.failed(exc)
            else:
                self.outage.succeeded()
                return wait
        return await self.fallback.hit(bucket, rate)

    async def peek(self, bucket: str, rate: Rate) -> float:
        if self.outage.up():
            try:
                wait = await self.redis.peek(bucket, rate)
            except REDIS_UNAVAILABLE as exc:
                self.outage.failed(exc)
            else:
                self.outage.succeeded()
                return wait
        return await self.fallback.peek(bucket, rate)

    def clear(self) -> None:
        self.fallback.clear()


class RateLimiter:
    def __init__(
        self,
        rules: Mapping[str, Rate],
        key: DailyKey,
        buckets: Buckets,
        *,
        redis: RedisBuckets | None = None,
    ) -> None:
        self.rules = dict(rules)
        self.key = key
        self.buckets = buckets
        self.redis = redis
        self._last_key = b""

    async def check(self, rule: str, rate: Rate, subject: bytes) -> None:
        """Count one request of ``subject`` under ``rule``; RateLimited when over the rate."""
        wait = await self.buckets.hit(await self._bucket(rule, subject), rate)
        if wait > 0:
            raise RateLimited(max(1, math.ceil(wait)))

    async def check_without_counting(self, rule: str, rate: Rate, subject: bytes) -> None:
        """RateLimited when one more of ``subject`` under ``rule`` would be over the rate."""
        wait = await self.buckets.peek(await self._bucket(rule, subject), rate)
        if wait > 0:
            raise RateLimited(max(1, math.ceil(wait)))

    async def count(self, rule: str, rate: Rate, subject: bytes) -> None:
        """Count one event of ``subject`` under ``rule`` (whether it was over the rate or not)."""
        await self.buckets.hit(await self._bucket(rule, subject), rate)

    async def _bucket(self, rule: str, subject: bytes) -> str:
        key = await self.key.current()
        if key != self._last_key:
            # Buckets named with the old key can never be hit again.
            self.buckets.clear()
            self._last_key = key
        return bucket_name(rule, key, subject)

    async def close(self) -> None:
        if self.redis is not None:
            await self.redis.close()


def address_subject(client: tuple[str, int] | None) -> bytes:
    """The client's address as bytes (IPv6: its /64); ``client`` is the ASGI scope's."""
    if not client:
        return b"unknown"  # a Unix socket: every client is the same one
    try:
        address = ipaddress.ip_address(client[0])
    except ValueError:
        return client[0].encode()
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped.packed
        return address.packed[:8]
    return address.packed


def bucket_name(rule: str, key: bytes, subject: bytes) -> str:
    # 128 bits of the HMAC: collisions are out of reach, and the name stays short.
    return f"{rule}:{hmac.digest(key, subject, 'sha256')[:16].hex()}"


def rate_rules(settings: Settings) -> dict[str, Rate]:
    """Rule name (the setting without ``rate_limit_``) → rate; rules set to ``off`` left out."""
    rules = {}
    for field in RATE_SETTINGS:
        rate = parse_rate(getattr(settings, field))
        if rate is not None:
            rules[field.removeprefix("rate_limit_")] = rate
    return rules


def build_rate_limiter(
    settings: Settings,
    *,
    clock: Callable[[], float] | None = None,
    today: Callable[[], int] = utc_day,
) -> RateLimiter | None:
    """The limiter the settings ask for; None when rate limits are off. ``clock`` (seconds)
    and ``today`` (UTC day number) let tests move time; by default process memory uses the
    monotonic clock and Redis its own, so that all processes agree."""
    if settings.rate_limits == "off":
        return None
    rules = rate_rules(settings)
    memory = MemoryBuckets(clock or time.monotonic)
    if settings.redis_url is None:
        return RateLimiter(rules, LocalDailyKey(today), memory)
    redis = RedisBuckets.connect(settings.redis_url, settings.rate_limit_prefix, clock=clock)
    outage = Outage()
    return RateLimiter(
        rules,
        SharedDailyKey(redis, outage, today),
        FailoverBuckets(redis, memory, outage),
        redis=redis,
    )
