"""The fast path of the video remux for progressive (non-fragmented) MP4/MOV, the phone case:
rewritten at the box level instead of packet by packet.

The output is a fixed ``ftyp``, a new ``moov`` holding only the main video and audio ``trak``
and one ``mdat`` whose payload is the input's ``mdat`` payload copied by the kernel
(``os.copy_file_range``), every chunk offset shifted, and then every byte of it that no kept
sample occupies overwritten with zeros: the samples of dropped tracks (GPS and timed-metadata
tracks, subtitles, timecode) and any gap do not survive. The new ``moov`` keeps, per track,
only ``tkhd`` (creation and modification times zeroed; the display matrix kept), ``edts/elst``
and ``mdia`` with ``mdhd`` (times zeroed), ``hdlr`` (name emptied), ``vmhd``/``smhd``, a fixed
self-contained ``dinf`` and a sample table whose one sample entry keeps only the boxes known to
be codec configuration. Every ``udta``, ``meta``, ``keys``, ``ilst``, XMP, ``uuid``, ``tref``
and unknown box is dropped at every level.

The sha256 of the output is computed on a second thread while the kernel copies: the header
bytes, then the input's mdat payload read through read-only mappings with the zeroed ranges
replaced by zeros, which is exactly what is written. Nothing of the media data passes through
Python buffers, so memory stays flat whatever the size.

Anything this module does not positively recognise (another container, fragments, several
``mdat`` boxes, another codec, several sample descriptions, external data references, a sample
table that does not add up) makes ``fast_remux`` return ``None``: the caller then takes the
PyAV remux, which gives the same answers for what it accepts and the precise refusals for what
it does not. Definite answers are given here: a kept sample lying past the end of the file
(truncated, 422), an over-long video or over-large frame (422).
"""

from __future__ import annotations

import hashlib
import mmap
import os
import struct
import threading
from dataclasses import dataclass
from itertools import accumulate, pairwise
from pathlib import Path
from typing import BinaryIO, Final

from storage.photos.formats import UndecodableVideo, VideoResolutionTooLarge, VideoTooLong

__all__ = ["FastRemux", "fast_remux"]

_MAX_MOOV_BYTES: Final = 64 * 1024 * 1024
_MAX_TOP_BOXES: Final = 1000
_COPY_STEP: Final = 64 * 1024 * 1024
_HASH_WINDOW: Final = 8 * 1024 * 1024  # a multiple of mmap.ALLOCATIONGRANULARITY
_ZEROS: Final = bytes(1024 * 1024)
_MAX_SAMPLES: Final = 10_000_000
_PAGE: Final = 4096

VIDEO_ENTRIES: Final = {
    b"avc1": "h264",
    b"avc3": "h264",
    b"hvc1": "hevc",
    b"hev1": "hevc",
    b"av01": "av1",
    b"vp09": "vp9",
}
AUDIO_ENTRIES: Final = {b"mp4a": "aac", b"Opus": "opus"}
# Boxes inside a sample entry that are codec configuration (and nothing else): kept verbatim.
_VIDEO_CONFIG: Final = frozenset(
    {b"avcC", b"hvcC", b"av1C", b"vpcC", b"pasp", b"btrt", b"clap", b"fiel", b"mdcv", b"clli"}
)
_AUDIO_CONFIG: Final = frozenset({b"esds", b"dOps", b"btrt", b"chan"})
_WAVE_CONFIG: Final = frozenset({b"frma", b"mp4a", b"esds", b"enda", b"\0\0\0\0"})
_COLOUR_KINDS: Final = frozenset({b"nclx", b"nclc"})  # not ``prof``/``rICC``: an ICC profile
_AAC_OBJECT_TYPES: Final = frozenset({0x40, 0x66, 0x67, 0x68})
_KEPT_STBL: Final = frozenset(
    {b"stts", b"ctts", b"cslg", b"stss", b"stps", b"sdtp", b"stsc", b"stsz", b"stz2"}
)
_KEPT_GROUPINGS: Final = frozenset({b"roll", b"prol", b"sync", b"rap "})
_FRAGMENTED: Final = frozenset({b"moof", b"mfra", b"sidx", b"ssix", b"styp"})
_FTYP_ISO: Final = b"isom" + struct.pack(">I", 512) + b"isomiso2mp41"
_FTYP_QT: Final = b"qt  " + struct.pack(">I", 0) + b"qt  "
# A self-contained data reference: dref with one ``url `` entry, flags 1 (media in this file).
_DINF: Final = (
    struct.pack(">I4s", 36, b"dinf")
    + struct.pack(">I4sII", 28, b"dref", 0, 1)
    + struct.pack(">I4sI", 12, b"url ", 1)
)


