"""Provenance signals of an uploaded video, read from the ORIGINAL file before the remuxed copy
replaces it; the same ``Provenance`` fields, rules and tolerances as photos
(``storage.photos.provenance``): capture time within 2 hours of the report, capture place within
about 1 km of its cell, C2PA checked offline, an AI marker from XMP or C2PA.

Inputs are the container's tags as FFmpeg parsed them (``VideoTags``, gathered by the remuxer
while the file is open anyway) and a bounded walk of the file's boxes (``video_boxes``); the
file is read from disk by C2PA only when a manifest store is embedded. Nothing of the metadata
itself leaves this module. Hostile input never raises.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Final

import h3

from schemas.photos import C2paStatus, Provenance
from storage.photos import provenance as photo_provenance
from storage.photos.provenance import CAPTURE_TIME_TOLERANCE, c2pa_settings
from storage.photos.video_boxes import BoxFacts, scan_boxes

# Tags FFmpeg reports that describe the file's structure, not its origin or content.
STRUCTURAL_TAGS: Final = frozenset(
    {"major_brand", "minor_version", "compatible_brands", "handler_name", "vendor_id",
     "language", "duration", "timecode"}
)  # fmt: skip
_LOCATION_KEY: Final = re.compile(r"location|gps|iso6709|\bxyz\b", re.IGNORECASE)
# ISO 6709 as phones write it: ±DD.DDDD±DDD.DDDD[±AAA.AAA][CRS]/
_ISO6709: Final = re.compile(r"^([+-]\d{1,2}(?:\.\d+)?)([+-]\d{1,3}(?:\.\d+)?)")
_CREATION_KEYS: Final = ("com.apple.quicktime.creationdate", "creation_time", "date")
_DATE: Final = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(Z|[+-]\d{2}:?\d{2})?$"
)
# Data/timed-metadata tracks that carry positions: GoPro GPMF, camera-motion metadata, NMEA.
_GPS_TRACK_TAGS: Final = frozenset({"gpmd", "camm", "gps ", "nmea"})
_C2PA_MIME: Final = "video/mp4"


@dataclass(slots=True)
class VideoTags:
    """What the remuxer saw of the original's metadata (every key lower-cased)."""

    container: dict[str, str] = field(default_factory=dict)
    streams: list[dict[str, str]] = field(default_factory=list)
    extra_streams: int = 0
    """Streams that are not the kept video/audio: data, subtitles, timed metadata, extra
    video or audio tracks, attachments."""
    gps_track: bool = False
    chapters: int = 0


def read_video_provenance(
    src: Path,
    tags: VideoTags,
    *,
    bmff: bool,
    occurred_at: datetime,
    report_cell: str,
    c2pa_trust_anchors: str | None = None,
) -> Provenance:
    """``bmff``: the original is MP4/MOV (its boxes are walked for XMP and C2PA)."""
    report_offset = occurred_at.utcoffset()
    if report_offset is None:
        raise ValueError("occurred_at must be timezone-aware")
    if not h3.is_valid_cell(report_cell):
        raise ValueError("report_cell must be a valid H3 cell")
    boxes = BoxFacts()
    if bmff:
        try:
            with src.open("rb") as file:
                boxes = scan_boxes(file, src.stat().st_size)
        except OSError:
            pass
    xmp = photo_provenance._read_xmp(boxes.xmp)
    for value in tags.container.values():
        # Matroska files carry XMP as a tag, if at all.
        if value.lstrip().startswith(("<?xpacket", "<x:xmpmeta")):
            xmp_tag = photo_provenance._read_xmp([value.encode("utf-8", "replace")])
            xmp.ai = xmp.ai or xmp_tag.ai
            xmp.remote_manifest = xmp.remote_manifest or xmp_tag.remote_manifest
    c2pa, c2pa_ai = _c2pa_status(src, boxes, xmp.remote_manifest, c2pa_trust_anchors)
    origin_tags = _origin_tags(tags)
    if not bmff:
        # Matroska's header always names the muxing application: not a sign of metadata.
        origin_tags.pop("encoder", None)
    position = _position(tags)
    return Provenance(
        had_metadata=bool(origin_tags)
        or tags.extra_streams > 0
        or tags.chapters > 0
        or boxes.uuid_boxes > 0
        or bool(boxes.xmp),
        had_gps=tags.gps_track or position is not None or _has_location_tag(tags),
        c2pa=c2pa,
        ai_marker=c2pa_ai or xmp.ai,
        capture_time_consistent=_time_consistent(tags, occurred_at, report_offset),
        capture_place_consistent=photo_provenance._place_consistent(position, report_cell),
    )


