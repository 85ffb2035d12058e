"""The photo sanitiser (design principle 2). Outputs are verified with exiftool and an
independent JPEG marker walk, never with the code that wrote them."""

from __future__ import annotations

import dataclasses
import hashlib
import pickle
import random
import warnings
from collections.abc import Callable

import pillow_heif
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageFile, ImageOps, ImageStat, PngImagePlugin

from storage.photos.formats import (
    ImageTooLarge,
    PhotoFormat,
    PhotoRejected,
    UndecodableImage,
    UnsupportedFormat,
    sniff_format,
)
from storage.photos.sanitise import SanitisedImage, sanitise, sanitise_with_image
from tests.support import photo_fixtures as fx

# Markers a sanitised JPEG may contain before its scan: APP0 (JFIF), DQT, SOF0, DHT, SOS.
ALLOWED_MARKERS = {0xE0, 0xDB, 0xC0, 0xC4, 0xDA}


def assert_clean(output: bytes) -> None:
    """No metadata (per exiftool), no planted secret, only structural markers, nothing after
    the EOI."""
    assert fx.metadata_problems(output) == []
    leaked = [secret for secret in fx.SECRETS if secret in output]
    assert leaked == []
    markers, end = fx.jpeg_markers(output)
    assert set(markers) <= ALLOWED_MARKERS, [hex(m) for m in markers]
    assert markers.count(0xDA) == 1
    assert end == len(output)
    assert output.endswith(b"\xff\xd9")


# --- metadata is gone (exiftool) --------------------------------------------------------------


def test_kitchen_sink_jpeg_input_really_carries_everything() -> None:
    """Guard for the fixture itself: exiftool sees every kind of metadata in the INPUT."""
    data = fx.jpeg_with_everything()
    tags = fx.exiftool_tags(data)
    groups = fx.exiftool_groups(tags)
    assert {
        "IFD0",
        "ExifIFD",
        "GPS",
        "Apple",
        "IFD1",
        "IPTC",
        "XMP-iptcExt",
        "XMP-dc",
        "ICC_Profile",
        "MPF0",
        "MPImage2",
    } <= groups
    assert tags["File:Comment"] == fx.SECRET_COMMENT
    assert tags["Apple:MediaGroupUUID"] == fx.SECRET_MAKERNOTE
    assert tags["ExifIFD:SerialNumber"] == fx.SECRET_SERIAL
    assert tags["IPTC:By-line"] == fx.SECRET_BYLINE
    assert tags["XMP-iptcExt:DigitalSourceType"] == fx.AI_SOURCE_TYPE
    assert "IFD1:ThumbnailImage" in tags
    assert data.endswith(fx.fake_motion_photo_trailer())
    _, first_eoi = fx.jpeg_markers(data)
    assert first_eoi < len(data)  # second MPF image and the trailer follow the first EOI


def test_kitchen_sink_jpeg_loses_all_metadata_and_trailing_data() -> None:
    upright = fx.asymmetric_image((320, 240))
    data = fx.jpeg_with_everything(upright, orientation=6)
    result = sanitise(data)
    assert_clean(result.data)
    assert (result.width, result.height) == (320, 240)
    assert fx.mean_abs_diff(fx.decode(result.data), upright) < 4


def test_png_with_text_exif_xmp_icc_chunks_is_clean() -> None:
    data = fx.png_with_everything()
    groups = fx.exiftool_groups(fx.exiftool_tags(data, ".png"))
    assert {"PNG", "GPS", "Apple", "XMP-iptcExt", "ICC_Profile"} <= groups
    assert_clean(sanitise(data).data)


def test_webp_with_exif_xmp_icc_is_clean() -> None:
    data = fx.webp_with_everything()
    groups = fx.exiftool_groups(fx.exiftool_tags(data, ".webp"))
    assert {"GPS", "Apple", "XMP-iptcExt", "ICC_Profile"} <= groups
    assert_clean(sanitise(data).data)


