"""The photo wire schema: the 201/200 body of ``POST /v1/reports/{id}/photos``.

``Provenance`` holds only signals derived from the original upload before its metadata was
thrown away (design principle 3). None of the metadata itself - no timestamp, no coordinates, no
software name, no manifest - has a field here, so none can be stored or returned by accident.
These are triage signals for moderators, never public verdicts.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Literal, TypeAlias

import msgspec
from msgspec import Meta

C2paStatus: TypeAlias = Literal["absent", "present", "valid", "invalid"]
"""``absent``: no C2PA manifest. ``present``: a manifest (or a reference to a remote one) was found
but could not be fully validated offline - e.g. it is intact but its signer chains to no configured
trust anchor. ``valid``: intact and signed by a trusted signer. ``invalid``: validation failed
(tampered pixels, broken signature, unparseable manifest)."""

PhotoContentType: TypeAlias = Literal["image/jpeg", "video/mp4", "video/webm"]
"""What is stored: every photo is re-encoded to JPEG by the sanitiser; a video is remuxed,
without re-encoding, into MP4 (from MP4/MOV, or WebM with other codecs) or WebM."""

Sha256Hex = Annotated[str, Meta(pattern=r"^[0-9a-f]{64}$")]
PHashHex = Annotated[str, Meta(pattern=r"^[0-9a-f]{16}$", description="64-bit perceptual hash")]
PixelSize = Annotated[int, Meta(ge=1)]
ByteSize = Annotated[int, Meta(ge=1)]
Milliseconds = Annotated[int, Meta(ge=1)]


class Provenance(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Signals read from the original bytes before they were sanitised."""

    had_metadata: bool
    """Any EXIF, XMP, IPTC, ICC profile, comment, PNG text chunk, MakerNote, embedded thumbnail,
    C2PA box or trailing data was present."""
    had_gps: bool
    """The EXIF GPS IFD carried a latitude and a longitude."""
    c2pa: C2paStatus
    ai_marker: bool
    """The upload declared itself generated: IPTC DigitalSourceType trainedAlgorithmicMedia,
    compositeWithTrainedAlgorithmicMedia or algorithmicMedia, in XMP or in a C2PA manifest."""
    capture_time_consistent: bool | None
    """EXIF DateTimeOriginal within 2 hours of the report's ``occurred_at``; null when absent."""
    capture_place_consistent: bool | None
    """EXIF GPS position within about 1 km (H3 res-9 grid distance <= 5) of the report's cell;
    null when the photo carries no usable position."""


class PhotoView(msgspec.Struct, frozen=True, kw_only=True):
    """``POST /v1/reports/{id}/photos`` → 201 (or 200 on an identical replay): a photo or a
    video (``content_type``)."""

    id: uuid.UUID
    report_id: uuid.UUID
    content_type: PhotoContentType
    width: PixelSize
    height: PixelSize
    bytes: ByteSize
    """Size of the stored (sanitised) image or video."""
    sha256: Sha256Hex
    """Of the stored (sanitised) bytes."""
    phash: PHashHex
    """Of the image, or of a video's poster frame."""
    provenance: Provenance
    duration_ms: Milliseconds | None = None
    """A video's duration; null for a photo."""


class SimilarPhoto(msgspec.Struct, frozen=True, kw_only=True):
    """Another photo within the near-duplicate distance on both perceptual hashes."""

    id: uuid.UUID
    report_id: uuid.UUID
    phash_distance: Annotated[int, Meta(ge=0, le=64)]
    dhash_distance: Annotated[int, Meta(ge=0, le=64)]


class SimilarPhotos(msgspec.Struct, frozen=True, kw_only=True):
    """``GET /v1/photos/{id}/similar``: closest first."""

    items: list[SimilarPhoto]
