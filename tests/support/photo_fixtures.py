"""Builders of test photos, reusable by any test: images with distinctive pixels (drawn with
Pillow), every kind of metadata a phone or an editor leaves (injected with Pillow and exiftool),
hostile inputs, and verifiers that look at the OUTPUT independently of the project's code
(exiftool JSON, a JPEG marker walk).

exiftool is required (Debian: libimage-exiftool-perl). When it is missing, the tests that need it
FAIL with a clear message instead of silently skipping: CI installs it.
"""

from __future__ import annotations

import io
import json
import shutil
import struct
import subprocess
import tempfile
import zlib
from pathlib import Path
from typing import Any, Final

import pytest
from PIL import ExifTags, Image, ImageChops, ImageCms, ImageDraw, ImageStat, PngImagePlugin

import storage.photos.formats  # noqa: F401  (registers the HEIF opener and its options)

# Distinctive values planted in metadata; none may appear in a sanitised output.
SECRET_SERIAL: Final = "PSX-SERIAL-7731"
SECRET_MAKERNOTE: Final = "PSX-MAKERNOTE-UUID-5E1F"
SECRET_COMMENT: Final = "PSX-COMMENT-reporter-was-here"
SECRET_BYLINE: Final = "PSX-BYLINE-Jane-Doe"
SECRET_XMP: Final = "PSX-XMP-CREATOR"
SECRET_TEXT: Final = "PSX-PNG-TEXT"
SECRET_TRAILER: Final = b"PSX-TRAILER-MOTION-PHOTO"
SECRET_THUMB_COLOUR: Final = (255, 0, 255)
SECRETS: Final[tuple[bytes, ...]] = (
    SECRET_TRAILER,
    *(
        s.encode()
        for s in (
            SECRET_SERIAL,
            SECRET_MAKERNOTE,
            SECRET_COMMENT,
            SECRET_BYLINE,
            SECRET_XMP,
            SECRET_TEXT,
            "Exif\x00\x00",
            "http://ns.adobe.com/xap/1.0/",
            "ICC_PROFILE",
            "Photoshop 3.0",
            "MPF\x00",
            "iPhone",
        )
    ),
)

AI_SOURCE_TYPE: Final = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
# New York City Hall, a place a reporter could be identified by.
GPS_LAT: Final = 40.712772
GPS_LON: Final = -74.006058

# Corner colours of ``asymmetric_image``: four distinct colours identify each of the eight
# orientations (the symmetries of a rectangle) unambiguously.
TOP_LEFT: Final = (220, 30, 30)
TOP_RIGHT: Final = (30, 200, 40)
BOTTOM_LEFT: Final = (30, 40, 220)
BOTTOM_RIGHT: Final = (240, 220, 30)
CORNERS: Final = {
    "top_left": TOP_LEFT,
    "top_right": TOP_RIGHT,
    "bottom_left": BOTTOM_LEFT,
    "bottom_right": BOTTOM_RIGHT,
}

# exiftool groups (-G1) a sanitised JPEG may show: the file itself, JFIF, derived values.
ALLOWED_OUTPUT_GROUPS: Final = frozenset({"ExifTool", "System", "File", "JFIF", "Composite"})
ALLOWED_FILE_TAGS: Final = frozenset(
    {
        "FileType",
        "FileTypeExtension",
        "MIMEType",
        "ImageWidth",
        "ImageHeight",
        "EncodingProcess",
        "BitsPerSample",
        "ColorComponents",
        "YCbCrSubSampling",
    }
)

