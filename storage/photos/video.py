"""Uploaded videos: checked, remuxed without re-encoding into a file that carries no metadata,
read for provenance, and hashed on a poster frame. Pure: no database, no HTTP; one file in,
one file out, streamed packet by packet (a worker never holds the whole video in memory).

Accepted: MP4/MOV (iOS, Android, cameras) and Matroska/WebM, whose main video stream is H.264,
H.265, VP9 or AV1 and whose main audio stream (if any) is AAC or Opus. Only those two streams
are kept. The output is WebM when the input was Matroska/WebM and its codecs are WebM's
(VP9/AV1 + Opus or silence), else MP4; either way with no container or stream tag, no
chapters, no XMP/uuid boxes, no data, subtitle or timed-metadata track, and written bit-exact
(no muxer version, no creation time, no random segment id) so the same upload always gives the
same bytes. Everything else is refused with the ``PhotoRejected`` family (formats.py).

Kept on purpose: each track's display matrix (a portrait video stays portrait). Not touched,
since nothing is re-encoded: what an encoder wrote inside the coded streams themselves (e.g.
x264's settings in an H.264 SEI message, FFmpeg's name in an AAC fill element); what phones'
hardware encoders put there has not been surveyed.

Progressive MP4/MOV (the phone case) does not go through FFmpeg's muxer: video_mp4fast.py
writes a new index for the two kept tracks and has the kernel copy the media data, zeroing
every byte no kept sample occupies; the output's sha256 is computed beside the copy. Every
other input (WebM/Matroska, fragmented MP4, anything that path does not positively
recognise) takes the PyAV remux below. Both give the same ``SanitisedVideo``.

CPU- and I/O-bound: run ``process_video`` in the photo worker pool.
"""

from __future__ import annotations

import contextlib
import hashlib
import mmap
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import av
import av.error
import h3
from PIL import Image

from schemas.photos import Provenance
from storage.photos.formats import (
    UndecodableVideo,
    UnsupportedFormat,
    VideoResolutionTooLarge,
    VideoTooBig,
    VideoTooLong,
    is_video,
)
from storage.photos.hashes import perceptual_hashes
from storage.photos.video_mp4fast import fast_remux
from storage.photos.video_provenance import VideoTags, read_video_provenance

__all__ = [
    "AUDIO_CODECS",
    "VIDEO_CODECS",
    "ProcessedVideo",
    "SanitisedVideo",
    "VideoLimits",
    "is_video",
    "process_video",
    "sanitise_video",
]

VIDEO_CODECS: Final = frozenset({"h264", "hevc", "vp9", "av1"})
AUDIO_CODECS: Final = frozenset({"aac", "opus"})
_WEBM_VIDEO: Final = frozenset({"vp9", "av1"})
# MP4 sample-entry tags worth keeping as the phone wrote them: Apple players want HEVC as
# ``hvc1`` (parameter sets in the sample entry), FFmpeg's default for MP4 is ``hev1``.
_KEPT_CODEC_TAGS: Final = frozenset({"avc1", "avc3", "hvc1", "hev1"})
_HEAD_BYTES: Final = 64
# A file may end this much (or 2 % of its length) short of its declared duration before it is
# taken to be truncated: encoders round the last frame's duration.
_TRUNCATION_SLACK_S: Final = 0.5
# The MP4 index (moov) is reserved at the start of the file so no second pass has to move the
# media data (what ``+faststart`` does): at most this per packet (stts/ctts/stsz/stco/stss/stsc
# entries) plus a fixed part for the headers and codec parameters; the unused rest is a ``free``
# box.
_MOOV_BYTES_PER_PACKET: Final = 48
_MOOV_FIXED_BYTES: Final = 16 * 1024
_POSTER_PACKETS: Final = 600
_HASH_WINDOW: Final = 8 * 1024 * 1024  # a multiple of mmap.ALLOCATIONGRANULARITY

av.logging.set_level(av.logging.PANIC)  # FFmpeg's own log would go to stderr, unstructured


