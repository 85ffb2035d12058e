"""Cost of one rate-limit check as the middleware makes it.

``python -m tests.benchmarks.rate_limiter``: memory store always; Redis too when ``REDIS_URL``
(or the default local one) answers. Each check names its bucket (HMAC of a 16-byte subject)
and counts one request in it.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import time
import uuid

from redis.asyncio import Redis
from redis.exceptions import RedisError

from api.middleware.limiter import build_rate_limiter
from schemas.settings import load_settings

CHECKS = 200_000
REDIS_CHECKS = 20_000


async def measure(label: str, checks: int, **settings: str) -> None:
    limiter = build_rate_limiter(load_settings({}, rate_limit_writes="1000000/s", **settings))
    assert limiter is not None
    rate = limiter.rules["writes"]
    subjects = [uuid.uuid4().bytes for _ in range(1000)]
    try:
        await limiter.check("writes", rate, subjects[0])  # warm: key fetched, script loaded
        started = time.perf_counter()
        for i in range(checks):
            await limiter.check("writes", rate, subjects[i % 1000])
        elapsed = time.perf_counter() - started
    finally:
        await limiter.close()
    print(f"{label:>8}: {elapsed / checks * 1e6:7.2f} µs per check ({checks} checks, sequential)")


async def main() -> None:
    await measure("memory", CHECKS)
    url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    prefix = f"plainsight-bench:{secrets.token_hex(4)}:"
    client = Redis.from_url(url, socket_connect_timeout=1)
    try:
        await client.ping()
        await measure("redis", REDIS_CHECKS, redis_url=url, rate_limit_prefix=prefix)
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
    except (RedisError, OSError) as exc:
        print(f"   redis: skipped ({type(exc).__name__})")
    finally:
        await client.aclose()


if __name__ == "__main__":
    asyncio.run(main())
