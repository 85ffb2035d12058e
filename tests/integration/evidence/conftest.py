"""An app with sealing on: PLAINSIGHT_EVIDENCE_RECIPIENTS set to a key the test holds, its own
data directory (so the sealed store holds only this test's seals)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import httpx
import pytest
from litestar import Litestar
from pyrage import x25519

from api.app import create_app
from api.tasks.photo_workers import PhotoWorkers
from schemas.settings import Settings, load_settings
from storage.db.roles import service_role_name
from tests.conftest import TEST_RECEIPT_SEED, ServiceRoleDatabase
from tests.support.helpers import Api
from tests.support.live_server import live_server


@pytest.fixture
def evidence_key() -> x25519.Identity:
    return x25519.Identity.generate()


@pytest.fixture
def sealing_settings(tmp_path: Path, database_url: str, evidence_key: x25519.Identity) -> Settings:
    return load_settings(
        {},
        database_url=database_url,
        data_dir=str(tmp_path / "data"),
        receipt_key=TEST_RECEIPT_SEED,
        rate_limits="off",
        evidence_recipients=str(evidence_key.to_public()),
    )


@pytest.fixture
def sealing_app(
    sealing_settings: Settings, conn: asyncpg.Connection, photo_workers: PhotoWorkers
) -> Litestar:
    role = service_role_name(urlsplit(sealing_settings.database_url or "").path.lstrip("/"))
    return create_app(
        sealing_settings, database=ServiceRoleDatabase(conn, role), photo_workers=photo_workers
    )


@pytest.fixture
async def sealing_api(sealing_app: Litestar, conn: asyncpg.Connection) -> AsyncIterator[Api]:
    async with (
        live_server(sealing_app) as base_url,
        httpx.AsyncClient(base_url=base_url, timeout=10.0) as client,
    ):
        yield Api(client, conn)
