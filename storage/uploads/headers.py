"""The tus 1.0 request headers, parsed: pure functions, no HTTP framework.

Each parser raises ``HeaderError`` naming the header; the route turns it into problem+json.
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Final

TUS_VERSION: Final = "1.0.0"
TUS_EXTENSIONS: Final = "creation,termination,checksum,expiration"
CHECKSUM_ALGORITHMS: Final = "sha256"
OFFSET_CONTENT_TYPE: Final = "application/offset+octet-stream"
REPORT_ID_KEY: Final = "report_id"
SHA256_BYTES: Final = 32
# Upload-Metadata: at most this many pairs and this many characters; more is not a client's.
MAX_METADATA_PAIRS: Final = 32
MAX_METADATA_CHARS: Final = 8192

_DIGITS = re.compile(r"[0-9]{1,19}")
_KEY = re.compile(r"[!-+\--~]+")  # printable ASCII without space and comma
_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")


class HeaderError(ValueError):
    """A tus header is missing or malformed: 400 (or ``status``), naming the header."""

    def __init__(self, header: str, detail: str, *, status: int = 400, code: str = "") -> None:
        super().__init__(detail)
        self.header = header
        self.detail = detail
        self.status = status
        self.code = code or "invalid_header"


def non_negative(header: str, value: str | None) -> int:
    """A header holding a non-negative integer (Upload-Length, Upload-Offset)."""
    if value is None:
        raise HeaderError(header, f"the {header} header is required")
    value = value.strip()
    if _DIGITS.fullmatch(value) is None:
        raise HeaderError(header, f"{header} must be a non-negative integer")
    return int(value)


def parse_metadata(value: str | None) -> dict[str, bytes]:
    """``Upload-Metadata``: comma-separated ``key base64value`` pairs (the value may be
    absent). Keys are unique; values are returned decoded."""
    if value is None or not value.strip():
        return {}
    if len(value) > MAX_METADATA_CHARS:
        raise HeaderError("Upload-Metadata", "Upload-Metadata is too long")
    pairs = value.split(",")
    if len(pairs) > MAX_METADATA_PAIRS:
        raise HeaderError("Upload-Metadata", "Upload-Metadata has too many pairs")
    metadata: dict[str, bytes] = {}
    for pair in pairs:
        parts = pair.strip().split(" ")
        if len(parts) > 2 or _KEY.fullmatch(parts[0]) is None:
            raise HeaderError("Upload-Metadata", "Upload-Metadata has a malformed pair")
        key = parts[0]
        if key in metadata:
            raise HeaderError("Upload-Metadata", f"Upload-Metadata repeats the key {key!r}")
        encoded = parts[1] if len(parts) == 2 else ""
        metadata[key] = _base64("Upload-Metadata", encoded, f"the value of {key!r}")
    return metadata


def _base64(header: str, encoded: str, what: str) -> bytes:
    if _BASE64.fullmatch(encoded) is None or len(encoded) % 4:
        raise HeaderError(header, f"{what} is not base64")
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise HeaderError(header, f"{what} is not base64") from None


def metadata_report_id(metadata: dict[str, bytes]) -> uuid.UUID | None:
    """The ``report_id`` metadata value as a UUID; None when absent."""
    raw = metadata.get(REPORT_ID_KEY)
    if raw is None:
        return None
    try:
        return uuid.UUID(raw.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        raise HeaderError(
            "Upload-Metadata", "the report_id metadata is not a UUID", status=422
        ) from None


@dataclass(frozen=True, slots=True)
class Checksum:
    algorithm: str
    digest: bytes


def parse_checksum(value: str | None) -> Checksum | None:
    """``Upload-Checksum: sha256 <base64 digest>``; None when absent. Another algorithm is a
    400, as the checksum extension says."""
    if value is None:
        return None
    parts = value.strip().split(" ")
    if len(parts) != 2:
        raise HeaderError("Upload-Checksum", "Upload-Checksum must be `sha256 <base64 digest>`")
    algorithm, encoded = parts[0].lower(), parts[1]
    if algorithm != "sha256":
        raise HeaderError(
            "Upload-Checksum",
            f"the checksum algorithm {parts[0]!r} is not supported; use sha256",
            code="unsupported_checksum_algorithm",
        )
    digest = _base64("Upload-Checksum", encoded, "the checksum")
    if len(digest) != SHA256_BYTES:
        raise HeaderError("Upload-Checksum", "a sha256 checksum is 32 bytes")
    return Checksum(algorithm, digest)


def http_date(moment: datetime) -> str:
    """RFC 9110 IMF-fixdate, as ``Upload-Expires`` is written."""
    return format_datetime(moment.astimezone(UTC), usegmt=True)
