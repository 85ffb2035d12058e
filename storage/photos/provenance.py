"""Provenance signals read from an upload's ORIGINAL bytes, before the sanitiser strips them.

Design principle 3: record what a moderator can use for triage - whether the photo carried
metadata or a GPS position, its C2PA status, whether it declared itself AI-generated, and whether
its own capture time and place agree with the report - and keep nothing else. ``read_provenance``
returns only a :class:`~schemas.photos.Provenance`; no timestamp, coordinate, software name or
manifest leaves this module, and nothing is logged.

It is a pure function: no database, no network, no files. C2PA validation runs with remote
manifest fetching and OCSP switched off and an empty network allow-list (see ``c2pa_settings``),
so reading a hostile upload can never make the server contact a third party.

Hostile input never raises: each signal is computed on its own and degrades to ``False`` /
``None`` / ``"absent"`` when its source is missing or broken, except that a C2PA manifest whose
bytes are there but cannot be parsed is reported as ``"invalid"`` (see ``_c2pa_status``). Only
caller mistakes (a naive ``occurred_at``, a malformed ``report_cell``) raise ``ValueError``.

CPU-bound (the C2PA hard-binding check hashes the whole file): run it in the same worker pool
as the sanitiser, which also contains a crash of the native C2PA library to one worker.
"""

from __future__ import annotations

import io
import json
import math
import re
import warnings
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Final

import h3
from PIL import Image

from schemas.photos import C2paStatus, Provenance
from schemas.report import COARSE_H3_RESOLUTION

try:
    from defusedxml import ElementTree as SafeElementTree  # type: ignore[import-untyped]
except ImportError:  # pragma: no cover - defusedxml is a declared dependency
    SafeElementTree = None

try:
    import c2pa as _c2pa_module  # type: ignore[import-untyped]
except (ImportError, OSError):  # pragma: no cover - the wheel ships its native library
    # Without the library a C2PA box is still detected ("present") but never validated.
    _c2pa_module = None

_c2pa: Any = _c2pa_module

__all__ = [
    "AI_SOURCE_TYPES",
    "CAPTURE_CELL_RESOLUTION",
    "CAPTURE_PLACE_MAX_GRID_DISTANCE",
    "CAPTURE_TIME_TOLERANCE",
    "c2pa_available",
    "c2pa_settings",
    "read_provenance",
]

CAPTURE_TIME_TOLERANCE: Final = timedelta(hours=2)
CAPTURE_CELL_RESOLUTION: Final = 9
CAPTURE_PLACE_MAX_GRID_DISTANCE: Final = 5
"""Res-9 cells are ~0.1 km²; five rings is roughly 1-1.5 km between cell centres."""
COARSENED_PLACE_MAX_GRID_DISTANCE: Final = {COARSE_H3_RESOLUTION: 1}
"""Retention coarsens old reports' cells to res 7 (~5 km², ~1.2 km edges): one ring there is
about the same tolerance."""

AI_SOURCE_TYPES: Final = frozenset(
    {"trainedalgorithmicmedia", "compositewithtrainedalgorithmicmedia", "algorithmicmedia"}
)
"""IPTC DigitalSourceType terms meaning "generated", lower-cased (compared case-insensitively)."""

_IPTC_SOURCE_TYPE_PREFIX: Final = "cv.iptc.org/newscodes/digitalsourcetype/"
_DCTERMS_PROVENANCE: Final = "{http://purl.org/dc/terms/}provenance"
MAX_XMP_BYTES: Final = 2 * 1024 * 1024
"""A larger XMP packet is not parsed (an upload is at most 20 MB and real packets are KBs)."""

# EXIF tags (CIPA DC-008).
_IFD_EXIF: Final = 0x8769
_IFD_GPS: Final = 0x8825
_TAG_XMP_PACKET: Final = 0x02BC
_TAG_DATETIME_ORIGINAL: Final = 0x9003
_TAG_OFFSET_TIME_ORIGINAL: Final = 0x9011
_GPS_LAT_REF, _GPS_LAT, _GPS_LON_REF, _GPS_LON = 1, 2, 3, 4

_EXIF_DATETIME: Final = re.compile(
    r"(\d{4})[:-](\d{2})[:-](\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.\d+)?", re.ASCII
)
_EXIF_OFFSET: Final = re.compile(r"([+-])(\d{2}):?(\d{2})", re.ASCII)
_EARLIEST_CAPTURE_YEAR: Final = 1900

