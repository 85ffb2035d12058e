"""Phone-style video files for the video tests, made at test time with the ffmpeg CLI and
exiftool (independent writers, not the code under test), and the independent readers
(exiftool, ffprobe) the tests check the stored bytes with.

Every file is a couple of seconds of small video so the whole corpus builds in a few seconds;
``VideoCorpus`` builds each file once per test session (``corpus()`` is cached) under a
temporary directory that is removed at exit.

ffmpeg, ffprobe and exiftool are required: when one is missing the calling test FAILS with an
install hint (Debian: ``apt-get install ffmpeg libimage-exiftool-perl``).
"""

from __future__ import annotations

import atexit
import functools
import json
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import pytest

TOOL_TIMEOUT_S: Final = 120
NYC_ISO6709: Final = "+40.7128-074.0060+010.000/"
NYC_LATLON: Final = (40.7128, -74.0060)
BUENOS_AIRES_ISO6709: Final = "-34.6037-058.3816/"
CAPTURED_UTC: Final = "2025-11-14T19:30:00.000000Z"
"""The capture time planted in the corpus (creation_time, QuickTime CreationDate)."""
IPTC_AI: Final = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"

# Lavfi sources: a moving test pattern (so encoders do real work and frames differ) and a tone.
_SIZE: Final = "320x240"
_VIDEO_SRC: Final = f"testsrc2=size={_SIZE}:rate=30:duration=2"
_AUDIO_SRC: Final = "sine=frequency=440:sample_rate=48000:duration=2"


def tool(name: str) -> str:
    """Path of a required command-line tool, or fail the calling test (never skip)."""
    path = shutil.which(name)
    if path is None:
        package = "libimage-exiftool-perl" if name == "exiftool" else "ffmpeg"
        pytest.fail(
            f"{name} is required by the video corpus and was not found on PATH; "
            f"install it (Debian: apt-get install {package})",
            pytrace=False,
        )
    return path


def run(args: Sequence[str]) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [tool(args[0]), *args[1:]], check=True, capture_output=True, timeout=TOOL_TIMEOUT_S
    )


def ffmpeg(*args: str) -> None:
    run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *args])


def ffprobe(path: Path) -> dict[str, Any]:
    """ffprobe's view of a file: streams, format (with tags), chapters."""
    out = run(
        [
            "ffprobe", "-v", "error", "-count_packets", "-show_streams", "-show_format",
            "-show_chapters", "-of", "json", str(path),
        ]
    )  # fmt: skip
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def ffprobe_packets(path: Path) -> list[dict[str, Any]]:
    """Every packet of the file (stream index, size, pts, flags), by ffprobe."""
    out = run(
        [
            "ffprobe", "-v", "error", "-show_entries",
            "packet=stream_index,size,pts,dts,flags", "-of", "json", str(path),
        ]
    )  # fmt: skip
    packets: list[dict[str, Any]] = json.loads(out.stdout)["packets"]
    return packets


def exiftool_tags(path: Path) -> dict[str, Any]:
    """Every tag exiftool finds, in all groups, embedded documents and timed metadata included
    (``-a -G1 -ee``), as one JSON object keyed ``Group:Tag``."""
    out = run(["exiftool", "-j", "-a", "-G1", "-ee", "-api", "LargeFileSupport=1", str(path)])
    tags: dict[str, Any] = json.loads(out.stdout)[0]
    return tags


def exiftool_write(path: Path, *assignments: str) -> None:
    run(["exiftool", "-q", "-overwrite_original", "-api", "LargeFileSupport=1", *assignments,
         str(path)])  # fmt: skip


