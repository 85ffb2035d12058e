"""The photo sanitiser (design principle 2): decode an allow-listed format within a pixel budget,
apply the EXIF orientation, rebuild the image from pixels only and re-encode it as a JPEG, so no
EXIF, GPS, MakerNote, thumbnail, XMP, IPTC, ICC profile, comment, MPF image or trailing data of
the upload survives. Pure functions: bytes in, bytes out, no I/O.

The blob store accepts only ``SanitisedImage``, which only this module can construct, so an
unsanitised byte cannot be stored by mistake.

CPU-bound: run it off the event loop. Warning filters are changed locally with
``warnings.catch_warnings`` (process-global state before Python 3.14); safety never depends on
them, because the pixel budget below is checked explicitly from the header.
"""

from __future__ import annotations

import hashlib
import io
import math
import warnings
from collections.abc import Callable
from dataclasses import InitVar, dataclass, field
from typing import Final

from PIL import ExifTags, Image, ImageFile

from storage.photos.formats import (
    ImageTooLarge,
    PhotoFormat,
    PhotoRejected,
    UndecodableImage,
    UnsupportedFormat,
    ensure_heif_options,
    sniff_format,
)

__all__ = [
    "DEFAULT_MAX_EDGE",
    "DEFAULT_MAX_PIXELS",
    "DEFAULT_QUALITY",
    "ImageTooLarge",
    "PhotoRejected",
    "SanitiseResult",
    "SanitisedImage",
    "UndecodableImage",
    "UnsupportedFormat",
    "sanitise",
    "sanitise_with_image",
]

DEFAULT_MAX_PIXELS: Final = 40_000_000
DEFAULT_MAX_EDGE: Final = 4096
DEFAULT_QUALITY: Final = 85
OUTPUT_CONTENT_TYPE: Final = "image/jpeg"

# Transparent pixels are composited onto white. White rather than black: the result is the same
# whatever colour the (invisible) transparent pixels happened to hold, it is what viewers and
# browsers show a transparent PNG on, and black would leave dark halos around anti-aliased edges
# of screenshots, stickers and text.
_BACKGROUND: Final = (255, 255, 255)

_RESAMPLE: Final = Image.Resampling.LANCZOS
_FULL_DECODE_PIXELS: Final = 24_000_000
_LANCZOS_SUPPORT: Final = 3.0
# Output rows per band (see ``_rebuild``).
_BAND_ROWS: Final = 64

# EXIF orientation → the transpose that displays the image upright (as ImageOps.exif_transpose).
_TRANSPOSE: Final[dict[int, Image.Transpose]] = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_SWAPS_AXES: Final = frozenset(
    {
        Image.Transpose.ROTATE_90,
        Image.Transpose.ROTATE_270,
        Image.Transpose.TRANSPOSE,
        Image.Transpose.TRANSVERSE,
    }
)
_SIXTEEN_BIT_MODES: Final = frozenset({"I", "I;16", "I;16L", "I;16B", "I;16N"})

# Proves a call comes from this module; deliberately not exported.
_SANITISED: Final = object()


@dataclass(frozen=True, slots=True, kw_only=True)
class SanitisedImage:
    """Re-encoded JPEG bytes with nothing of the upload but its pixels. Only ``sanitise`` (and
    ``sanitise_with_image``) can build one; ``dataclasses.replace`` cannot either."""

    data: bytes = field(repr=False)
    width: int
    height: int
    sha256: str
    content_type: str = OUTPUT_CONTENT_TYPE
    _token: InitVar[object]

    def __post_init__(self, _token: object) -> None:
        if _token is not _SANITISED:
            raise TypeError("a SanitisedImage is only made by storage.photos.sanitise.sanitise()")

    @property
    def size(self) -> int:
        """Length of ``data`` in bytes."""
        return len(self.data)


@dataclass(frozen=True, slots=True)
class SanitiseResult:
    """The stored bytes plus what the pipeline needs next without decoding twice: ``image`` is
    the upright RGB image that was encoded (hash it with ``storage.photos.hashes``)."""

    sanitised: SanitisedImage
    image: Image.Image
    source_format: PhotoFormat


def sanitise(
    data: bytes,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_edge: int = DEFAULT_MAX_EDGE,
    quality: int = DEFAULT_QUALITY,
) -> SanitisedImage:
    """Sanitise an uploaded photo; see ``sanitise_with_image``."""
    return sanitise_with_image(
        data, max_pixels=max_pixels, max_edge=max_edge, quality=quality
    ).sanitised


