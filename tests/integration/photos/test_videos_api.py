"""Videos through ``POST /v1/reports/{id}/photos`` and ``GET /v1/photos/{id}`` (issue 15, point 2):
sniffed from the bytes, spooled to a file (never whole in memory), remuxed, stored under their
own content type, streamed back whole or by range, refused as problem+json.

The phone-style files come from tests.support.video_corpus (made by ffmpeg and exiftool); what is
stored is checked with ffprobe and exiftool, never with the code that wrote it.
"""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import Any, Final

import pytest

from schemas.auth import Role
from schemas.settings import Settings
from tests.support import video_corpus as vc
from tests.support.assertions import assert_problem
from tests.support.helpers import Api, bearer
from tests.support.photo_api import (
    PHOTO_KEYS,
    fetch,
    new_report,
    upload,
    upload_multipart,
    uploaded,
)

MB: Final = 1024 * 1024
# What the remux may keep: only the main video and audio streams, no tags but the handler.
LOCATION_TAGS: Final = ("GPS", "ISO6709", "Location", "GPSCoordinates")


@pytest.fixture(scope="module")
def corpus() -> vc.VideoCorpus:
    return vc.corpus()


def video_blob(settings: Settings, sha256: str, suffix: str) -> Path:
    """Where the filesystem blob store keeps a video (the photos' layout, the type's suffix)."""
    return settings.data_path / "photos" / sha256[:2] / sha256[2:4] / f"{sha256}{suffix}"


def spool_leftovers(settings: Settings) -> list[Path]:
    spool = settings.data_path / "spool"
    return sorted(spool.iterdir()) if spool.is_dir() else []


def assert_video_view(body: dict[str, Any], report_id: str, content_type: str) -> None:
    assert set(body) == PHOTO_KEYS, body
    assert body["report_id"] == report_id
    assert body["content_type"] == content_type
    # The corpus files last two seconds.
    assert 1800 <= body["duration_ms"] <= 2200, body
    assert body["bytes"] > 0
    assert len(body["phash"]) == 16


async def test_an_iphone_mov_is_stored_as_a_clean_mp4(
    api: Api, settings: Settings, corpus: vc.VideoCorpus, tmp_path: Path
) -> None:
    token = await api.device_token()
    report_id = await new_report(api, token)
    original = corpus.iphone_h264_mov.read_bytes()
    response = await upload(api, token, report_id, original, "video/quicktime")
    assert response.status_code == 201, response.text
    body = response.json()
    assert_video_view(body, report_id, "video/mp4")
    # The location in the QuickTime keys was seen, then dropped.
    assert body["provenance"]["had_gps"] is True
    assert body["provenance"]["had_metadata"] is True
    assert b"40.71" not in response.content

    fetched = await fetch(api, token, body["id"])
    assert fetched.status_code == 200
    assert fetched.headers["content-type"] == "video/mp4"
    assert fetched.headers["accept-ranges"] == "bytes"
    assert int(fetched.headers["content-length"]) == body["bytes"] == len(fetched.content)
    assert hashlib.sha256(fetched.content).hexdigest() == body["sha256"]
    assert video_blob(settings, body["sha256"], ".mp4").read_bytes() == fetched.content

    stored = tmp_path / "stored.mp4"
    stored.write_bytes(fetched.content)
    probe = vc.ffprobe(stored)
    kinds = sorted(stream["codec_type"] for stream in probe["streams"])
    assert kinds == ["audio", "video"]
    tags = vc.exiftool_tags(stored)
    leaked = [name for name in tags if any(word in name for word in LOCATION_TAGS)]
    assert leaked == []
    assert spool_leftovers(settings) == []


