"""tus uploads with the S3 blob store, against a real S3 HTTP server (moto): a real multipart
upload per tus upload, parts of at least 5 MiB plus a tail object, resumed after dropped
connections, to the same stored photo as a single request; termination and gc abort the
multipart upload and leave nothing in the bucket."""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import boto3
import httpx
import pytest

from api.app import create_app
from api.tasks.photo_workers import PhotoWorkers
from schemas.settings import Settings, load_settings
from storage.db.roles import service_role_name
from storage.uploads.area import S3Area
from storage.uploads.store import Upload
from storage.uploads.sweep import sweep_uploads
from tests.conftest import TEST_RECEIPT_SEED, ServiceRoleDatabase
from tests.integration.uploads.test_tus_dropped import phone_jpeg, stored_row
from tests.integration.uploads.test_tus_video import resumed_video, video_row
from tests.support import tus_client as tus
from tests.support import video_corpus as vc
from tests.support.helpers import Api, bearer
from tests.support.live_server import live_server
from tests.support.photo_api import new_report
from tests.support.s3_server import (
    ACCESS_KEY_ID,
    REGION,
    SECRET_ACCESS_KEY,
    S3Server,
    running_s3_server,
)

CHUNK = 1024 * 1024


@pytest.fixture(scope="module")
def s3_server() -> Iterator[S3Server]:
    with running_s3_server() as server:
        yield server


@pytest.fixture
def s3_settings(
    s3_server: S3Server, data_dir: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    return load_settings(
        {},
        database_url=database_url,
        data_dir=str(data_dir),
        receipt_key=TEST_RECEIPT_SEED,
        rate_limits="off",
        blob_store="s3",
        s3_bucket=s3_server.create_bucket(),
        s3_endpoint=s3_server.endpoint,
    )


@pytest.fixture
def s3(s3_server: S3Server, s3_settings: Settings) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=s3_server.endpoint,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET_ACCESS_KEY,
    )


@pytest.fixture
async def s3_api(
    s3_settings: Settings, conn: asyncpg.Connection, photo_workers: PhotoWorkers
) -> AsyncIterator[Api]:
    role = service_role_name(urlsplit(s3_settings.database_url or "").path.lstrip("/"))
    app = create_app(
        s3_settings, database=ServiceRoleDatabase(conn, role), photo_workers=photo_workers
    )
    async with (
        live_server(app) as base_url,
        httpx.AsyncClient(base_url=base_url, timeout=60.0) as client,
    ):
        yield Api(client, conn)


def upload_objects(s3: Any, bucket: str | None) -> list[str]:
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="uploads/")
    return [item["Key"] for item in listed.get("Contents", [])]


def multipart_uploads(s3: Any, bucket: str | None) -> list[str]:
    listed = s3.list_multipart_uploads(Bucket=bucket, Prefix="uploads/")
    return [item["Key"] for item in listed.get("Uploads", [])]


async def test_resumed_s3_upload_equals_a_single_request(
    s3_api: Api, s3_settings: Settings, s3: Any, conn: asyncpg.Connection
) -> None:
    api = s3_api
    bucket = s3_settings.s3_bucket
    data = phone_jpeg(21, (2600, 2000))
    assert len(data) > 5 * 1024 * 1024  # at least one whole part, and a tail
    token = await api.device_token()
    created = await tus.create(api.client, token, await new_report(api, token), len(data))
    assert created.status_code == 201, created.text
    location = created.headers["Location"]
    upload_id = location.rsplit("/", 1)[1]
    assert multipart_uploads(s3, bucket) == [f"uploads/{upload_id}"]
    base_url = str(api.client.base_url).rstrip("/")
    sent = await tus.send_with_drops(
        api.client,
        base_url,
        token,
        location,
        data,
        chunk=CHUNK,
        drop=lambda number, _: number % 3 == 0,
    )
    assert sent.drops >= 2
    assert sent.kept > 0
    assert sent.last is not None
    assert sent.last.status_code == 204, sent.last.text
    photo_id = sent.last.headers["Plainsight-Photo-Id"]
    single = await api.client.post(
        f"/v1/reports/{await new_report(api, token)}/photos",
        content=data,
        headers={**bearer(token), "Content-Type": "image/jpeg"},
    )
    assert single.status_code == 201, single.text
    assert await stored_row(conn, photo_id) == await stored_row(conn, single.json()["id"])
    # The multipart upload was completed and its object, tail and local copy deleted.
    assert multipart_uploads(s3, bucket) == []
    assert upload_objects(s3, bucket) == []
    assert not list((s3_settings.data_path / "uploads").glob(f"{upload_id}*"))


