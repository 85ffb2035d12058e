"""Evidence export of a report holding a video, end to end: ``plainsight serve`` with
PLAINSIGHT_EVIDENCE_RECIPIENTS set, an iPhone-style MOV (location in its QuickTime keys) uploaded
through tus in small chunks beside a phone JPEG, ``plainsight evidence export``; ``age -d`` on the
video's sealed original gives back the uploaded bytes, the sanitised MP4 in the bundle hashes to
the manifest's sha256 and carries no location (ffprobe, exiftool), and the export streamed the
video from the blob store into the bundle.

Needs Debian's ``age`` package (``apt-get install age``), ffmpeg and exiftool."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.evidence.test_evidence_end_to_end import age_decrypt, make_key
from tests.support import photo_fixtures as fx
from tests.support import tus_client as tus
from tests.support import video_corpus as vc
from tests.support.cli import cli_environment, run_cli, serving, stop
from tests.support.evidence_bundle import signature_valid, unpack
from tests.support.helpers import observer_report
from tests.support.photo_api import scene

pytestmark = pytest.mark.slow

LOCATION_TAGS = ("GPS", "ISO6709", "Location", "GPSCoordinates")


@pytest.fixture
def data_path(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


async def upload_photo_and_video(
    env: dict[str, str], log: Path, photo: bytes, video: bytes
) -> tuple[str, dict[str, Any], str, str]:
    """Serve, make a device and a report, upload ``photo`` in one request and ``video`` with
    tus in 64 KiB PATCHes; (report id, the photo's body, the video's id, the receipt key)."""
    async with (
        serving(env, log) as server,
        httpx.AsyncClient(base_url=server.base_url, timeout=30.0) as client,
    ):
        device = await client.post("/v1/devices")
        assert device.status_code == 201, device.text
        token = device.json()["token"]
        auth = {"Authorization": f"Bearer {token}"}
        report = await client.post("/v1/reports", json=observer_report(), headers=auth)
        assert report.status_code == 201, report.text
        report_id = report.json()["id"]
        single = await client.post(
            f"/v1/reports/{report_id}/photos",
            content=photo,
            headers={**auth, "Content-Type": "image/jpeg"},
        )
        assert single.status_code == 201, single.text
        last = await tus.upload_whole(client, token, report_id, video, 64 * 1024)
        assert last.status_code == 204, last.text
        video_id = last.headers["Plainsight-Photo-Id"]
        key = await client.get("/v1/receipts/public-key")
        assert key.status_code == 200
        public_key: str = key.json()["public_key"]
        assert await stop(server) == 0, server.output()
    return report_id, single.json(), video_id, public_key


async def test_export_of_a_report_with_a_video(
    empty_database: str, data_path: Path, tmp_path: Path
) -> None:
    key_file, public = await asyncio.to_thread(make_key, tmp_path)
    env = cli_environment(data_path, empty_database) | {
        "PLAINSIGHT_EVIDENCE_RECIPIENTS": public,
        "PLAINSIGHT_RATE_LIMITS": "off",
    }
    photo = fx.jpeg_bytes(scene(31, (640, 480)), exif=fx.camera_exif(orientation=6, gps=True))
    video = vc.corpus().iphone_h264_mov.read_bytes()
    report_id, photo_body, video_id, public_key = await upload_photo_and_video(
        env, tmp_path / "serve.log", photo, video
    )

    out = tmp_path / "bundles" / "case-video.tar"
    result = await run_cli("evidence", "export", report_id, "--out", str(out), env=env)
    assert result.returncode == 0, result.stderr
    assert "2 files, 2 sealed originals" in result.stdout

    bundle = unpack(out, tmp_path / "unpacked")
    assert signature_valid(bundle.manifest_bytes, bundle.signature, public_key)
    entries = {entry["photo_id"]: entry for entry in bundle.manifest["files"]}
    assert set(entries) == {photo_body["id"], video_id}

    entry = entries[video_id]
    assert entry["content_type"] == "video/mp4"
    assert 1800 <= entry["duration_ms"] <= 2200
    assert entry["provenance"]["had_gps"] is True
    # The sealed original opens with the legal team's key to exactly the uploaded MOV.
    opened = await asyncio.to_thread(age_decrypt, key_file, bundle.file(entry["original"]["path"]))
    assert opened == video
    assert entry["original"]["sha256"] == hashlib.sha256(video).hexdigest()
    assert entry["original"]["bytes"] == len(video)
    # The sanitised copy is the MP4 the manifest names, and it holds no location.
    sanitised = bundle.file(entry["sanitised"]["path"])
    assert sanitised.suffix == ".mp4"
    data = sanitised.read_bytes()
    assert hashlib.sha256(data).hexdigest() == entry["sanitised"]["sha256"]
    assert len(data) == entry["sanitised"]["bytes"]
    assert data != video
    assert b"+40.7128-074.0060" not in data
    probe = vc.ffprobe(sanitised)
    assert sorted(stream["codec_type"] for stream in probe["streams"]) == ["audio", "video"]
    leaked = [name for name in vc.exiftool_tags(sanitised) if any(w in name for w in LOCATION_TAGS)]
    assert leaked == []

    # The photo beside it is exported as before.
    photo_entry = entries[photo_body["id"]]
    assert photo_entry["content_type"] == "image/jpeg"
    opened_photo = await asyncio.to_thread(
        age_decrypt, key_file, bundle.file(photo_entry["original"]["path"])
    )
    assert opened_photo == photo
