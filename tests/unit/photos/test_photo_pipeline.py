"""The whole pipeline in one call: provenance and hashes computed beside the encoder, a rotated
phone photo stored upright with nothing but pixels, errors surfacing as they did, and Pillow's
freed image memory kept for the next photo."""

from __future__ import annotations

from datetime import UTC, datetime

import h3
import pytest
from PIL import Image
from PIL import _imaging as pillow_core

from storage.photos.formats import UndecodableImage, UnsupportedFormat
from storage.photos.hashes import hamming, perceptual_hashes
from storage.photos.pipeline import PILLOW_BLOCKS_KEPT, process_photo
from tests.support import photo_fixtures as fx

# The fixtures' photos were taken 2025-11-14 18:02:11 (no offset) at New York City Hall.
OCCURRED_AT = datetime(2025, 11, 14, 18, 30, tzinfo=UTC)
CITY_HALL_CELL = h3.latlng_to_cell(fx.GPS_LAT, fx.GPS_LON, 9)
FAR_AWAY_CELL = h3.latlng_to_cell(48.8584, 2.2945, 9)


def process(data: bytes, **overrides: object) -> object:
    arguments: dict[str, object] = {"occurred_at": OCCURRED_AT, "report_cell": CITY_HALL_CELL}
    arguments.update(overrides)
    return process_photo(data, **arguments)  # type: ignore[arg-type]


def test_a_rotated_phone_photo_is_stored_upright_with_its_provenance_and_hashes() -> None:
    upright = fx.asymmetric_image((640, 480))
    data = fx.jpeg_bytes(
        fx.stored_for_orientation(upright, 6), exif=fx.camera_exif(6).tobytes(), quality=95
    )
    result = process_photo(data, occurred_at=OCCURRED_AT, report_cell=CITY_HALL_CELL)

    stored = fx.decode(result.image.data)
    assert (result.image.width, result.image.height) == stored.size == (640, 480)
    for corner in ("top_left", "top_right", "bottom_left", "bottom_right"):
        assert fx.corner_colour(stored, corner) == pytest.approx(fx.CORNERS[corner], abs=12)
    assert fx.metadata_problems(result.image.data) == []
    assert not any(secret in result.image.data for secret in fx.SECRETS)

    provenance = result.provenance
    assert provenance.had_metadata
    assert provenance.had_gps
    assert provenance.capture_time_consistent is True
    assert provenance.capture_place_consistent is True
    assert provenance.c2pa == "absent"
    assert provenance.ai_marker is False

    # The hashes are those of the stored picture: of the upright image, not the sideways one.
    phash, dhash = perceptual_hashes(upright)
    assert hamming(result.phash, phash) <= 4
    assert hamming(result.dhash, dhash) <= 6
    sideways = perceptual_hashes(upright.transpose(Image.Transpose.ROTATE_90))
    assert hamming(result.phash, sideways[0]) > 12


def test_provenance_computed_beside_the_encoder_still_reads_the_report_it_is_given() -> None:
    data = fx.jpeg_bytes(fx.asymmetric_image((320, 240)), exif=fx.camera_exif(1).tobytes())
    later = datetime(2025, 11, 20, 9, 0, tzinfo=UTC)
    result = process_photo(data, occurred_at=later, report_cell=FAR_AWAY_CELL)
    assert result.provenance.capture_time_consistent is False
    assert result.provenance.capture_place_consistent is False


def test_refused_bytes_raise_the_sanitisers_errors() -> None:
    with pytest.raises(UnsupportedFormat):
        process(fx.gif_bytes())
    with pytest.raises(UndecodableImage):
        process(fx.jpeg_bytes(fx.asymmetric_image((320, 240)))[:-2000])
    # The helper thread is not left in a broken state: the next photo goes through.
    assert (
        process_photo(
            fx.jpeg_bytes(fx.asymmetric_image()),
            occurred_at=OCCURRED_AT,
            report_cell=CITY_HALL_CELL,
        ).image.width
        == 160
    )


def test_a_callers_mistake_in_the_helper_thread_is_raised_to_the_caller() -> None:
    data = fx.jpeg_bytes(fx.asymmetric_image())
    with pytest.raises(ValueError, match="timezone-aware"):
        process(data, occurred_at=datetime(2025, 11, 14, 18, 30))
    with pytest.raises(ValueError, match="H3"):
        process(data, report_cell="not-a-cell")


def test_pillow_keeps_freed_image_blocks_and_a_larger_setting_stands() -> None:
    before = pillow_core.get_blocks_max()
    try:
        pillow_core.set_blocks_max(0)  # Pillow's default
        process(fx.jpeg_bytes(fx.asymmetric_image()))
        assert pillow_core.get_blocks_max() == PILLOW_BLOCKS_KEPT == 8
        pillow_core.set_blocks_max(32)  # as PILLOW_BLOCKS_MAX=32 in the environment would
        process(fx.jpeg_bytes(fx.asymmetric_image()))
        assert pillow_core.get_blocks_max() == 32
    finally:
        pillow_core.set_blocks_max(before)