@dataclass(frozen=True, slots=True, kw_only=True)
class VideoLimits:
    max_seconds: float
    max_pixels: int
    """Width x height of the main video stream."""
    max_bytes: int
    """Of the uploaded file."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SanitisedVideo:
    """Only produced by ``sanitise_video``: the storage layer accepts this type."""

    path: Path
    sha256: str
    size: int
    content_type: str
    """``video/mp4`` or ``video/webm``."""
    width: int
    height: int
    duration_ms: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessedVideo:
    video: SanitisedVideo
    provenance: Provenance
    phash: str
    dhash: str


def process_video(
    src: Path,
    dst_dir: Path,
    *,
    occurred_at: datetime,
    report_cell: str,
    limits: VideoLimits,
    c2pa_trust_anchors: str | None = None,
) -> ProcessedVideo:
    """Sanitise ``src`` into a new file in ``dst_dir``, then read provenance from ``src`` and
    hash a poster frame of the sanitised copy. ``src`` is not modified or removed; the caller
    owns (and removes) the returned ``video.path``.

    Raises ``UnsupportedFormat`` (415), ``UndecodableVideo``, ``VideoTooLong``,
    ``VideoResolutionTooLarge`` (422) or ``VideoTooBig`` (413); no output file is left then.
    """
    if occurred_at.utcoffset() is None:
        raise ValueError("occurred_at must be timezone-aware")
    if not h3.is_valid_cell(report_cell):
        raise ValueError("report_cell must be a valid H3 cell")
    sanitised, tags, bmff = _sanitise(src, dst_dir, limits)
    try:
        if tags is None:
            tags = _read_tags(src, bmff, limits)
        image = poster_frame(sanitised.path)
        phash, dhash = perceptual_hashes(image)
        provenance = read_video_provenance(
            src,
            tags,
            bmff=bmff,
            occurred_at=occurred_at,
            report_cell=report_cell,
            c2pa_trust_anchors=c2pa_trust_anchors,
        )
    except BaseException:
        sanitised.path.unlink(missing_ok=True)
        raise
    return ProcessedVideo(video=sanitised, provenance=provenance, phash=phash, dhash=dhash)


def sanitise_video(src: Path, dst_dir: Path, limits: VideoLimits) -> SanitisedVideo:
    """Only the remux of ``process_video`` (no provenance, no poster)."""
    return _sanitise(src, dst_dir, limits)[0]


# --- checks and stream choice ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Plan:
    video: Any  # av.video.stream.VideoStream
    audio: Any | None  # av.audio.stream.AudioStream
    webm: bool
    width: int
    height: int
    declared_seconds: float | None


def _sniff(src: Path, limits: VideoLimits) -> bool:
    """True for ISO BMFF (MP4/MOV), False for EBML (Matroska/WebM); raises otherwise."""
    try:
        size = src.stat().st_size
        with src.open("rb") as file:
            head = file.read(_HEAD_BYTES)
    except OSError as error:
        raise UndecodableVideo("the uploaded video could not be read") from error
    if size > limits.max_bytes:
        raise VideoTooBig(f"the video is {size} bytes; at most {limits.max_bytes} are accepted")
    if not is_video(head):
        raise UnsupportedFormat(
            "unsupported video format; allowed: MP4/MOV or WebM/Matroska with H.264, H.265, "
            "VP9 or AV1 video and AAC or Opus audio"
        )
    return head[4:8] == b"ftyp"


@contextmanager
def _open_input(src: Path) -> Iterator[Any]:
    try:
        container = av.open(str(src), mode="r", metadata_errors="replace")
    except av.error.FFmpegError as error:
        raise UndecodableVideo("the video file cannot be read (corrupt or truncated)") from error
    try:
        yield container
    finally:
        container.close()


def _main_stream(streams: Any) -> Any | None:
    """The default-disposition stream if one is marked, else the first; never a cover image."""
    candidates = [s for s in streams if not (s.disposition & av.stream.Disposition.attached_pic)]
    for stream in candidates:
        if stream.disposition & av.stream.Disposition.default:
            return stream
    return candidates[0] if candidates else None


def _plan(container: Any, bmff: bool, limits: VideoLimits) -> _Plan:
    video = _main_stream(container.streams.video)
    if video is None:
        raise UndecodableVideo("the file has no video stream")
    audio = _main_stream(container.streams.audio)
    video_codec = _codec_name(video)
    if video_codec not in VIDEO_CODECS:
        raise UnsupportedFormat(
            f"unsupported video codec {video_codec}; allowed: H.264, H.265, VP9, AV1"
        )
    audio_codec = _codec_name(audio) if audio is not None else None
    if audio_codec is not None and audio_codec not in AUDIO_CODECS:
        raise UnsupportedFormat(f"unsupported audio codec {audio_codec}; allowed: AAC, Opus")
    width, height = video.codec_context.width, video.codec_context.height
    if width <= 0 or height <= 0:
        raise UndecodableVideo("the video stream has no frame size")
    if width * height > limits.max_pixels:
        raise VideoResolutionTooLarge(
            f"the video is {width}x{height}; at most {limits.max_pixels} pixels per frame"
        )
    declared = _declared_seconds(container, video)
    if declared is not None and declared > limits.max_seconds:
        raise VideoTooLong(
            f"the video lasts {declared:.1f} s; at most {limits.max_seconds:g} s are accepted"
        )
    webm = not bmff and video_codec in _WEBM_VIDEO and audio_codec in (None, "opus")
    return _Plan(video, audio, webm, width, height, declared)


def _codec_name(stream: Any) -> str:
    """FFmpeg's name of the coded format (``av1``), not of the decoder (``libdav1d``)."""
    context = stream.codec_context  # None, or without a codec, when FFmpeg knows no decoder
    codec = context.codec if context is not None else None
    return "unknown" if codec is None else str(codec.canonical_name)


