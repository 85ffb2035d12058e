"""The box-level path of the video remux (video_mp4fast.py): progressive MP4/MOV is rewritten
without FFmpeg's muxer, the media data copied by the kernel with every byte of a dropped track
zeroed. Checked, as the rest of the video tests, with exiftool, ffprobe and a full decode of
the stored bytes, never with the code that wrote them; inputs it does not take go to the PyAV
remux and still give a clean file."""

from __future__ import annotations

import hashlib
import shutil
import struct
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import av
import h3
import pytest

from storage.photos import video as video_module
from storage.photos import video_mp4fast
from storage.photos.formats import (
    PhotoRejected,
    UndecodableVideo,
    VideoResolutionTooLarge,
    VideoTooLong,
)
from storage.photos.video import VideoLimits, process_video, sanitise_video
from tests.support.video_corpus import (
    NYC_LATLON,
    VideoCorpus,
    corpus,
    exiftool_tags,
    ffmpeg,
    ffprobe,
    ffprobe_packets,
)

LIMITS: Final = VideoLimits(max_seconds=600, max_pixels=3840 * 2160, max_bytes=2 * 1024**3)
REPORTED: Final = datetime(2025, 11, 14, 19, 30, tzinfo=UTC)
NYC_CELL: Final = h3.latlng_to_cell(*NYC_LATLON, 9)
SECRET: Final = b"SECRET-GPS-37.7749"
BOX_LEVEL: Final = (
    "iphone_h264_mov",
    "iphone_hevc_mov",
    "android_mp4",
    "faststart_mp4",
    "silent_mp4",
    "av1_mp4",
)
METADATA_GROUPS: Final = ("Keys", "UserData", "ItemList", "XMP", "GPS", "Track3", "Track4")


@pytest.fixture(scope="session")
def videos() -> VideoCorpus:
    return corpus()