class _Ineligible(Exception):
    """Not a file this path handles: the PyAV remux takes it."""


@dataclass(frozen=True, slots=True, kw_only=True)
class FastRemux:
    sha256: str
    size: int
    video_codec: str
    audio_codec: str | None
    width: int
    height: int
    duration_ms: int


@dataclass(slots=True)
class _Box:
    kind: bytes
    start: int
    body: int
    end: int


@dataclass(slots=True)
class _Track:
    trak: _Box
    handler: bytes
    enabled: bool
    codec: str | None = None
    width: int = 0
    height: int = 0
    seconds: float = 0.0
    tkhd_duration: int = 0
    chunk_offsets: list[int] | None = None
    chunk_sizes: list[int] | None = None


def _boxes(data: bytes, start: int, end: int, *, padded: bool = False) -> list[_Box]:
    """The boxes between ``start`` and ``end``, which they must fill exactly (``padded``: up
    to 7 zero bytes may follow them, as QuickTime writers end a sample description)."""
    boxes = []
    pos = start
    while pos < end:
        if padded and end - pos < 8 and not any(data[pos:end]):
            break
        if pos + 8 > end:
            raise _Ineligible("a box header runs past its parent")
        length, kind = struct.unpack_from(">I4s", data, pos)
        header = 8
        if length == 1:
            if pos + 16 > end:
                raise _Ineligible("a box header runs past its parent")
            length = struct.unpack_from(">Q", data, pos + 8)[0]
            header = 16
        elif length == 0:
            length = end - pos
        if length < header or pos + length > end:
            raise _Ineligible("a box runs past its parent")
        boxes.append(_Box(kind, pos, pos + header, pos + length))
        pos += length
    return boxes


def _only(boxes: list[_Box], kind: bytes) -> _Box:
    found = [b for b in boxes if b.kind == kind]
    if len(found) != 1:
        raise _Ineligible(f"{kind!r}: {len(found)} boxes")
    return found[0]


def _box(kind: bytes, *parts: bytes) -> bytes:
    body = b"".join(parts)
    return struct.pack(">I4s", 8 + len(body), kind) + body


def _top_level(file: BinaryIO, size: int) -> tuple[bytes, _Box, _Box]:
    """(ftyp payload, moov, mdat) of a progressive file; the mdat's end is clamped to the
    file (a truncated file is found by its samples)."""
    pos = 0
    ftyp: bytes | None = None
    moov: _Box | None = None
    mdat: _Box | None = None
    for count in range(_MAX_TOP_BOXES + 1):
        if pos >= size:
            break
        if count == _MAX_TOP_BOXES:
            raise _Ineligible("too many boxes")
        file.seek(pos)
        head = file.read(16)
        if len(head) < 8:
            raise _Ineligible("a cut box header")
        length, kind = struct.unpack_from(">I4s", head)
        header = 8
        if length == 1:
            if len(head) < 16:
                raise _Ineligible("a cut box header")
            length = struct.unpack_from(">Q", head, 8)[0]
            header = 16
        elif length == 0:
            length = size - pos
        if length < header:
            raise _Ineligible("a broken box")
        box = _Box(kind, pos, pos + header, pos + length)
        if kind in _FRAGMENTED:
            raise _Ineligible("fragmented")
        if pos == 0:
            if kind != b"ftyp" or length > 1024:
                raise _Ineligible("no ftyp first")
            file.seek(box.body)
            ftyp = file.read(length - header)
        elif kind == b"moov":
            if moov is not None or box.end > size:
                raise _Ineligible("moov twice or cut")
            moov = box
        elif kind == b"mdat":
            if mdat is not None:
                raise _Ineligible("several mdat boxes")
            mdat = _Box(kind, box.start, box.body, min(box.end, size))
        pos = box.end
    if ftyp is None or moov is None or mdat is None:
        raise _Ineligible("no ftyp, moov or mdat")
    if moov.end - moov.start > _MAX_MOOV_BYTES:
        raise _Ineligible("an outsized moov")
    return ftyp, moov, mdat


