"""Provenance of uploaded videos, read from the original before its metadata is dropped: every
``Provenance`` field true/false/None over the phone-style corpus (metadata written by ffmpeg and
exiftool), C2PA manifests signed on video by a test CA, and the poster frame's hashes."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

import h3
import pytest

from schemas.photos import Provenance
from storage.photos.hashes import hamming
from storage.photos.video import VideoLimits, poster_frame, process_video, sanitise_video
from tests.support.provenance_fixtures import signing_material
from tests.support.video_corpus import (
    IPTC_AI,
    NYC_LATLON,
    VideoCorpus,
    c2pa_signed_video,
    corpus,
    exiftool_write,
)

LIMITS: Final = VideoLimits(max_seconds=600, max_pixels=3840 * 2160, max_bytes=2 * 1024**3)
REPORTED: Final = datetime(2025, 11, 14, 19, 30, tzinfo=UTC)
NYC_CELL: Final = h3.latlng_to_cell(*NYC_LATLON, 9)
BUENOS_AIRES_CELL: Final = h3.latlng_to_cell(-34.6037, -58.3816, 9)
EMPTY: Final = Provenance(
    had_metadata=False,
    had_gps=False,
    c2pa="absent",
    ai_marker=False,
    capture_time_consistent=None,
    capture_place_consistent=None,
)


@pytest.fixture(scope="session")
def videos() -> VideoCorpus:
    return corpus()


def provenance_of(
    source: Path,
    out: Path,
    *,
    occurred_at: datetime = REPORTED,
    cell: str = NYC_CELL,
    anchors: str | None = None,
) -> Provenance:
    result = process_video(
        source, out, occurred_at=occurred_at, report_cell=cell, limits=LIMITS,
        c2pa_trust_anchors=anchors,
    )  # fmt: skip
    result.video.path.unlink()
    return result.provenance


def test_iphone_mov_signals(videos: VideoCorpus, tmp_path: Path) -> None:
    """QuickTime Keys location and creation date (14:30 at -05:00 = the report's 19:30 UTC),
    an XMP AI DigitalSourceType, extra tracks."""
    for source in (videos.iphone_h264_mov, videos.iphone_hevc_mov):
        assert provenance_of(source, tmp_path) == Provenance(
            had_metadata=True,
            had_gps=True,
            c2pa="absent",
            ai_marker=True,
            capture_time_consistent=True,
            capture_place_consistent=True,
        )


def test_android_mp4_signals(videos: VideoCorpus, tmp_path: Path) -> None:
    assert provenance_of(videos.android_mp4, tmp_path) == Provenance(
        had_metadata=True,
        had_gps=True,
        c2pa="absent",
        ai_marker=False,
        capture_time_consistent=True,
        capture_place_consistent=True,
    )


def test_webm_tags_are_read(videos: VideoCorpus, tmp_path: Path) -> None:
    got = provenance_of(videos.webm, tmp_path)
    assert (got.had_metadata, got.had_gps) == (True, True)
    assert (got.capture_time_consistent, got.capture_place_consistent) == (True, True)


def test_far_place_and_other_day_are_inconsistent(videos: VideoCorpus, tmp_path: Path) -> None:
    got = provenance_of(videos.android_far_mp4, tmp_path)
    assert got.had_gps is True
    assert (got.capture_time_consistent, got.capture_place_consistent) == (False, False)


def test_report_elsewhere_or_later_is_inconsistent(videos: VideoCorpus, tmp_path: Path) -> None:
    elsewhere = provenance_of(videos.iphone_h264_mov, tmp_path, cell=BUENOS_AIRES_CELL)
    assert elsewhere.capture_place_consistent is False
    later = provenance_of(
        videos.iphone_h264_mov, tmp_path, occurred_at=REPORTED + timedelta(hours=2, minutes=1)
    )
    assert later.capture_time_consistent is False
    within = provenance_of(
        videos.iphone_h264_mov, tmp_path, occurred_at=REPORTED - timedelta(hours=1, minutes=59)
    )
    assert within.capture_time_consistent is True


def test_coarsened_report_cell_still_compares(videos: VideoCorpus, tmp_path: Path) -> None:
    coarse = h3.cell_to_parent(NYC_CELL, 7)
    assert provenance_of(videos.android_mp4, tmp_path, cell=coarse).capture_place_consistent


def test_no_location_gives_no_place_signal(videos: VideoCorpus, tmp_path: Path) -> None:
    got = provenance_of(videos.faststart_mp4, tmp_path)
    assert (got.had_gps, got.capture_place_consistent) == (False, None)
    assert got.capture_time_consistent is True


def test_a_stripped_file_has_no_signals(videos: VideoCorpus, tmp_path: Path) -> None:
    """The service's own output, uploaded again: nothing to report."""
    for name in ("iphone_h264_mov", "webm"):
        stored = sanitise_video(getattr(videos, name), tmp_path, LIMITS)
        assert provenance_of(stored.path, tmp_path) == EMPTY


def test_xmp_ai_marker_alone(videos: VideoCorpus, tmp_path: Path) -> None:
    source = tmp_path / "ai.mp4"
    shutil.copyfile(sanitise_video(videos.faststart_mp4, tmp_path, LIMITS).path, source)
    exiftool_write(source, f"-XMP-iptcExt:DigitalSourceType={IPTC_AI}")
    got = provenance_of(source, tmp_path)
    assert (got.ai_marker, got.had_metadata, got.had_gps) == (True, True, False)


def test_xmp_digital_capture_is_no_ai_marker(videos: VideoCorpus, tmp_path: Path) -> None:
    source = tmp_path / "camera.mp4"
    shutil.copyfile(sanitise_video(videos.faststart_mp4, tmp_path, LIMITS).path, source)
    exiftool_write(
        source,
        "-XMP-iptcExt:DigitalSourceType=http://cv.iptc.org/newscodes/digitalsourcetype/"
        "digitalCapture",
    )
    got = provenance_of(source, tmp_path)
    assert (got.ai_marker, got.had_metadata) == (False, True)


# --- C2PA ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("c2pa-video")
    return c2pa_signed_video(
        corpus().faststart_mp4, root / "signed.mp4", source_type="trainedAlgorithmicMedia"
    )


def test_c2pa_manifest_on_video_untrusted_is_present(signed: Path, tmp_path: Path) -> None:
    got = provenance_of(signed, tmp_path)
    assert (got.c2pa, got.ai_marker, got.had_metadata) == ("present", True, True)


def test_c2pa_manifest_on_video_trusted_is_valid(signed: Path, tmp_path: Path) -> None:
    got = provenance_of(signed, tmp_path, anchors=signing_material().root_pem)
    assert (got.c2pa, got.ai_marker) == ("valid", True)


def test_c2pa_tampered_video_is_invalid(signed: Path, tmp_path: Path) -> None:
    data = bytearray(signed.read_bytes())
    mdat = data.index(b"mdat")
    data[mdat + 2000] ^= 0x5A  # media bytes covered by the manifest's hash
    tampered = tmp_path / "tampered.mp4"
    tampered.write_bytes(bytes(data))
    out = tmp_path / "out"
    out.mkdir()
    assert provenance_of(tampered, out, anchors=signing_material().root_pem).c2pa == "invalid"


def test_c2pa_manifest_is_not_stored(signed: Path, tmp_path: Path) -> None:
    stored = sanitise_video(signed, tmp_path, LIMITS).path.read_bytes()
    assert b"c2pa" not in stored
    assert b"jumb" not in stored


# --- poster ----------------------------------------------------------------------------------


def test_poster_hashes_match_across_containers(videos: VideoCorpus, tmp_path: Path) -> None:
    """The same picture in H.264/MOV, H.264/MP4, HEVC and VP9/WebM hashes alike (a
    near-duplicate), and unlike a different picture."""
    hashes = {}
    for name in ("iphone_h264_mov", "android_mp4", "iphone_hevc_mov", "webm"):
        result = process_video(
            getattr(videos, name), tmp_path, occurred_at=REPORTED, report_cell=NYC_CELL,
            limits=LIMITS,
        )  # fmt: skip
        hashes[name] = (result.phash, result.dhash)
    reference = hashes["android_mp4"]
    for phash, dhash in hashes.values():
        assert hamming(phash, reference[0]) <= 6
        assert hamming(dhash, reference[1]) <= 6
    other = process_video(
        videos.av1_mp4, tmp_path, occurred_at=REPORTED, report_cell=NYC_CELL, limits=LIMITS
    )
    assert hamming(other.phash, reference[0]) + hamming(other.dhash, reference[1]) > 12


def test_poster_of_a_portrait_video_is_upright(videos: VideoCorpus, tmp_path: Path) -> None:
    source = tmp_path / "portrait.mov"
    shutil.copyfile(videos.iphone_h264_mov, source)
    exiftool_write(source, "-Rotation=90")
    stored = sanitise_video(source, tmp_path, LIMITS)
    assert poster_frame(stored.path).size == (240, 320)
    assert poster_frame(videos.iphone_h264_mov).size == (320, 240)
