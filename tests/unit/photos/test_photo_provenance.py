"""read_provenance: every Provenance field true/false/None, on fixtures written by exiftool and
by hand, for JPEG, PNG, WebP and HEIC; hostile metadata never raises; C2PA never networks."""

from __future__ import annotations

import io
import random
import socket
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import h3
import msgspec
import pytest
from PIL import Image

from schemas.photos import PhotoView, Provenance
from storage.photos import provenance as photo_provenance
from storage.photos.provenance import c2pa_available, c2pa_settings, read_provenance
from tests.support.provenance_fixtures import (
    FAKE_C2PA_APP11,
    FORMATS,
    HOSTILE_EXIF_PAYLOADS,
    IPTC_SOURCE_TYPE,
    XXE_XMP,
    c2pa_signed,
    digital_source_type_xmp,
    exif_image,
    gps_exif,
    image_with_xmp,
    jpeg_with_exif_payload,
    jpeg_with_segments,
    plain_image,
    signing_material,
    srgb_icc,
    tamper_jpeg_pixels,
    with_exiftool,
)

NYC = (40.7128, -74.0060)
NYC_CELL = h3.latlng_to_cell(*NYC, 9)
BUENOS_AIRES = (-34.6037, -58.3816)
REPORTED = datetime(2025, 11, 14, 19, 30, tzinfo=UTC)

EMPTY = Provenance(
    had_metadata=False,
    had_gps=False,
    c2pa="absent",
    ai_marker=False,
    capture_time_consistent=None,
    capture_place_consistent=None,
)


def read(
    data: bytes,
    *,
    occurred_at: datetime = REPORTED,
    cell: str = NYC_CELL,
    anchors: str | None = None,
) -> Provenance:
    return read_provenance(
        data, occurred_at=occurred_at, report_cell=cell, c2pa_trust_anchors=anchors
    )


# --- no metadata ------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_plain_image_has_no_signals(fmt: str) -> None:
    assert read(plain_image(fmt)) == EMPTY


def test_reuses_an_opened_image_with_the_same_result() -> None:
    data = exif_image("JPEG", taken="2025:11:14 14:30:00", offset="-05:00", lat=NYC[0], lon=NYC[1])
    with Image.open(io.BytesIO(data)) as image:
        reused = read_provenance(data, image, occurred_at=REPORTED, report_cell=NYC_CELL)
    assert reused == read(data)
    assert reused.capture_time_consistent is True
    assert reused.capture_place_consistent is True


# --- had_metadata -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "args"),
    [
        ("JPEG", ["-IPTC:Keywords=protest"]),
        ("JPEG", ["-Comment=taken on 5th ave"]),
        ("JPEG", ["-EXIF:Make=Phone"]),
        ("JPEG", ["-XMP-dc:Title=x"]),
        ("PNG", ["-PNG:Comment=hello"]),
        ("PNG", ["-XMP-dc:Title=x"]),
        ("WEBP", ["-EXIF:Make=Phone"]),
        ("WEBP", ["-XMP-dc:Title=x"]),
    ],
)
def test_metadata_written_by_exiftool_is_seen(fmt: str, args: list[str]) -> None:
    result = read(with_exiftool(plain_image(fmt), fmt, *args))
    assert result.had_metadata is True
    assert result.had_gps is False


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "HEIF"])
def test_icc_profile_is_metadata(fmt: str) -> None:
    assert read(plain_image(fmt, icc_profile=srgb_icc())).had_metadata is True


def test_embedded_thumbnail_is_metadata(tmp_path: Any) -> None:
    thumbnail = tmp_path / "thumb.jpg"
    thumbnail.write_bytes(plain_image("JPEG", (16, 12)))
    data = with_exiftool(plain_image("JPEG"), "JPEG", f"-ThumbnailImage<={thumbnail}")
    assert read(data).had_metadata is True