def test_heic_with_exif_xmp_is_clean() -> None:
    data = fx.heic_with_everything()
    groups = fx.exiftool_groups(fx.exiftool_tags(data, ".heic"))
    assert {"GPS", "Apple", "XMP-iptcExt"} <= groups
    result = sanitise(data)
    assert_clean(result.data)
    assert fx.mean_abs_diff(fx.decode(result.data), fx.asymmetric_image()) < 4


def test_trailing_zip_after_a_jpeg_is_dropped() -> None:
    """A JPEG/ZIP polyglot (JPEG at offset 0) is a JPEG; the ZIP does not survive."""
    zipped = fx.zip_bytes()
    output = sanitise(fx.jpeg_bytes(fx.asymmetric_image()) + zipped).data
    assert_clean(output)
    assert b"PK\x03\x04" not in output


# --- orientation ------------------------------------------------------------------------------


@pytest.mark.parametrize("orientation", range(1, 9))
def test_all_eight_exif_orientations_are_applied(orientation: int) -> None:
    upright = fx.asymmetric_image((160, 120))
    data = fx.oriented_jpeg(upright, orientation)
    tags = fx.exiftool_tags(data)
    assert "IFD0:Orientation" in tags
    result = sanitise_with_image(data)
    output = fx.decode(result.sanitised.data)
    reference = ImageOps.exif_transpose(fx.decode(data))
    assert output.size == reference.size == upright.size
    assert fx.mean_abs_diff(output, reference) < 3
    assert fx.mean_abs_diff(result.image, reference) < 3
    for corner, colour in fx.CORNERS.items():
        seen = fx.corner_colour(output, corner)
        assert max(abs(a - b) for a, b in zip(seen, colour, strict=True)) < 24, (corner, seen)
    assert "IFD0:Orientation" not in fx.exiftool_tags(result.sanitised.data)


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_webp_orientation_is_applied(orientation: int) -> None:
    upright = fx.asymmetric_image()
    output = fx.decode(sanitise(fx.webp_with_everything(upright, orientation)).data)
    assert output.size == upright.size
    assert fx.mean_abs_diff(output, upright) < 4


@pytest.mark.parametrize("orientation", [3, 5, 6, 8])
def test_heic_rotation_is_applied_once(orientation: int) -> None:
    """pillow-heif turns the EXIF orientation into irot/imir; libheif applies it and resets the
    EXIF tag, so the image must not be rotated a second time."""
    upright = fx.asymmetric_image()
    stored = fx.stored_for_orientation(upright, orientation)
    data = fx.heic_bytes(stored, exif=fx.camera_exif(orientation).tobytes())
    output = fx.decode(sanitise(data).data)
    assert output.size == upright.size
    assert fx.mean_abs_diff(output, upright) < 4


def test_xmp_only_orientation_is_applied() -> None:
    upright = fx.asymmetric_image()
    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", fx.xmp_packet(orientation=6).decode())
    data = fx.png_bytes(fx.stored_for_orientation(upright, 6), pnginfo=info)
    assert fx.mean_abs_diff(fx.decode(sanitise(data).data), upright) < 3


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(lambda exif: exif.__setitem__(0x0112, 9), id="orientation-9"),
        pytest.param(lambda exif: exif.__setitem__(0x0112, 65535), id="orientation-65535"),
        pytest.param(lambda exif: exif.__setitem__(0x0112, 0), id="orientation-0"),
    ],
)
def test_invalid_orientation_values_mean_no_rotation(
    mangle: Callable[[Image.Exif], None],
) -> None:
    upright = fx.asymmetric_image()
    exif = fx.camera_exif(1)
    mangle(exif)
    result = sanitise(fx.jpeg_bytes(upright, exif=exif.tobytes()))
    assert fx.mean_abs_diff(fx.decode(result.data), upright) < 3