def sanitise_with_image(
    data: bytes,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_edge: int = DEFAULT_MAX_EDGE,
    quality: int = DEFAULT_QUALITY,
    before_encoding: Callable[[Image.Image], object] | None = None,
) -> SanitiseResult:
    """Decode, orient, rebuild from pixels and re-encode ``data`` as a metadata-free JPEG.

    The format is sniffed from the bytes (JPEG, PNG, WebP, HEIC/HEIF). The image is refused
    before any pixel is decoded when its header declares more than ``max_pixels`` pixels (the
    effective ceiling is also Pillow's ``MAX_IMAGE_PIXELS``, ~89 MP, whose warning is an error
    here). The long edge is capped at ``max_edge`` (Lanczos; JPEG sources far above the cap are
    first scaled down in the DCT domain by libjpeg, which never drops below the cap).

    ``before_encoding`` is called with the upright image (the one ``image`` of the result
    holds) once it is decoded and before it is encoded: a caller may start reading it in another
    thread (Pillow's JPEG encoder releases the GIL), but must not change it.

    Raises ``UnsupportedFormat`` (415), ``UndecodableImage`` or ``ImageTooLarge`` (422); never
    anything else for any input bytes. ``ValueError`` only for bad parameters.
    """
    if max_pixels < 1 or max_edge < 1 or not 1 <= quality <= 95:
        raise ValueError("max_pixels and max_edge must be positive, quality within 1..95")
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        # A deployment bug, not a bad upload: truncated files must be refused, not padded grey.
        raise RuntimeError("PIL.ImageFile.LOAD_TRUNCATED_IMAGES must stay False")
    fmt = sniff_format(data)
    if fmt is PhotoFormat.HEIF:
        ensure_heif_options()
    with warnings.catch_warnings():
        # Decompression bombs are errors. Pillow's other warnings are about metadata (corrupt
        # EXIF, malformed MPF index, oversized text chunks) that is thrown away anyway; pixel
        # corruption raises exceptions, not warnings. So they must neither escape nor fail.
        warnings.simplefilter("ignore")
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = _decode_to_clean_rgb(data, fmt, max_pixels=max_pixels, max_edge=max_edge)
        except PhotoRejected:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageTooLarge("the image has too many pixels (decompression bomb?)") from exc
        except Exception as exc:
            # Anything a decoder throws at hostile bytes (OSError, SyntaxError, ValueError,
            # EOFError, struct.error, libheif errors...) means: not a decodable image.
            raise UndecodableImage(f"the {fmt.value} image cannot be decoded") from exc
    if before_encoding is not None:
        before_encoding(image)
    encoded = _encode_jpeg(image, quality)
    sanitised = SanitisedImage(
        data=encoded,
        width=image.width,
        height=image.height,
        sha256=hashlib.sha256(encoded).hexdigest(),
        _token=_SANITISED,
    )
    return SanitiseResult(sanitised=sanitised, image=image, source_format=fmt)