def _full_times_zeroed(data: bytes, box: _Box, time_fields: int) -> bytes:
    """A full box (mvhd, tkhd, mdhd) whose first ``time_fields`` fields after version/flags
    (creation, modification time) are zeroed: 4 bytes each in version 0, 8 in version 1."""
    body = bytearray(data[box.body : box.end])
    if len(body) < 4:
        raise _Ineligible("a short full box")
    width = 8 if body[0] == 1 else 4
    if body[0] > 1 or len(body) < 4 + time_fields * width:
        raise _Ineligible("an unknown full-box version")
    body[4 : 4 + time_fields * width] = bytes(time_fields * width)
    return bytes(body)


def _handler(data: bytes, hdlr: _Box) -> tuple[bytes, bytes]:
    """(handler type, a new hdlr with the same component type and handler type, no name)."""
    body = data[hdlr.body : hdlr.end]
    if len(body) < 12:
        raise _Ineligible("a short hdlr")
    return body[8:12], _box(b"hdlr", body[:12], bytes(12), b"\0")


def _need(box: _Box, length: int) -> None:
    if box.end - box.body < length:
        raise _Ineligible(f"a short {box.kind!r} box")


def _u32s(data: bytes, box: _Box, at: int, count: int, wide: bool = False) -> list[int]:
    """``count`` big-endian integers at ``at`` bytes into ``box``'s body, which must hold
    them (a count larger than its table is refused, never read from the next box)."""
    width = 8 if wide else 4
    start = box.body + at
    if count < 0 or start + count * width > box.end:
        raise _Ineligible("a table runs past its box")
    return list(struct.unpack_from(f">{count}{'Q' if wide else 'I'}", data, start))


def _chunks(data: bytes, stbl: list[_Box]) -> tuple[list[int], list[int], int]:
    """Per chunk its file offset and byte length (its samples are contiguous); and the sample
    count. Tables that do not add up make the file ineligible."""
    kinds = {b.kind for b in stbl}
    if b"stz2" in kinds or len([k for k in kinds if k in (b"stco", b"co64")]) != 1:
        raise _Ineligible("a sample table this path does not read")
    stsz, stsc, stts = _only(stbl, b"stsz"), _only(stbl, b"stsc"), _only(stbl, b"stts")
    offsets_box = next(b for b in stbl if b.kind in (b"stco", b"co64"))
    for box in (stsz, stsc, stts, offsets_box):
        _need(box, 12 if box is stsz else 8)
    fixed, count = struct.unpack_from(">II", data, stsz.body + 4)
    if count > _MAX_SAMPLES:
        raise _Ineligible("too many samples")
    sizes = [fixed] * count if fixed else _u32s(data, stsz, 12, count)
    entries = struct.unpack_from(">I", data, offsets_box.body + 4)[0]
    offsets = _u32s(data, offsets_box, 8, entries, wide=offsets_box.kind == b"co64")
    runs = struct.unpack_from(">I", data, stsc.body + 4)[0]
    table = _u32s(data, stsc, 8, runs * 3)
    per_chunk: list[int] = []
    for run in range(runs):
        first, samples, description = table[run * 3 : run * 3 + 3]
        last = table[(run + 1) * 3] - 1 if run + 1 < runs else len(offsets)
        if description != 1 or first != len(per_chunk) + 1 or not first - 1 <= last <= len(offsets):
            raise _Ineligible("an odd sample-to-chunk table")
        per_chunk.extend([samples] * (last - first + 1))
    if len(per_chunk) != len(offsets) or sum(per_chunk) != count:
        raise _Ineligible("the sample table does not add up")
    prefix = [0, *accumulate(sizes)]
    lengths = []
    index = 0
    for samples in per_chunk:
        lengths.append(prefix[index + samples] - prefix[index])
        index += samples
    deltas = struct.unpack_from(">I", data, stts.body + 4)[0]
    timed = _u32s(data, stts, 8, deltas * 2)
    if sum(timed[0::2]) != count:
        raise _Ineligible("time-to-sample does not add up")
    return offsets, lengths, count