# Containers.
_PNG_SIGNATURE: Final = b"\x89PNG\r\n\x1a\n"
# Ancillary PNG chunks that describe colour or layout only; any other ancillary chunk (text,
# eXIf, iCCP, tIME, caBX, private chunks) counts as metadata.
_PNG_STRUCTURAL: Final = frozenset(
    {b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"sBIT", b"bKGD", b"pHYs", b"hIST", b"sPLT", b"cICP",
     b"mDCv", b"cLLi", b"acTL", b"fcTL", b"fdAT"}
)  # fmt: skip
_PNG_CRITICAL: Final = frozenset({b"IHDR", b"PLTE", b"IDAT", b"IEND"})
_WEBP_STRUCTURAL: Final = frozenset({b"VP8 ", b"VP8L", b"VP8X", b"ALPH", b"ANIM", b"ANMF"})
# A marker after entropy-coded data: 0xFF not followed by stuffing (00), a restart marker
# (D0-D7) or another fill byte.
_JPEG_NEXT_MARKER: Final = re.compile(rb"\xff(?=[^\x00\xd0-\xd7\xff])")
_C2PA_LABEL: Final = b"c2pa"
_C2PA_BMFF_UUID: Final = bytes.fromhex("d8fec3d61b0e483c92975828877ec481")
_C2PA_MIME_BY_CONTAINER: Final = {
    "jpeg": "image/jpeg",
    "png": "image/png",
    "webp": "image/webp",
    "heif": "image/heif",
}


def c2pa_available() -> bool:
    """Whether c2pa-python (and its native library) could be loaded."""
    return _c2pa is not None


def c2pa_settings(trust_anchors_pem: str | None = None) -> dict[str, Any]:
    """The c2pa-rs settings every read uses: validation on, nothing fetched, no network at all.

    - ``verify.remote_manifest_fetch = false``: a manifest referenced by URL (XMP
      ``dcterms:provenance``) is never downloaded; such an upload reads as ``"present"``.
    - ``verify.ocsp_fetch = false``: no certificate-revocation lookups (only an OCSP response
      stapled inside the manifest is used).
    - ``core.allowed_network_hosts = []``: c2pa-rs wraps its HTTP resolver in an allow-list; an
      empty list refuses every URI, so a future setting that fetches something is still blocked.
    - ``trust.trust_anchors``: PEM roots a signer must chain to for ``"valid"``. None: no signer
      is trusted, so an intact manifest reads as ``"present"`` (the trust list is never fetched).
    """
    settings: dict[str, Any] = {
        "verify": {
            "verify_after_reading": True,
            "verify_trust": True,
            "verify_timestamp_trust": True,
            "remote_manifest_fetch": False,
            "ocsp_fetch": False,
        },
        "core": {"allowed_network_hosts": []},
    }
    if trust_anchors_pem:
        settings["trust"] = {"trust_anchors": trust_anchors_pem}
    return settings


def read_provenance(
    data: bytes,
    image: Image.Image | None = None,
    *,
    occurred_at: datetime,
    report_cell: str,
    c2pa_trust_anchors: str | None = None,
) -> Provenance:
    """Derive the provenance signals of one upload from its original bytes.

    ``data``: the bytes exactly as uploaded. ``image``: the same bytes already opened with
    ``Image.open`` by the sanitiser, *before* ``load()``/``exif_transpose`` (its parsed ``info``
    is reused instead of parsing twice); None to open ``data`` here (header only, no decoding).
    ``occurred_at``: the report's aware time; a photo time without OffsetTimeOriginal is read in
    its UTC offset. ``report_cell``: the report's H3 res-9 cell. ``c2pa_trust_anchors``: PEM
    bundle of trusted C2PA roots (see ``c2pa_settings``).
    """
    report_offset = occurred_at.utcoffset()
    if report_offset is None:
        raise ValueError("occurred_at must be timezone-aware")
    if not (
        h3.is_valid_cell(report_cell)
        and (
            h3.get_resolution(report_cell) == CAPTURE_CELL_RESOLUTION
            or h3.get_resolution(report_cell) in COARSENED_PLACE_MAX_GRID_DISTANCE
        )
    ):
        raise ValueError("report_cell must be a valid H3 resolution-9 (or coarsened 7) cell")

    container = _scan_container(data)
    info = _image_info(data, image)
    exif = _load_exif(info.get("exif"))
    gps = _sub_ifd(exif, _IFD_GPS)
    position = _gps_position(gps)
    xmp = _read_xmp(_xmp_packets(info, exif))
    c2pa_status, c2pa_ai = _c2pa_status(data, container, xmp.remote_manifest, c2pa_trust_anchors)

    return Provenance(
        had_metadata=container.metadata or container.c2pa_box or _info_has_metadata(info),
        had_gps=_has_tags(gps, _GPS_LAT, _GPS_LON),
        c2pa=c2pa_status,
        ai_marker=c2pa_ai or xmp.ai,
        capture_time_consistent=_time_consistent(exif, occurred_at, report_offset),
        capture_place_consistent=_place_consistent(position, report_cell),
    )


