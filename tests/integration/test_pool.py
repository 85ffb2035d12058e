"""The service's connection pool (storage.db.PooledDatabase) on a real database."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from storage.db import PooledDatabase, connect
from storage.errors import Unavailable

BACKEND_PID = "select pg_backend_pid()"


async def test_opens_min_size_and_reuses_the_last_released_connection(
    empty_database: str,
) -> None:
    db = await PooledDatabase.open(empty_database, min_size=2, max_size=4)
    try:
        assert len(db._idle) == 2
        async with db.acquire() as conn:
            first = await conn.fetchval(BACKEND_PID)
            # jsonb travels as text, as the service expects.
            assert await conn.fetchval("select '{\"a\": 1}'::jsonb") == '{"a": 1}'
            assert await conn.fetchval("show jit") == "off"
        async with db.acquire() as conn:
            assert await conn.fetchval(BACKEND_PID) == first
    finally:
        await db.close()


async def test_grows_to_max_size_and_no_further(empty_database: str) -> None:
    db = await PooledDatabase.open(empty_database, min_size=1, max_size=3, acquire_timeout=0.2)
    try:
        held = [db.acquire() for _ in range(3)]
        conns = [await cm.__aenter__() for cm in held]
        pids = {await conn.fetchval(BACKEND_PID) for conn in conns}
        assert len(pids) == 3
        with pytest.raises(Unavailable, match="busy"):
            async with db.acquire():
                pass
        for cm in held:
            await cm.__aexit__(None, None, None)
        assert len(db._idle) == 3
    finally:
        await db.close()


async def test_waiters_are_served_first_come_first_served(empty_database: str) -> None:
    db = await PooledDatabase.open(empty_database, min_size=1, max_size=1)
    order: list[int] = []
    try:
        release = asyncio.Event()

        async def holder() -> None:
            async with db.acquire():
                await release.wait()

        async def waiter(number: int) -> None:
            async with db.acquire():
                order.append(number)

        first = asyncio.create_task(holder())
        await asyncio.sleep(0.01)
        waiters = []
        for number in range(5):
            waiters.append(asyncio.create_task(waiter(number)))
            await asyncio.sleep(0)
        release.set()
        await asyncio.gather(first, *waiters)
        assert order == [0, 1, 2, 3, 4]
    finally:
        await db.close()


async def test_an_unfinished_transaction_is_rolled_back_on_release(empty_database: str) -> None:
    db = await PooledDatabase.open(empty_database, min_size=1, max_size=1)
    try:
        async with db.acquire() as conn:
            await conn.execute("create table pool_probe (n int)")
        async with db.acquire() as conn:
            await conn.execute("begin")
            await conn.execute("insert into pool_probe values (1)")
        async with db.acquire() as conn:
            assert not conn.is_in_transaction()
            assert await conn.fetchval("select count(*) from pool_probe") == 0
    finally:
        await db.close()


async def test_a_connection_the_server_closed_is_replaced(empty_database: str) -> None:
    db = await PooledDatabase.open(empty_database, min_size=1, max_size=2)
    admin = await connect(empty_database)
    try:
        async with db.acquire() as conn:
            killed = await conn.fetchval(BACKEND_PID)
        await admin.execute("select pg_terminate_backend($1)", killed)
        for _ in range(100):  # until the client has seen the connection end
            if db._idle[-1].is_closed():
                break
            await asyncio.sleep(0.01)
        async with db.acquire() as conn:
            assert await conn.fetchval(BACKEND_PID) != killed
    finally:
        await admin.close()
        await db.close()


async def test_a_connection_broken_in_use_is_not_returned(empty_database: str) -> None:
    db = await PooledDatabase.open(empty_database, min_size=1, max_size=1)
    admin = await connect(empty_database)
    try:
        async with db.acquire() as conn:
            pid = await conn.fetchval(BACKEND_PID)
            await admin.execute("select pg_terminate_backend($1)", pid)
            for _ in range(100):  # until the client has seen the connection end
                if conn.is_closed():
                    break
                await asyncio.sleep(0.01)
            with pytest.raises(asyncpg.InterfaceError, match="closed"):
                await conn.fetchval("select 1")
        assert db._idle == []
        async with db.acquire() as conn:  # a new one, on the same single turn
            assert await conn.fetchval("select 1") == 1
    finally:
        await admin.close()
        await db.close()


def unreachable(dsn: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(netloc=f"{parts.username or 'postgres'}@127.0.0.1:1"))


async def test_a_wrong_address_fails_at_open(empty_database: str) -> None:
    with pytest.raises(OSError, match="onnect"):
        await PooledDatabase.open(unreachable(empty_database), min_size=1, max_size=2)


async def test_unreachable_database_on_demand_is_503_and_frees_the_turn(
    empty_database: str,
) -> None:
    db = PooledDatabase(unreachable(empty_database), 1)  # no connection opened yet
    for _ in range(2):  # the failed attempt gave its turn back
        with pytest.raises(Unavailable, match="not reachable"):
            async with db.acquire():
                pass
    await db.close()


async def test_close_closes_idle_and_returned_connections(empty_database: str) -> None:
    db = await PooledDatabase.open(empty_database, min_size=2, max_size=3)
    in_use = db.acquire()
    conn = await in_use.__aenter__()
    idle = list(db._idle)
    assert len(idle) == 1
    await db.close()
    assert all(c.is_closed() for c in idle)
    assert not conn.is_closed()
    await in_use.__aexit__(None, None, None)
    assert conn.is_closed()
    with pytest.raises(Unavailable, match="shutting down"):
        async with db.acquire():
            pass