def _sample_entry(data: bytes, stsd: _Box, video: bool) -> tuple[bytes, str, int, int, bytes]:
    """(fourcc, codec, width, height, the cleaned sample entry)."""
    _need(stsd, 8)
    version_flags, count = struct.unpack_from(">II", data, stsd.body)
    if count != 1 or version_flags != 0:
        raise _Ineligible("not one sample description")
    (entry,) = _boxes(data, stsd.body + 8, stsd.end)
    kind = entry.kind
    head = bytearray(data[entry.body : entry.end])
    if video:
        codec = VIDEO_ENTRIES.get(kind)
        fixed = 78
        if codec is None or len(head) < fixed:
            raise _Ineligible("another video codec")
        head = head[:fixed]
        head[8:24] = bytes(16)  # QuickTime version, revision, vendor, qualities
        head[42:74] = bytes(32)  # compressor name
        width, height = struct.unpack_from(">HH", head, 24)
        allowed = _VIDEO_CONFIG
    else:
        codec = AUDIO_ENTRIES.get(kind)
        if codec is None or len(head) < 28:
            raise _Ineligible("another audio codec")
        version = struct.unpack_from(">H", head, 8)[0]
        extra = {0: 0, 1: 16, 2: 36}.get(version)
        if extra is None or len(head) < 28 + extra:
            raise _Ineligible("an unknown sound description")
        head = head[: 28 + extra]
        head[10:16] = bytes(6)  # revision, vendor
        width = height = 0
        allowed = _AUDIO_CONFIG
    children = []
    object_type: int | None = None
    for child in _boxes(data, entry.body + len(head), entry.end, padded=True):
        raw = data[child.start : child.end]
        if child.kind == b"colr" and video and data[child.body : child.body + 4] in _COLOUR_KINDS:
            children.append(raw)
        elif child.kind == b"wave" and not video:
            kept = []
            for inner in _boxes(data, child.body, child.end):
                if inner.kind in _WAVE_CONFIG:
                    kept.append(data[inner.start : inner.end])
                if inner.kind == b"esds":
                    object_type = _esds_object_type(data, inner)
            children.append(_box(b"wave", *kept))
        elif child.kind in allowed:
            children.append(raw)
            if child.kind == b"esds":
                object_type = _esds_object_type(data, child)
    if kind == b"mp4a" and object_type not in _AAC_OBJECT_TYPES:
        raise _Ineligible("mp4a that is not AAC")
    return kind, codec, width, height, _box(kind, bytes(head), *children)