def _declared_seconds(container: Any, video: Any) -> float | None:
    """How long the file says its video lasts (for the duration limit, before reading it)."""
    own = _stream_seconds(video)
    if own is not None:
        return own
    if container.duration is not None:
        return float(container.duration) / av.time_base
    return None


def _stream_seconds(stream: Any) -> float | None:
    """A stream's declared length: its own duration (MP4/MOV), or the ``DURATION`` tag
    FFmpeg and most muxers write per Matroska track; None when it declares none."""
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    text = str(stream.metadata.get("DURATION", "") or stream.metadata.get("duration", ""))
    hours, _, rest = text.partition(":")
    minutes, _, seconds = rest.partition(":")
    try:
        return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    except ValueError:
        return None


def _codec_tag(stream: Any) -> str:
    """The stream's four-character code; empty when it is not ASCII (a damaged or hostile
    sample description, which PyAV cannot decode to text)."""
    try:
        return str(getattr(stream, "codec_tag", "") or "")
    except UnicodeDecodeError:
        return ""


def _tags(container: Any, plan: _Plan) -> VideoTags:
    kept = {plan.video.index} | ({plan.audio.index} if plan.audio is not None else set())
    gps_track = False
    for stream in container.streams:
        tag = _codec_tag(stream).lower()
        handler = str(stream.metadata.get("handler_name", "")).lower()
        if tag in ("gpmd", "camm", "gps ", "nmea") or "gps" in handler or "location" in handler:
            gps_track = True
    return VideoTags(
        container={str(k).lower(): str(v) for k, v in container.metadata.items()},
        streams=[
            {str(k).lower(): str(v) for k, v in s.metadata.items()} for s in container.streams
        ],
        extra_streams=sum(1 for s in container.streams if s.index not in kept),
        gps_track=gps_track,
        chapters=len(container.chapters()),
    )


# --- the remux ------------------------------------------------------------------------------


def _sanitise(
    src: Path, dst_dir: Path, limits: VideoLimits
) -> tuple[SanitisedVideo, VideoTags | None, bool]:
    """The sanitised copy, the input's tags (``None`` when the box-level path wrote the copy
    and never opened the input with FFmpeg: ``_read_tags`` then) and whether it is ISO BMFF."""
    bmff = _sniff(src, limits)
    if bmff:
        fast = _sanitise_box_level(src, dst_dir, limits)
        if fast is not None:
            return fast, None, bmff
    with _open_input(src) as container:
        plan = _plan(container, bmff, limits)
        tags = _tags(container, plan)
        suffix = ".webm" if plan.webm else ".mp4"
        fd, name = tempfile.mkstemp(dir=dst_dir, prefix="video-", suffix=suffix)
        os.close(fd)
        out_path = Path(name)
        try:
            try:
                end_seconds = _remux(container, plan, out_path, limits, reserve=True)
            except _ReserveTooSmall:
                # Rare: the index outgrew its reserve. Write again, moving it afterwards.
                with _open_input(src) as again:
                    plan = _plan(again, bmff, limits)
                    end_seconds = _remux(again, plan, out_path, limits, reserve=False)
        except BaseException:
            out_path.unlink(missing_ok=True)
            raise
    try:
        sha256, size = _digest(out_path)
    except BaseException:
        out_path.unlink(missing_ok=True)
        raise
    sanitised = SanitisedVideo(
        path=out_path,
        sha256=sha256,
        size=size,
        content_type="video/webm" if plan.webm else "video/mp4",
        width=plan.width,
        height=plan.height,
        duration_ms=round(end_seconds * 1000),
    )
    return sanitised, tags, bmff


