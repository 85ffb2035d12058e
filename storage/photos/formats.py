"""Photo upload formats: the allow-list, sniffed from the bytes (never the Content-Type), and the
errors a rejected upload raises. Pure functions, no I/O.

The API maps the errors through their stable ``code``: ``unsupported_media_type`` → 415,
``undecodable_image`` and ``image_too_large`` → 422; for videos ``undecodable_video``,
``video_too_long`` and ``video_resolution_too_large`` → 422, ``video_too_big`` → 413.
"""

from __future__ import annotations

import enum

import pillow_heif

from storage.errors import DomainError

# HEIC/HEIF through libheif. Thumbnails, depth maps and auxiliary images (alpha/HDR gain maps,
# portrait mattes...) are never decoded: only the primary image is wanted, and every extra
# decoder path is extra attack surface. These are process-wide options of pillow-heif; they are
# set here, at import, and re-asserted before each HEIF decode (see ``ensure_heif_options``).
_HEIF_OPTIONS = {"thumbnails": False, "depth_images": False, "aux_images": False}
pillow_heif.register_heif_opener(**_HEIF_OPTIONS)


def ensure_heif_options() -> None:
    """Re-apply our pillow-heif options in case some other code changed the globals."""
    opts = pillow_heif.options
    if opts.THUMBNAILS or opts.DEPTH_IMAGES or opts.AUX_IMAGES or opts.DISABLE_SECURITY_LIMITS:
        opts.THUMBNAILS = False
        opts.DEPTH_IMAGES = False
        opts.AUX_IMAGES = False
        opts.DISABLE_SECURITY_LIMITS = False


class PhotoRejected(DomainError):
    """Base of every reason an uploaded photo is refused. ``code`` is stable (machine-readable),
    ``status`` is the HTTP status the API answers with."""

    code = "photo_rejected"
    status = 422


class UnsupportedFormat(PhotoRejected):
    """The bytes do not start like one of the allowed formats (415)."""

    code = "unsupported_media_type"
    status = 415


class UndecodableImage(PhotoRejected):
    """An allowed format by its magic number, but the image cannot be decoded (truncated,
    corrupt, empty after the signature...) (422)."""

    code = "undecodable_image"
    status = 422


class ImageTooLarge(UndecodableImage):
    """More pixels than the budget, or a decompression bomb (422). A subclass of
    ``UndecodableImage`` so callers that only care about "422" can catch that."""

    code = "image_too_large"
    status = 422


class UndecodableVideo(PhotoRejected):
    """A video container by its magic number, but it cannot be read to the end: truncated,
    corrupt, no video stream, packets missing from its index (422)."""

    code = "undecodable_video"
    status = 422


class VideoTooLong(PhotoRejected):
    """Longer than ``PLAINSIGHT_MAX_VIDEO_SECONDS`` (422)."""

    code = "video_too_long"
    status = 422


class VideoResolutionTooLarge(PhotoRejected):
    """More pixels per frame than ``PLAINSIGHT_MAX_VIDEO_PIXELS`` (422)."""

    code = "video_resolution_too_large"
    status = 422


class VideoTooBig(PhotoRejected):
    """More bytes than ``PLAINSIGHT_MAX_VIDEO_BYTES`` (413)."""

    code = "video_too_big"
    status = 413


class PhotoFormat(enum.Enum):
    """An allowed input format; ``value`` is the Pillow format name used to open it."""

    JPEG = "JPEG"
    PNG = "PNG"
    WEBP = "WEBP"
    HEIF = "HEIF"

    @property
    def pillow_format(self) -> str:
        return self.value


ALLOWED_FORMATS = tuple(PhotoFormat)

_JPEG_MAGIC = b"\xff\xd8\xff"
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# Major brands of an ISO-BMFF ``ftyp`` box that mean HEIF with HEVC (still images and
# sequences), exactly the set pillow-heif's opener accepts, so sniffing and decoding agree.
# AVIF (``avif``/``avis``) is deliberately absent.
HEIF_BRANDS = frozenset(
    {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs", b"mif1", b"msf1"}
)

# Only used to word the 415 detail; never decides anything.
_KNOWN_OTHERS: tuple[tuple[bytes, str], ...] = (
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"%PDF", "PDF"),
    (b"PK\x03\x04", "ZIP"),
    (b"\x00\x00\x01\x00", "ICO"),
)


def _describe_other(data: bytes) -> str:
    if not data:
        return "an empty body"
    for magic, name in _KNOWN_OTHERS:
        if data.startswith(magic):
            return name
    if data[4:8] == b"ftyp":
        return "an ISO-BMFF file that is not HEIC/HEIF"
    head = data[:256].lstrip().lower()
    if head.startswith((b"<?xml", b"<svg", b"<!doctype", b"<html", b"<")):
        return "markup (SVG/HTML/XML)"
    return "an unrecognised format"


def sniff_format(data: bytes) -> PhotoFormat:
    """The allowed format the bytes declare at offset 0, decided by magic numbers only.

    Raises ``UnsupportedFormat`` for anything else: other image formats, markup, documents,
    empty input, and polyglots whose first bytes are not one of the allowed signatures.
    """
    if data.startswith(_JPEG_MAGIC):
        return PhotoFormat.JPEG
    if data.startswith(_PNG_MAGIC):
        return PhotoFormat.PNG
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return PhotoFormat.WEBP
    if data[4:8] == b"ftyp" and data[8:12] in HEIF_BRANDS:
        return PhotoFormat.HEIF
    raise UnsupportedFormat(
        f"unsupported image format ({_describe_other(data)}); allowed: JPEG, PNG, WebP, HEIC/HEIF"
    )


# Major brands of an ISO-BMFF ``ftyp`` box that mean a movie: QuickTime (iPhone), MP4 and
# 3GP (Android), and the brands cameras and editors write. HEIF's brands are not among them.
VIDEO_BRANDS = frozenset(
    {b"qt  ", b"isom", b"iso2", b"iso4", b"iso5", b"iso6", b"mp41", b"mp42", b"avc1", b"M4V ",
     b"M4VP", b"MSNV", b"3gp4", b"3gp5", b"3gp6", b"3g2a", b"dash", b"mmp4", b"XAVC", b"hvc1",
     b"av01", b"kddi", b"f4v "}
)  # fmt: skip
_EBML_MAGIC = b"\x1a\x45\xdf\xa3"


def is_video(head: bytes) -> bool:
    """Whether the first bytes declare a video container this service may accept: an ISO-BMFF
    ``ftyp`` box with a movie brand (MP4, MOV, 3GP) or the EBML magic (Matroska, WebM).
    Decided by magic numbers only, never by a client's Content-Type; which codecs are inside
    is checked when the file is opened (``storage.photos.video``)."""
    if head.startswith(_EBML_MAGIC):
        return True
    return head[4:8] == b"ftyp" and head[8:12] in VIDEO_BRANDS