# --- containers ------------------------------------------------------------------------------


@dataclass(slots=True)
class _Container:
    kind: str = "unknown"
    metadata: bool = False
    """Metadata segments/chunks or trailing bytes found by walking the container."""
    c2pa_box: bool = False
    """A C2PA JUMBF store (APP11 / caBX / C2PA chunk / C2PA uuid box) is embedded."""


def _scan_container(data: bytes) -> _Container:
    try:
        if data.startswith(b"\xff\xd8\xff"):
            return _scan_jpeg(data)
        if data.startswith(_PNG_SIGNATURE):
            return _scan_png(data)
        if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            return _scan_webp(data)
        if data[4:8] == b"ftyp":
            # ISOBMFF (HEIC/HEIF): metadata comes from pillow-heif's info; only look for the box.
            return _Container("heif", c2pa_box=_C2PA_BMFF_UUID in data)
    except Exception:  # a walker bug must not lose the other signals
        return _Container("unknown", c2pa_box=_C2PA_BMFF_UUID in data or b"c2pa" in data)
    return _Container()


def _scan_jpeg(data: bytes) -> _Container:
    found = _Container("jpeg")
    size = len(data)
    pos = 2
    while pos + 1 < size:
        if data[pos] != 0xFF:
            # Not at a marker: corrupt; whatever follows is unaccounted-for data.
            found.metadata = True
            break
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xD9:  # EOI: anything after it (appended files, MPF images) is metadata
            found.metadata = found.metadata or pos + 2 < size
            break
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # parameterless markers
            pos += 2
            continue
        if pos + 4 > size:
            break
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        if length < 2:
            found.metadata = True
            break
        segment = data[pos + 4 : pos + 2 + length]
        if marker == 0xE0:  # APP0
            if segment.startswith(b"JFIF\x00"):
                # A JFIF header is structural unless it carries a thumbnail.
                found.metadata = found.metadata or segment[12:14] not in (b"", b"\x00\x00")
            else:
                found.metadata = True  # JFXX thumbnail or a foreign APP0
        elif marker == 0xEE and segment.startswith(b"Adobe"):
            pass  # APP14 Adobe: colour-transform flag only
        elif 0xE1 <= marker <= 0xEF or marker == 0xFE:  # APP1-APP15, COM
            found.metadata = True
            if marker == 0xEB and segment[:2] == b"JP" and b"c2pa" in segment[:256]:
                found.c2pa_box = True
        pos += 2 + length
        if marker == 0xDA:  # SOS: skip entropy-coded data to the next real marker
            match = _JPEG_NEXT_MARKER.search(data, pos)
            if match is None:
                break
            pos = match.start()
    return found


def _scan_png(data: bytes) -> _Container:
    found = _Container("png")
    size = len(data)
    pos = len(_PNG_SIGNATURE)
    while pos + 8 <= size:
        length = int.from_bytes(data[pos : pos + 4], "big")
        kind = data[pos + 4 : pos + 8]
        end = pos + 12 + length
        if kind == b"IEND":
            found.metadata = found.metadata or end < size
            break
        if kind == b"caBX":
            found.c2pa_box = True
        if kind not in _PNG_CRITICAL and kind not in _PNG_STRUCTURAL:
            found.metadata = True
        pos = end
    return found