@pytest.mark.parametrize(
    "data",
    [
        jpeg_with_segments((0xFE, b"a comment")),
        jpeg_with_segments((0xED, b"Photoshop 3.0\x008BIM\x04\x04\x00\x00\x00\x00\x00\x00")),
        jpeg_with_segments((0xE2, b"MPF\x00II*\x00")),
        jpeg_with_segments(trailer=b"appended secret zip"),
        jpeg_with_segments((0xE0, b"JFXX\x00\x10")),
    ],
    ids=["COM", "APP13-IPTC", "APP2-MPF", "trailing-data", "JFXX-thumbnail"],
)
def test_raw_jpeg_metadata_segments(data: bytes) -> None:
    assert read(data).had_metadata is True


def test_png_text_chunk_and_trailing_data() -> None:
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("Software", "GenTool 3")
    assert read(plain_image("PNG", pnginfo=info)).had_metadata is True
    assert read(plain_image("PNG") + b"trailing").had_metadata is True


def test_webp_trailing_data() -> None:
    assert read(plain_image("WEBP") + b"trailing!").had_metadata is True


def test_jfif_and_adobe_headers_alone_are_not_metadata() -> None:
    data = jpeg_with_segments((0xEE, b"Adobe\x00\x64\x00\x00\x00\x00\x01"))
    assert read(data).had_metadata is False


# --- capture time -----------------------------------------------------------------------------


def test_offset_time_original_is_honoured() -> None:
    # 14:30 at -05:00 is 19:30Z, the reported time.
    data = exif_image(taken="2025:11:14 14:30:00", offset="-05:00")
    result = read(data)
    assert result.capture_time_consistent is True
    assert result.had_metadata is True
    assert result.had_gps is False
    assert result.capture_place_consistent is None


def test_without_offset_the_reports_offset_is_used() -> None:
    data = exif_image(taken="2025:11:14 14:30:00")
    in_new_york = datetime(2025, 11, 14, 14, 30, tzinfo=timezone(timedelta(hours=-5)))
    assert in_new_york == REPORTED
    assert read(data, occurred_at=in_new_york).capture_time_consistent is True
    # Same instant written in UTC: the photo's 14:30 is now read as 14:30Z, five hours off.
    assert read(data, occurred_at=REPORTED).capture_time_consistent is False


@pytest.mark.parametrize(
    ("taken", "expected"),
    [
        ("2025:11:14 17:30:00", True),
        ("2025:11:14 17:29:59", False),
        ("2025:11:14 21:30:00", True),
        ("2025:11:14 21:30:01", False),
        ("2025:11:13 19:30:00", False),
    ],
)
def test_two_hour_boundary(taken: str, expected: bool) -> None:
    data = exif_image(taken=taken, offset="+00:00")
    assert read(data).capture_time_consistent is expected


def test_far_offset_shifts_the_comparison() -> None:
    # 2025-11-15 06:30 at +11:00 is 2025-11-14 19:30Z, the reported instant.
    assert read(exif_image(taken="2025:11:15 06:30:00", offset="+11:00")).capture_time_consistent
    assert (
        read(exif_image(taken="2025:11:15 06:30:00", offset="-05:00")).capture_time_consistent
        is False
    )


@pytest.mark.parametrize(
    "taken", ["0000:00:00 00:00:00", "    :  :     :  :  ", "yesterday", "2025:13:40 25:61:00"]
)
def test_unparseable_capture_time_is_none(taken: str) -> None:
    data = exif_image(taken=taken, extra=["-EXIF:Make=Phone"])
    result = read(data)
    assert result.capture_time_consistent is None
    assert result.had_metadata is True


def test_unparseable_offset_falls_back_to_the_reports_offset() -> None:
    data = exif_image(taken="2025:11:14 19:30:00", offset="bogus")
    assert read(data).capture_time_consistent is True


# --- GPS --------------------------------------------------------------------------------------


def test_gps_near_the_report_is_consistent() -> None:
    near = (NYC[0] + 0.0045, NYC[1])  # ~500 m north
    result = read(exif_image(lat=near[0], lon=near[1]))
    assert result.had_gps is True
    assert result.capture_place_consistent is True
    assert result.capture_time_consistent is None