def _esds_object_type(data: bytes, esds: _Box) -> int | None:
    """The objectTypeIndication of the DecoderConfigDescriptor in an esds box."""
    body = data[esds.body + 4 : esds.end]

    def descriptor(pos: int) -> tuple[int, int, int]:
        tag = body[pos]
        pos += 1
        length = 0
        for _ in range(4):
            byte = body[pos]
            pos += 1
            length = (length << 7) | (byte & 0x7F)
            if not byte & 0x80:
                break
        return tag, pos, length

    try:
        tag, pos, _ = descriptor(0)
        if tag != 3:
            return None
        flags = body[pos + 2]
        pos += 3
        if flags & 0x80:
            pos += 2
        if flags & 0x40:
            pos += 1 + body[pos]
        if flags & 0x20:
            pos += 2
        tag, pos, _ = descriptor(pos)
        return body[pos] if tag == 4 else None
    except IndexError:
        return None


def _track(data: bytes, trak: _Box) -> _Track:
    children = _boxes(data, trak.body, trak.end)
    tkhd = _only(children, b"tkhd")
    mdia = _only(children, b"mdia")
    mdia_children = _boxes(data, mdia.body, mdia.end)
    handler, _ = _handler(data, _only(mdia_children, b"hdlr"))
    _need(tkhd, 4)
    flags = struct.unpack_from(">I", data, tkhd.body)[0] & 0xFFFFFF
    return _Track(trak, handler, bool(flags & 1))


def _main(tracks: list[_Track], handler: bytes) -> _Track | None:
    """As FFmpeg's default disposition (the first enabled track), else the first."""
    candidates = [t for t in tracks if t.handler == handler]
    enabled = [t for t in candidates if t.enabled]
    chosen = enabled or candidates
    return chosen[0] if chosen else None


def _rebuild_trak(data: bytes, track: _Track, video: bool, wide: bool, delta: int) -> bytes:
    children = _boxes(data, track.trak.body, track.trak.end)
    tkhd = _only(children, b"tkhd")
    tkhd_body = _full_times_zeroed(data, tkhd, 2)
    wide_tkhd = tkhd_body[0] == 1
    duration_at = 4 + (8 + 8 + 4 + 4 if wide_tkhd else 4 + 4 + 4 + 4)
    track.tkhd_duration = struct.unpack_from(">Q" if wide_tkhd else ">I", tkhd_body, duration_at)[0]
    parts = [_box(b"tkhd", tkhd_body)]
    for edts in (b for b in children if b.kind == b"edts"):
        elst = [
            data[b.start : b.end] for b in _boxes(data, edts.body, edts.end) if b.kind == b"elst"
        ]
        parts.append(_box(b"edts", *elst))
    mdia = _only(children, b"mdia")
    mdia_children = _boxes(data, mdia.body, mdia.end)
    mdhd = _only(mdia_children, b"mdhd")
    mdhd_body = _full_times_zeroed(data, mdhd, 2)
    if mdhd_body[0] == 1:
        timescale, duration = struct.unpack_from(">IQ", mdhd_body, 20)
    else:
        timescale, duration = struct.unpack_from(">II", mdhd_body, 12)
    if timescale == 0:
        raise _Ineligible("a zero time scale")
    track.seconds = duration / timescale
    _, hdlr = _handler(data, _only(mdia_children, b"hdlr"))
    minf = _only(mdia_children, b"minf")
    minf_children = _boxes(data, minf.body, minf.end)
    header = _only(minf_children, b"vmhd" if video else b"smhd")
    dinf = _only(minf_children, b"dinf")
    for dref in _boxes(data, dinf.body, dinf.end):
        if dref.kind != b"dref":
            continue
        for entry in _boxes(data, dref.body + 8, dref.end):
            _need(entry, 4)
            if not struct.unpack_from(">I", data, entry.body)[0] & 1:
                raise _Ineligible("media in another file")
    stbl = _only(minf_children, b"stbl")
    stbl_children = _boxes(data, stbl.body, stbl.end)
    _, codec, width, height, sample_entry = _sample_entry(
        data, _only(stbl_children, b"stsd"), video
    )
    track.codec, track.width, track.height = codec, width, height
    offsets, lengths, _ = _chunks(data, stbl_children)
    track.chunk_offsets, track.chunk_sizes = offsets, lengths
    table = [_box(b"stsd", struct.pack(">II", 0, 1), sample_entry)]
    for child in stbl_children:
        grouping = data[child.body + 4 : child.body + 8]
        if child.kind in _KEPT_STBL or (
            child.kind in (b"sgpd", b"sbgp") and grouping in _KEPT_GROUPINGS
        ):
            table.append(data[child.start : child.end])
    shifted = [offset + delta for offset in offsets]
    if wide:
        table.append(_box(b"co64", struct.pack(f">II{len(shifted)}Q", 0, len(shifted), *shifted)))
    else:
        table.append(_box(b"stco", struct.pack(f">II{len(shifted)}I", 0, len(shifted), *shifted)))
    minf_parts = [data[header.start : header.end]]
    minf_hdlr = [b for b in minf_children if b.kind == b"hdlr"]
    if minf_hdlr:  # QuickTime's data handler
        minf_parts.append(_handler(data, minf_hdlr[0])[1])
    minf_parts += [_DINF, _box(b"stbl", *table)]
    parts.append(_box(b"mdia", _box(b"mdhd", mdhd_body), hdlr, _box(b"minf", *minf_parts)))
    return _box(b"trak", *parts)


