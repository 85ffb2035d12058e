"""A short-lived, per-process cache of authenticated tokens.

Looking a token up costs a database round trip on every request, as much as storing a report.
The cache keeps what a token grants for a few seconds, keyed by the token's SHA-256 (the token
itself is never kept). Revocation reaches it in two ways:

- the process that revokes forgets the principal at once (``forget``);
- every process listens on PostgreSQL's ``plainsight_revocations`` channel, which delivers a
  notification when the revoking transaction commits, and forgets the principal too.

If the listening connection is lost, the cache empties and stops caching until it is back, so
a revocation is never missed for longer than the time-to-live.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import asyncpg

from schemas.auth import Principal
from storage.accounts.store import REVOCATION_CHANNEL, Grant
from storage.db.pool import connect

log = logging.getLogger(__name__)

MAX_ENTRIES = 10_000
RECONNECT_DELAY_S = 2.0


class PrincipalCache:
    def __init__(self, ttl_seconds: float, *, max_entries: int = MAX_ENTRIES) -> None:
        self.ttl_seconds = ttl_seconds
        self.max_entries = max_entries
        self.enabled = ttl_seconds > 0
        # SHA-256 of the token -> (principal, monotonic deadline); dicts keep insertion order,
        # so the first key is the oldest entry.
        self._entries: dict[bytes, tuple[Principal, float]] = {}
        # SHA-256 of the token -> the lookup in flight (see api.middleware.auth.authenticate).
        self.lookups: dict[bytes, asyncio.Future[Principal | None]] = {}

    def get(self, key: bytes) -> Principal | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        principal, deadline = entry
        if time.monotonic() >= deadline:
            del self._entries[key]
            return None
        return principal

    def put(self, key: bytes, grant: Grant) -> None:
        if not self.enabled:
            return
        deadline = time.monotonic() + self.ttl_seconds
        if grant.expires_at is not None:
            # Never keep a session beyond its own expiry.
            remaining = (grant.expires_at - datetime.now(UTC)).total_seconds()
            deadline = min(deadline, time.monotonic() + remaining)
        if len(self._entries) >= self.max_entries:
            self._entries.pop(next(iter(self._entries)))
        self._entries[key] = (grant.principal, deadline)

    def forget(self, principal_id: uuid.UUID) -> None:
        """Drop every token of one principal (rare: logout, disable, revoke)."""
        stale = [key for key, (p, _) in self._entries.items() if p.id == principal_id]
        for key in stale:
            self._entries.pop(key, None)

    def suspend(self) -> None:
        """Empty the cache and stop caching (revocations might be missed)."""
        self.enabled = False
        self._entries.clear()

    def resume(self) -> None:
        self.enabled = self.ttl_seconds > 0

    def __len__(self) -> int:
        return len(self._entries)


@asynccontextmanager
async def revocation_listener(dsn: str, cache: PrincipalCache) -> AsyncIterator[None]:
    """Keep a LISTEN connection open for the lifetime of the app; reconnect when it drops."""
    if cache.ttl_seconds <= 0:
        yield
        return
    cache.suspend()
    task = asyncio.create_task(_listen_forever(dsn, cache), name="revocation-listener")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _listen_forever(dsn: str, cache: PrincipalCache) -> None:
    def on_revoked(_conn: object, _pid: int, _channel: str, payload: object) -> None:
        try:
            cache.forget(uuid.UUID(str(payload)))
        except ValueError:  # not ours to understand: forget everything to be safe
            cache.suspend()
            cache.resume()

    while True:
        lost = asyncio.Event()
        conn: asyncpg.Connection | None = None
        try:
            conn = await connect(dsn)
            conn.add_termination_listener(lambda _c, lost=lost: lost.set())
            await conn.add_listener(REVOCATION_CHANNEL, on_revoked)
            cache.resume()
            await lost.wait()
            log.warning("revocation listener lost its connection; token cache suspended")
        except (OSError, asyncpg.PostgresError, TimeoutError):
            log.warning("revocation listener cannot connect; token cache suspended")
        finally:
            cache.suspend()
            if conn is not None and not conn.is_closed():
                await conn.close()
        await asyncio.sleep(RECONNECT_DELAY_S)
