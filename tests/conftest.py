"""Shared fixtures: a real PostgreSQL (embedded unless TEST_DATABASE_URL), migrated once per
run; every test runs in a transaction that is rolled back; the app is served by uvicorn on a
real socket in the test's own event loop and driven with httpx over HTTP."""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import pytest
from litestar import Litestar

from api.app import apply_migrations, create_app
from api.photo_workers import PhotoWorkers
from schemas.settings import Settings, load_settings
from storage.db import SingleConnectionDatabase, connect
from storage.embedded import EmbeddedPostgres
from tests.helpers import Api
from tests.live_server import live_server

TEST_RECEIPT_SEED = "7n2kkfF7W6jvN4O2wtwpS8bW9c3hD-9YmVqKdc5uQiE"


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


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
            yield embedded.start()
        finally:
            embedded.stop()


@pytest.fixture(scope="session")
async def fresh_database(server_url: str) -> AsyncIterator[object]:
    """A factory for new, empty databases on the test server, dropped at the end of the run."""
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
    finally:
        await admin.close()


@pytest.fixture(scope="session")
async def database_url(fresh_database: object) -> str:
    """The run's database, migrated once."""
    url: str = await fresh_database()  # type: ignore[operator]
    await apply_migrations(url)
    return url


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
    return create_app(
        settings, database=SingleConnectionDatabase(conn), photo_workers=photo_workers
    )


@pytest.fixture
async def api(app: Litestar, conn: asyncpg.Connection) -> AsyncIterator[Api]:
    async with (
        live_server(app) as base_url,
        httpx.AsyncClient(base_url=base_url, timeout=10.0) as client,
    ):
        yield Api(client, conn)