def _build_moov(data: bytes, kept: list[tuple[_Track, bool]], wide: bool, delta: int) -> bytes:
    children = _boxes(data, 0, len(data))
    if any(b.kind == b"mvex" for b in children):
        raise _Ineligible("fragmented")
    mvhd = _only(children, b"mvhd")
    mvhd_body = bytearray(_full_times_zeroed(data, mvhd, 2))
    traks = [_rebuild_trak(data, track, video, wide, delta) for track, video in kept]
    # The movie lasts as long as its longest kept track (a dropped track may have been longer).
    longest = max(track.tkhd_duration for track, _ in kept)
    if mvhd_body[0] == 1:
        struct.pack_into(">Q", mvhd_body, 4 + 8 + 8 + 4, longest)
    else:
        struct.pack_into(">I", mvhd_body, 4 + 4 + 4 + 4, min(longest, 0xFFFFFFFF))
    return _box(b"moov", _box(b"mvhd", bytes(mvhd_body)), *traks)


def _kept_ranges(tracks: list[_Track]) -> list[tuple[int, int]]:
    """The input byte ranges the kept samples occupy, sorted and merged."""
    spans = sorted(
        (offset, offset + length)
        for track in tracks
        for offset, length in zip(track.chunk_offsets or [], track.chunk_sizes or [], strict=True)
        if length
    )
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


@dataclass(frozen=True, slots=True)
class _Plan:
    header: bytes
    """ftyp, moov and the mdat box header, as written."""
    start: int
    end: int
    """The input range copied as the mdat payload (first to last kept byte)."""
    gaps: list[tuple[int, int]]
    """Input ranges inside it that no kept sample occupies: written as zeros."""
    result: FastRemux