def _scan_webp(data: bytes) -> _Container:
    found = _Container("webp")
    riff_end = 8 + int.from_bytes(data[4:8], "little")
    found.metadata = len(data) > riff_end + 1  # +1: tolerate a missing final pad byte
    end = min(riff_end, len(data))
    pos = 12
    while pos + 8 <= end:
        kind = data[pos : pos + 4]
        length = int.from_bytes(data[pos + 4 : pos + 8], "little")
        if kind == b"C2PA":
            found.c2pa_box = True
        if kind not in _WEBP_STRUCTURAL:
            found.metadata = True
        pos += 8 + length + (length & 1)
    return found


# --- Pillow's view: info, EXIF, XMP ---------------------------------------------------------


def _image_info(data: bytes, image: Image.Image | None) -> Mapping[Any, Any]:
    if image is not None:
        return dict(image.info)
    try:
        with Image.open(io.BytesIO(data)) as opened:  # parses headers; pixels stay undecoded
            return dict(opened.info)
    except Exception:
        return {}


_INFO_METADATA_KEYS: Final = ("exif", "xmp", "icc_profile", "comment", "photoshop", "iptc")
_HEIF_EXTRA_KEYS: Final = ("metadata", "thumbnails", "depth_images", "aux")


def _info_has_metadata(info: Mapping[Any, Any]) -> bool:
    if any(info.get(key) for key in _INFO_METADATA_KEYS + _HEIF_EXTRA_KEYS):
        return True
    # PNG text chunks land in info as str (or iTXt) values under their keyword.
    return any(isinstance(value, str) and value for value in info.values())


def _load_exif(raw: object) -> Image.Exif | None:
    if not isinstance(raw, bytes | bytearray) or not raw:
        return None
    exif = Image.Exif()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Possibly corrupt EXIF data" and friends
            exif.load(bytes(raw))
    except Exception:
        return None
    return exif


def _sub_ifd(exif: Image.Exif | None, tag: int) -> Mapping[int, Any]:
    if exif is None:
        return {}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ifd = exif.get_ifd(tag)
    except Exception:
        return {}
    return ifd if isinstance(ifd, Mapping) else {}


def _has_tags(ifd: Mapping[int, Any], *tags: int) -> bool:
    try:
        return all(ifd.get(tag) not in (None, b"", "", ()) for tag in tags)
    except Exception:
        return False


def _xmp_packets(info: Mapping[Any, Any], exif: Image.Exif | None) -> Iterator[bytes]:
    for key in ("xmp", "XML:com.adobe.xmp"):
        value = info.get(key)
        if isinstance(value, str):
            yield value.encode("utf-8", "replace")
        elif isinstance(value, bytes | bytearray):
            yield bytes(value)
    if exif is not None:
        try:
            value = exif.get(_TAG_XMP_PACKET)
        except Exception:
            value = None
        if isinstance(value, bytes | bytearray):
            yield bytes(value)
        elif isinstance(value, str):
            yield value.encode("utf-8", "replace")


def _is_ai_source_type(value: object) -> bool:
    if not isinstance(value, str):
        return False
    term = value.strip().rstrip("/").lower()
    if "/" in term:
        prefix, _, term = term.rpartition("/")
        if not (prefix + "/").endswith(_IPTC_SOURCE_TYPE_PREFIX):
            return False
    return term in AI_SOURCE_TYPES


def _local_name(name: str) -> str:
    return name.rpartition("}")[2].rpartition(":")[2]


@dataclass(slots=True)
class _XmpFacts:
    ai: bool = False
    """Iptc4xmpExt:DigitalSourceType (any namespace) is one of ``AI_SOURCE_TYPES``."""
    remote_manifest: bool = False
    """dcterms:provenance points at a C2PA manifest stored elsewhere (never fetched)."""


def _parse_xmp(packet: bytes) -> Any:
    """The packet's XML root, or None. defusedxml refuses DTDs, entity declarations and external
    references, so nothing is expanded or fetched."""
    # JPEG XMP may keep its namespace header; packets are often padded with NULs/spaces.
    start = packet.find(b"<")
    if start < 0:
        return None
    try:
        return SafeElementTree.fromstring(packet[start:].rstrip(b"\x00 \t\r\n"), forbid_dtd=True)
    except Exception:
        return None