def _origin_tags(tags: VideoTags) -> dict[str, str]:
    found = {k: v for k, v in tags.container.items() if k not in STRUCTURAL_TAGS and v}
    for stream in tags.streams:
        found.update({k: v for k, v in stream.items() if k not in STRUCTURAL_TAGS and v})
    return found


def _all_tags(tags: VideoTags) -> list[tuple[str, str]]:
    pairs = list(tags.container.items())
    for stream in tags.streams:
        pairs.extend(stream.items())
    return pairs


def _has_location_tag(tags: VideoTags) -> bool:
    return any(_LOCATION_KEY.search(key) and value.strip() for key, value in _all_tags(tags))


def _position(tags: VideoTags) -> tuple[float, float] | None:
    for key, value in _all_tags(tags):
        if not _LOCATION_KEY.search(key):
            continue
        match = _ISO6709.match(value.strip())
        if match is None:
            continue
        try:
            lat, lon = float(match.group(1)), float(match.group(2))
        except ValueError:
            continue
        if abs(lat) <= 90 and abs(lon) <= 180 and not (lat == 0 and lon == 0):
            return lat, lon
    return None


def _parse_date(text: str, report_offset: timedelta) -> datetime | None:
    match = _DATE.match(text.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(part) for part in match.groups()[:6])
    zone_text = match.group(7)
    if zone_text is None:
        zone: timezone = timezone(report_offset)
    elif zone_text == "Z":
        zone = UTC
    else:
        sign = -1 if zone_text[0] == "-" else 1
        digits = zone_text[1:].replace(":", "")
        hours, minutes = int(digits[:2]), int(digits[2:])
        if hours > 14 or minutes >= 60:
            return None
        zone = timezone(sign * timedelta(hours=hours, minutes=minutes))
    if year < 1971:  # a zeroed QuickTime/Matroska date, not a capture time
        return None
    try:
        return datetime(year, month, day, hour, minute, min(second, 59), tzinfo=zone)
    except ValueError:
        return None


def _time_consistent(
    tags: VideoTags, occurred_at: datetime, report_offset: timedelta
) -> bool | None:
    for key in _CREATION_KEYS:
        value = tags.container.get(key)
        if value:
            captured = _parse_date(value, report_offset)
            if captured is not None:
                return abs(captured - occurred_at) <= CAPTURE_TIME_TOLERANCE
    return None


def _c2pa_status(
    src: Path, boxes: BoxFacts, remote_reference: bool, trust_anchors: str | None
) -> tuple[C2paStatus, bool]:
    library: Any = photo_provenance._c2pa
    if not boxes.c2pa:
        return ("present" if remote_reference else "absent"), False
    if library is None:
        return "present", False
    try:
        context = library.Context.from_dict(c2pa_settings(trust_anchors))
        try:
            with (
                src.open("rb") as file,
                library.Reader(_C2PA_MIME, file, None, context) as reader,
            ):
                store = json.loads(reader.json())
                state = reader.get_validation_state()
        finally:
            context.close()
    except Exception as error:
        not_supported = isinstance(error, library.C2paError.NotSupported)
        return ("present" if not_supported else "invalid"), False
    if not isinstance(store, Mapping):
        return "invalid", False
    ai = photo_provenance._manifest_store_declares_ai(dict(store))
    if state == "Trusted":
        return "valid", ai
    if state == "Valid":
        return "present", ai
    failures = photo_provenance._failure_codes(store.get("validation_results"))
    if failures and failures <= photo_provenance._TRUST_ONLY_FAILURES:
        return "present", ai
    return "invalid", ai