def _plan(file: BinaryIO, size: int, *, max_seconds: float, max_pixels: int) -> _Plan:
    ftyp, moov_box, mdat = _top_level(file, size)
    file.seek(moov_box.body)
    moov = file.read(moov_box.end - moov_box.body)
    tracks = [_track(moov, b) for b in _boxes(moov, 0, len(moov)) if b.kind == b"trak"]
    video = _main(tracks, b"vide")
    audio = _main(tracks, b"soun")
    if video is None:
        raise _Ineligible("no video track")
    kept = [(video, True)] + ([(audio, False)] if audio is not None else [])
    built = _build_moov(moov, kept, False, 0)
    ranges = _kept_ranges([video] + ([audio] if audio is not None else []))
    if not ranges:
        raise _Ineligible("no samples")
    start, end = ranges[0][0], ranges[-1][1]
    if start < mdat.body:
        raise _Ineligible("samples outside the mdat")
    if end > size:
        raise UndecodableVideo("the video is truncated (samples missing from the file)")
    if end > mdat.end:
        raise _Ineligible("samples outside the mdat")
    width, height = video.width, video.height
    if width <= 0 or height <= 0:
        raise _Ineligible("no frame size")
    if width * height > max_pixels:
        raise VideoResolutionTooLarge(
            f"the video is {width}x{height}; at most {max_pixels} pixels per frame"
        )
    if video.seconds > max_seconds:
        raise VideoTooLong(
            f"the video lasts {video.seconds:.1f} s; at most {max_seconds:g} s are accepted"
        )
    payload = end - start
    ftyp_box = _box(b"ftyp", _FTYP_QT if ftyp[:4] == b"qt  " else _FTYP_ISO)
    wide = len(ftyp_box) + len(built) + 16 + payload > 0xFFFFFFFF
    if wide:
        built = _build_moov(moov, kept, True, 0)
    mdat_header = (
        struct.pack(">I4sQ", 1, b"mdat", 16 + payload)
        if 8 + payload > 0xFFFFFFFF
        else struct.pack(">I4s", 8 + payload, b"mdat")
    )
    # A ``free`` box puts the payload at the same offset within a page as in the input: the
    # kernel then copies whole page-cache pages (measured: markedly faster than a shifted copy).
    unpadded = len(ftyp_box) + len(built) + len(mdat_header)
    pad = (start - unpadded) % _PAGE
    if 0 < pad < 8:
        pad += _PAGE
    free = struct.pack(">I4s", pad, b"free") + bytes(pad - 8) if pad else b""
    delta = unpadded + pad - start
    moov_out = _build_moov(moov, kept, wide, delta)
    if len(moov_out) != len(built):  # pragma: no cover - the sizes do not depend on delta
        raise _Ineligible("the index changed size")
    header = ftyp_box + moov_out + free + mdat_header
    gaps = [(a[1], b[0]) for a, b in pairwise(ranges)]
    movie_scale = _movie_timescale(moov)
    lengths = [t.tkhd_duration / movie_scale for t, _ in kept] if movie_scale else []
    seconds = max(lengths) if lengths and max(lengths) > 0 else video.seconds
    result = FastRemux(
        sha256="",
        size=len(header) + payload,
        video_codec=video.codec or "",
        audio_codec=audio.codec if audio is not None else None,
        width=width,
        height=height,
        duration_ms=round(seconds * 1000),
    )
    return _Plan(header, start, end, gaps, result)


def _movie_timescale(moov: bytes) -> int:
    mvhd = _only(_boxes(moov, 0, len(moov)), b"mvhd")
    at = mvhd.body + (4 + 8 + 8 if moov[mvhd.body] == 1 else 4 + 4 + 4)
    return int(struct.unpack_from(">I", moov, at)[0])


def _segments(plan: _Plan) -> list[tuple[int, int, bool]]:
    """(start, end, zeroed) over the copied input range, in order."""
    out = []
    pos = plan.start
    for gap_start, gap_end in plan.gaps:
        out.append((pos, gap_start, False))
        out.append((gap_start, gap_end, True))
        pos = gap_end
    out.append((pos, plan.end, False))
    return [s for s in out if s[1] > s[0]]


def _hash(fd: int, plan: _Plan) -> str:
    """sha256 of the output as it will be written: the header, then the input's range through
    read-only mappings of at most ``_HASH_WINDOW`` bytes, gaps as zeros."""
    digest = hashlib.sha256(plan.header)
    granularity = mmap.ALLOCATIONGRANULARITY
    for start, end, zeroed in _segments(plan):
        pos = start
        while pos < end:
            if zeroed:
                step = min(len(_ZEROS), end - pos)
                digest.update(_ZEROS[:step] if step < len(_ZEROS) else _ZEROS)
                pos += step
                continue
            base = pos - pos % granularity
            length = min(_HASH_WINDOW, end - base)
            with (
                mmap.mmap(fd, length, offset=base, access=mmap.ACCESS_READ) as window,
                memoryview(window) as view,
            ):
                digest.update(view[pos - base : length])
            pos = base + length
    return digest.hexdigest()