@pytest.mark.parametrize(
    "app1",
    [
        b"Exif\x00\x00" + b"\xde\xad\xbe\xef" * 40,
        b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\xff\xff" + b"\x00" * 64,  # 65535 entries
        b"Exif\x00\x00II*\x00\x08\x00\x00\x00\x01\x00\x12\x01\x03\x00\x01\x00\x00\x00\x06\x00"
        + b"\x00\x00\x08\x00\x00\x00",  # orientation 6, then an IFD chain that loops to itself
        b"Exif\x00\x00",
    ],
    ids=["garbage", "huge-count", "ifd-loop", "empty"],
)
def test_broken_or_hostile_exif_does_not_fail_the_upload(app1: bytes) -> None:
    upright = fx.asymmetric_image()
    plain = fx.jpeg_bytes(upright)
    segment = b"\xff\xe1" + (len(app1) + 2).to_bytes(2, "big") + app1
    data = plain[:2] + segment + plain[2:]
    result = sanitise(data)
    assert_clean(result.data)
    assert (result.width, result.height) in {(160, 120), (120, 160)}


# --- pixels: colour, transparency, modes, size cap --------------------------------------------


def test_transparency_is_flattened_onto_white() -> None:
    """Fully transparent pixels (black underneath) become white, half-transparent ones are
    blended with white, opaque ones are kept."""
    image = fx.decode(sanitise(fx.png_with_everything((160, 120))).data)
    assert image.mode == "RGB"
    white = fx.corner_colour(image, "bottom_right")  # alpha 0 over black RGB
    assert min(white) > 245
    half = fx.corner_colour(image, "bottom_left")  # blue at alpha 128 over white
    assert half[2] > 230
    assert 120 < half[0] < 160
    opaque = fx.corner_colour(image, "top_left")
    assert max(abs(a - b) for a, b in zip(opaque, fx.TOP_LEFT, strict=True)) < 16


@pytest.mark.parametrize(
    ("mode", "make"),
    [
        ("P+tRNS", lambda im: im.convert("P", palette=Image.Palette.ADAPTIVE)),
        ("LA", lambda im: im.convert("LA")),
        ("RGB+tRNS", lambda im: im),
    ],
)
def test_palette_and_other_transparency_kinds_are_flattened_onto_white(
    mode: str, make: Callable[[Image.Image], Image.Image]
) -> None:
    base = Image.new("RGB", (64, 48), (0, 0, 0))
    base.paste((200, 20, 20), (0, 0, 32, 48))
    image = make(base)
    if mode == "LA":
        alpha = Image.new("L", image.size, 255)
        alpha.paste(0, (32, 0, 64, 48))
        image.putalpha(alpha)
        data = fx.png_bytes(image)
    elif mode == "P+tRNS":
        black_index = image.getpixel((40, 10))
        data = fx.png_bytes(image, transparency=black_index)
    else:
        data = fx.png_bytes(image, transparency=(0, 0, 0))
    output = fx.decode(sanitise(data).data)
    right = output.crop((40, 8, 56, 40))
    assert min(ImageStat.Stat(right).extrema[i][0] for i in range(3)) > 245, mode


def test_sixteen_bit_grey_png_keeps_its_tones() -> None:
    grey16 = Image.new("I;16", (64, 48), 0x8000)  # mid-grey, not clipped to white
    output = fx.decode(sanitise(fx.png_bytes(grey16)).data)
    r, g, b = fx.corner_colour(output, "top_left")
    assert 120 <= r <= 136
    assert r == g == b


def test_cmyk_and_greyscale_jpegs_become_rgb() -> None:
    for image in (fx.asymmetric_image().convert("CMYK"), fx.asymmetric_image().convert("L")):
        output = fx.decode(sanitise(fx.jpeg_bytes(image)).data)
        assert output.mode == "RGB"
        expected = image.convert("RGB")
        assert fx.mean_abs_diff(output, expected) < 4


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ((4000, 3000), (4000, 3000)),  # a 12 MP phone photo keeps its resolution
        ((4096, 1000), (4096, 1000)),
        ((5600, 4200), (4096, 3072)),  # 23.5 MP: decoded whole, then resized to the cap
        # 27 MP: above 24 MP a JPEG is decoded at half scale (DCT scaling), so a worker never
        # holds a full-size decode beyond ~100 MB; the long edge ends between 2048 and 4096.
        ((6000, 4500), (3000, 2250)),
        ((3000, 6000), (2048, 4096)),
        ((9000, 1500), (4096, 683)),  # JPEG draft (DCT scaling) path
    ],
)
def test_long_edge_is_capped_at_4096(size: tuple[int, int], expected: tuple[int, int]) -> None:
    image = Image.linear_gradient("L").resize(size).convert("RGB")
    result = sanitise(fx.jpeg_bytes(image, quality=80))
    assert (result.width, result.height) == expected
    assert fx.decode(result.data).size == expected


