"""Sealed originals with the S3 blob store, against a real S3 HTTP server (moto): an upload
through HTTP puts its seal under PLAINSIGHT_S3_SEALED_PREFIX (never under the photos' prefix),
the export fetches it back and it opens to the uploaded bytes; a withdrawal deletes the object.
The bucket is read with boto3, not with the code under test."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import boto3
import httpx
import pytest
from litestar import Litestar
from pyrage import decrypt, x25519

from api.app import create_app
from api.tasks.photo_workers import PhotoWorkers
from schemas.settings import Settings, load_settings
from storage.db.roles import service_role_name
from storage.evidence.export import export_report
from tests.conftest import TEST_RECEIPT_SEED, ServiceRoleDatabase
from tests.support import photo_fixtures as fx
from tests.support.evidence_bundle import unpack
from tests.support.helpers import Api, bearer
from tests.support.live_server import live_server
from tests.support.photo_api import new_report, scene, uploaded
from tests.support.s3_server import (
    ACCESS_KEY_ID,
    REGION,
    SECRET_ACCESS_KEY,
    S3Server,
    running_s3_server,
)


@pytest.fixture(scope="module")
def s3_server() -> Iterator[S3Server]:
    with running_s3_server() as server:
        yield server


@pytest.fixture
def evidence_key() -> x25519.Identity:
    return x25519.Identity.generate()


@pytest.fixture
def s3_settings(
    s3_server: S3Server,
    tmp_path: Path,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    evidence_key: x25519.Identity,
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
        data_dir=str(tmp_path / "data"),
        receipt_key=TEST_RECEIPT_SEED,
        rate_limits="off",
        blob_store="s3",
        s3_bucket=s3_server.create_bucket(),
        s3_endpoint=s3_server.endpoint,
        s3_sealed_prefix="legal/sealed/",
        evidence_recipients=str(evidence_key.to_public()),
    )


@pytest.fixture
def s3(s3_server: S3Server) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=s3_server.endpoint,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET_ACCESS_KEY,
    )


@pytest.fixture
def s3_app(
    s3_settings: Settings, conn: asyncpg.Connection, photo_workers: PhotoWorkers
) -> Litestar:
    role = service_role_name(urlsplit(s3_settings.database_url or "").path.lstrip("/"))
    return create_app(
        s3_settings, database=ServiceRoleDatabase(conn, role), photo_workers=photo_workers
    )


@pytest.fixture
async def s3_api(s3_app: Litestar, conn: asyncpg.Connection) -> AsyncIterator[Api]:
    async with (
        live_server(s3_app) as base_url,
        httpx.AsyncClient(base_url=base_url, timeout=30.0) as client,
    ):
        yield Api(client, conn)


def objects(s3: Any, bucket: str) -> list[str]:
    listed = s3.list_objects_v2(Bucket=bucket)
    return sorted(item["Key"] for item in listed.get("Contents", []))


async def test_seals_go_to_their_prefix_export_and_open_and_leave_with_the_report(
    s3_api: Api,
    s3_app: Litestar,
    s3_settings: Settings,
    s3: Any,
    evidence_key: x25519.Identity,
    tmp_path: Path,
) -> None:
    bucket = s3_settings.s3_bucket
    assert bucket is not None
    token = await s3_api.device_token()
    report_id = await new_report(s3_api, token)
    original = fx.jpeg_bytes(scene(31), exif=fx.camera_exif(gps=True))
    photo = await uploaded(s3_api, token, report_id, original)

    key = await s3_api.conn.fetchval(
        "select blob_key from sealed_originals where photo_id = $1", uuid.UUID(photo["id"])
    )
    sealed_name = f"legal/sealed/{key[:2]}/{key}.age"
    names = objects(s3, bucket)
    assert sealed_name in names
    assert [n for n in names if n.startswith("photos/")], names  # the sanitised copy
    assert all(n.startswith(("photos/", "legal/sealed/")) for n in names), names
    body = s3.get_object(Bucket=bucket, Key=sealed_name)["Body"].read()
    assert decrypt(body, [evidence_key]) == original

    summary = await export_report(
        s3_api.conn,
        report_id=uuid.UUID(report_id),
        out=tmp_path / "s3.tar",
        blobs=s3_app.state.blobs,
        sealed=s3_app.state.sealed_originals,
        signer=s3_app.state.signer,
    )
    assert summary.sealed == 1
    bundle = unpack(tmp_path / "s3.tar", tmp_path / "unpacked")
    (entry,) = bundle.manifest["files"]
    opened = decrypt(bundle.file(entry["original"]["path"]).read_bytes(), [evidence_key])
    assert hashlib.sha256(opened).hexdigest() == entry["original"]["sha256"]
    assert opened == original

    response = await s3_api.client.delete(f"/v1/reports/{report_id}", headers=bearer(token))
    assert response.status_code == 204
    assert sealed_name not in objects(s3, bucket)