async def test_resumed_s3_video_equals_a_single_request(
    s3_api: Api, s3_settings: Settings, s3: Any, conn: asyncpg.Connection
) -> None:
    """A phone MOV through tus on S3, cut off every third 8 KiB chunk: the same row (MP4,
    duration, provenance) and the same blob in the bucket as a single request; nothing of the
    upload is left in the bucket or the spool."""
    api = s3_api
    bucket = s3_settings.s3_bucket
    data = vc.corpus().iphone_h264_mov.read_bytes()
    token = await api.device_token()
    resumed = await resumed_video(api, token, await new_report(api, token), data, 8 * 1024)
    single = await api.client.post(
        f"/v1/reports/{await new_report(api, token)}/photos",
        content=data,
        headers={**bearer(token), "Content-Type": "video/quicktime"},
    )
    assert single.status_code == 201, single.text
    expected = await video_row(conn, single.json()["id"])
    assert await video_row(conn, resumed) == expected
    assert expected[1] == "video/mp4"
    served = await api.client.get(f"/v1/photos/{resumed}", headers=bearer(token))
    assert served.status_code == 200
    assert served.headers["content-type"] == "video/mp4"
    assert hashlib.sha256(served.content).hexdigest() == expected[0]
    assert b"+40.7128-074.0060" not in served.content
    assert multipart_uploads(s3, bucket) == []
    assert upload_objects(s3, bucket) == []
    spool = s3_settings.data_path / "spool"
    assert (sorted(spool.iterdir()) if spool.is_dir() else []) == []


async def test_termination_aborts_the_multipart_upload(
    s3_api: Api, s3_settings: Settings, s3: Any
) -> None:
    api = s3_api
    bucket = s3_settings.s3_bucket
    token = await api.device_token()
    data = phone_jpeg(22, (800, 600))
    created = await tus.create(api.client, token, await new_report(api, token), len(data))
    location = created.headers["Location"]
    half = await tus.patch(api.client, token, location, 0, data[: len(data) // 2])
    assert half.status_code == 204
    assert await tus.offset_of(api.client, token, location) == len(data) // 2
    assert len(upload_objects(s3, bucket)) == 1  # the tail
    gone = await api.client.delete(location, headers={**tus.TUS, **bearer(token)})
    assert gone.status_code == 204
    assert multipart_uploads(s3, bucket) == []
    assert upload_objects(s3, bucket) == []


async def test_gc_aborts_expired_multipart_uploads(
    s3_api: Api, s3_settings: Settings, s3: Any, conn: asyncpg.Connection
) -> None:
    api = s3_api
    bucket = s3_settings.s3_bucket
    assert bucket is not None
    token = await api.device_token()
    created = await tus.create(api.client, token, await new_report(api, token), 5000)
    location = created.headers["Location"]
    assert (await tus.patch(api.client, token, location, 0, b"x" * 100)).status_code == 204
    upload_id = uuid.UUID(location.rsplit("/", 1)[1])
    await conn.execute(
        "update uploads set expires_at = now() - interval '1 minute' where id = $1", upload_id
    )
    area = S3Area(
        bucket,
        local_root=s3_settings.data_path / "uploads",
        endpoint=s3_settings.s3_endpoint,
        access_key_id=ACCESS_KEY_ID,
        secret_access_key=SECRET_ACCESS_KEY,
    )
    # A local copy left by a process that died while processing a completed upload.
    local = s3_settings.data_path / "uploads"
    local.mkdir(parents=True, exist_ok=True)
    stale, fresh = local / "tmpstale.whole", local / "tmpfresh.whole"
    for path in (stale, fresh):
        path.write_bytes(b"a whole upload")
    two_days_ago = time.time() - timedelta(days=2).total_seconds()
    os.utime(stale, (two_days_ago, two_days_ago))
    assert await sweep_uploads(conn, area, orphan_age=timedelta(hours=24)) == 2
    assert not stale.exists()
    assert fresh.exists()
    fresh.unlink()
    assert await conn.fetchval("select count(*) from uploads where id = $1", upload_id) == 0
    assert multipart_uploads(s3, bucket) == []
    assert upload_objects(s3, bucket) == []


async def test_assembling_again_after_a_failed_completion(s3_settings: Settings, s3: Any) -> None:
    """A completion whose processing failed (503) is tried again by the client's next PATCH:
    the multipart upload is completed already, its object is fetched again."""
    bucket = s3_settings.s3_bucket
    assert bucket is not None
    area = S3Area(
        bucket,
        local_root=s3_settings.data_path / "uploads",
        endpoint=s3_settings.s3_endpoint,
        access_key_id=ACCESS_KEY_ID,
        secret_access_key=SECRET_ACCESS_KEY,
    )
    upload_id = uuid.uuid4()
    data = os.urandom(6 * 1024 * 1024 + 123)
    multipart = await area.start(upload_id)
    empty = Upload(
        id=upload_id,
        report_id=uuid.uuid4(),
        owner_id=uuid.uuid4(),
        length=len(data),
        offset=0,
        store="s3",
        s3_upload_id=multipart,
        s3_parts=(),
        photo_id=None,
        expires_at=datetime.now(UTC),
    )
    writer = await area.writer(empty)
    for start in range(0, len(data), 256 * 1024):
        await writer.write(data[start : start + 256 * 1024])
    offset, parts = await writer.flush(final=True)
    assert offset == len(data)
    assert [part.size for part in parts] == [5 * 1024 * 1024]  # and a tail object
    whole = replace(empty, offset=offset, s3_parts=parts)
    for _ in range(2):
        async with area.assemble(whole) as path:
            assert path.read_bytes() == data
        assert not path.exists()
    await area.delete(whole)
    assert multipart_uploads(s3, bucket) == []
    assert upload_objects(s3, bucket) == []