def _copy(src_fd: int, dst_fd: int, start: int, end: int, dst_at: int) -> None:
    """The kernel copies ``src[start:end]`` to ``dst`` at ``dst_at``."""
    os.lseek(dst_fd, dst_at, os.SEEK_SET)
    pos = start
    use_copy_range = hasattr(os, "copy_file_range")
    while pos < end:
        step = min(_COPY_STEP, end - pos)
        if use_copy_range:
            try:
                done = os.copy_file_range(src_fd, dst_fd, step, pos)
            except OSError:  # another file system or an old kernel: sendfile does it
                use_copy_range = False
                continue
        else:
            done = os.sendfile(dst_fd, src_fd, pos, step)
        if done <= 0:
            raise UndecodableVideo("the video is truncated (samples missing from the file)")
        pos += done


def _write(src_fd: int, out_path: Path, plan: _Plan) -> str:
    """Write the output; returns its sha256 (computed on a second thread meanwhile)."""
    digest: list[str] = []
    failure: list[BaseException] = []

    def hash_it() -> None:
        try:
            digest.append(_hash(src_fd, plan))
        except BaseException as error:  # handed to the writing thread
            failure.append(error)

    hasher = threading.Thread(target=hash_it, name="video-sha256", daemon=True)
    hasher.start()
    try:
        # No O_TRUNC: ext4 flushes a file truncated to zero when it is closed (auto_da_alloc).
        dst_fd = os.open(out_path, os.O_WRONLY | os.O_CLOEXEC)
        try:
            # The copy starts on a page boundary on both sides (the header is as long as the
            # input's payload offset modulo a page, see _plan): the few input bytes before
            # the payload land under the header's end and are overwritten by it next.
            lead = plan.start % _PAGE
            _copy(src_fd, dst_fd, plan.start - lead, plan.end, len(plan.header) - lead)
            os.pwrite(dst_fd, plan.header, 0)
            delta = len(plan.header) - plan.start
            for gap_start, gap_end in plan.gaps:
                pos = gap_start
                while pos < gap_end:
                    step = min(len(_ZEROS), gap_end - pos)
                    os.pwrite(dst_fd, memoryview(_ZEROS)[:step], pos + delta)
                    pos += step
            total = len(plan.header) + plan.end - plan.start
            if os.fstat(dst_fd).st_size > total:  # the caller's file was not empty
                os.ftruncate(dst_fd, total)
        finally:
            os.close(dst_fd)
    finally:
        hasher.join()
    if failure:
        raise failure[0]
    return digest[0]


def fast_remux(
    src: Path, out_path: Path, *, max_seconds: float, max_pixels: int
) -> FastRemux | None:
    """Write the sanitised copy of ``src`` to ``out_path`` (which exists) and return what it
    is; ``None`` when ``src`` is not a file this path handles (``out_path`` is then left
    untouched). Raises ``UndecodableVideo``, ``VideoTooLong``, ``VideoResolutionTooLarge``."""
    with src.open("rb") as file:
        size = os.fstat(file.fileno()).st_size
        try:
            plan = _plan(file, size, max_seconds=max_seconds, max_pixels=max_pixels)
        except (_Ineligible, struct.error, IndexError, ValueError, OverflowError):
            return None
        sha256 = _write(file.fileno(), out_path, plan)
    r = plan.result
    return FastRemux(
        sha256=sha256,
        size=r.size,
        video_codec=r.video_codec,
        audio_codec=r.audio_codec,
        width=r.width,
        height=r.height,
        duration_ms=r.duration_ms,
    )
