"""Uploads through HTTP with sealing on and off: with recipients, every stored photo has a
sealed original that opens to the uploaded bytes; a replay or a refused upload leaves no extra
seal; without recipients nothing of the original is kept (no rows, no sealed files)."""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

import asyncpg
from litestar import Litestar
from pyrage import decrypt, x25519

from schemas.settings import Settings
from tests.support import photo_fixtures as fx
from tests.support import tus_client as tus
from tests.support.helpers import Api
from tests.support.photo_api import new_report, scene, unique_jpeg, upload, uploaded


def sealed_files(data_path: Path) -> list[Path]:
    root = data_path / "sealed"
    return sorted(p for p in root.rglob("*.age") if "tmp" not in p.relative_to(root).parts)


async def sealed_rows(conn: asyncpg.Connection, report_id: str) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        "select s.* from sealed_originals s join photos p on p.id = s.photo_id"
        " where p.report_id = $1",
        uuid.UUID(report_id),
    )
    return rows


async def test_an_upload_is_sealed_to_the_recipient(
    sealing_api: Api, sealing_settings: Settings, evidence_key: x25519.Identity
) -> None:
    token = await sealing_api.device_token()
    report_id = await new_report(sealing_api, token)
    original = fx.jpeg_bytes(scene(11), exif=fx.camera_exif(gps=True))

    body = await uploaded(sealing_api, token, report_id, original)

    assert body["provenance"]["had_gps"] is True
    (row,) = await sealed_rows(sealing_api.conn, report_id)
    assert str(row["photo_id"]) == body["id"]
    assert row["original_sha256"] == hashlib.sha256(original).hexdigest()
    assert row["original_bytes"] == len(original)
    (sealed,) = sealed_files(sealing_settings.data_path)
    assert sealed.name == f"{row['blob_key']}.age"
    assert decrypt(sealed.read_bytes(), [evidence_key]) == original
    assert row["sealed_bytes"] == sealed.stat().st_size


async def test_a_replay_keeps_one_seal(sealing_api: Api, sealing_settings: Settings) -> None:
    token = await sealing_api.device_token()
    report_id = await new_report(sealing_api, token)
    original = unique_jpeg()
    first = await upload(sealing_api, token, report_id, original)
    again = await upload(sealing_api, token, report_id, original)
    assert (first.status_code, again.status_code) == (201, 200)
    assert len(await sealed_rows(sealing_api.conn, report_id)) == 1
    assert len(sealed_files(sealing_settings.data_path)) == 1


async def test_a_refused_upload_leaves_no_seal(
    sealing_api: Api, sealing_settings: Settings
) -> None:
    token = await sealing_api.device_token()
    report_id = await new_report(sealing_api, token)
    response = await upload(sealing_api, token, report_id, b"\xff\xd8\xff" + os.urandom(500))
    assert response.status_code in (415, 422), response.text
    assert await sealed_rows(sealing_api.conn, report_id) == []
    assert sealed_files(sealing_settings.data_path) == []


async def test_a_strangers_upload_is_refused_before_anything_is_sealed(
    sealing_api: Api, sealing_settings: Settings
) -> None:
    owner = await sealing_api.device_token()
    stranger = await sealing_api.device_token()
    report_id = await new_report(sealing_api, owner)
    response = await upload(sealing_api, stranger, report_id, unique_jpeg())
    assert response.status_code == 404
    assert sealed_files(sealing_settings.data_path) == []


async def test_without_recipients_nothing_of_the_original_is_kept(
    api: Api, app: Litestar, settings: Settings
) -> None:
    assert app.state.evidence is None
    # The run's shared data directory holds other tests' seals: nothing may be added to them.
    before = sealed_files(settings.data_path)
    token = await api.device_token()
    report_id = await new_report(api, token)
    await uploaded(api, token, report_id, fx.jpeg_bytes(scene(12), exif=fx.camera_exif()))
    assert await sealed_rows(api.conn, report_id) == []
    assert sealed_files(settings.data_path) == before
    assert await api.conn.fetchval("select count(*) from sealed_originals") == 0


async def test_a_resumable_upload_is_sealed_from_its_file(
    sealing_api: Api, sealing_settings: Settings, evidence_key: x25519.Identity
) -> None:
    token = await sealing_api.device_token()
    report_id = await new_report(sealing_api, token)
    original = fx.jpeg_bytes(scene(13, (800, 600)), exif=fx.camera_exif(gps=True))
    created = await tus.create(sealing_api.client, token, report_id, len(original))
    assert created.status_code == 201, created.text
    location = created.headers["Location"]
    half = len(original) // 2
    for offset, part in ((0, original[:half]), (half, original[half:])):
        response = await tus.patch(sealing_api.client, token, location, offset, part)
        assert response.status_code == 204, response.text
    photo_id = response.headers["Plainsight-Photo-Id"]

    (row,) = await sealed_rows(sealing_api.conn, report_id)
    assert str(row["photo_id"]) == photo_id
    assert row["original_sha256"] == hashlib.sha256(original).hexdigest()
    (sealed,) = sealed_files(sealing_settings.data_path)
    assert decrypt(sealed.read_bytes(), [evidence_key]) == original


async def test_same_pixels_other_metadata_are_two_originals(
    sealing_api: Api, sealing_settings: Settings, evidence_key: x25519.Identity
) -> None:
    """Issue 15 point 4: a second upload of the same pixels with other metadata is a new
    upload; each keeps its own original, though the sanitised blob is shared."""
    token = await sealing_api.device_token()
    report_id = await new_report(sealing_api, token)
    picture = scene(14)
    with_gps = fx.jpeg_bytes(picture, exif=fx.camera_exif(gps=True))
    without = fx.jpeg_bytes(picture, exif=fx.camera_exif(gps=False))
    first = await uploaded(sealing_api, token, report_id, with_gps)
    second = await uploaded(sealing_api, token, report_id, without)
    assert first["id"] != second["id"]

    rows = {str(r["photo_id"]): r for r in await sealed_rows(sealing_api.conn, report_id)}
    assert rows[first["id"]]["original_sha256"] == hashlib.sha256(with_gps).hexdigest()
    assert rows[second["id"]]["original_sha256"] == hashlib.sha256(without).hexdigest()
    opened = {
        decrypt(path.read_bytes(), [evidence_key])
        for path in sealed_files(sealing_settings.data_path)
    }
    assert opened == {with_gps, without}
