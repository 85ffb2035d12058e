"""The video remux: every stored file is checked with exiftool (``-a -G1 -ee``) and ffprobe, never
with the code that wrote it: no location, make, model, software, creation date, XMP or uuid box,
only the main video (and audio) stream, the same codecs and packets (no re-encode), the same
duration, and byte-identical output for the same input."""

from __future__ import annotations

import hashlib
import pickle
import re
import shutil
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import h3
import pytest

from storage.photos import video as video_module
from storage.photos.video import ProcessedVideo, VideoLimits, process_video, sanitise_video
from tests.support.video_corpus import (
    NYC_LATLON,
    VideoCorpus,
    corpus,
    exiftool_tags,
    exiftool_write,
    ffprobe,
    ffprobe_packets,
)

LIMITS: Final = VideoLimits(max_seconds=600, max_pixels=3840 * 2160, max_bytes=2 * 1024**3)
REPORTED: Final = datetime(2025, 11, 14, 19, 30, tzinfo=UTC)
NYC_CELL: Final = h3.latlng_to_cell(*NYC_LATLON, 9)

ACCEPTED: Final = {
    # corpus attribute: (content type, video codec, audio codec or None)
    "iphone_h264_mov": ("video/mp4", "h264", "aac"),
    "iphone_hevc_mov": ("video/mp4", "hevc", "aac"),
    "android_mp4": ("video/mp4", "h264", "aac"),
    "faststart_mp4": ("video/mp4", "h264", "aac"),
    "silent_mp4": ("video/mp4", "h264", None),
    "webm": ("video/webm", "vp9", "opus"),
    "h264_mkv": ("video/mp4", "h264", "aac"),
    "av1_mp4": ("video/mp4", "av1", "opus"),
}
# Planted in the corpus by ffmpeg/exiftool; none may survive in the stored bytes.
SECRETS: Final = (
    b"iPhone", b"Apple", b"Pixel 8", b"Google", b"17.1.2", b"40.7128", b"074.0060", b"-74.0",
    b"Jane Observer", b"Officer badge", b"Arrival", b"Arrest", b"Stop on 5th", b"Camera 1",
    b"2025", b"trainedAlgorithmicMedia", b"xmpmeta", b"Lavf5",
)  # fmt: skip
# Not checked: what encoders write inside the coded video/audio itself (x264's settings SEI,
# FFmpeg's AAC fill element naming "Lavc"), which a remux without re-encoding keeps.
# exiftool groups that only hold metadata (never structure).
METADATA_GROUPS: Final = ("Keys", "UserData", "ItemList", "XMP", "GPS", "Track1:GPS")
FORBIDDEN_TAG: Final = re.compile(
    r"gps|location|make|model|software|creator|encoder|author|title|comment|artist|"
    r"digitalsourcetype|keyword|description|copyright|date(?!.*(?:Media|Track))",
    re.IGNORECASE,
)
# Tags exiftool reports for any MP4/WebM that describe its structure.
STRUCTURAL_OK: Final = {"HandlerDescription", "HandlerType", "HandlerVendorID"}
ZERO_DATE: Final = "0000:00:00 00:00:00"
ALLOWED_FORMAT_TAGS: Final = {
    "video/mp4": {"major_brand", "minor_version", "compatible_brands"},
    "video/webm": {"encoder"},  # Matroska always names a muxing app; bit-exact: just "Lavf"
}
ALLOWED_STREAM_TAGS: Final = {"language", "handler_name", "vendor_id", "DURATION"}


@pytest.fixture(scope="session")
def videos() -> VideoCorpus:
    return corpus()


@pytest.fixture(scope="session")
def out_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("video-out")


_processed: dict[str, ProcessedVideo] = {}


def processed(videos: VideoCorpus, out_dir: Path, name: str) -> ProcessedVideo:
    if name not in _processed:
        _processed[name] = process_video(
            getattr(videos, name), out_dir, occurred_at=REPORTED, report_cell=NYC_CELL,
            limits=LIMITS,
        )  # fmt: skip
    return _processed[name]


def kept_streams(probe: dict[str, Any]) -> list[dict[str, Any]]:
    """The input's main video and audio streams, as ffprobe numbers them."""
    kept = []
    for kind in ("video", "audio"):
        streams = [s for s in probe["streams"] if s["codec_type"] == kind]
        if streams:
            default = [s for s in streams if s.get("disposition", {}).get("default")]
            kept.append((default or streams)[0])
    return kept


def packet_summary(path: Path, indexes: list[int]) -> list[tuple[int, int, Counter[int]]]:
    """Per stream (in ``indexes`` order): packet count, total bytes, and the multiset of packet
    sizes - equal for input and output only if every packet was copied unchanged."""
    packets = ffprobe_packets(path)
    summary = []
    for index in indexes:
        sizes = [int(p["size"]) for p in packets if p["stream_index"] == index]
        summary.append((len(sizes), sum(sizes), Counter(sizes)))
    return summary