@pytest.fixture(scope="session")
def secret_mov(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A MOV whose subtitle track's samples (in the middle of the mdat, between video and
    audio chunks) spell a location, with a timecode track and tags besides."""
    root = tmp_path_factory.mktemp("secret")
    subtitles = root / "gps.srt"
    subtitles.write_text(
        "".join(
            f"{n + 1}\n00:00:0{n},000 --> 00:00:0{n},900\n{SECRET.decode()} fix {n}\n\n"
            for n in range(3)
        )
    )
    path = root / "secret.mov"
    ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30:duration=3",
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=3",
        "-i", str(subtitles), "-map", "0:v", "-map", "1:a", "-map", "2:s",
        "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-g", "30",
        "-c:a", "aac", "-b:a", "64k", "-c:s", "mov_text", "-timecode", "19:30:00:00",
        "-metadata", "com.apple.quicktime.location.ISO6709=+37.7749-122.4194/",
        "-movflags", "use_metadata_tags", "-f", "mov", str(path),
    )  # fmt: skip
    return path


@pytest.fixture
def no_pyav_remux(monkeypatch: pytest.MonkeyPatch) -> None:
    """The PyAV remux fails the test if it is reached: the box-level path must take the file."""

    def refuse(*args: Any, **kwargs: Any) -> float:
        raise AssertionError("the PyAV remux was used")

    monkeypatch.setattr(video_module, "_remux", refuse)


def sizes_per_stream(path: Path, indexes: list[int]) -> list[list[int]]:
    packets = ffprobe_packets(path)
    return [[int(p["size"]) for p in packets if p["stream_index"] == i] for i in indexes]


def decode_everything(path: Path) -> tuple[int, int]:
    """(video frames, audio frames) decoded from every packet by PyAV; raises on any error."""
    counts: Counter[str] = Counter()
    with av.open(str(path), mode="r") as container:
        streams = [*container.streams.video, *container.streams.audio]
        for packet in container.demux(streams):
            for frame in packet.decode():
                counts["video" if isinstance(frame, av.VideoFrame) else "audio"] += 1
    return counts["video"], counts["audio"]


# --- which path --------------------------------------------------------------------------


@pytest.mark.usefixtures("no_pyav_remux")
@pytest.mark.parametrize("name", BOX_LEVEL)
def test_phone_mp4_and_mov_take_the_box_level_path(
    videos: VideoCorpus, tmp_path: Path, name: str
) -> None:
    result = process_video(
        getattr(videos, name), tmp_path, occurred_at=REPORTED, report_cell=NYC_CELL,
        limits=LIMITS,
    )  # fmt: skip
    assert result.video.content_type == "video/mp4"
    data = result.video.path.read_bytes()
    assert data[4:8] == b"ftyp"
    assert 0 < data.index(b"moov") < data.index(b"mdat")
    assert result.video.sha256 == hashlib.sha256(data).hexdigest()


def test_provenance_is_read_from_the_original(videos: VideoCorpus, tmp_path: Path) -> None:
    """The box-level path never opens the input with FFmpeg for the copy; provenance still
    sees the planted location and metadata of the original."""
    result = process_video(
        videos.iphone_h264_mov, tmp_path, occurred_at=REPORTED, report_cell=NYC_CELL,
        limits=LIMITS,
    )  # fmt: skip
    assert result.provenance.had_gps is True
    assert result.provenance.had_metadata is True


@pytest.mark.parametrize("name", ["webm", "h264_mkv"])
def test_matroska_never_reaches_the_box_level_path(
    videos: VideoCorpus, tmp_path: Path, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[Path] = []
    monkeypatch.setattr(video_module, "fast_remux", lambda src, *a, **k: calls.append(src))
    sanitise_video(getattr(videos, name), tmp_path, LIMITS)
    assert calls == []


# --- dropped tracks leave nothing behind -------------------------------------------------


def test_dropped_track_samples_do_not_survive(
    secret_mov: Path, tmp_path: Path, no_pyav_remux: None
) -> None:
    original = secret_mov.read_bytes()
    assert original.count(SECRET) == 3  # the subtitle samples really are in the input's mdat
    probe_in = ffprobe(secret_mov)
    assert [s["codec_type"] for s in probe_in["streams"]] == ["video", "audio", "subtitle", "data"]
    stored = sanitise_video(secret_mov, tmp_path, LIMITS)
    data = stored.path.read_bytes()
    for needle in (SECRET, b"SECRET", b"37.7749", b"122.4194", b"tx3g", b"tmcd", b"text"):
        assert needle not in data
    # Zeroed in place, not cut out: the subtitle samples' bytes are zero runs in the mdat.
    assert bytes(len(SECRET) + 2) in data


def test_dropped_tracks_output_per_ffprobe_and_exiftool(
    secret_mov: Path, tmp_path: Path, no_pyav_remux: None
) -> None:
    stored = sanitise_video(secret_mov, tmp_path, LIMITS)
    after = ffprobe(stored.path)
    assert [(s["codec_type"], s["codec_name"]) for s in after["streams"]] == [
        ("video", "h264"),
        ("audio", "aac"),
    ]
    assert set(after["format"].get("tags", {})) <= {
        "major_brand",
        "minor_version",
        "compatible_brands",
    }
    for stream in after["streams"]:
        assert set(stream.get("tags", {})) <= {"language", "handler_name", "vendor_id"}
    # The same packets, sizes in order, as the input's video and audio streams.
    assert sizes_per_stream(secret_mov, [0, 1]) == sizes_per_stream(stored.path, [0, 1])
    assert len(sizes_per_stream(stored.path, [0])[0]) == 90
    tags = exiftool_tags(stored.path)
    assert [k for k in tags if k.partition(":")[0].startswith(METADATA_GROUPS)] == []
    dates = {k: v for k, v in tags.items() if "Date" in k and not k.startswith(("File", "System"))}
    assert dates
    assert set(dates.values()) == {"0000:00:00 00:00:00"}
    assert [k for k in tags if "GPS" in k or "Location" in k or "Text" in k] == []


def test_stored_file_decodes_completely(
    secret_mov: Path, videos: VideoCorpus, tmp_path: Path, no_pyav_remux: None
) -> None:
    for source in (secret_mov, videos.iphone_hevc_mov, videos.av1_mp4):
        stored = sanitise_video(source, tmp_path, LIMITS)
        expected = decode_everything(source)
        assert expected[0] > 0
        assert decode_everything(stored.path) == expected


def test_same_input_same_bytes(secret_mov: Path, tmp_path: Path, no_pyav_remux: None) -> None:
    copy = tmp_path / "other" / "upload.bin"
    copy.parent.mkdir()
    shutil.copyfile(secret_mov, copy)
    first = sanitise_video(secret_mov, tmp_path, LIMITS)
    second = sanitise_video(copy, tmp_path, LIMITS)
    assert first.path.read_bytes() == second.path.read_bytes()
    assert first.sha256 == second.sha256 == hashlib.sha256(first.path.read_bytes()).hexdigest()
    assert first.size == first.path.stat().st_size


# --- refusals and fall-backs -------------------------------------------------------------


def test_truncated_media_is_422_on_the_box_level_path(videos: VideoCorpus, tmp_path: Path) -> None:
    """moov first, mdat cut short: a kept sample past the end of the file."""
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(videos.faststart_mp4.read_bytes()[:-2000])
    out = tmp_path / "out.mp4"
    out.touch()
    with pytest.raises(UndecodableVideo, match="truncated"):
        video_mp4fast.fast_remux(cut, out, max_seconds=600, max_pixels=10**8)
    out_dir = tmp_path / "dir"
    out_dir.mkdir()
    with pytest.raises(UndecodableVideo):
        sanitise_video(cut, out_dir, LIMITS)
    assert list(out_dir.iterdir()) == []


def test_chunk_offset_past_the_end_is_422(videos: VideoCorpus, tmp_path: Path) -> None:
    data = bytearray(videos.faststart_mp4.read_bytes())
    at = data.index(b"stco") + 4 + 4 + 4  # past the type, version/flags, entry count
    struct.pack_into(">I", data, at, len(data) - 10)
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(bytes(data))
    out_dir = tmp_path / "dir"
    out_dir.mkdir()
    with pytest.raises(UndecodableVideo):
        sanitise_video(bad, out_dir, LIMITS)
    assert list(out_dir.iterdir()) == []


def test_broken_sample_table_goes_to_pyav(videos: VideoCorpus, tmp_path: Path) -> None:
    """A sample-size table whose count disagrees with the chunks: not the box-level path's to
    judge; the PyAV path gives its answer (here a refusal, 422), and no file is left."""
    data = bytearray(videos.faststart_mp4.read_bytes())
    at = data.index(b"stsz") + 4 + 4 + 4  # past the type, version/flags, sample size
    count = struct.unpack_from(">I", data, at)[0]
    struct.pack_into(">I", data, at, count + 5)
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(bytes(data))
    target = tmp_path / "probe.mp4"
    target.touch()
    assert video_mp4fast.fast_remux(bad, target, max_seconds=600, max_pixels=10**8) is None
    assert target.read_bytes() == b""
    out_dir = tmp_path / "dir"
    out_dir.mkdir()
    try:
        stored = sanitise_video(bad, out_dir, LIMITS)
    except UndecodableVideo:
        assert list(out_dir.iterdir()) == []
    else:  # FFmpeg read what it could: still a clean two-stream file
        streams = ffprobe(stored.path)["streams"]
        assert [s["codec_type"] for s in streams] == ["video", "audio"]


def test_fragmented_mp4_goes_to_pyav_and_is_clean(videos: VideoCorpus, tmp_path: Path) -> None:
    fragmented = tmp_path / "fragmented.mp4"
    ffmpeg(
        "-i", str(videos.android_mp4), "-map", "0:v", "-map", "0:a", "-c", "copy",
        "-metadata", "location=+40.7128-074.0060/",
        "-movflags", "frag_keyframe+empty_moov+use_metadata_tags", "-f", "mp4", str(fragmented),
    )  # fmt: skip
    assert b"moof" in fragmented.read_bytes()
    target = tmp_path / "probe.mp4"
    target.touch()
    assert video_mp4fast.fast_remux(fragmented, target, max_seconds=600, max_pixels=10**8) is None
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    result = process_video(
        fragmented, out_dir, occurred_at=REPORTED, report_cell=NYC_CELL, limits=LIMITS
    )
    stored = result.video.path
    assert b"moof" not in stored.read_bytes()
    assert b"40.7128" not in stored.read_bytes()
    after = ffprobe(stored)
    assert [s["codec_type"] for s in after["streams"]] == ["video", "audio"]
    assert sizes_per_stream(fragmented, [0, 1]) == sizes_per_stream(stored, [0, 1])
    assert result.provenance.had_gps is True


def test_limits_hold_on_the_box_level_path(videos: VideoCorpus, tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    out.touch()
    with pytest.raises(VideoTooLong):
        video_mp4fast.fast_remux(videos.android_mp4, out, max_seconds=1.5, max_pixels=10**8)
    with pytest.raises(VideoResolutionTooLarge, match="320x240"):
        video_mp4fast.fast_remux(videos.android_mp4, out, max_seconds=60, max_pixels=320 * 239)
    assert out.read_bytes() == b""


def test_sample_description_padding_is_tolerated_elsewhere_not() -> None:
    free = struct.pack(">I4s", 8, b"free")
    assert [b.kind for b in video_mp4fast._boxes(free + bytes(4), 0, 12, padded=True)] == [b"free"]
    with pytest.raises(video_mp4fast._Ineligible):
        video_mp4fast._boxes(free + bytes(4), 0, 12)
    with pytest.raises(video_mp4fast._Ineligible):  # not zeros: not padding
        video_mp4fast._boxes(free + b"\x01\x00\x00\x00", 0, 12, padded=True)


@pytest.mark.parametrize("seed", range(3))
def test_damaged_index_never_escapes_the_refusals(
    videos: VideoCorpus, tmp_path: Path, seed: int
) -> None:
    """Bytes of the moov overwritten at random: the answer is a clean two-stream file or a
    PhotoRejected refusal, never another exception, and never a file left behind on refusal."""
    import random

    original = videos.faststart_mp4.read_bytes()
    start = original.index(b"moov") - 4
    length = struct.unpack_from(">I", original, start)[0]
    chooser = random.Random(seed)  # reproducible damage
    for attempt in range(10):
        data = bytearray(original)
        for _ in range(4):
            data[chooser.randrange(start + 8, start + length)] = chooser.randrange(256)
        bad = tmp_path / f"bad-{attempt}.mp4"
        bad.write_bytes(bytes(data))
        out_dir = tmp_path / f"out-{attempt}"
        out_dir.mkdir()
        try:
            stored = sanitise_video(bad, out_dir, LIMITS)
        except PhotoRejected:
            assert list(out_dir.iterdir()) == []
        else:
            assert stored.sha256 == hashlib.sha256(stored.path.read_bytes()).hexdigest()
            kinds = [s["codec_type"] for s in ffprobe(stored.path)["streams"]]
            assert kinds in (["video", "audio"], ["video"])


def test_target_file_is_rewritten_whole(videos: VideoCorpus, tmp_path: Path) -> None:
    """The output is page-aligned and its header written after the media copy; a target that
    already held longer bytes ends up exactly the sanitised copy, as a fresh one does."""
    fresh = tmp_path / "fresh.mp4"
    fresh.touch()
    used = tmp_path / "used.mp4"
    used.write_bytes(b"\xff" * (videos.iphone_h264_mov.stat().st_size * 2))
    source = videos.iphone_h264_mov
    first = video_mp4fast.fast_remux(source, fresh, max_seconds=600, max_pixels=10**8)
    second = video_mp4fast.fast_remux(source, used, max_seconds=600, max_pixels=10**8)
    assert first is not None
    assert first == second
    assert fresh.read_bytes() == used.read_bytes()
    assert first.size == len(fresh.read_bytes())
    data = fresh.read_bytes()
    assert data.index(b"mdat") < first.size
    assert b"\xff" * 64 not in data[: data.index(b"mdat")]
