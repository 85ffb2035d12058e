"""Connection handling: the asyncpg pool and the per-request transaction."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Final, Protocol, cast

import asyncpg

from storage.errors import Unavailable

# How long a request may wait for a pooled connection before it gets a 503 instead of hanging.
ACQUIRE_TIMEOUT_S = 5.0
CONNECT_TIMEOUT_S = 5.0


class Database(Protocol):
    """Where requests get a connection: a pool in production, one shared connection in tests."""

    def acquire(self) -> AbstractAsyncContextManager[asyncpg.Connection]: ...

    def transaction(self) -> AbstractAsyncContextManager[asyncpg.Connection]: ...

    async def close(self) -> None: ...


async def _init_connection(conn: asyncpg.Connection) -> None:
    # jsonb columns hold msgspec-encoded text; asyncpg passes it through without re-parsing.
    await conn.set_type_codec(
        "jsonb", encoder=lambda v: v, decoder=lambda v: v, schema="pg_catalog"
    )


async def _reset_connection(conn: asyncpg.Connection) -> None:
    # asyncpg's default reset runs four statements on every release (unlock advisory locks,
    # CLOSE ALL, UNLISTEN, RESET ALL): a round trip per request. Pooled connections never take
    # session advisory locks, LISTEN, open cursors outside a transaction or SET session
    # settings (migrations use their own connection), so only an unfinished transaction needs
    # undoing before the next request gets the connection.
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")


# JIT compilation pays off only for long analytic scans; here it turned a 30 ms fold of the
# statistics changes into 480 ms of LLVM work (the planner overestimates the fold's rows).
SERVER_SETTINGS: Final = {"jit": "off"}


async def connect(dsn: str) -> asyncpg.Connection:
    conn: asyncpg.Connection = await asyncpg.connect(
        dsn, timeout=CONNECT_TIMEOUT_S, server_settings=SERVER_SETTINGS
    )
    await _init_connection(conn)
    return conn


class PooledDatabase:
    def __init__(
        self, pool: asyncpg.Pool, size: int, *, acquire_timeout: float = ACQUIRE_TIMEOUT_S
    ) -> None:
        self.pool = pool
        self.acquire_timeout = acquire_timeout
        # Requests queue here, first come first served, before they reach the pool. asyncpg's
        # pool queue lets a newcomer take a just-released connection ahead of a woken waiter,
        # who then re-queues at the back: under load a few requests starved for hundreds of
        # milliseconds (p99 113 ms against 32 ms with a pool as large as the load).
        self._turns = asyncio.Semaphore(size)

    @classmethod
    async def open(
        cls,
        dsn: str,
        *,
        min_size: int,
        max_size: int,
        acquire_timeout: float = ACQUIRE_TIMEOUT_S,
    ) -> PooledDatabase:
        pool = await asyncpg.create_pool(
            dsn,
            min_size=min_size,
            max_size=max_size,
            init=_init_connection,
            reset=_reset_connection,
            timeout=CONNECT_TIMEOUT_S,
            command_timeout=30,
            server_settings=SERVER_SETTINGS,
        )
        return cls(pool, max_size, acquire_timeout=acquire_timeout)

    def acquire(self) -> AbstractAsyncContextManager[asyncpg.Connection]:
        return _PooledConnection(self.pool, self._turns, self.acquire_timeout)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[asyncpg.Connection]:
        async with self.acquire() as conn, conn.transaction():
            yield conn

    async def close(self) -> None:
        await self.pool.close()


_UNREACHABLE = (
    TimeoutError,  # opening a connection took longer than the connect timeout
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.CannotConnectNowError,  # starting up or shutting down
    asyncpg.exceptions.TooManyConnectionsError,
)


class _PooledConnection:
    """``async with db.acquire() as conn``: wait for a turn (first come, first served), then
    take a connection; 503 instead of a hang when neither comes within the acquire timeout.

    A class rather than @asynccontextmanager: this runs on every request, and the generator
    machinery cost more than the rest of it.
    """

    __slots__ = ("_conn", "_pool", "_timeout", "_turns")

    def __init__(self, pool: asyncpg.Pool, turns: asyncio.Semaphore, timeout: float) -> None:
        self._pool = pool
        self._turns = turns
        self._timeout = timeout
        self._conn: asyncpg.pool.PoolConnectionProxy | None = None

    async def __aenter__(self) -> asyncpg.Connection:
        turns = self._turns
        try:
            if turns.locked():
                # Only a wait needs the timeout: arming and cancelling a timer for every
                # request showed in the profile while connections were free.
                async with asyncio.timeout(self._timeout):
                    await turns.acquire()
            else:
                await turns.acquire()  # a free turn: returns at once
        except TimeoutError as exc:
            raise Unavailable("every database connection is busy; try again shortly") from exc
        try:
            # A turn guarantees an idle pool slot (as many turns as connections): this waits
            # only to open a connection, bounded by the connect timeout. No timeout= here:
            # asyncpg would wrap every acquisition in an extra task (wait_for).
            self._conn = await self._pool.acquire()
        except BaseException as exc:
            turns.release()
            if isinstance(exc, _UNREACHABLE):
                raise Unavailable("the database is not reachable right now") from exc
            raise
        # The pool hands out proxies that behave as connections.
        return cast(asyncpg.Connection, self._conn)

    async def __aexit__(self, *exc_info: object) -> None:
        try:
            if self._conn is not None:
                await self._pool.release(self._conn)
        finally:
            self._turns.release()


class SingleConnectionDatabase:
    """Every request shares one connection, each in a savepoint of the caller's transaction.

    Tests use it so that everything a test does is rolled back afterwards.
    """

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn
        self._lock = asyncio.Lock()

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[asyncpg.Connection]:
        async with self._lock:
            yield self.conn

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[asyncpg.Connection]:
        async with self.acquire() as conn, conn.transaction():
            yield conn

    async def close(self) -> None:
        return None