async def test_a_webm_stays_webm_and_multipart_works(
    api: Api, settings: Settings, corpus: vc.VideoCorpus
) -> None:
    token = await api.device_token()
    report_id = await new_report(api, token)
    response = await upload_multipart(
        api, token, report_id, corpus.webm.read_bytes(), filename="clip.webm"
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert_video_view(body, report_id, "video/webm")
    fetched = await fetch(api, token, body["id"])
    assert fetched.headers["content-type"] == "video/webm"
    assert hashlib.sha256(fetched.content).hexdigest() == body["sha256"]
    assert video_blob(settings, body["sha256"], ".webm").is_file()
    assert spool_leftovers(settings) == []


async def test_the_video_is_sniffed_not_taken_from_the_header(
    api: Api, corpus: vc.VideoCorpus
) -> None:
    token = await api.device_token()
    report_id = await new_report(api, token)
    body = await uploaded(api, token, report_id, corpus.android_mp4.read_bytes(), "image/jpeg")
    assert body["content_type"] == "video/mp4"
    # And a photo declared as a video is the photo it is.
    from tests.support.photo_api import unique_jpeg

    photo = await uploaded(api, token, report_id, unique_jpeg(), "video/mp4")
    assert photo["content_type"] == "image/jpeg"
    assert photo["duration_ms"] is None


async def test_the_same_video_again_is_a_replay(api: Api, corpus: vc.VideoCorpus) -> None:
    token = await api.device_token()
    report_id = await new_report(api, token)
    data = corpus.android_mp4.read_bytes()
    first = await uploaded(api, token, report_id, data, "video/mp4")
    again = await upload(api, token, report_id, data, "video/mp4")
    assert again.status_code == 200, again.text
    assert again.json() == first


async def test_a_video_is_served_by_range(api: Api, corpus: vc.VideoCorpus) -> None:
    token = await api.device_token()
    report_id = await new_report(api, token)
    body = await uploaded(api, token, report_id, corpus.android_mp4.read_bytes(), "video/mp4")
    whole = (await fetch(api, token, body["id"])).content
    size = len(whole)
    for header, start, end in (
        ("bytes=0-99", 0, 100),
        ("bytes=100-", 100, size),
        ("bytes=-64", size - 64, size),
    ):
        part = await fetch(api, token, body["id"], {"Range": header})
        assert part.status_code == 206, part.text
        assert part.headers["content-type"] == "video/mp4"
        assert part.headers["content-range"] == f"bytes {start}-{end - 1}/{size}"
        assert part.content == whole[start:end]
    past = await fetch(api, token, body["id"], {"Range": f"bytes={size}-"})
    assert_problem(past, 416, field="Range")


async def test_a_moderator_reads_a_video_and_it_is_audited(
    api: Api, corpus: vc.VideoCorpus
) -> None:
    token = await api.device_token()
    report_id = await new_report(api, token)
    body = await uploaded(api, token, report_id, corpus.android_mp4.read_bytes(), "video/mp4")
    moderator = await api.account_token(Role.moderator)
    response = await fetch(api, moderator, body["id"])
    assert response.status_code == 200
    assert hashlib.sha256(response.content).hexdigest() == body["sha256"]
    audited = await api.conn.fetchval(
        "select count(*) from audit_log where action = 'photo.read' and subject_id = $1",
        body["id"],
    )
    assert audited == 1
    stranger = await api.device_token()
    assert_problem(await fetch(api, stranger, body["id"]), 404)


@pytest.mark.parametrize(
    ("name", "status", "code"),
    [
        ("mpeg2_mp4", 415, "unsupported_media_type"),
        ("h264_mp3_mkv", 415, "unsupported_media_type"),
        ("truncated_mov", 422, "undecodable_video"),
        ("ftyp_garbage", 422, "undecodable_video"),
    ],
)
async def test_refused_videos_are_problems_and_leave_no_file(
    api: Api, settings: Settings, corpus: vc.VideoCorpus, name: str, status: int, code: str
) -> None:
    token = await api.device_token()
    report_id = await new_report(api, token)
    data = getattr(corpus, name).read_bytes()
    response = await upload(api, token, report_id, data, "video/mp4")
    problem = assert_problem(response, status)
    assert problem["code"] == code, problem
    count = await api.conn.fetchval(
        "select count(*) from photos where report_id = $1::uuid", report_id
    )
    assert count == 0
    assert spool_leftovers(settings) == []


async def test_a_video_over_the_single_request_limit_points_to_resumable_uploads(
    api: Api, settings: Settings
) -> None:
    token = await api.device_token()
    report_id = await new_report(api, token)
    # A video container's first bytes, then more than the single-request limit.
    head = b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41"
    data = head + b"\x00" * (settings.max_photo_bytes + 1 - len(head))

    async def chunks() -> Any:
        for start in range(0, len(data), MB):
            yield data[start : start + MB]

    request = api.client.build_request(
        "POST",
        f"/v1/reports/{report_id}/photos",
        content=chunks(),
        headers={**bearer(token), "Content-Type": "video/mp4"},
    )
    problem = assert_problem(await api.client.send(request), 413)
    assert problem["code"] == "payload_too_large"
    assert "/v1/uploads" in problem["detail"]
    assert spool_leftovers(settings) == []
    declared = await upload(api, token, report_id, data, "video/mp4")
    assert "/v1/uploads" in assert_problem(declared, 413)["detail"]


async def test_withdrawal_deletes_the_video_blob(
    api: Api, settings: Settings, corpus: vc.VideoCorpus
) -> None:
    token = await api.device_token()
    report_id = await new_report(api, token)
    body = await uploaded(api, token, report_id, corpus.silent_mp4.read_bytes(), "video/mp4")
    path = video_blob(settings, body["sha256"], ".mp4")
    assert path.is_file()
    response = await api.client.delete(f"/v1/reports/{report_id}", headers=bearer(token))
    assert response.status_code == 204
    assert not path.exists()
    assert_problem(await fetch(api, token, body["id"]), 404)


async def test_photos_and_videos_upload_side_by_side(
    api: Api, settings: Settings, corpus: vc.VideoCorpus
) -> None:
    from tests.support.photo_api import unique_jpeg

    token = await api.device_token()
    report_id = await new_report(api, token)
    bodies = [
        corpus.android_mp4.read_bytes(),
        unique_jpeg(),
        corpus.webm.read_bytes(),
        unique_jpeg(),
    ]
    responses = await asyncio.gather(
        *(upload(api, token, report_id, b, "video/mp4") for b in bodies)
    )
    assert [r.status_code for r in responses] == [201] * 4, [r.text for r in responses]
    types = [r.json()["content_type"] for r in responses]
    assert types == ["video/mp4", "image/jpeg", "video/webm", "image/jpeg"]
    assert spool_leftovers(settings) == []