@pytest.mark.parametrize(
    "where", [(48.8566, 2.3522), (NYC[0] + 0.03, NYC[1])], ids=["paris", "3km-away"]
)
def test_gps_far_from_the_report_is_inconsistent(where: tuple[float, float]) -> None:
    result = read(exif_image(lat=where[0], lon=where[1]))
    assert result.had_gps is True
    assert result.capture_place_consistent is False


def test_southern_and_western_refs_are_applied() -> None:
    cell = h3.latlng_to_cell(*BUENOS_AIRES, 9)
    assert read(exif_image(lat=BUENOS_AIRES[0], lon=BUENOS_AIRES[1]), cell=cell) == Provenance(
        had_metadata=True,
        had_gps=True,
        c2pa="absent",
        ai_marker=False,
        capture_time_consistent=None,
        capture_place_consistent=True,
    )
    # The same magnitudes with N/E refs land in the Indian Ocean.
    northeast = jpeg_with_exif_payload(
        gps_exif(((34, 1), (36, 1), (1332, 100)), ((58, 1), (22, 1), (5376, 100)))
    )
    assert read(northeast, cell=cell).capture_place_consistent is False
    southwest = jpeg_with_exif_payload(
        gps_exif(
            ((34, 1), (36, 1), (1332, 100)), ((58, 1), (22, 1), (5376, 100)), b"S\x00", b"W\x00"
        )
    )
    assert read(southwest, cell=cell).capture_place_consistent is True


@pytest.mark.parametrize(
    ("lat", "lon", "lat_ref", "lon_ref"),
    [
        (((40, 0), (42, 1), (46, 1)), ((74, 1), (0, 1), (21, 1)), b"N\x00", b"W\x00"),
        (((40, 1), (42, 1), (46, 1)), ((74, 1), (0, 0), (21, 1)), b"N\x00", b"W\x00"),
        (((95, 1), (0, 1), (0, 1)), ((74, 1), (0, 1), (21, 1)), b"N\x00", b"W\x00"),
        (((40, 1), (75, 1), (0, 1)), ((74, 1), (0, 1), (21, 1)), b"N\x00", b"W\x00"),
        (((40, 1), (42, 1), (46, 1)), ((181, 1), (0, 1), (0, 1)), b"N\x00", b"W\x00"),
        (((40, 1), (42, 1), (46, 1)), ((74, 1), (0, 1), (21, 1)), None, b"W\x00"),
        (((40, 1), (42, 1), (46, 1)), ((74, 1), (0, 1), (21, 1)), b"Q\x00", b"W\x00"),
        (((0, 1), (0, 1), (0, 1)), ((0, 1), (0, 1), (0, 1)), b"N\x00", b"E\x00"),
    ],
    ids=[
        "zero-denominator-degrees",
        "zero-denominator-minutes",
        "latitude-over-90",
        "minutes-over-60",
        "longitude-over-180",
        "missing-ref",
        "bogus-ref",
        "null-island",
    ],
)
def test_unusable_gps_is_none_not_an_error(
    lat: tuple[tuple[int, int], ...],
    lon: tuple[tuple[int, int], ...],
    lat_ref: bytes | None,
    lon_ref: bytes | None,
) -> None:
    result = read(jpeg_with_exif_payload(gps_exif(lat, lon, lat_ref, lon_ref)))
    assert result.had_gps is True
    assert result.capture_place_consistent is None


def test_hand_built_gps_is_read() -> None:
    # 40°42'46" N 74°0'21" W: the control for the malformed cases above.
    exif = gps_exif(((40, 1), (42, 1), (46, 1)), ((74, 1), (0, 1), (21, 1)), b"N\x00", b"W\x00")
    assert read(jpeg_with_exif_payload(exif)).capture_place_consistent is True