def test_other_formats_above_24_mp_are_still_resized_to_the_cap() -> None:
    image = Image.linear_gradient("L").resize((6000, 4500)).convert("RGB")
    result = sanitise(fx.png_bytes(image))
    assert (result.width, result.height) == (4096, 3072)


def test_max_edge_parameter() -> None:
    result = sanitise(fx.jpeg_bytes(fx.asymmetric_image((800, 600))), max_edge=400)
    assert (result.width, result.height) == (400, 300)


def test_downscaled_jpeg_matches_a_plain_full_decode_and_lanczos() -> None:
    """The DCT-domain draft plus banded Lanczos resize looks like the textbook pipeline."""
    source = fx.asymmetric_image((9000, 2400))
    data = fx.jpeg_bytes(source)
    reference = fx.decode(data).resize((4096, 1092), Image.Resampling.LANCZOS)
    result = sanitise_with_image(data)
    assert result.image.size == (4096, 1092)
    assert fx.mean_abs_diff(result.image, reference) < 1.5


def test_banded_resize_of_rgba_equals_a_whole_image_resize() -> None:
    """Band-by-band flattening and resizing gives the same pixels as doing it in one go."""
    rng = random.Random(7)
    size = (5000, 1300)
    image = Image.linear_gradient("L").resize(size).convert("RGBA")
    for _ in range(200):
        x, y = rng.randrange(size[0] - 80), rng.randrange(size[1] - 80)
        colour = tuple(rng.randrange(256) for _ in range(4))
        image.paste(colour, (x, y, x + rng.randrange(3, 80), y + rng.randrange(3, 80)))
    flat = Image.new("RGB", size, (255, 255, 255))
    flat.paste(image, mask=image)
    reference = flat.resize((4096, 1065), Image.Resampling.LANCZOS)
    result = sanitise_with_image(fx.png_bytes(image, compress_level=1))
    assert result.image.size == (4096, 1065)
    assert fx.mean_abs_diff(result.image, reference) < 0.5


@pytest.mark.parametrize("orientation", [2, 5, 6, 7, 8])
@pytest.mark.parametrize("kind", ["jpeg", "rgba-png"])
def test_resized_bands_land_in_the_right_place_for_every_orientation(
    orientation: int, kind: str
) -> None:
    upright = fx.asymmetric_image((660, 4400))  # displayed: portrait, too tall
    stored = fx.stored_for_orientation(upright, orientation)
    exif = fx.camera_exif(orientation).tobytes()
    if kind == "jpeg":
        data = fx.jpeg_bytes(stored, exif=exif)
    else:
        data = fx.png_bytes(stored.convert("RGBA"), exif=exif, compress_level=1)
    result = sanitise_with_image(data)
    assert result.image.size == (614, 4096)
    reference = ImageOps.exif_transpose(fx.decode(data)).convert("RGB")
    reference = reference.resize((614, 4096), Image.Resampling.LANCZOS)
    assert fx.mean_abs_diff(result.image, reference) < 1.5
    for corner, colour in fx.CORNERS.items():
        seen = fx.corner_colour(result.image, corner)
        assert max(abs(a - b) for a, b in zip(seen, colour, strict=True)) < 24, (corner, seen)


def test_output_is_deterministic_and_hashed() -> None:
    data = fx.jpeg_with_everything()
    first, second = sanitise(data), sanitise(data)
    assert first.data == second.data
    assert first.sha256 == hashlib.sha256(first.data).hexdigest() == second.sha256
    assert first.content_type == "image/jpeg"
    assert first.size == len(first.data)