class VideoCorpus:
    """The corpus directory; each property builds its file on first use."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, name: str) -> Path:
        return self.root / name

    # --- accepted inputs ---------------------------------------------------------------------

    @functools.cached_property
    def iphone_h264_mov(self) -> Path:
        """iPhone-like MOV: H.264 + AAC, QuickTime Keys (ISO6709 location, make, model,
        software, creation date), ``creation_time``, XMP (an AI DigitalSourceType), a 3GPP
        text subtitle track and a timecode (data) track, two chapters' worth of metadata."""
        return self._iphone("iphone_h264.mov", ["-c:v", "libx264", "-preset", "veryfast",
                                                "-tag:v", "avc1"])  # fmt: skip

    @functools.cached_property
    def iphone_hevc_mov(self) -> Path:
        """The same with HEVC video (tagged ``hvc1`` as iPhones write it)."""
        return self._iphone("iphone_hevc.mov", ["-c:v", "libx265", "-preset", "ultrafast",
                                                "-x265-params", "log-level=error",
                                                "-tag:v", "hvc1"])  # fmt: skip

    def _iphone(self, name: str, video_codec: list[str]) -> Path:
        path = self._path(name)
        subtitles = self._subtitles()
        chapters = self._chapters()
        ffmpeg(
            "-f", "lavfi", "-i", _VIDEO_SRC, "-f", "lavfi", "-i", _AUDIO_SRC,
            "-i", str(subtitles), "-i", str(chapters),
            "-map", "0:v", "-map", "1:a", "-map", "2:s", "-map_chapters", "3",
            *video_codec, "-pix_fmt", "yuv420p", "-g", "30",
            "-c:a", "aac", "-b:a", "64k", "-c:s", "mov_text",
            "-timecode", "19:30:00:00",
            "-metadata:s:v:0", "rotate=90",
            "-metadata", f"creation_time={CAPTURED_UTC}",
            "-metadata", f"com.apple.quicktime.location.ISO6709={NYC_ISO6709}",
            "-metadata", "com.apple.quicktime.make=Apple",
            "-metadata", "com.apple.quicktime.model=iPhone 15 Pro",
            "-metadata", "com.apple.quicktime.software=17.1.2",
            "-metadata", "com.apple.quicktime.creationdate=2025-11-14T14:30:00-0500",
            "-movflags", "use_metadata_tags", "-f", "mov", str(path),
        )  # fmt: skip
        exiftool_write(
            path,
            f"-XMP-iptcExt:DigitalSourceType={IPTC_AI}",
            "-XMP-dc:Creator=Jane Observer",
            "-UserData:Make=Apple",
            "-UserData:Model=iPhone 15 Pro",
            "-UserData:GPSCoordinates=40.7128, -74.0060, 10",
        )
        return path

    @functools.cached_property
    def android_mp4(self) -> Path:
        """Android-like MP4: H.264 + AAC with ``©xyz`` location (``location``) and
        ``creation_time``, plus a manufacturer/model in the user data; moov at the end."""
        path = self._path("android.mp4")
        ffmpeg(
            "-f", "lavfi", "-i", _VIDEO_SRC, "-f", "lavfi", "-i", _AUDIO_SRC,
            "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-g", "30",
            "-c:a", "aac", "-b:a", "64k",
            "-metadata", f"creation_time={CAPTURED_UTC}",
            "-metadata", f"location={NYC_ISO6709}",
            "-metadata", "location-eng=" + NYC_ISO6709,
            "-metadata", "com.android.version=14",
            "-metadata", "com.android.manufacturer=Google",
            "-metadata", "com.android.model=Pixel 8",
            "-f", "mp4", str(path),
        )  # fmt: skip
        return path

    @functools.cached_property
    def android_far_mp4(self) -> Path:
        """Android-like MP4 placed in Buenos Aires and taken a day after ``CAPTURED_UTC``."""
        path = self._path("android_far.mp4")
        ffmpeg(
            "-f", "lavfi", "-i", _VIDEO_SRC, "-f", "lavfi", "-i", _AUDIO_SRC,
            "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
            "-c:a", "aac", "-b:a", "64k",
            "-metadata", "creation_time=2025-11-15T19:30:00.000000Z",
            "-metadata", f"location={BUENOS_AIRES_ISO6709}",
            "-f", "mp4", str(path),
        )  # fmt: skip
        return path

    @functools.cached_property
    def faststart_mp4(self) -> Path:
        """H.264 + AAC with the moov box first (as most cameras and editors write)."""
        path = self._path("faststart.mp4")
        ffmpeg(
            "-f", "lavfi", "-i", _VIDEO_SRC, "-f", "lavfi", "-i", _AUDIO_SRC,
            "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-g", "30",
            "-c:a", "aac", "-b:a", "64k", "-movflags", "+faststart",
            "-metadata", f"creation_time={CAPTURED_UTC}", "-f", "mp4", str(path),
        )  # fmt: skip
        return path

    @functools.cached_property
    def silent_mp4(self) -> Path:
        """H.264 without audio and without any metadata (bit-exact, tags dropped)."""
        path = self._path("silent.mp4")
        ffmpeg(
            "-f", "lavfi", "-i", _VIDEO_SRC, "-c:v", "libx264", "-preset", "veryfast",
            "-pix_fmt", "yuv420p", "-x264-params", "no-info=1",
            "-map_metadata", "-1", "-fflags", "+bitexact", "-flags:v", "+bitexact",
            "-f", "mp4", str(path),
        )  # fmt: skip
        return path

    @functools.cached_property
    def webm(self) -> Path:
        """WebM: VP9 + Opus, with Matroska tags (title, location, date, encoder) and a
        subtitle track."""
        path = self._path("phone.webm")
        ffmpeg(
            "-f", "lavfi", "-i", _VIDEO_SRC, "-f", "lavfi", "-i", _AUDIO_SRC,
            "-i", str(self._subtitles(webvtt=True)),
            "-map", "0:v", "-map", "1:a", "-map", "2:s",
            "-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "200k",
            "-c:a", "libopus", "-b:a", "48k", "-c:s", "webvtt",
            "-metadata", "title=Stop on 5th Avenue",
            "-metadata", f"location={NYC_ISO6709}",
            "-metadata", f"creation_time={CAPTURED_UTC}",
            "-metadata", "DATE_RECORDED=2025-11-14",
            "-metadata:s:v:0", "title=Camera 1",
            "-f", "webm", str(path),
        )  # fmt: skip
        return path

    @functools.cached_property
    def av1_mp4(self) -> Path:
        """AV1 (SVT-AV1) + Opus in MP4."""
        path = self._path("av1.mp4")
        ffmpeg(
            "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=15:duration=1",
            "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=1",
            "-c:v", "libsvtav1", "-preset", "12", "-c:a", "libopus", "-b:a", "32k",
            "-metadata", f"location={NYC_ISO6709}", "-f", "mp4", str(path),
        )  # fmt: skip
        return path

    # --- refused inputs ----------------------------------------------------------------------

    @functools.cached_property
    def mpeg2_mp4(self) -> Path:
        """MPEG-2 video + AAC in MP4: an ISO BMFF file with a codec outside the allow-list."""
        path = self._path("mpeg2.mp4")
        ffmpeg(
            "-f", "lavfi", "-i", _VIDEO_SRC, "-f", "lavfi", "-i", _AUDIO_SRC,
            "-c:v", "mpeg2video", "-c:a", "aac", "-f", "mp4", str(path),
        )  # fmt: skip
        return path

    @functools.cached_property
    def mjpeg_mov(self) -> Path:
        """Motion JPEG in a QuickTime MOV (old cameras)."""
        path = self._path("mjpeg.mov")
        ffmpeg("-f", "lavfi", "-i", _VIDEO_SRC, "-c:v", "mjpeg", "-f", "mov", str(path))
        return path

    @functools.cached_property
    def h264_mp3_mkv(self) -> Path:
        """H.264 with MP3 audio in Matroska: the video is allowed, the audio is not."""
        path = self._path("h264_mp3.mkv")
        ffmpeg(
            "-f", "lavfi", "-i", _VIDEO_SRC, "-f", "lavfi", "-i", _AUDIO_SRC,
            "-c:v", "libx264", "-preset", "veryfast", "-c:a", "libmp3lame",
            "-f", "matroska", str(path),
        )  # fmt: skip
        return path

    @functools.cached_property
    def truncated_mov(self) -> Path:
        """The iPhone MOV cut in half: its moov box (at the end) is gone."""
        return self._truncated(self.iphone_h264_mov, "truncated.mov")

    @functools.cached_property
    def truncated_faststart_mp4(self) -> Path:
        """The fast-start MP4 cut in half: the index is whole, half the media data is gone."""
        return self._truncated(self.faststart_mp4, "truncated_faststart.mp4")

    @functools.cached_property
    def truncated_webm(self) -> Path:
        return self._truncated(self.webm, "truncated.webm")

    def _truncated(self, source: Path, name: str) -> Path:
        data = source.read_bytes()
        path = self._path(name)
        path.write_bytes(data[: len(data) // 2])
        return path

    @functools.cached_property
    def random_bytes(self) -> Path:
        path = self._path("random.bin")
        path.write_bytes(bytes((i * 7919 + 13) % 251 for i in range(64 * 1024)))
        return path

    @functools.cached_property
    def ftyp_garbage(self) -> Path:
        """Starts like an MP4 (an ``ftyp`` box) and continues with garbage."""
        path = self._path("garbage.mp4")
        head = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"
        path.write_bytes(head + bytes((i * 31 + 7) % 256 for i in range(32 * 1024)))
        return path

    @functools.cached_property
    def ebml_garbage(self) -> Path:
        """Starts like Matroska (the EBML magic) and continues with garbage."""
        path = self._path("garbage.webm")
        path.write_bytes(b"\x1a\x45\xdf\xa3" + bytes((i * 13 + 1) % 256 for i in range(8192)))
        return path

    # --- helpers -----------------------------------------------------------------------------

    def _subtitles(self, *, webvtt: bool = False) -> Path:
        path = self._path("subs.vtt" if webvtt else "subs.srt")
        if not path.exists():
            if webvtt:
                text = "WEBVTT\n\n00:00:00.000 --> 00:00:01.500\nOfficer badge 4471\n"
            else:
                text = "1\n00:00:00,000 --> 00:00:01,500\nOfficer badge 4471\n"
            path.write_text(text)
        return path

    def _chapters(self) -> Path:
        path = self._path("chapters.txt")
        if not path.exists():
            path.write_text(
                ";FFMETADATA1\n"
                "[CHAPTER]\nTIMEBASE=1/1000\nSTART=0\nEND=1000\ntitle=Arrival\n"
                "[CHAPTER]\nTIMEBASE=1/1000\nSTART=1000\nEND=2000\ntitle=Arrest\n"
            )
        return path


@functools.cache
def corpus() -> VideoCorpus:
    """The session's corpus, in a temporary directory removed at exit."""
    root = Path(tempfile.mkdtemp(prefix="plainsight-video-corpus-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    return VideoCorpus(root)


def c2pa_signed_video(source: Path, target: Path, *, source_type: str = "digitalCapture") -> Path:
    """``source`` (an MP4) signed into ``target`` with a C2PA manifest whose ``c2pa.created``
    action declares that IPTC digital source type, by the throwaway test CA of the photo
    provenance fixtures. No network: no TSA, remote fetching off."""
    import c2pa  # type: ignore[import-untyped]

    from tests.support.provenance_fixtures import IPTC_SOURCE_TYPE, signing_material

    material = signing_material()
    manifest = {
        "claim_generator_info": [{"name": "plainsight-tests", "version": "1"}],
        "title": target.name,
        "format": "video/mp4",
        "assertions": [
            {
                "label": "c2pa.actions",
                "data": {
                    "actions": [
                        {
                            "action": "c2pa.created",
                            "digitalSourceType": IPTC_SOURCE_TYPE + source_type,
                        }
                    ]
                },
            }
        ],
    }
    context = c2pa.Context.from_dict(
        {"verify": {"remote_manifest_fetch": False}, "core": {"allowed_network_hosts": []}}
    )
    signer = c2pa.Signer.from_info(
        c2pa.C2paSignerInfo(b"es256", material.chain_pem, material.key_pem, None)
    )
    try:
        builder = c2pa.Builder(manifest, context)
        with source.open("rb") as src, target.open("w+b") as dst:
            builder.sign(signer, "video/mp4", src, dst)
    finally:
        signer.close()
        context.close()
    return target