def test_grid_distance_failure_is_false(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(origin: str, destination: str) -> int:
        raise h3.H3FailedError("cells too far apart")

    monkeypatch.setattr(h3, "grid_distance", refuse)
    assert read(exif_image(lat=NYC[0], lon=NYC[1])).capture_place_consistent is False


# --- PNG, WebP, HEIC with EXIF ----------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "HEIF"])
def test_other_formats_carry_exif_time_and_gps(fmt: str) -> None:
    if fmt == "HEIF":
        # pillow-heif writes the EXIF item; exiftool cannot create EXIF in a HEIC from scratch.
        exif = Image.Exif()
        exif.get_ifd(0x8769).update({0x9003: "2025:11:14 14:30:00", 0x9011: "-05:00"})
        exif.get_ifd(0x8825).update({1: "N", 2: (40.0, 42.0, 46.08), 3: "W", 4: (74.0, 0.0, 21.6)})
        data = plain_image("HEIF", exif=exif.tobytes())
    else:
        data = exif_image(fmt, taken="2025:11:14 14:30:00", offset="-05:00", lat=NYC[0], lon=NYC[1])
    assert read(data) == Provenance(
        had_metadata=True,
        had_gps=True,
        c2pa="absent",
        ai_marker=False,
        capture_time_consistent=True,
        capture_place_consistent=True,
    )


# --- AI marker --------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (IPTC_SOURCE_TYPE + "trainedAlgorithmicMedia", True),
        (IPTC_SOURCE_TYPE + "compositeWithTrainedAlgorithmicMedia", True),
        (IPTC_SOURCE_TYPE + "algorithmicMedia", True),
        ("trainedAlgorithmicMedia", True),
        (IPTC_SOURCE_TYPE + "digitalCapture", False),
        (IPTC_SOURCE_TYPE + "compositeSynthetic", False),
    ],
)
def test_xmp_digital_source_type_via_exiftool(fmt: str, value: str, expected: bool) -> None:
    data = with_exiftool(plain_image(fmt), fmt, f"-XMP-iptcExt:DigitalSourceType={value}")
    result = read(data)
    assert result.ai_marker is expected
    assert result.had_metadata is True


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("form", ["element", "attribute", "resource"])
def test_xmp_digital_source_type_rdf_spellings(fmt: str, form: str) -> None:
    xmp = digital_source_type_xmp(IPTC_SOURCE_TYPE + "trainedAlgorithmicMedia", form)
    assert read(image_with_xmp(fmt, xmp)).ai_marker is True


def test_a_lookalike_uri_is_not_an_ai_marker() -> None:
    xmp = digital_source_type_xmp("http://example.org/not-iptc/trainedAlgorithmicMedia")
    assert read(image_with_xmp("JPEG", xmp)).ai_marker is False


def test_xmp_entities_are_never_expanded() -> None:
    # The marker exists only through an internal entity; defusedxml refuses the DTD, so the
    # packet is dropped (no marker, no exception, no file read).
    result = read(image_with_xmp("JPEG", XXE_XMP))
    assert result.ai_marker is False
    assert result.had_metadata is True


@pytest.mark.parametrize(
    "xmp",
    [
        b"<x:xmpmeta",
        b"\x00\x00\x00",
        b"not xml at all",
        b"<a>" * 5000,
        "<a>\udcff</a>".encode("utf-8", "surrogatepass"),
    ],
    ids=["truncated", "nuls", "text", "deep-unclosed", "bad-utf8"],
)
def test_broken_xmp_never_raises(xmp: bytes) -> None:
    result = read(plain_image("JPEG", xmp=xmp))
    assert result.ai_marker is False
    assert result.had_metadata is True


# --- hostile EXIF / ICC -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload", HOSTILE_EXIF_PAYLOADS.values(), ids=HOSTILE_EXIF_PAYLOADS.keys()
)
def test_hostile_exif_never_raises(payload: bytes) -> None:
    result = read(jpeg_with_exif_payload(payload))
    assert result.had_metadata is True
    assert result.capture_time_consistent is None
    assert result.capture_place_consistent is None
    assert result.c2pa == "absent"