# --- the SanitisedImage type ------------------------------------------------------------------


def test_sanitised_image_cannot_be_built_outside_the_sanitiser() -> None:
    kwargs: dict[str, object] = {"data": b"x", "width": 1, "height": 1, "sha256": "0" * 64}
    with pytest.raises(TypeError):
        SanitisedImage(**kwargs)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        SanitisedImage(**kwargs, _token=object())  # type: ignore[arg-type]
    real = sanitise(fx.jpeg_bytes(fx.asymmetric_image()))
    with pytest.raises(ValueError, match="InitVar"):
        dataclasses.replace(real, data=b"unsanitised")  # type: ignore[call-arg]
    with pytest.raises(dataclasses.FrozenInstanceError):
        real.data = b"unsanitised"  # type: ignore[misc]


def test_sanitised_image_survives_pickling_for_a_process_pool() -> None:
    real = sanitise(fx.jpeg_bytes(fx.asymmetric_image()))
    copy = pickle.loads(pickle.dumps(real))  # noqa: S301  (our own bytes)
    assert copy == real
    assert isinstance(copy, SanitisedImage)
    assert "data" not in repr(real)


def test_result_image_is_fresh_rgb_without_info() -> None:
    result = sanitise_with_image(fx.jpeg_with_everything())
    assert result.image.mode == "RGB"
    assert result.image.info == {}
    assert result.image.getexif() == {}
    assert result.source_format is PhotoFormat.JPEG


# --- format sniffing and rejections -----------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        (lambda: fx.jpeg_bytes(fx.asymmetric_image()), PhotoFormat.JPEG),
        (lambda: fx.png_bytes(fx.asymmetric_image()), PhotoFormat.PNG),
        (lambda: fx.webp_bytes(fx.asymmetric_image()), PhotoFormat.WEBP),
        (lambda: fx.heic_bytes(fx.asymmetric_image()), PhotoFormat.HEIF),
    ],
    ids=["jpeg", "png", "webp", "heic"],
)
def test_allowed_formats_are_sniffed_from_bytes(
    build: Callable[[], bytes], expected: PhotoFormat
) -> None:
    data = build()
    assert sniff_format(data) is expected
    assert sanitise_with_image(data).source_format is expected


@pytest.mark.parametrize("brand", [b"heic", b"heix", b"hevc", b"hevx", b"mif1", b"msf1"])
def test_heif_brands(brand: bytes) -> None:
    assert sniff_format(b"\x00\x00\x00\x18ftyp" + brand + b"\x00" * 12) is PhotoFormat.HEIF


@pytest.mark.parametrize(
    "build",
    [
        lambda: b"",
        fx.gif_bytes,
        fx.bmp_bytes,
        fx.tiff_bytes,
        lambda: fx.SVG,
        lambda: b"  \n" + fx.SVG,
        lambda: fx.HTML,
        lambda: fx.PDF,
        fx.zip_bytes,
        lambda: b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1" + b"\x00" * 32,
        lambda: fx.HTML + fx.jpeg_bytes(fx.asymmetric_image()),  # polyglot, HTML first
        lambda: fx.zip_bytes() + fx.png_bytes(fx.asymmetric_image()),  # polyglot, ZIP first
        lambda: b"\xff\xd8",  # incomplete JPEG signature
        lambda: b"\x89PNG\r\n",  # incomplete PNG signature
        lambda: random.Random(3).randbytes(4096),
    ],
    ids=[
        "empty",
        "gif",
        "bmp",
        "tiff",
        "svg",
        "svg-whitespace",
        "html",
        "pdf",
        "zip",
        "avif",
        "html-jpeg-polyglot",
        "zip-png-polyglot",
        "jpeg-2-bytes",
        "png-6-bytes",
        "random",
    ],
)
def test_everything_else_is_unsupported(build: Callable[[], bytes]) -> None:
    data = build()
    with pytest.raises(UnsupportedFormat) as caught:
        sanitise(data)
    assert caught.value.code == "unsupported_media_type"
    assert caught.value.status == 415


