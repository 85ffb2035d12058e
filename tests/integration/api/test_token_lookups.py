"""Concurrent requests with one uncached token share a single database lookup
(api.middleware.auth.authenticate), and a failed or abandoned lookup leaves the others to try on
their own."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import SimpleNamespace

import asyncpg
import pytest

from api.middleware.auth import authenticate
from api.middleware.principal_cache import PrincipalCache
from schemas.auth import Role
from schemas.settings import Settings
from storage.accounts.device_tokens import register_device
from storage.db.pool import SingleConnectionDatabase
from storage.errors import Unavailable

CONCURRENT = 20


class CountingDatabase(SingleConnectionDatabase):
    """The test's real connection, counting how often a connection is taken; ``hold`` keeps
    the first taker waiting, so the others arrive while its lookup is in flight."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        super().__init__(conn)
        self.acquired = 0
        self.hold = asyncio.Event()
        self.fail_first = False

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[asyncpg.Connection]:
        self.acquired += 1
        first = self.acquired == 1
        if first:
            await self.hold.wait()
            if self.fail_first:
                raise Unavailable("the database is not reachable right now")
        async with super().acquire() as conn:
            yield conn


def app_state(db: CountingDatabase, settings: Settings) -> SimpleNamespace:
    return SimpleNamespace(
        principals=PrincipalCache(settings.auth_cache_seconds),
        rate_limiter=None,
        db=db,
        settings=settings,
    )


async def started(tasks: list[asyncio.Task[object]]) -> None:
    """Let every task run up to its first wait."""
    for _ in range(3):
        await asyncio.sleep(0)
    assert not any(task.done() for task in tasks)


async def test_concurrent_requests_share_one_lookup(
    conn: asyncpg.Connection, settings: Settings
) -> None:
    device = await register_device(conn, settings.device_token_days)
    db = CountingDatabase(conn)
    state = app_state(db, settings)
    tasks = [asyncio.create_task(authenticate(state, device.token)) for _ in range(CONCURRENT)]
    await started(tasks)  # type: ignore[arg-type]
    db.hold.set()
    principals = await asyncio.gather(*tasks)
    assert db.acquired == 1
    assert {p.id if p else None for p in principals} == {device.device_id}
    assert all(p is not None and p.role is Role.observer for p in principals)
    assert not state.principals.lookups
    # Cached now: no further lookup.
    assert await authenticate(state, device.token) == principals[0]
    assert db.acquired == 1


async def test_an_unknown_token_is_looked_up_once_for_all(
    conn: asyncpg.Connection, settings: Settings
) -> None:
    db = CountingDatabase(conn)
    state = app_state(db, settings)
    token = "psd_" + "x" * 43
    tasks = [asyncio.create_task(authenticate(state, token)) for _ in range(CONCURRENT)]
    await started(tasks)  # type: ignore[arg-type]
    db.hold.set()
    assert await asyncio.gather(*tasks) == [None] * CONCURRENT
    assert db.acquired == 1


async def test_a_failed_lookup_fails_only_its_own_request(
    conn: asyncpg.Connection, settings: Settings
) -> None:
    device = await register_device(conn, settings.device_token_days)
    db = CountingDatabase(conn)
    db.fail_first = True
    state = app_state(db, settings)
    first = asyncio.create_task(authenticate(state, device.token))
    await asyncio.sleep(0)
    others = [asyncio.create_task(authenticate(state, device.token)) for _ in range(3)]
    await started([first, *others])
    db.hold.set()
    with pytest.raises(Unavailable):
        await first
    principals = await asyncio.gather(*others)
    assert {p.id if p else None for p in principals} == {device.device_id}
    # The others retried: one of them looked up again, the rest waited for it.
    assert db.acquired == 2
    assert not state.principals.lookups


async def test_an_abandoned_lookup_leaves_the_others_to_look_up(
    conn: asyncpg.Connection, settings: Settings
) -> None:
    device = await register_device(conn, settings.device_token_days)
    db = CountingDatabase(conn)
    state = app_state(db, settings)
    first = asyncio.create_task(authenticate(state, device.token))
    await asyncio.sleep(0)
    others = [asyncio.create_task(authenticate(state, device.token)) for _ in range(3)]
    await started([first, *others])
    first.cancel()  # the client went away while its request looked the token up
    with pytest.raises(asyncio.CancelledError):
        await first
    db.hold.set()
    principals = await asyncio.gather(*others)
    assert {p.id if p else None for p in principals} == {device.device_id}
    assert db.acquired == 2
    assert not state.principals.lookups


async def test_a_waiter_that_is_cancelled_does_not_cancel_the_lookup(
    conn: asyncpg.Connection, settings: Settings
) -> None:
    device = await register_device(conn, settings.device_token_days)
    db = CountingDatabase(conn)
    state = app_state(db, settings)
    first = asyncio.create_task(authenticate(state, device.token))
    await asyncio.sleep(0)
    waiter = asyncio.create_task(authenticate(state, device.token))
    await started([first, waiter])
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    db.hold.set()
    principal = await first
    assert principal is not None
    assert principal.id == device.device_id
    assert db.acquired == 1
