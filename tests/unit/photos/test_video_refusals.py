"""Videos that are refused, and with which status: other codecs and containers 415, unreadable
or truncated files 422, over-limit duration and resolution 422, over-limit size 413. A refusal
leaves no file behind. Sniffing is by magic number only. The limits are settings."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import h3
import pytest

from schemas.settings import SettingsError, load_settings
from storage.photos.formats import (
    PhotoRejected,
    UndecodableVideo,
    UnsupportedFormat,
    VideoResolutionTooLarge,
    VideoTooBig,
    VideoTooLong,
    is_video,
    sniff_format,
)
from storage.photos.video import VideoLimits, process_video
from tests.support.video_corpus import NYC_LATLON, VideoCorpus, corpus

LIMITS: Final = VideoLimits(max_seconds=600, max_pixels=3840 * 2160, max_bytes=2 * 1024**3)
REPORTED: Final = datetime(2025, 11, 14, 19, 30, tzinfo=UTC)
NYC_CELL: Final = h3.latlng_to_cell(*NYC_LATLON, 9)


@pytest.fixture(scope="session")
def videos() -> VideoCorpus:
    return corpus()


def refuse(source: Path, out: Path, limits: VideoLimits = LIMITS) -> PhotoRejected:
    with pytest.raises(PhotoRejected) as caught:
        process_video(source, out, occurred_at=REPORTED, report_cell=NYC_CELL, limits=limits)
    assert list(out.iterdir()) == []  # nothing half-written is left
    return caught.value


@pytest.mark.parametrize(
    ("name", "detail"),
    [
        ("mpeg2_mp4", "mpeg2video"),
        ("mjpeg_mov", "mjpeg"),
        ("h264_mp3_mkv", "mp3"),
        ("random_bytes", "unsupported video format"),
    ],
)
def test_other_codecs_and_formats_are_415(
    videos: VideoCorpus, tmp_path: Path, name: str, detail: str
) -> None:
    error = refuse(getattr(videos, name), tmp_path)
    assert type(error) is UnsupportedFormat
    assert (error.status, error.code) == (415, "unsupported_media_type")
    assert detail in error.detail


@pytest.mark.parametrize(
    "name",
    ["truncated_mov", "truncated_faststart_mp4", "truncated_webm", "ftyp_garbage", "ebml_garbage"],
)
def test_truncated_and_corrupt_files_are_422(
    videos: VideoCorpus, tmp_path: Path, name: str
) -> None:
    error = refuse(getattr(videos, name), tmp_path)
    assert type(error) is UndecodableVideo
    assert (error.status, error.code) == (422, "undecodable_video")


def test_truncated_just_before_the_end_is_422(videos: VideoCorpus, tmp_path: Path) -> None:
    data = videos.faststart_mp4.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[:-2000])
    out = tmp_path / "out"
    out.mkdir()
    assert type(refuse(cut, out)) is UndecodableVideo


def test_empty_file_is_415(tmp_path: Path) -> None:
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    out = tmp_path / "out"
    out.mkdir()
    assert type(refuse(empty, out)) is UnsupportedFormat


def test_photos_are_not_videos(tmp_path: Path) -> None:
    heic = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic"
    assert not is_video(heic)
    assert not is_video(b"\xff\xd8\xff\xe0")
    assert not is_video(b"")


def test_sniffing_reads_magic_numbers(videos: VideoCorpus) -> None:
    for name in ("iphone_h264_mov", "android_mp4", "webm", "mpeg2_mp4", "av1_mp4"):
        head = getattr(videos, name).read_bytes()[:64]
        assert is_video(head)
        with pytest.raises(UnsupportedFormat):
            sniff_format(head)  # and never mistaken for a photo
    assert not is_video(videos.random_bytes.read_bytes()[:64])


def test_over_long_video_is_422(videos: VideoCorpus, tmp_path: Path) -> None:
    limits = VideoLimits(max_seconds=1.5, max_pixels=LIMITS.max_pixels, max_bytes=LIMITS.max_bytes)
    for name in ("android_mp4", "webm"):
        out = tmp_path / name
        out.mkdir()
        error = refuse(getattr(videos, name), out, limits)
        assert type(error) is VideoTooLong
        assert (error.status, error.code) == (422, "video_too_long")


def test_over_size_resolution_is_422(videos: VideoCorpus, tmp_path: Path) -> None:
    limits = VideoLimits(max_seconds=600, max_pixels=320 * 240 - 1, max_bytes=LIMITS.max_bytes)
    error = refuse(videos.iphone_hevc_mov, tmp_path, limits)
    assert type(error) is VideoResolutionTooLarge
    assert (error.status, error.code) == (422, "video_resolution_too_large")
    assert "320x240" in error.detail


def test_resolution_exactly_at_the_limit_passes(videos: VideoCorpus, tmp_path: Path) -> None:
    limits = VideoLimits(max_seconds=2.1, max_pixels=320 * 240, max_bytes=LIMITS.max_bytes)
    result = process_video(
        videos.android_mp4, tmp_path, occurred_at=REPORTED, report_cell=NYC_CELL, limits=limits
    )
    assert (result.video.width, result.video.height) == (320, 240)


def test_over_size_file_is_413(videos: VideoCorpus, tmp_path: Path) -> None:
    size = videos.android_mp4.stat().st_size
    limits = VideoLimits(max_seconds=600, max_pixels=LIMITS.max_pixels, max_bytes=size - 1)
    error = refuse(videos.android_mp4, tmp_path, limits)
    assert type(error) is VideoTooBig
    assert (error.status, error.code) == (413, "video_too_big")


def test_caller_mistakes_raise_value_error(videos: VideoCorpus, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        process_video(
            videos.android_mp4, tmp_path, occurred_at=datetime(2025, 11, 14, 19, 30),
            report_cell=NYC_CELL, limits=LIMITS,
        )  # fmt: skip
    with pytest.raises(ValueError, match="H3"):
        process_video(
            videos.android_mp4, tmp_path, occurred_at=REPORTED, report_cell="not-a-cell",
            limits=LIMITS,
        )  # fmt: skip
    assert list(tmp_path.iterdir()) == []


# --- settings --------------------------------------------------------------------------------


def test_video_limit_defaults() -> None:
    settings = load_settings({})
    assert settings.max_video_seconds == 10 * 60
    assert settings.max_video_pixels == 3840 * 2160
    assert settings.max_video_bytes == 2 * 1024 * 1024 * 1024


def test_video_limits_read_from_the_environment() -> None:
    settings = load_settings(
        {
            "PLAINSIGHT_MAX_VIDEO_SECONDS": "90",
            "PLAINSIGHT_MAX_VIDEO_PIXELS": "2073600",
            "PLAINSIGHT_MAX_VIDEO_BYTES": "104857600",
        }
    )
    assert (settings.max_video_seconds, settings.max_video_pixels) == (90, 1920 * 1080)
    assert settings.max_video_bytes == 100 * 1024 * 1024


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PLAINSIGHT_MAX_VIDEO_SECONDS", "0"),
        ("PLAINSIGHT_MAX_VIDEO_SECONDS", "soon"),
        ("PLAINSIGHT_MAX_VIDEO_PIXELS", "99"),
        ("PLAINSIGHT_MAX_VIDEO_BYTES", "1000"),
    ],
)
def test_bad_video_limits_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        load_settings({name: value})
