"""Shared fixtures: a real PostgreSQL (embedded unless TEST_DATABASE_URL), migrated once per
run; every test runs in a transaction that is rolled back; the app is served by uvicorn on a
real socket in the test's own event loop and driven with httpx over HTTP."""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import pytest
from argon2 import PasswordHasher
from litestar import Litestar

from api.app import apply_migrations, create_app
from api.tasks.photo_workers import PhotoWorkers
from schemas.settings import Settings, load_settings
from storage.accounts import passwords
from storage.db.embedded import EmbeddedPostgres
from storage.db.embedded import _run_sql as run_sql
from storage.db.pool import SingleConnectionDatabase, connect
from storage.db.roles import prepare_service_database, service_role_name
from tests.support.helpers import Api
from tests.support.live_server import live_server

TEST_RECEIPT_SEED = "7n2kkfF7W6jvN4O2wtwpS8bW9c3hD-9YmVqKdc5uQiE"

# argon2id at the production parameters (m=64 MiB, t=3, p=4) costs ~0.25 s of CPU per hash and
# per check, and almost every account a test makes is hashed once and checked at sign-in. The
# tests run with the cheapest argon2id instead; the production parameters stay in the code,
# are used by every `plainsight` subprocess the tests start, and are checked in-process by the
# tests that ask for ``production_password_hashing``.
PRODUCTION_PASSWORD_HASHER = passwords._hasher
PRODUCTION_DUMMY_HASH = passwords._DUMMY_HASH
TEST_PASSWORD_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@pytest.fixture(scope="session", autouse=True)
def cheap_password_hashing() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(passwords, "_hasher", TEST_PASSWORD_HASHER)
        patch.setattr(passwords, "_DUMMY_HASH", TEST_PASSWORD_HASHER.hash("plainsight-dummy"))
        yield


@pytest.fixture
def production_password_hashing(cheap_password_hashing: None) -> Iterator[PasswordHasher]:
    """The service's own argon2id parameters for this test (see PRODUCTION_PASSWORD_HASHER)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(passwords, "_hasher", PRODUCTION_PASSWORD_HASHER)
        patch.setattr(passwords, "_DUMMY_HASH", PRODUCTION_DUMMY_HASH)
        yield PRODUCTION_PASSWORD_HASHER


# The run's private server is thrown away at the end, so nothing is gained by waiting for the
# disk: without fsync each CREATE DATABASE and each commit no longer waits for it. Only the
# durability across a crash of the machine changes, which no test can observe.
NO_DURABILITY = (
    "alter system set fsync = off",
    "alter system set synchronous_commit = off",
    "alter system set full_page_writes = off",
    "select pg_reload_conf()",
)


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    """A PostgreSQL server: the one in TEST_DATABASE_URL, or a private embedded one."""
    external = os.environ.get("TEST_DATABASE_URL")
    if external:
        yield external
        return
    with tempfile.TemporaryDirectory(prefix="plainsight-test-") as tmp:
        embedded = EmbeddedPostgres(Path(tmp) / "postgres", delete_on_stop=True)
        try:
            url = embedded.start()
            run_sql(url, NO_DURABILITY)
            yield url
        finally:
            embedded.stop()


@pytest.fixture(scope="session")
async def fresh_database(server_url: str) -> AsyncIterator[object]:
    """A factory for new, empty databases on the test server, dropped at the end of the run
    with the service roles made for them (role names are cluster-wide)."""
    created: list[str] = []

    async def make() -> str:
        name = f"plainsight_test_{secrets.token_hex(6)}"
        admin = await asyncpg.connect(_with_database(server_url, "postgres"))
        try:
            await admin.execute(f'create database "{name}"')
        finally:
            await admin.close()
        created.append(name)
        return _with_database(server_url, name)

    yield make
    admin = await asyncpg.connect(_with_database(server_url, "postgres"))
    try:
        for name in created:
            await admin.execute(f'drop database if exists "{name}" with (force)')
            await admin.execute(f'drop role if exists "{service_role_name(name)}"')
    finally:
        await admin.close()


@pytest.fixture(scope="session")
async def database_url(fresh_database: object) -> str:
    """The run's database, migrated once, with the service's role set up as at start-up."""
    url: str = await fresh_database()  # type: ignore[operator]
    await apply_migrations(url)
    with tempfile.TemporaryDirectory(prefix="plainsight-keys-") as keys:
        await prepare_service_database(url, Path(keys))
    return url


class ServiceRoleDatabase(SingleConnectionDatabase):
    """The shared test connection, but every request runs as the service's database role
    (``SET ROLE``, reset afterwards): the suite exercises the service's privileges while the
    test itself, between requests, acts as the owner (fixtures, operators, tampering)."""

    def __init__(self, conn: asyncpg.Connection, role: str) -> None:
        super().__init__(conn)
        self.role = role

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[asyncpg.Connection]:
        async with super().acquire() as conn:
            await conn.execute(f'set role "{self.role}"')
            try:
                yield conn
            finally:
                # If the test's transaction failed, its rollback resets the role.
                with suppress(asyncpg.InFailedSQLTransactionError):
                    await conn.execute("reset role")


@pytest.fixture
async def conn(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection inside a transaction that is rolled back after the test."""
    connection = await connect(database_url)
    transaction = connection.transaction()
    await transaction.start()
    try:
        yield connection
    finally:
        await transaction.rollback()
        await connection.close()


@pytest.fixture(scope="session")
def data_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="plainsight-data-") as tmp:
        yield Path(tmp)


@pytest.fixture
def settings(data_dir: Path, database_url: str) -> Settings:
    # Rate limits have their own tests (test_rate_limits.py); others send bursts on purpose
    # (200 photos from one device in the property test) that the limits would refuse.
    return load_settings(
        {},
        database_url=database_url,
        data_dir=str(data_dir),
        receipt_key=TEST_RECEIPT_SEED,
        rate_limits="off",
    )


@pytest.fixture(scope="session")
def photo_workers() -> Iterator[PhotoWorkers]:
    """One pool of photo worker processes for the whole run (starting one costs ~1 s)."""
    workers = PhotoWorkers(2, 8, max_pixels=40_000_000)
    try:
        yield workers
    finally:
        workers.close()


@pytest.fixture
def app(settings: Settings, conn: asyncpg.Connection, photo_workers: PhotoWorkers) -> Litestar:
    # The database is handed in, so the lifespan has nothing to open but the blob store.
    role = service_role_name(urlsplit(settings.database_url or "").path.lstrip("/"))
    return create_app(
        settings, database=ServiceRoleDatabase(conn, role), photo_workers=photo_workers
    )


@pytest.fixture
async def api(app: Litestar, conn: asyncpg.Connection) -> AsyncIterator[Api]:
    async with (
        live_server(app) as base_url,
        httpx.AsyncClient(base_url=base_url, timeout=10.0) as client,
    ):
        yield Api(client, conn)