# --- stripping, per exiftool and ffprobe on the stored bytes ---------------------------------


@pytest.mark.parametrize("name", sorted(ACCEPTED))
def test_stored_video_carries_no_metadata_per_exiftool(
    videos: VideoCorpus, out_dir: Path, name: str
) -> None:
    stored = processed(videos, out_dir, name).video.path
    tags = exiftool_tags(stored)
    groups = {key.partition(":")[0] for key in tags}
    assert [g for g in groups if g.startswith(METADATA_GROUPS)] == []
    problems = []
    for key, value in tags.items():
        group, _, tag = key.partition(":")
        if group in ("ExifTool", "System", "File", "Composite") or tag in STRUCTURAL_OK:
            continue
        if "Date" in tag:
            if value != ZERO_DATE:
                problems.append(f"{key}={value}")
        elif FORBIDDEN_TAG.search(tag):
            problems.append(f"{key}={value}")
    assert problems == []


@pytest.mark.parametrize("name", sorted(ACCEPTED))
def test_stored_video_bytes_hold_no_planted_value(
    videos: VideoCorpus, out_dir: Path, name: str
) -> None:
    stored = processed(videos, out_dir, name).video.path.read_bytes()
    original = getattr(videos, name).read_bytes()
    planted = [secret for secret in SECRETS if secret in original]
    assert planted or name == "silent_mp4"  # the corpus really carries what is checked
    assert [secret for secret in SECRETS if secret in stored] == []
    xmp_uuid = bytes.fromhex("be7acfcb97a942e89c71999491e3afac")
    assert xmp_uuid not in stored
    for box in (b"uuid", b"mebx", b"tmcd", b"tx3g", b"chap", b"\xa9xyz", b"keys"):
        assert box not in stored


@pytest.mark.parametrize("name", sorted(ACCEPTED))
def test_only_main_streams_kept_unchanged_per_ffprobe(
    videos: VideoCorpus, out_dir: Path, name: str
) -> None:
    content_type, video_codec, audio_codec = ACCEPTED[name]
    result = processed(videos, out_dir, name)
    source = getattr(videos, name)
    before, after = ffprobe(source), ffprobe(result.video.path)

    assert result.video.content_type == content_type
    expected = [("video", video_codec)] + ([("audio", audio_codec)] if audio_codec else [])
    assert [(s["codec_type"], s["codec_name"]) for s in after["streams"]] == expected
    assert after["chapters"] == []
    format_tags = set(after["format"].get("tags", {}))
    assert format_tags <= ALLOWED_FORMAT_TAGS[content_type]
    for stream in after["streams"]:
        assert set(stream.get("tags", {})) <= ALLOWED_STREAM_TAGS
    # No re-encode: the same number of packets with the same sizes, stream by stream.
    kept = kept_streams(before)
    assert [s["codec_name"] for s in kept] == [s["codec_name"] for s in after["streams"]]
    assert packet_summary(source, [s["index"] for s in kept]) == packet_summary(
        result.video.path, [s["index"] for s in after["streams"]]
    )
    for old, new in zip(kept, after["streams"], strict=True):
        for field in ("width", "height", "profile", "pix_fmt", "sample_rate", "channels"):
            assert new.get(field) == old.get(field)
    # Duration preserved (within a frame), and reported in the result.
    duration = float(before["format"]["duration"])
    assert float(after["format"]["duration"]) == pytest.approx(duration, abs=0.05)
    assert result.video.duration_ms == pytest.approx(duration * 1000, abs=50)
    assert (result.video.width, result.video.height) == (
        kept[0]["width"],
        kept[0]["height"],
    )


@pytest.mark.parametrize("name", sorted(ACCEPTED))
def test_result_describes_the_stored_file(videos: VideoCorpus, out_dir: Path, name: str) -> None:
    video = processed(videos, out_dir, name).video
    data = video.path.read_bytes()
    assert video.size == len(data)
    assert video.sha256 == hashlib.sha256(data).hexdigest()
    assert video.path.parent == out_dir
    suffix = {"video/mp4": ".mp4", "video/webm": ".webm"}[video.content_type]
    assert video.path.suffix == suffix


def test_mp4_index_is_first_for_playback(videos: VideoCorpus, out_dir: Path) -> None:
    """Players can start before the whole file arrives: ``moov`` comes before ``mdat``, for
    inputs with their index at the end (Android) and at the start."""
    for name in ("android_mp4", "faststart_mp4", "iphone_hevc_mov", "h264_mkv"):
        data = processed(videos, out_dir, name).video.path.read_bytes()
        assert 0 < data.index(b"moov") < data.index(b"mdat")


def test_hevc_keeps_apples_hvc1_tag(videos: VideoCorpus, out_dir: Path) -> None:
    after = ffprobe(processed(videos, out_dir, "iphone_hevc_mov").video.path)
    assert after["streams"][0]["codec_tag_string"] == "hvc1"