def _truncated(build: Callable[[], bytes], keep: float) -> Callable[[], bytes]:
    def make() -> bytes:
        data = build()
        return data[: int(len(data) * keep)]

    return make


def _noisy() -> Image.Image:
    return Image.effect_noise((256, 192), 60).convert("RGB")


@pytest.mark.parametrize(
    "build",
    [
        lambda: b"\xff\xd8\xff",
        lambda: b"\xff\xd8\xff" + b"\x00" * 512,
        lambda: b"\x89PNG\r\n\x1a\n",
        lambda: b"\x89PNG\r\n\x1a\n" + b"\x00" * 512,
        lambda: b"RIFF\x00\x00\x00\x00WEBP",
        lambda: b"RIFF\x00\x10\x00\x00WEBPVP8 " + b"\x00" * 512,
        lambda: b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic",
        lambda: b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 512,
        _truncated(lambda: fx.jpeg_bytes(_noisy()), 0.5),
        _truncated(lambda: fx.jpeg_bytes(_noisy()), 0.95),
        _truncated(lambda: fx.png_bytes(_noisy()), 0.5),
        _truncated(lambda: fx.webp_bytes(_noisy()), 0.5),
        _truncated(lambda: fx.heic_bytes(_noisy()), 0.5),
        lambda: fx.png_header_only(64, 48),
    ],
    ids=[
        "jpeg-magic-only",
        "jpeg-magic-zeros",
        "png-magic-only",
        "png-magic-zeros",
        "webp-header-only",
        "webp-zeros",
        "heic-ftyp-only",
        "heic-zeros",
        "jpeg-truncated-half",
        "jpeg-truncated-95pc",
        "png-truncated",
        "webp-truncated",
        "heic-truncated",
        "png-stub-idat",
    ],
)
def test_undecodable_after_a_valid_magic(build: Callable[[], bytes]) -> None:
    with pytest.raises(UndecodableImage) as caught:
        sanitise(build())
    assert type(caught.value) is UndecodableImage
    assert caught.value.code == "undecodable_image"
    assert caught.value.status == 422


@pytest.mark.parametrize(
    ("build", "max_pixels"),
    [
        (lambda: fx.png_header_only(50_000, 50_000), 40_000_000),  # Pillow's own bomb error
        (lambda: fx.png_header_only(10_000, 10_000), 40_000_000),  # Pillow's warning zone
        (lambda: fx.png_header_only(10_000, 10_000), 500_000_000),  # the warning is an error
        (lambda: fx.png_header_only(8_000, 6_000), 40_000_000),  # our budget, header only
        (lambda: fx.png_bomb(8_000, 6_000), 40_000_000),  # a valid 6 kB PNG of 48 MP
        (lambda: fx.png_bomb(2_000, 1_500), 1_000_000),
        (lambda: fx.jpeg_claiming(65_000, 65_000), 40_000_000),
        (lambda: fx.jpeg_claiming(9_000, 5_000), 40_000_000),
    ],
    ids=[
        "png-50k-squared",
        "png-100mp",
        "png-100mp-high-budget",
        "png-48mp-stub",
        "png-48mp-bomb",
        "png-3mp-over-1mp-budget",
        "jpeg-65k-squared",
        "jpeg-45mp",
    ],
)
def test_pixel_budget_is_checked_from_the_header(
    build: Callable[[], bytes], max_pixels: int
) -> None:
    """Stub pixel data would fail to decode: ImageTooLarge proves the header check came first."""
    with pytest.raises(ImageTooLarge) as caught:
        sanitise(build(), max_pixels=max_pixels)
    assert caught.value.code == "image_too_large"
    assert caught.value.status == 422


def test_warning_filters_are_left_as_they_were() -> None:
    before = list(warnings.filters)
    with pytest.raises(ImageTooLarge):
        sanitise(fx.png_header_only(10_000, 10_000))
    sanitise(fx.jpeg_with_everything())
    assert warnings.filters == before


