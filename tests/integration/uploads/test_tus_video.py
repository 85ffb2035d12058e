"""A phone video through tus: an iPhone-style MOV (location in its QuickTime keys, a subtitle and
a timecode track) sent in small chunks with the connection cut off for real every few chunks
(the machinery of test_tus_dropped), resumed from HEAD's offset, ends with exactly the stored
row and blob of an uninterrupted tus upload and of a single-request upload of the same file.
The stored bytes are checked with ffprobe and exiftool, not with the code that wrote them."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Final

import asyncpg
import pytest

from schemas.settings import Settings
from tests.integration.uploads.test_tus_dropped import base_url
from tests.support import tus_client as tus
from tests.support import video_corpus as vc
from tests.support.helpers import Api, bearer
from tests.support.photo_api import new_report

LOCATION_TAGS: Final = ("GPS", "ISO6709", "Location", "GPSCoordinates")
VIDEO_COLUMNS: Final = (
    "sha256, content_type, duration_ms, width, height, bytes, phash, dhash, provenance::text"
)


@pytest.fixture(scope="module")
def corpus() -> vc.VideoCorpus:
    return vc.corpus()


async def video_row(conn: asyncpg.Connection, photo_id: str) -> tuple[Any, ...]:
    row = await conn.fetchrow(
        f"select {VIDEO_COLUMNS} from photos where id = $1::uuid",  # noqa: S608
        photo_id,
    )
    assert row is not None
    return tuple(row)


async def resumed_video(api: Api, token: str, report_id: str, data: bytes, chunk: int) -> str:
    created = await tus.create(
        api.client,
        token,
        report_id,
        len(data),
        extra_metadata={"filename": "IMG_0042.MOV", "filetype": "video/quicktime"},
    )
    assert created.status_code == 201, created.text
    sent = await tus.send_with_drops(
        api.client,
        base_url(api),
        token,
        created.headers["Location"],
        data,
        chunk=chunk,
        drop=lambda number, _: number % 3 == 0,
    )
    assert sent.drops >= 3
    assert sent.kept > 0, "the bytes sent before a drop were kept"
    assert sent.last is not None
    assert sent.last.status_code == 204, sent.last.text
    assert sent.last.headers["Upload-Offset"] == str(len(data))
    photo_id: str = sent.last.headers["Plainsight-Photo-Id"]
    return photo_id


async def test_resumed_video_equals_uninterrupted_and_single_request(
    api: Api,
    conn: asyncpg.Connection,
    settings: Settings,
    corpus: vc.VideoCorpus,
    tmp_path: Path,
) -> None:
    data = corpus.iphone_h264_mov.read_bytes()
    assert b"+40.7128-074.0060" in data  # the location is there to be dropped
    chunk = 8 * 1024  # about a dozen PATCHes for the 100 KB file, every third one cut off
    token = await api.device_token()
    resumed = await resumed_video(api, token, await new_report(api, token), data, chunk)
    whole = await tus.upload_whole(api.client, token, await new_report(api, token), data, chunk)
    uninterrupted = whole.headers["Plainsight-Photo-Id"]
    single = await api.client.post(
        f"/v1/reports/{await new_report(api, token)}/photos",
        content=data,
        headers={**bearer(token), "Content-Type": "video/quicktime"},
    )
    assert single.status_code == 201, single.text
    body = single.json()
    assert len({resumed, uninterrupted, body["id"]}) == 3

    expected = await video_row(conn, body["id"])
    assert await video_row(conn, resumed) == expected
    assert await video_row(conn, uninterrupted) == expected
    sha256, content_type, duration_ms = expected[:3]
    assert content_type == "video/mp4"
    assert 1800 <= duration_ms <= 2200  # the corpus files last two seconds
    assert sha256 != hashlib.sha256(data).hexdigest()
    assert body["provenance"]["had_gps"] is True

    blobs = set()
    for photo_id in (resumed, uninterrupted, body["id"]):
        response = await api.client.get(f"/v1/photos/{photo_id}", headers=bearer(token))
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "video/mp4"
        blobs.add(response.content)
    assert len(blobs) == 1
    stored = blobs.pop()
    assert hashlib.sha256(stored).hexdigest() == sha256

    # The stored bytes, read by ffprobe and exiftool: the main video and audio only, no location.
    path = tmp_path / "stored.mp4"
    path.write_bytes(stored)
    probe = vc.ffprobe(path)
    assert sorted(stream["codec_type"] for stream in probe["streams"]) == ["audio", "video"]
    assert not any(
        word in key for key in probe["format"].get("tags", {}) for word in ("location", "ISO6709")
    )
    tags = vc.exiftool_tags(path)
    leaked = [name for name in tags if any(word in name for word in LOCATION_TAGS)]
    assert leaked == []
    assert b"+40.7128-074.0060" not in stored
    assert b"iPhone 15 Pro" not in stored
    # Nothing is left in the spool: the tus file and the sanitised copy are gone.
    spool = settings.data_path / "spool"
    assert (sorted(spool.iterdir()) if spool.is_dir() else []) == []


async def test_a_refused_video_through_tus_is_a_problem_and_no_row(
    api: Api, corpus: vc.VideoCorpus
) -> None:
    data = corpus.mpeg2_mp4.read_bytes()
    token = await api.device_token()
    report_id = await new_report(api, token)
    created = await tus.create(api.client, token, report_id, len(data))
    assert created.status_code == 201, created.text
    last = await tus.patch(api.client, token, created.headers["Location"], 0, data)
    assert last.status_code == 415, last.text
    assert last.json()["code"] == "unsupported_media_type"
    count = await api.conn.fetchval(
        "select count(*) from photos where report_id = $1::uuid", report_id
    )
    assert count == 0