# The transpose ImageOps.exif_transpose applies for each orientation, and its inverse: how a
# camera stores an upright scene when it writes that orientation.
_DISPLAY: Final[dict[int, Image.Transpose | None]] = {
    1: None,
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_STORE: Final[dict[int, Image.Transpose | None]] = {
    **_DISPLAY,
    6: Image.Transpose.ROTATE_90,
    8: Image.Transpose.ROTATE_270,
}


# --- exiftool ---------------------------------------------------------------------------------


def exiftool_path() -> str:
    """The exiftool executable; fails the calling test when it is not installed."""
    path = shutil.which("exiftool")
    if path is None:
        pytest.fail(
            "exiftool is required by the photo tests (metadata is injected and verified with it,"
            " independently of the project's code): install it, e.g. `apt-get install"
            " libimage-exiftool-perl`",
            pytrace=False,
        )
    return path


def exiftool_write(data: bytes, suffix: str, *args: str) -> bytes:
    """``data`` after ``exiftool -overwrite_original ARGS file``; fails on any exiftool error."""
    with tempfile.TemporaryDirectory(prefix="plainsight-photo-") as tmp:
        path = Path(tmp) / f"image{suffix}"
        path.write_bytes(data)
        proc = subprocess.run(
            [exiftool_path(), "-overwrite_original", "-m", *args, str(path)],
            capture_output=True,
            text=True,
            check=False,
            cwd=tmp,
        )
        if proc.returncode != 0 or "1 image files updated" not in proc.stdout:
            pytest.fail(f"exiftool could not write {args}: {proc.stdout} {proc.stderr}")
        return path.read_bytes()


def exiftool_tags(data: bytes, suffix: str = ".jpg") -> dict[str, Any]:
    """``exiftool -j -a -G1 -struct`` of ``data``: every tag, keyed ``Group:Tag``."""
    with tempfile.TemporaryDirectory(prefix="plainsight-photo-") as tmp:
        path = Path(tmp) / f"image{suffix}"
        path.write_bytes(data)
        proc = subprocess.run(
            [exiftool_path(), "-j", "-a", "-G1", "-struct", "-u", str(path)],
            capture_output=True,
            text=True,
            check=False,
        )
        if not proc.stdout:
            pytest.fail(f"exiftool failed: {proc.stderr}")
        parsed = json.loads(proc.stdout)
        assert isinstance(parsed, list)
        tags = parsed[0]
        assert isinstance(tags, dict)
        return tags


def exiftool_groups(tags: dict[str, Any]) -> set[str]:
    return {key.split(":", 1)[0] for key in tags if ":" in key}


def metadata_problems(output: bytes) -> list[str]:
    """Everything in a sanitised JPEG that is more than pixels, as exiftool sees it: groups
    other than the file/JFIF ones, File tags such as Comment, warnings (e.g. trailer data)."""
    tags = exiftool_tags(output, ".jpg")
    problems = [f"group {g}" for g in sorted(exiftool_groups(tags) - ALLOWED_OUTPUT_GROUPS)]
    for key, value in tags.items():
        group, _, name = key.partition(":")
        if group == "File" and name not in ALLOWED_FILE_TAGS:
            problems.append(f"{key}={value!r}")
        if group == "ExifTool" and name != "ExifToolVersion":
            problems.append(f"{key}={value!r}")
    if tags.get("File:FileType") != "JPEG" or tags.get("File:MIMEType") != "image/jpeg":
        problems.append(f"file type {tags.get('File:FileType')!r}")
    return problems


# --- JPEG structure (an independent marker walk) ----------------------------------------------


def jpeg_markers(data: bytes) -> tuple[list[int], int]:
    """The markers before the first scan, and the offset just after the EOI that ends the
    entropy-coded data (so ``data[end:]`` is whatever trails the image)."""
    if data[:2] != b"\xff\xd8":
        raise AssertionError("not a JPEG (no SOI)")
    markers: list[int] = []
    pos = 2
    while True:
        if data[pos] != 0xFF:
            raise AssertionError(f"no marker at offset {pos}")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        markers.append(marker)
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        pos += 2 + length
        if marker == 0xDA:  # SOS: entropy-coded data follows
            break
    # In entropy-coded data 0xFF is always followed by 0x00 (stuffing), RSTn or the next
    # marker; a single-scan baseline JPEG's next marker is EOI.
    while True:
        pos = data.index(b"\xff", pos)
        following = data[pos + 1]
        if following == 0x00 or 0xD0 <= following <= 0xD7 or following == 0xFF:
            pos += 1 if following == 0xFF else 2
            continue
        if following == 0xD9:
            return markers, pos + 2
        raise AssertionError(f"unexpected marker 0xFF{following:02X} after the scan")


# --- images -----------------------------------------------------------------------------------


def asymmetric_image(size: tuple[int, int] = (160, 120)) -> Image.Image:
    """Mid-grey with a distinct solid colour block in each corner and an off-centre bar: every
    orientation (flip, rotation) gives a different picture."""
    width, height = size
    image = Image.new("RGB", size, (128, 128, 128))
    draw = ImageDraw.Draw(image)
    bw, bh = width // 4, height // 4
    draw.rectangle((0, 0, bw - 1, bh - 1), fill=TOP_LEFT)
    draw.rectangle((width - bw, 0, width - 1, bh - 1), fill=TOP_RIGHT)
    draw.rectangle((0, height - bh, bw - 1, height - 1), fill=BOTTOM_LEFT)
    draw.rectangle((width - bw, height - bh, width - 1, height - 1), fill=BOTTOM_RIGHT)
    draw.rectangle((width // 3, height // 3, width // 3 + width // 10, height - height // 3), 0)
    return image


def corner_colour(image: Image.Image, corner: str) -> tuple[int, int, int]:
    """The mean colour near the centre of a corner block of ``asymmetric_image``."""
    rgb = image.convert("RGB")
    width, height = rgb.size
    x = width // 8 if "left" in corner else width - width // 8
    y = height // 8 if "top" in corner else height - height // 8
    means = ImageStat.Stat(rgb.crop((x - 2, y - 2, x + 3, y + 3))).mean
    return int(means[0]), int(means[1]), int(means[2])


def stored_for_orientation(upright: Image.Image, orientation: int) -> Image.Image:
    """The pixels a camera stores for an ``upright`` scene when it tags ``orientation``."""
    method = _STORE[orientation]
    return upright.copy() if method is None else upright.transpose(method)


def displayed(stored: Image.Image, orientation: int) -> Image.Image:
    method = _DISPLAY[orientation]
    return stored.copy() if method is None else stored.transpose(method)


def mean_abs_diff(a: Image.Image, b: Image.Image) -> float:
    """Mean absolute difference per channel (0..255) of two same-size images."""
    a_rgb, b_rgb = a.convert("RGB"), b.convert("RGB")
    assert a_rgb.size == b_rgb.size, (a_rgb.size, b_rgb.size)
    means = ImageStat.Stat(ImageChops.difference(a_rgb, b_rgb)).mean
    return float(sum(means) / len(means))


def decode(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return image.copy()


def srgb_icc_profile() -> bytes:
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
    icc = profile.tobytes()
    assert isinstance(icc, bytes)
    return icc


def apple_makernote(marker: str = SECRET_MAKERNOTE) -> bytes:
    """A minimal Apple iOS MakerNote (exiftool decodes it as ``Apple:MediaGroupUUID``)."""
    value = marker.encode() + b"\x00"
    header = b"Apple iOS\x00\x00\x01MM"
    entries = struct.pack(">H", 1) + struct.pack(
        ">HHII", 0x0011, 2, len(value), len(header) + 2 + 12 + 4
    )
    return header + entries + struct.pack(">I", 0) + value


def _rational(value: float) -> tuple[float, float, float]:
    degrees = int(value)
    minutes_full = (value - degrees) * 60
    minutes = int(minutes_full)
    return float(degrees), float(minutes), round((minutes_full - minutes) * 60, 4)


def camera_exif(orientation: int = 1, *, gps: bool = True) -> Image.Exif:
    """EXIF as a phone writes it: make/model/serial, software, time, Apple MakerNote, GPS."""
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "Apple"
    exif[ExifTags.Base.Model] = "iPhone 15 Pro"
    exif[ExifTags.Base.Software] = "17.1.1"
    exif[ExifTags.Base.DateTime] = "2025:11:14 18:02:11"
    exif[ExifTags.Base.Orientation] = orientation
    sub = exif.get_ifd(ExifTags.IFD.Exif)
    sub[ExifTags.Base.DateTimeOriginal] = "2025:11:14 18:02:11"
    sub[ExifTags.Base.BodySerialNumber] = SECRET_SERIAL
    sub[ExifTags.Base.MakerNote] = apple_makernote()
    if gps:
        gps_ifd = exif.get_ifd(ExifTags.IFD.GPSInfo)
        gps_ifd[ExifTags.GPS.GPSLatitudeRef] = "N"
        gps_ifd[ExifTags.GPS.GPSLatitude] = _rational(abs(GPS_LAT))
        gps_ifd[ExifTags.GPS.GPSLongitudeRef] = "W"
        gps_ifd[ExifTags.GPS.GPSLongitude] = _rational(abs(GPS_LON))
    return exif


def xmp_packet(orientation: int | None = None) -> bytes:
    """An XMP packet with an IPTC DigitalSourceType (AI marker), a creator, a creator tool."""
    orientation_attr = f' tiff:Orientation="{orientation}"' if orientation else ""
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF'
        ' xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about=""'
        ' xmlns:dc="http://purl.org/dc/elements/1.1/"'
        ' xmlns:xmp="http://ns.adobe.com/xap/1.0/"'
        ' xmlns:tiff="http://ns.adobe.com/tiff/1.0/"'
        ' xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"'
        f' xmp:CreatorTool="Generator 9000"{orientation_attr}'
        f' Iptc4xmpExt:DigitalSourceType="{AI_SOURCE_TYPE}">'
        f"<dc:creator><rdf:Seq><rdf:li>{SECRET_XMP}</rdf:li></rdf:Seq></dc:creator>"
        "</rdf:Description></rdf:RDF></x:xmpmeta>"
        '<?xpacket end="w"?>'
    ).encode()


def jpeg_bytes(image: Image.Image, **save: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", **{"quality": 95, **save})
    return buffer.getvalue()


def png_bytes(image: Image.Image, **save: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG", **save)
    return buffer.getvalue()


def webp_bytes(image: Image.Image, **save: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "WEBP", **{"quality": 95, **save})
    return buffer.getvalue()


def heic_bytes(image: Image.Image, **save: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "HEIF", **{"quality": 95, **save})
    return buffer.getvalue()


def oriented_jpeg(upright: Image.Image, orientation: int) -> bytes:
    """A JPEG whose stored pixels need ``orientation`` to display ``upright`` (set by exiftool,
    the way a camera tags it)."""
    stored = jpeg_bytes(stored_for_orientation(upright, orientation))
    return exiftool_write(stored, ".jpg", f"-Orientation#={orientation}")


def fake_motion_photo_trailer() -> bytes:
    """What a "motion photo" appends after the JPEG's EOI: an MP4 (ftyp + a marker blob)."""
    ftyp = struct.pack(">I", 24) + b"ftypmp42" + b"\x00\x00\x00\x00" + b"mp42isom"
    mdat_payload = SECRET_TRAILER * 8
    mdat = struct.pack(">I", 8 + len(mdat_payload)) + b"mdat" + mdat_payload
    return ftyp + mdat


def jpeg_with_everything(upright: Image.Image | None = None, orientation: int = 6) -> bytes:
    """The kitchen sink: an MPO (JPEG + MPF index + second image) whose first image carries
    EXIF (camera, serial, Apple MakerNote, GPS, orientation), an ICC profile and a comment;
    exiftool then adds more GPS, IPTC (By-line, City), XMP (DigitalSourceType, creator), a
    JPEG comment and an EXIF thumbnail; finally a fake motion-photo MP4 is appended."""
    upright = upright if upright is not None else asymmetric_image((320, 240))
    stored = stored_for_orientation(upright, orientation)
    second = Image.new("RGB", (64, 48), SECRET_THUMB_COLOUR)
    buffer = io.BytesIO()
    stored.save(
        buffer,
        "MPO",
        save_all=True,
        append_images=[second],
        quality=95,
        exif=camera_exif(orientation).tobytes(),
        icc_profile=srgb_icc_profile(),
        comment=SECRET_COMMENT.encode(),
    )
    with tempfile.TemporaryDirectory(prefix="plainsight-photo-") as tmp:
        thumb = Path(tmp) / "thumb.jpg"
        thumb.write_bytes(jpeg_bytes(Image.new("RGB", (32, 24), SECRET_THUMB_COLOUR)))
        tagged = exiftool_write(
            buffer.getvalue(),
            ".jpg",
            f"-GPSLatitude={abs(GPS_LAT)}",
            "-GPSLatitudeRef=N",
            f"-GPSLongitude={abs(GPS_LON)}",
            "-GPSLongitudeRef=W",
            f"-SerialNumber={SECRET_SERIAL}",
            f"-IPTC:By-line={SECRET_BYLINE}",
            "-IPTC:City=New York",
            f"-XMP-iptcExt:DigitalSourceType={AI_SOURCE_TYPE}",
            f"-XMP-dc:Creator={SECRET_XMP}",
            f"-Comment={SECRET_COMMENT}",
            f"-ThumbnailImage<={thumb}",
        )
    return tagged + fake_motion_photo_trailer()


def png_with_everything(size: tuple[int, int] = (160, 120)) -> bytes:
    """An RGBA PNG (transparent, half-transparent and opaque areas) with tEXt, zTXt, iTXt
    (incl. XMP), eXIf and iCCP chunks."""
    image = asymmetric_image(size).convert("RGBA")
    alpha = Image.new("L", size, 255)
    draw = ImageDraw.Draw(alpha)
    draw.rectangle((size[0] // 2, size[1] // 2, size[0] - 1, size[1] - 1), fill=0)
    draw.rectangle((0, size[1] // 2, size[0] // 4 - 1, size[1] - 1), fill=128)
    image.putalpha(alpha)
    # Colour under fully transparent pixels: black, so flattening onto it would show.
    black = Image.new("RGBA", size, (0, 0, 0, 0))
    image = Image.composite(image, black, alpha.point(lambda v: 255 if v else 0))
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", SECRET_TEXT)
    info.add_text("Author", SECRET_TEXT, zip=True)
    info.add_itxt("Description", SECRET_TEXT, lang="en", tkey="Description")
    info.add_itxt("XML:com.adobe.xmp", xmp_packet().decode())
    return png_bytes(
        image,
        pnginfo=info,
        exif=camera_exif(1).tobytes(),
        icc_profile=srgb_icc_profile(),
    )


def webp_with_everything(upright: Image.Image | None = None, orientation: int = 1) -> bytes:
    upright = upright if upright is not None else asymmetric_image()
    return webp_bytes(
        stored_for_orientation(upright, orientation),
        exif=camera_exif(orientation).tobytes(),
        xmp=xmp_packet(),
        icc_profile=srgb_icc_profile(),
    )


def heic_with_everything(upright: Image.Image | None = None) -> bytes:
    upright = upright if upright is not None else asymmetric_image()
    return heic_bytes(upright, exif=camera_exif(1).tobytes(), xmp=xmp_packet())


# --- hostile inputs ---------------------------------------------------------------------------


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def png_header_only(width: int, height: int, idat: bytes = b"\x78\x9c") -> bytes:
    """A PNG whose IHDR claims ``width``x``height`` (8-bit RGB) but whose data is a stub: any
    attempt to decode pixels fails, so only a header check can give the right answer."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


def png_bomb(width: int, height: int) -> bytes:
    """A valid 1-bit all-black PNG: a few kilobytes that decode to ``width``x``height``."""
    row = b"\x00" + b"\x00" * ((width + 7) // 8)
    compressor = zlib.compressobj(9)
    chunks = [compressor.compress(row * 64) for _ in range(height // 64)]
    chunks.append(compressor.compress(row * (height % 64)))
    chunks.append(compressor.flush())
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", b"".join(chunks))
        + _png_chunk(b"IEND", b"")
    )


def jpeg_claiming(width: int, height: int) -> bytes:
    """A small valid JPEG whose SOF0 is patched to claim ``width``x``height``."""
    data = bytearray(jpeg_bytes(Image.new("RGB", (16, 16), (10, 20, 30))))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


SVG: Final = (
    b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
    b'<script>alert(1)</script><rect width="10" height="10"/></svg>'
)
HTML: Final = b"<!doctype html><html><body><script>alert(1)</script></body></html>"
PDF: Final = b"%PDF-1.7\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def gif_bytes() -> bytes:
    buffer = io.BytesIO()
    asymmetric_image((16, 12)).save(buffer, "GIF")
    return buffer.getvalue()


def bmp_bytes() -> bytes:
    buffer = io.BytesIO()
    asymmetric_image((16, 12)).save(buffer, "BMP")
    return buffer.getvalue()


def tiff_bytes() -> bytes:
    buffer = io.BytesIO()
    asymmetric_image((16, 12)).save(buffer, "TIFF")
    return buffer.getvalue()


def zip_bytes() -> bytes:
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("payload.html", HTML)
    return buffer.getvalue()
