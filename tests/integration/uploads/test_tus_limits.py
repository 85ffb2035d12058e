"""Limits on resumable uploads: one upload counts once against the photo rate limit (at its
creation), never per PATCH; the report's photo limit is checked before any byte is sent."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import httpx
import pytest

from api.app import create_app
from api.tasks.photo_workers import PhotoWorkers
from schemas.settings import Settings, load_settings
from storage.db.roles import service_role_name
from tests.conftest import TEST_RECEIPT_SEED, ServiceRoleDatabase
from tests.integration.uploads.test_tus_dropped import phone_jpeg
from tests.support import tus_client as tus
from tests.support.helpers import Api, bearer
from tests.support.live_server import live_server
from tests.support.photo_api import new_report, unique_jpeg, upload

PHOTOS_PER_HOUR = 2
WRITES_PER_MINUTE = 12
MAX_PHOTO_BYTES = 200_000


@pytest.fixture
async def limited_api(
    data_dir: Path, database_url: str, conn: asyncpg.Connection, photo_workers: PhotoWorkers
) -> AsyncIterator[Api]:
    settings = load_settings(
        {},
        database_url=database_url,
        data_dir=str(data_dir),
        receipt_key=TEST_RECEIPT_SEED,
        rate_limit_photos=f"{PHOTOS_PER_HOUR}/hour",
        rate_limit_writes=f"{WRITES_PER_MINUTE}/minute",
        photos_per_report=1,
        max_photo_bytes=MAX_PHOTO_BYTES,
    )
    role = service_role_name(urlsplit(database_url).path.lstrip("/"))
    app = create_app(
        settings, database=ServiceRoleDatabase(conn, role), photo_workers=photo_workers
    )
    async with (
        live_server(app) as base_url,
        httpx.AsyncClient(base_url=base_url, timeout=30.0) as client,
    ):
        yield Api(client, conn)


async def test_an_upload_counts_once_against_the_photo_limit(limited_api: Api) -> None:
    api = limited_api
    token = await api.device_token()
    data = unique_jpeg((320, 240))
    chunk = len(data) // (2 * WRITES_PER_MINUTE) + 1
    assert len(data) // chunk > WRITES_PER_MINUTE
    last = await tus.upload_whole(api.client, token, await new_report(api, token), data, chunk)
    assert "Plainsight-Photo-Id" in last.headers, "more PATCHes than writes allowed, all served"
    second = await tus.create(api.client, token, await new_report(api, token), 100)
    assert second.status_code == 201
    third = await tus.create(api.client, token, await new_report(api, token), 100)
    assert third.status_code == 429
    assert third.json()["code"] == "rate_limited"
    assert "Retry-After" in third.headers
    assert third.headers["Tus-Resumable"] == "1.0.0"
    # The single-request upload shares the limit.
    refused = await upload(api, token, await new_report(api, token), unique_jpeg())
    assert refused.status_code == 429


async def test_a_report_with_all_its_photos_refuses_a_new_upload(limited_api: Api) -> None:
    api = limited_api
    token = await api.device_token()
    report_id = await new_report(api, token)
    stored = await upload(api, token, report_id, unique_jpeg())
    assert stored.status_code == 201, stored.text
    refused = await tus.create(api.client, token, report_id, 1000)
    assert refused.status_code == 409, refused.text
    assert refused.json()["code"] == "photo_limit"
    assert refused.headers["Tus-Resumable"] == "1.0.0"
    listed = await api.client.get(f"/v1/reports/{report_id}", headers=bearer(token))
    assert listed.status_code == 200


async def test_a_photo_larger_than_a_photo_may_be_is_refused_at_completion(
    limited_api: Api, settings: Settings
) -> None:
    """Tus-Max-Size admits videos; a complete upload that is not one is held to the photo
    size limit (PLAINSIGHT_MAX_PHOTO_BYTES), and deleted when refused."""
    api = limited_api
    token = await api.device_token()
    data = phone_jpeg(31, (800, 600))
    assert len(data) > MAX_PHOTO_BYTES
    created = await tus.create(api.client, token, await new_report(api, token), len(data))
    assert created.status_code == 201, created.text
    location = created.headers["Location"]
    refused = await tus.patch(api.client, token, location, 0, data)
    assert refused.status_code == 413, refused.text
    assert refused.json()["code"] == "payload_too_large"
    assert (await tus.head(api.client, token, location)).status_code == 404
    upload_id = location.rsplit("/", 1)[1]
    assert not list((settings.data_path / "uploads").glob(f"{upload_id}*"))