def _read_xmp(packets: Iterable[bytes]) -> _XmpFacts:
    facts = _XmpFacts()
    if SafeElementTree is None:  # pragma: no cover - defusedxml is a declared dependency
        return facts
    for packet in packets:
        if len(packet) > MAX_XMP_BYTES:
            continue
        root = _parse_xmp(packet)
        if root is None:
            continue
        for element in root.iter():
            tag = element.tag if isinstance(element.tag, str) else ""
            if _local_name(tag) == "DigitalSourceType":
                values = [*element.itertext(), *element.attrib.values()]
                facts.ai = facts.ai or any(_is_ai_source_type(value) for value in values)
            elif tag == _DCTERMS_PROVENANCE:
                facts.remote_manifest = True
            for name, value in element.attrib.items():
                if _local_name(name) == "DigitalSourceType" and _is_ai_source_type(value):
                    facts.ai = True
                elif name == _DCTERMS_PROVENANCE and value.strip():
                    facts.remote_manifest = True
    return facts


# --- capture time and place -----------------------------------------------------------------


def _text(value: object) -> str | None:
    if isinstance(value, bytes | bytearray):
        value = bytes(value).decode("ascii", "replace")
    if not isinstance(value, str):
        return None
    return value.strip("\x00 \t\r\n")


def _parse_offset(value: object) -> timezone | None:
    text = _text(value)
    if not text:
        return None
    if text.upper() == "Z":
        return UTC
    match = _EXIF_OFFSET.fullmatch(text)
    if match is None:
        return None
    sign, hours, minutes = match.groups()
    if int(hours) > 14 or int(minutes) >= 60:
        return None
    delta = timedelta(hours=int(hours), minutes=int(minutes))
    return timezone(-delta if sign == "-" else delta)


def _capture_time(exif_ifd: Mapping[int, Any], report_offset: timedelta) -> datetime | None:
    text = _text(exif_ifd.get(_TAG_DATETIME_ORIGINAL))
    if not text:
        return None
    match = _EXIF_DATETIME.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(part) for part in match.groups())
    if year < _EARLIEST_CAPTURE_YEAR:
        return None
    zone = _parse_offset(exif_ifd.get(_TAG_OFFSET_TIME_ORIGINAL)) or timezone(report_offset)
    try:
        return datetime(year, month, day, hour, minute, min(second, 59), tzinfo=zone)
    except ValueError:
        return None


def _time_consistent(
    exif: Image.Exif | None, occurred_at: datetime, report_offset: timedelta
) -> bool | None:
    try:
        captured = _capture_time(_sub_ifd(exif, _IFD_EXIF), report_offset)
        if captured is None:
            return None
        return abs(captured - occurred_at) <= CAPTURE_TIME_TOLERANCE
    except Exception:
        return None


def _degrees(value: object, limit: float) -> float | None:
    parts = value if isinstance(value, tuple | list) else (value,)
    if not 1 <= len(parts) <= 3:
        return None
    numbers: list[float] = []
    for part in parts:
        if isinstance(part, bool | str | bytes) or part is None:
            return None
        number = float(part)  # IFDRational with a zero denominator is nan
        if not math.isfinite(number) or number < 0:
            return None
        numbers.append(number)
    if any(number >= 60 for number in numbers[1:]):
        return None
    degrees = sum(number / 60**index for index, number in enumerate(numbers))
    return degrees if degrees <= limit else None


def _gps_position(gps: Mapping[int, Any]) -> tuple[float, float] | None:
    try:
        lat_ref = (_text(gps.get(_GPS_LAT_REF)) or "").upper()
        lon_ref = (_text(gps.get(_GPS_LON_REF)) or "").upper()
        if lat_ref not in ("N", "S") or lon_ref not in ("E", "W"):
            return None  # without its reference the hemisphere is a guess
        lat = _degrees(gps.get(_GPS_LAT), 90.0)
        lon = _degrees(gps.get(_GPS_LON), 180.0)
        if lat is None or lon is None or (lat == 0 and lon == 0):
            return None  # 0,0 is what devices without a fix write
        return (-lat if lat_ref == "S" else lat, -lon if lon_ref == "W" else lon)
    except Exception:
        return None


def _place_consistent(position: tuple[float, float] | None, report_cell: str) -> bool | None:
    if position is None:
        return None
    try:
        resolution = h3.get_resolution(report_cell)
        cell = h3.latlng_to_cell(position[0], position[1], resolution)
    except Exception:
        return None
    try:
        distance = int(h3.grid_distance(cell, report_cell))
    except Exception:
        return False  # H3 cannot measure across pentagons or very far apart: not consistent
    limit = COARSENED_PLACE_MAX_GRID_DISTANCE.get(resolution, CAPTURE_PLACE_MAX_GRID_DISTANCE)
    return distance <= limit