def test_hostile_icc_never_raises() -> None:
    data = jpeg_with_segments((0xE2, b"ICC_PROFILE\x00\x01\x01" + b"\xff" * 300))
    assert read(data).had_metadata is True


def test_random_corruption_of_a_rich_jpeg_never_raises() -> None:
    rich = exif_image(
        taken="2025:11:14 14:30:00",
        offset="-05:00",
        lat=NYC[0],
        lon=NYC[1],
        extra=[f"-XMP-iptcExt:DigitalSourceType={IPTC_SOURCE_TYPE}trainedAlgorithmicMedia"],
    )
    header_end = rich.find(b"\xff\xdb")  # mutate the metadata segments, not the pixels
    generator = random.Random(20251114)
    for _ in range(200):
        mutated = bytearray(rich)
        for _ in range(generator.randint(1, 8)):
            mutated[generator.randrange(2, header_end)] = generator.randrange(256)
        result = read(bytes(mutated))
        assert isinstance(result, Provenance)


def test_undecodable_bytes_never_raise() -> None:
    assert read(b"") == EMPTY
    assert read(b"\xff\xd8\xff" + b"\x00" * 10).had_gps is False
    assert read(b"RIFF\xff\xff\xff\xffWEBPVP8X").had_metadata is False


# --- caller mistakes --------------------------------------------------------------------------


def test_naive_occurred_at_is_a_caller_error() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        read(plain_image(), occurred_at=datetime(2025, 11, 14, 19, 30))


@pytest.mark.parametrize("cell", ["nope", h3.latlng_to_cell(*NYC, 8), h3.latlng_to_cell(*NYC, 5)])
def test_report_cell_must_be_res_9(cell: str) -> None:
    with pytest.raises(ValueError, match="resolution-9"):
        read(plain_image(), cell=cell)


def test_a_cell_coarsened_by_retention_is_compared_at_res_7() -> None:
    # Retention turns old reports' cells into their res-7 parents; photos may still come.
    coarse = h3.cell_to_parent(NYC_CELL, 7)
    near = (NYC[0] + 0.0045, NYC[1])
    assert read(exif_image(lat=near[0], lon=near[1]), cell=coarse).capture_place_consistent
    paris = read(exif_image(lat=48.8566, lon=2.3522), cell=coarse)
    assert paris.capture_place_consistent is False


# --- C2PA -------------------------------------------------------------------------------------

needs_c2pa = pytest.mark.skipif(not c2pa_available(), reason="c2pa-python is not importable")


def test_c2pa_is_installed() -> None:
    # The fallback exists for broken installs; this environment must have the real reader.
    assert c2pa_available()


def test_c2pa_settings_never_fetch() -> None:
    settings = c2pa_settings()
    assert settings["verify"]["remote_manifest_fetch"] is False
    assert settings["verify"]["ocsp_fetch"] is False
    assert settings["core"]["allowed_network_hosts"] == []
    assert "trust" not in settings
    assert c2pa_settings("PEM")["trust"] == {"trust_anchors": "PEM"}


@needs_c2pa
def test_signed_manifest_is_valid_with_its_root_as_trust_anchor() -> None:
    data = c2pa_signed("JPEG")
    result = read(data, anchors=signing_material().root_pem)
    assert result.c2pa == "valid"
    assert result.ai_marker is False
    assert result.had_metadata is True


@needs_c2pa
@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_signed_png_and_webp_are_valid(fmt: str) -> None:
    result = read(
        c2pa_signed(fmt, source_type="trainedAlgorithmicMedia"), anchors=signing_material().root_pem
    )
    assert (result.c2pa, result.ai_marker, result.had_metadata) == ("valid", True, True)


@needs_c2pa
def test_intact_manifest_from_an_untrusted_signer_is_present() -> None:
    assert read(c2pa_signed("JPEG")).c2pa == "present"


@needs_c2pa
def test_tampered_pixels_make_the_manifest_invalid() -> None:
    tampered = tamper_jpeg_pixels(c2pa_signed("JPEG"))
    assert read(tampered, anchors=signing_material().root_pem).c2pa == "invalid"
    assert read(tampered).c2pa == "invalid"