def test_display_rotation_is_kept(videos: VideoCorpus, tmp_path: Path) -> None:
    """A portrait phone video stays portrait: the track's display matrix is not metadata."""
    source = tmp_path / "portrait.mov"
    shutil.copyfile(videos.iphone_h264_mov, source)
    exiftool_write(source, "-Rotation=90")
    stored = sanitise_video(source, tmp_path, LIMITS)
    assert exiftool_tags(source)["Composite:Rotation"] == 90
    assert exiftool_tags(stored.path)["Composite:Rotation"] == 90
    result = process_video(
        source, tmp_path, occurred_at=REPORTED, report_cell=NYC_CELL, limits=LIMITS
    )
    # The stored width/height are the coded ones; the poster is upright (portrait).
    assert (result.video.width, result.video.height) == (320, 240)


# --- determinism -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["iphone_h264_mov", "android_mp4", "webm"])
def test_same_input_gives_identical_bytes(videos: VideoCorpus, tmp_path: Path, name: str) -> None:
    """A resumed upload must store what an uninterrupted one stores: the same bytes from the
    same file, whatever its name, directory or time of processing."""
    source = getattr(videos, name)
    copy = tmp_path / "elsewhere" / "upload.bin"
    copy.parent.mkdir()
    shutil.copyfile(source, copy)
    first = sanitise_video(source, tmp_path, LIMITS)
    second = sanitise_video(copy, tmp_path, LIMITS)
    assert first.path != second.path
    assert first.path.read_bytes() == second.path.read_bytes()
    assert first.sha256 == second.sha256


def test_sanitised_output_is_a_fixed_point(videos: VideoCorpus, tmp_path: Path) -> None:
    """Re-uploading a stored video stores the same bytes and shows no metadata at all."""
    first = process_video(
        videos.iphone_h264_mov, tmp_path, occurred_at=REPORTED, report_cell=NYC_CELL,
        limits=LIMITS,
    )  # fmt: skip
    again = process_video(
        first.video.path, tmp_path, occurred_at=REPORTED, report_cell=NYC_CELL, limits=LIMITS
    )
    assert again.video.sha256 == first.video.sha256
    assert again.provenance.had_metadata is False
    assert again.provenance.had_gps is False
    assert again.provenance.capture_time_consistent is None
    assert (again.phash, again.dhash) == (first.phash, first.dhash)


def test_result_crosses_process_boundaries(videos: VideoCorpus, out_dir: Path) -> None:
    """It is made in a worker process: it must pickle, unchanged."""
    result = processed(videos, out_dir, "iphone_h264_mov")
    assert pickle.loads(pickle.dumps(result)) == result  # noqa: S301  (our own bytes)


def test_source_file_is_left_untouched(videos: VideoCorpus, tmp_path: Path) -> None:
    before = hashlib.sha256(videos.android_mp4.read_bytes()).hexdigest()
    sanitise_video(videos.android_mp4, tmp_path, LIMITS)
    assert hashlib.sha256(videos.android_mp4.read_bytes()).hexdigest() == before


@pytest.mark.parametrize("extra", [0, 1, 12_345])
def test_digest_of_files_larger_than_one_hash_window(tmp_path: Path, extra: int) -> None:
    """The stored file's sha256 is read in mapped windows; across their edges it must equal
    hashlib's over the whole bytes."""
    data = bytes(range(256)) * (2 * 8 * 1024 * 1024 // 256) + b"\x07" * extra
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    assert video_module._digest(path) == (hashlib.sha256(data).hexdigest(), len(data))


def test_index_outgrowing_its_reserve_is_written_after_all(
    videos: VideoCorpus, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the MP4 index does not fit the space reserved for it at the start, the file is
    written again with the index moved to the front afterwards: the same stored streams.
    (The PyAV remux's concern: the box-level path is switched off for this test.)"""
    monkeypatch.setattr(video_module, "fast_remux", lambda *args, **kwargs: None)
    normal = sanitise_video(videos.android_mp4, tmp_path, LIMITS)
    monkeypatch.setattr(video_module, "_MOOV_FIXED_BYTES", 64)
    monkeypatch.setattr(video_module, "_MOOV_BYTES_PER_PACKET", 0)
    retried = sanitise_video(videos.android_mp4, tmp_path, LIMITS)
    assert sorted(tmp_path.iterdir()) == sorted([normal.path, retried.path])  # no leftovers
    data = retried.path.read_bytes()
    assert 0 < data.index(b"moov") < data.index(b"mdat")
    # Written without the reserve's padding: smaller than the normal output, the same media.
    assert retried.size < normal.size - 1000
    indexes = [0, 1]
    assert packet_summary(retried.path, indexes) == packet_summary(normal.path, indexes)
    assert ffprobe(retried.path)["format"]["duration"] == ffprobe(normal.path)["format"]["duration"]