# --- C2PA -----------------------------------------------------------------------------------


_TRUST_ONLY_FAILURES: Final = frozenset(
    {"signingCredential.untrusted", "timeStamp.untrusted", "signingCredential.ocsp.unknown"}
)


def _c2pa_status(
    data: bytes, container: _Container, remote_reference: bool, trust_anchors: str | None
) -> tuple[C2paStatus, bool]:
    """(status, manifest declares AI) for the upload.

    ``absent``: the library finds no manifest (and none is embedded). ``present``: a manifest is
    intact but its signer chains to no configured anchor, or it is only referenced remotely, or
    the library is unavailable / does not support the container. ``valid``: ``Trusted``.
    ``invalid``: validation failures other than trust, or an embedded manifest that cannot even
    be parsed (a hostile or corrupt store is treated as a failed validation, never an error).
    """
    if _c2pa is None:
        return ("present" if container.c2pa_box or remote_reference else "absent"), False
    if not container.c2pa_box and not remote_reference and _C2PA_LABEL not in data:
        # Every C2PA manifest store is JUMBF labelled "c2pa": with no such bytes anywhere
        # there is nothing for the library to find, and asking it costs ~2.5 ms per photo.
        return "absent", False
    mime = _C2PA_MIME_BY_CONTAINER.get(container.kind)
    try:
        context = _c2pa.Context.from_dict(c2pa_settings(trust_anchors))
        try:
            with _c2pa.Reader(mime, io.BytesIO(data), None, context) as reader:
                store = json.loads(reader.json())
                state = reader.get_validation_state()
        finally:
            context.close()
    except Exception as error:
        return _c2pa_error_status(error, container, remote_reference), False
    if not isinstance(store, dict):
        return "invalid", False
    ai = _manifest_store_declares_ai(store)
    if state == "Trusted":
        return "valid", ai
    if state == "Valid":
        return "present", ai
    failures = _failure_codes(store.get("validation_results"))
    if failures and failures <= _TRUST_ONLY_FAILURES:
        return "present", ai
    return "invalid", ai


def _c2pa_error_status(
    error: Exception, container: _Container, remote_reference: bool
) -> C2paStatus:
    errors = _c2pa.C2paError
    # c2pa-rs reports a refused remote manifest as "Remote: ...", which c2pa-python 0.38 does
    # not map to its RemoteManifest subclass; the XMP reference is the version-proof signal.
    remote = isinstance(error, errors.RemoteManifest) or str(error).startswith("Remote")
    if container.c2pa_box:
        # An embedded store the library cannot parse or support: it fails validation.
        return "present" if isinstance(error, errors.NotSupported) else "invalid"
    if remote or remote_reference:
        return "present"  # only a URL to a manifest we refuse to fetch
    return "absent"


def _failure_codes(results: object) -> set[str]:
    codes: set[str] = set()
    if not isinstance(results, dict):
        return codes
    sections: list[object] = [results.get("activeManifest")]
    deltas = results.get("ingredientDeltas")
    if isinstance(deltas, list):
        sections.extend(
            delta.get("validationDeltas") for delta in deltas if isinstance(delta, dict)
        )
    for section in sections:
        if isinstance(section, dict) and isinstance(section.get("failure"), list):
            codes.update(
                str(item.get("code")) for item in section["failure"] if isinstance(item, dict)
            )
    return codes


def _manifest_store_declares_ai(store: dict[str, Any]) -> bool:
    manifests = store.get("manifests")
    if not isinstance(manifests, dict):
        return False
    for manifest in manifests.values():
        if not isinstance(manifest, dict) or not isinstance(manifest.get("assertions"), list):
            continue
        for assertion in manifest["assertions"]:
            if not isinstance(assertion, dict):
                continue
            label = assertion.get("label")
            data = assertion.get("data")
            if not (isinstance(label, str) and label.startswith("c2pa.actions")):
                continue
            actions = data.get("actions") if isinstance(data, dict) else None
            if isinstance(actions, list) and any(
                isinstance(action, dict) and _is_ai_source_type(action.get("digitalSourceType"))
                for action in actions
            ):
                return True
    return False