def test_load_truncated_images_must_stay_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    with pytest.raises(RuntimeError, match="LOAD_TRUNCATED_IMAGES"):
        sanitise(fx.jpeg_bytes(fx.asymmetric_image()))


def test_heif_extras_are_switched_off_again(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pillow_heif.options, "THUMBNAILS", True)
    monkeypatch.setattr(pillow_heif.options, "AUX_IMAGES", True)
    monkeypatch.setattr(pillow_heif.options, "DEPTH_IMAGES", True)
    sanitise(fx.heic_with_everything())
    assert not pillow_heif.options.THUMBNAILS
    assert not pillow_heif.options.AUX_IMAGES
    assert not pillow_heif.options.DEPTH_IMAGES


@pytest.mark.parametrize(
    "kwargs", [{"max_pixels": 0}, {"max_edge": 0}, {"quality": 0}, {"quality": 101}]
)
def test_bad_parameters(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="quality"):
        sanitise(fx.jpeg_bytes(fx.asymmetric_image()), **kwargs)


def test_rejections_share_a_base_with_stable_codes() -> None:
    assert issubclass(UnsupportedFormat, PhotoRejected)
    assert issubclass(UndecodableImage, PhotoRejected)
    assert issubclass(ImageTooLarge, UndecodableImage)
    codes = {cls.code for cls in (UnsupportedFormat, UndecodableImage, ImageTooLarge)}
    assert codes == {"unsupported_media_type", "undecodable_image", "image_too_large"}


# --- property: mutated valid images only ever raise PhotoRejected ------------------------------

_SEEDS: dict[str, bytes] = {}


def _seed(name: str) -> bytes:
    if not _SEEDS:
        small = fx.asymmetric_image((48, 32))
        _SEEDS.update(
            jpeg=fx.jpeg_bytes(small, exif=fx.camera_exif(6).tobytes()),
            png=fx.png_bytes(small.convert("RGBA"), exif=fx.camera_exif(3).tobytes()),
            palette=fx.png_bytes(small.convert("P"), transparency=0),
            webp=fx.webp_bytes(small, exif=fx.camera_exif(8).tobytes()),
            heic=fx.heic_bytes(small, exif=fx.camera_exif(1).tobytes()),
        )
    return _SEEDS[name]


_mutation = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 1 << 20), st.integers(1, 255)),
    st.tuples(st.just("truncate"), st.integers(0, 1 << 20), st.just(0)),
    st.tuples(st.just("insert"), st.integers(0, 1 << 20), st.integers(1, 64)),
    st.tuples(st.just("delete"), st.integers(0, 1 << 20), st.integers(1, 64)),
)


def _mutate(data: bytes, mutations: list[tuple[str, int, int]], junk: bytes) -> bytes:
    buffer = bytearray(data)
    for kind, where, amount in mutations:
        if not buffer:
            break
        at = where % len(buffer)
        if kind == "flip":
            buffer[at] ^= amount
        elif kind == "truncate":
            del buffer[at:]
        elif kind == "insert":
            buffer[at:at] = (junk * amount)[:amount]
        else:
            del buffer[at : at + amount]
    return bytes(buffer)


@settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    seed=st.sampled_from(["jpeg", "png", "palette", "webp", "heic"]),
    mutations=st.lists(_mutation, min_size=1, max_size=6),
    junk=st.binary(min_size=1, max_size=16),
)
def test_mutated_images_only_ever_raise_photo_rejected(
    seed: str, mutations: list[tuple[str, int, int]], junk: bytes
) -> None:
    data = _mutate(_seed(seed), mutations, junk)
    try:
        result = sanitise(data)
    except PhotoRejected:
        return
    assert result.data.startswith(b"\xff\xd8")
    assert result.data.endswith(b"\xff\xd9")
    assert not any(secret in result.data for secret in fx.SECRETS)


def test_mutation_helper_really_mutates() -> None:
    original = _seed("jpeg")
    assert _mutate(original, [("truncate", 10, 0)], b"x") == original[:10]
    assert _mutate(original, [("insert", 3, 2)], b"ab")[3:5] == b"ab"