@needs_c2pa
@pytest.mark.parametrize(
    ("source_type", "expected"),
    [
        ("trainedAlgorithmicMedia", True),
        ("compositeWithTrainedAlgorithmicMedia", True),
        ("algorithmicMedia", True),
        ("digitalCapture", False),
    ],
)
def test_manifest_digital_source_type_sets_ai_marker(source_type: str, expected: bool) -> None:
    result = read(c2pa_signed("JPEG", source_type=source_type))
    assert result.ai_marker is expected
    assert result.c2pa == "present"


@needs_c2pa
def test_ai_marker_survives_tampering() -> None:
    # A self-declaration is a signal even when the manifest no longer validates.
    tampered = tamper_jpeg_pixels(c2pa_signed("JPEG", source_type="trainedAlgorithmicMedia"))
    result = read(tampered)
    assert (result.c2pa, result.ai_marker) == ("invalid", True)


def test_garbage_c2pa_box_is_invalid_not_an_error() -> None:
    result = read(jpeg_with_segments((0xEB, FAKE_C2PA_APP11)))
    assert result.c2pa == ("invalid" if c2pa_available() else "present")
    assert result.had_metadata is True


def test_without_the_library_a_raw_box_reads_as_present(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(photo_provenance, "_c2pa", None)
    assert read(jpeg_with_segments((0xEB, FAKE_C2PA_APP11))).c2pa == "present"
    assert read(plain_image()).c2pa == "absent"
    # A remote-manifest reference in XMP (dcterms:provenance) is seen without the library too.
    assert read(c2pa_signed("JPEG", remote_url="http://127.0.0.1:9/m.c2pa")).c2pa == "present"


@pytest.fixture
def listener() -> Iterator[tuple[str, list[int]]]:
    """A loopback TCP listener that counts every connection made to it."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.2)
    connections: list[int] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                client, _ = server.accept()
            except OSError:
                continue
            connections.append(1)
            client.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}/manifest.c2pa", connections
    finally:
        stop.set()
        thread.join(timeout=2)
        server.close()


@needs_c2pa
def test_remote_manifest_is_never_fetched(listener: tuple[str, list[int]]) -> None:
    """The native library does its own networking (Python socket guards cannot see it), so the
    proof is a real listener: with our settings nothing connects to it; with c2pa-rs defaults
    the same upload does, which shows the probe would catch a fetch."""
    url, connections = listener
    data = c2pa_signed("JPEG", remote_url=url)
    assert read(data, anchors=signing_material().root_pem).c2pa == "present"
    assert read(data).c2pa == "present"
    assert connections == []

    import c2pa  # type: ignore[import-untyped]

    with c2pa.Context.from_dict({}) as defaults, pytest.raises(c2pa.C2paError):
        c2pa.Reader("image/jpeg", io.BytesIO(data), None, defaults)
    assert len(connections) >= 1


# --- schema -----------------------------------------------------------------------------------


def test_provenance_wire_shape_matches_the_contract() -> None:
    view = PhotoView(
        id=uuid.UUID(int=1),
        report_id=uuid.UUID(int=2),
        content_type="image/jpeg",
        width=64,
        height=48,
        bytes=1234,
        sha256="0" * 64,
        phash="0123456789abcdef",
        provenance=EMPTY,
    )
    body = msgspec.json.decode(msgspec.json.encode(view))
    assert set(body) == {
        "id", "report_id", "content_type", "width", "height", "bytes", "sha256", "phash",
        "provenance", "duration_ms",
    }  # fmt: skip
    assert body["duration_ms"] is None
    assert body["provenance"] == {
        "had_metadata": False,
        "had_gps": False,
        "c2pa": "absent",
        "ai_marker": False,
        "capture_time_consistent": None,
        "capture_place_consistent": None,
    }
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({**body["provenance"], "c2pa": "maybe"}, Provenance)
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({**body["provenance"], "gps": [1, 2]}, Provenance)