def _decode_to_clean_rgb(
    data: bytes, fmt: PhotoFormat, *, max_pixels: int, max_edge: int
) -> Image.Image:
    with Image.open(io.BytesIO(data), formats=[fmt.pillow_format]) as source:
        # Header only so far: refuse before a single pixel is decoded.
        width, height = source.size
        if width < 1 or height < 1:
            raise UndecodableImage("the image has no pixels")
        if width * height > max_pixels:
            raise ImageTooLarge(
                f"the image has {width * height} pixels, more than the {max_pixels} allowed"
            )
        target = _fit(source.size, max_edge)
        if fmt is PhotoFormat.JPEG and target != source.size:
            # libjpeg scales by 1/2, 1/4 or 1/8 while decoding, only as far as the result stays
            # at least ``target`` in both dimensions: faster, less memory, no quality loss.
            # Above _FULL_DECODE_PIXELS it may go down to half the cap instead: a 40 MP photo
            # (7744 px) then keeps 3872 px rather than 4096, and the worker never holds its
            # 160 MB full-size decode (it stays within 250 MB at the pixel budget).
            if width * height > _FULL_DECODE_PIXELS:
                target = _fit(source.size, max(1, max_edge // 2))
            source.draft(None, target)
            target = _fit(source.size, max_edge)
        source.load()
        upright = _rebuild(source, target, _orientation(source))
    # ``upright`` is a fresh Image.new(...) filled from pixels: its ``info`` is empty, so no
    # EXIF, ICC, XMP, comment, dpi... can be carried into the encoder.
    assert upright.mode == "RGB"
    assert not upright.info
    return upright


def _fit(size: tuple[int, int], max_edge: int) -> tuple[int, int]:
    """``size`` scaled down (aspect kept) so its long edge is at most ``max_edge``."""
    width, height = size
    long_edge = max(width, height)
    if long_edge <= max_edge:
        return size
    scale = max_edge / long_edge
    if width >= height:
        return max_edge, max(1, round(height * scale))
    return max(1, round(width * scale)), max_edge


def _orientation(image: Image.Image) -> int:
    """The EXIF (or XMP tiff:Orientation) orientation, 1 when absent or unreadable: broken or
    hostile EXIF must not fail an upload, it only loses the rotation."""
    try:
        value = image.getexif().get(ExifTags.Base.Orientation, 1)
    except Exception:
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _has_alpha(image: Image.Image) -> bool:
    try:
        return bool(image.has_transparency_data)
    except Exception:
        return False


def _to_rgb(image: Image.Image, *, alpha: bool) -> Image.Image:
    """An RGB version of (a band of) the decoded image."""
    if image.mode in _SIXTEEN_BIT_MODES:
        # Pillow clips 16-bit grey to 255 when converting; scale it to 8 bits instead.
        return image.convert("I").point(lambda v: v * (1 / 256)).convert("L").convert("RGB")
    if alpha:
        rgba = image if image.mode == "RGBA" else image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, _BACKGROUND)
        flat.paste(rgba, mask=rgba)  # straight-alpha "over" white
        return flat
    return image if image.mode == "RGB" else image.convert("RGB")


def _rebuild(source: Image.Image, target: tuple[int, int], orientation: int) -> Image.Image:
    """A fresh upright RGB image holding only ``source``'s pixels: converted, flattened,
    (Lanczos) resized to ``target`` and transposed band by band into one ``Image.new``.

    Band by band, so a non-RGB source (RGBA, palette, 16-bit...) is never copied whole at full
    resolution, and the only full-size allocation besides the decoded source is the output."""
    method = _TRANSPOSE.get(orientation)
    alpha = _has_alpha(source)
    direct = source.mode == "RGB" and not alpha
    src_w, src_h = source.size
    out_w, out_h = target
    swaps = method in _SWAPS_AXES
    if direct and source.size == target and method is not None:
        # The common phone photo: RGB, within the cap, rotated. One whole-image transpose
        # (cache-blocked in Pillow) instead of bands: pasting 64-pixel-wide columns into the
        # output touches every row of it once per band, which cost ~3x the transpose itself.
        # ``transpose`` returns a fresh image of pixels only (a plain Image, not the JPEG
        # file object) whose ``info`` is a copy of the source's: emptied here.
        upright = source.transpose(method)
        upright.info = {}
        return upright
    # Left unfilled: the bands below overwrite every pixel (filling first cost ~5 ms at 12 MP).
    out = Image.new("RGB", (out_h, out_w) if swaps else target, None)
    if direct and method is None and source.size == target:
        out.paste(source)
        return out
    scale_y = src_h / out_h
    # Source rows a Lanczos output row reads: its centre ± 3 source-scaled pixels. Each band is
    # cropped with that margin, so the result equals one whole-image resize.
    margin = math.ceil(_LANCZOS_SUPPORT * max(scale_y, 1.0)) + 2
    for top in range(0, out_h, _BAND_ROWS):
        bottom = min(out_h, top + _BAND_ROWS)
        if source.size == target:
            part = _to_rgb(source.crop((0, top, src_w, bottom)), alpha=alpha)
        elif direct:
            # Pillow reads only the rows the box needs: no crop copy.
            box = (0.0, top * scale_y, float(src_w), bottom * scale_y)
            part = source.resize((out_w, bottom - top), _RESAMPLE, box=box)
        else:
            first = max(0, math.floor(top * scale_y) - margin)
            last = min(src_h, math.ceil(bottom * scale_y) + margin)
            band = _to_rgb(source.crop((0, first, src_w, last)), alpha=alpha)
            box = (0.0, top * scale_y - first, float(src_w), bottom * scale_y - first)
            part = band.resize((out_w, bottom - top), _RESAMPLE, box=box)
        if method is not None:
            part = part.transpose(method)
        out.paste(part, _band_origin(method, top, bottom, target))
    return out


def _band_origin(
    method: Image.Transpose | None, top: int, bottom: int, size: tuple[int, int]
) -> tuple[int, int]:
    """Where the band of rows ``top:bottom`` of an image of ``size`` lands once the whole image
    is transposed with ``method``: the top-left corner of the transposed band."""
    height = size[1]
    if method is None or method is Image.Transpose.FLIP_LEFT_RIGHT:
        return 0, top
    if method in (Image.Transpose.FLIP_TOP_BOTTOM, Image.Transpose.ROTATE_180):
        return 0, height - bottom
    if method in (Image.Transpose.ROTATE_90, Image.Transpose.TRANSPOSE):
        return top, 0
    return height - bottom, 0  # ROTATE_270, TRANSVERSE


def _encode_jpeg(image: Image.Image, quality: int) -> bytes:
    buffer = io.BytesIO()
    # Baseline, no optimize pass (speed), 4:2:0 chroma (photos). No exif/icc/comment/dpi: the
    # image's info is empty and nothing is passed, so Pillow writes SOI, JFIF APP0, tables,
    # the scan and EOI, and nothing after EOI.
    image.save(buffer, "JPEG", quality=quality, subsampling="4:2:0", optimize=False)
    return buffer.getvalue()
