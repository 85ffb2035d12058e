"""Connection handling: the asyncpg pool and the per-request transaction."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Final, Protocol

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
    """Up to ``size`` connections, handed out last in, first out, in the order requests asked.

    A lean pool rather than asyncpg's: asyncpg wraps every release in ``asyncio.shield`` (a new
    task per request), a proxy object and futures, about 3% of a loaded server's time, and its
    queue lets a newcomer take a just-released connection ahead of a woken waiter, who then
    re-queues at the back (under load a few requests starved for hundreds of milliseconds: p99
    113 ms against 32 ms). Here requests wait for a turn (a FIFO semaphore with one turn per
    connection), so a turn always finds an idle connection or room to open one.
    """

    def __init__(self, dsn: str, size: int, *, acquire_timeout: float = ACQUIRE_TIMEOUT_S) -> None:
        self.dsn = dsn
        self.size = size
        self.acquire_timeout = acquire_timeout
        self._turns = asyncio.Semaphore(size)
        self._idle: list[asyncpg.Connection] = []
        self._closed = False

    @classmethod
    async def open(
        cls,
        dsn: str,
        *,
        min_size: int,
        max_size: int,
        acquire_timeout: float = ACQUIRE_TIMEOUT_S,
    ) -> PooledDatabase:
        """Open ``min_size`` connections now (a wrong DSN fails at start-up), more on demand."""
        db = cls(dsn, max_size, acquire_timeout=acquire_timeout)
        opened = await asyncio.gather(
            *(db._connect() for _ in range(min(min_size, max_size))), return_exceptions=True
        )
        db._idle = [conn for conn in opened if isinstance(conn, asyncpg.Connection)]
        failure = next((exc for exc in opened if isinstance(exc, BaseException)), None)
        if failure is not None:
            await db.close()
            raise failure
        return db

    async def _connect(self) -> asyncpg.Connection:
        conn: asyncpg.Connection = await asyncpg.connect(
            self.dsn,
            timeout=CONNECT_TIMEOUT_S,
            command_timeout=30,
            server_settings=SERVER_SETTINGS,
        )
        try:
            await _init_connection(conn)
        except BaseException:
            conn.terminate()
            raise
        return conn

    def acquire(self) -> AbstractAsyncContextManager[asyncpg.Connection]:
        return _PooledConnection(self)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[asyncpg.Connection]:
        async with self.acquire() as conn, conn.transaction():
            yield conn

    async def close(self) -> None:
        """Close the idle connections; one still in use is closed when it comes back."""
        self._closed = True
        idle, self._idle = self._idle, []
        await asyncio.gather(*(_close(conn) for conn in idle))


async def _close(conn: asyncpg.Connection) -> None:
    try:
        await asyncio.wait_for(conn.close(), CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
        conn.terminate()


_UNREACHABLE = (
    TimeoutError,  # opening a connection took longer than the connect timeout
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.CannotConnectNowError,  # starting up or shutting down
    asyncpg.exceptions.TooManyConnectionsError,
)


class _PooledConnection:
    """``async with db.acquire() as conn``: wait for a turn (first come, first served), then
    take an idle connection or open one; 503 instead of a hang when no turn comes within the
    acquire timeout or the database cannot be reached.

    A class rather than @asynccontextmanager: this runs on every request, and the generator
    machinery cost more than the rest of it.
    """

    __slots__ = ("_conn", "_db")

    def __init__(self, db: PooledDatabase) -> None:
        self._db = db
        self._conn: asyncpg.Connection | None = None

    async def __aenter__(self) -> asyncpg.Connection:
        db = self._db
        turns = db._turns
        try:
            if turns.locked():
                # Only a wait needs the timeout: arming and cancelling a timer for every
                # request showed in the profile while connections were free.
                async with asyncio.timeout(db.acquire_timeout):
                    await turns.acquire()
            else:
                await turns.acquire()  # a free turn: returns at once
        except TimeoutError as exc:
            raise Unavailable("every database connection is busy; try again shortly") from exc
        try:
            if db._closed:
                raise Unavailable("the service is shutting down")
            idle = db._idle
            conn = None
            while idle:
                candidate = idle.pop()
                # One the server closed (a restart, an idle timeout) is dropped here.
                if not candidate.is_closed():
                    conn = candidate
                    break
            if conn is None:
                conn = await db._connect()  # bounded by the connect timeout
        except BaseException as exc:
            turns.release()
            if isinstance(exc, _UNREACHABLE):
                raise Unavailable("the database is not reachable right now") from exc
            raise
        self._conn = conn
        return conn

    async def __aexit__(self, *exc_info: object) -> None:
        db = self._db
        conn = self._conn
        self._conn = None
        try:
            if conn is None or conn.is_closed():
                return
            if db._closed:
                await _close(conn)
                return
            # Pooled connections never take session advisory locks, LISTEN, open cursors
            # outside a transaction or SET session settings (migrations use their own
            # connection), so only an unfinished transaction needs undoing.
            if conn.is_in_transaction():
                try:
                    await conn.execute("ROLLBACK")
                except BaseException:
                    conn.terminate()  # its state is unknown: the next turn opens a new one
                    raise
            db._idle.append(conn)
        finally:
            db._turns.release()


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
