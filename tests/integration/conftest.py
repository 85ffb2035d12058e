"""Fixtures for tests that need the service on its own database with a real pool."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import cast

import asyncpg
import httpx
import pytest

from api.app import apply_migrations, create_app
from api.tasks.photo_workers import PhotoWorkers
from schemas.settings import load_settings
from storage.db.pool import connect
from tests.conftest import TEST_RECEIPT_SEED
from tests.support.live_server import live_server


@pytest.fixture
async def pooled_client(
    fresh_database: object, tmp_path: Path, photo_workers: PhotoWorkers
) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """The service on its own database with a real connection pool (concurrent requests)."""
    make = cast(Callable[[], Awaitable[str]], fresh_database)
    dsn = await make()
    await apply_migrations(dsn)
    settings = load_settings(
        {}, database_url=dsn, data_dir=str(tmp_path), receipt_key=TEST_RECEIPT_SEED
    )
    app = create_app(settings, photo_workers=photo_workers)
    async with (
        live_server(app) as base_url,
        httpx.AsyncClient(base_url=base_url, timeout=30.0) as client,
    ):
        yield client, dsn


@pytest.fixture
async def empty_database(fresh_database: object) -> str:
    """A new database with nothing in it, not even migrations."""
    make = cast(Callable[[], Awaitable[str]], fresh_database)
    return await make()


@pytest.fixture
async def db(empty_database: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection to ``empty_database``, set up as the service's are."""
    conn = await connect(empty_database)
    try:
        yield conn
    finally:
        await conn.close()