def _sanitise_box_level(src: Path, dst_dir: Path, limits: VideoLimits) -> SanitisedVideo | None:
    """A progressive MP4/MOV rewritten at the box level (video_mp4fast.py); ``None`` when the
    file is not one that path handles (the PyAV remux then takes it)."""
    fd, name = tempfile.mkstemp(dir=dst_dir, prefix="video-", suffix=".mp4")
    os.close(fd)
    out_path = Path(name)
    try:
        done = fast_remux(
            src, out_path, max_seconds=limits.max_seconds, max_pixels=limits.max_pixels
        )
    except OSError as error:
        out_path.unlink(missing_ok=True)
        raise UndecodableVideo("the uploaded video could not be read") from error
    except BaseException:
        out_path.unlink(missing_ok=True)
        raise
    if done is None:
        out_path.unlink(missing_ok=True)
        return None
    return SanitisedVideo(
        path=out_path,
        sha256=done.sha256,
        size=done.size,
        content_type="video/mp4",
        width=done.width,
        height=done.height,
        duration_ms=done.duration_ms,
    )


def _read_tags(src: Path, bmff: bool, limits: VideoLimits) -> VideoTags:
    """The input's container and stream tags for provenance, read by FFmpeg (headers only)."""
    with _open_input(src) as container:
        return _tags(container, _plan(container, bmff, limits))


class _ReserveTooSmall(Exception):
    """The MP4 index did not fit the space reserved for it at the start of the file."""


def _output_options(plan: _Plan, *, reserve: bool) -> dict[str, str]:
    options = {"fflags": "+bitexact"}
    if plan.webm:
        return options
    kept = [s for s in (plan.video, plan.audio) if s is not None]
    counts = [s.frames for s in kept]
    if reserve and all(count > 0 for count in counts):
        extradata = sum(s.codec_context.extradata_size for s in kept)  # avcC/hvcC/esds...
        moov = _MOOV_FIXED_BYTES + extradata + _MOOV_BYTES_PER_PACKET * sum(counts)
        options["moov_size"] = str(moov)
    else:  # the index size is unknown up front: move it to the start after writing
        options["movflags"] = "+faststart"
    return options


def _remux(
    container: Any, plan: _Plan, out_path: Path, limits: VideoLimits, *, reserve: bool
) -> float:
    """Copy the kept streams' packets; returns the end time (seconds) of the longest stream."""
    inputs = [s for s in (plan.video, plan.audio) if s is not None]
    options = _output_options(plan, reserve=reserve)
    try:
        output = av.open(
            str(out_path),
            mode="w",
            format="webm" if plan.webm else "mp4",
            container_options=options,
        )
    except av.error.FFmpegError as error:  # pragma: no cover - fixed formats
        raise UndecodableVideo("the video could not be written") from error
    packets = dict.fromkeys((s.index for s in inputs), 0)
    ends = dict.fromkeys((s.index for s in inputs), 0.0)
    starts: dict[int, float] = {}
    try:
        mapping = {}
        for stream in inputs:
            out_stream = output.add_stream_from_template(stream, opaque=True)
            tag = _codec_tag(stream)
            if not plan.webm and tag in _KEPT_CODEC_TAGS:
                out_stream.codec_context.codec_tag = tag
            mapping[stream.index] = out_stream
        try:
            for packet in container.demux(inputs):
                if packet.dts is None and packet.pts is None:
                    continue  # the demuxer's flush packet
                if packet.is_corrupt:
                    raise UndecodableVideo("the video is truncated or corrupt")
                index = packet.stream.index
                packets[index] += 1
                time_base = packet.time_base
                stamp = packet.pts if packet.pts is not None else packet.dts
                if time_base is not None and stamp is not None:
                    start = float(stamp * time_base)
                    end = start + float((packet.duration or 0) * time_base)
                    starts.setdefault(index, start)
                    ends[index] = max(ends[index], end)
                    if end - starts[index] > limits.max_seconds:
                        raise VideoTooLong(f"the video lasts more than {limits.max_seconds:g} s")
                packet.stream = mapping[index]
                output.mux(packet)
        except av.error.FFmpegError as error:
            raise UndecodableVideo("the video is truncated or corrupt") from error
        try:
            output.close()  # writes the index
        except av.error.FFmpegError as error:
            if "moov_size" in options:
                raise _ReserveTooSmall from error
            raise UndecodableVideo("the video could not be written") from error
    except BaseException:
        with contextlib.suppress(Exception):
            output.close()
        raise
    _check_complete(container, plan, inputs, packets, starts, ends)
    length = max(ends[i] - starts.get(i, 0.0) for i in ends)
    return length


def _check_complete(
    container: Any,
    plan: _Plan,
    inputs: list[Any],
    packets: dict[int, int],
    starts: dict[int, float],
    ends: dict[int, float],
) -> None:
    if packets[plan.video.index] == 0:
        raise UndecodableVideo("the video stream has no frames")
    for stream in inputs:
        # MP4/MOV list every sample in their index: fewer read than listed means the media
        # data is cut short.
        if stream.frames > 0 and packets[stream.index] < stream.frames:
            raise UndecodableVideo("the video is truncated (samples missing from the file)")
    # Matroska has no sample index: compare each stream's packets with its declared length
    # (or, when the file holds only the kept streams, with the file's).
    declared_any = False
    for stream in inputs:
        declared = _stream_seconds(stream)
        if declared is None or declared <= 0:
            continue
        declared_any = True
        _check_length(ends[stream.index] - starts.get(stream.index, 0.0), declared)
    only_kept = len(inputs) == len(container.streams)
    if not declared_any and only_kept and container.duration is not None:
        length = max(ends[i] - starts.get(i, 0.0) for i in ends)
        _check_length(length, float(container.duration) / av.time_base)


def _check_length(length: float, declared: float) -> None:
    if length + max(_TRUNCATION_SLACK_S, 0.02 * declared) < declared:
        raise UndecodableVideo("the video is truncated (shorter than it declares)")


def _digest(path: Path) -> tuple[str, int]:
    """sha256 and size of the written file, hashed straight from the page cache through
    read-only mappings of ``_HASH_WINDOW`` bytes at a time: no copies into Python buffers,
    and (mapped pages count as resident) never more than one window of the file resident."""
    digest = hashlib.sha256()
    with path.open("rb") as file:
        size = os.fstat(file.fileno()).st_size
        for offset in range(0, size, _HASH_WINDOW):
            length = min(_HASH_WINDOW, size - offset)
            with mmap.mmap(file.fileno(), length, offset=offset, access=mmap.ACCESS_READ) as window:
                digest.update(window)
    return digest.hexdigest(), size


# --- poster ---------------------------------------------------------------------------------


def poster_frame(path: Path) -> Image.Image:
    """The first decodable frame of the video stream as an upright RGB image (turned by the
    stream's display matrix, as a player shows it). Raises ``UndecodableVideo``.

    Decoded on this thread only: one frame gains nothing from FFmpeg's frame threads, and a
    frame-threaded decoder freed after its container was closed (by a packet or frame still
    referenced when the ``with`` ends) deadlocks in ``avcodec_free_context``."""
    found: tuple[Image.Image, float] | None = None
    try:
        container = av.open(str(path), mode="r")
    except av.error.FFmpegError as error:
        raise UndecodableVideo("the video's frames cannot be decoded") from error
    try:
        stream = container.streams.video[0]
        stream.codec_context.thread_count = 1
        found = _first_frame(container, stream)
    except av.error.FFmpegError as error:
        raise UndecodableVideo("the video's frames cannot be decoded") from error
    finally:
        container.close()
    if found is None:
        raise UndecodableVideo("the video's frames cannot be decoded")
    image, rotation = found
    return _upright(image, rotation)


def _first_frame(container: Any, stream: Any) -> tuple[Image.Image, float] | None:
    for count, packet in enumerate(container.demux(stream)):
        if count > _POSTER_PACKETS:
            return None
        for frame in packet.decode():
            image: Image.Image = frame.to_image()
            return image, float(frame.rotation)
    return None


def _upright(image: Image.Image, rotation: float) -> Image.Image:
    """FFmpeg's rotation is counter-clockwise degrees of the display matrix; PIL rotates
    counter-clockwise too, but the matrix says how to turn the coded picture for display."""
    quarter = round(rotation / 90) % 4
    if quarter == 0:
        return image
    transpose = {
        1: Image.Transpose.ROTATE_90,
        2: Image.Transpose.ROTATE_180,
        3: Image.Transpose.ROTATE_270,
    }[quarter]
    return image.transpose(transpose)
