"""Photos over HTTP: upload (raw and multipart, every allowed format), the stored bytes are
sanitised (checked with exiftool, not with the project's code), orientation, provenance flags,
replays, the per-report limit, who may do what, ETags, near-duplicates and withdrawal.

Expectations come from the API contract ("Photos") and the design brief (principles 2 and 3).
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any, Final

import pytest
from PIL import Image, ImageDraw, ImageEnhance

from schemas.auth import Role
from schemas.settings import Settings
from tests.support import photo_fixtures as fx
from tests.support import provenance_fixtures as pv
from tests.support.assertions import assert_problem
from tests.support.helpers import Api, bearer, observer_report, officer_note
from tests.support.photo_api import (
    RAW_TYPES,
    SUFFIXES,
    assert_matches_stored,
    assert_photo_view,
    blob_path,
    fetch,
    fetched_bytes,
    new_report,
    photos_path,
    scene,
    similar,
    tiny_jpeg,
    unique_jpeg,
    upload,
    upload_multipart,
    uploaded,
)

# The report's own place and time (tests.support.helpers.observer_report's location).
REPORT_LAT, REPORT_LON = 40.7191, -74.0017
REPORTED_AT: Final = "2025-11-14T19:30:00+00:00"
PARIS: Final = (48.8566, 2.3522)


def with_everything(fmt: str) -> tuple[bytes, Image.Image | None]:
    """The fixture with every kind of metadata for ``fmt``, and the upright picture its stored
    pixels must show (None where transparency is flattened, so pixels are not compared)."""
    if fmt == "JPEG":
        upright = fx.asymmetric_image((320, 240))
        return fx.jpeg_with_everything(upright, orientation=6), upright
    if fmt == "PNG":
        return fx.png_with_everything(), None
    if fmt == "WEBP":
        upright = fx.asymmetric_image()
        return fx.webp_with_everything(upright, orientation=6), upright
    upright = fx.asymmetric_image()
    return fx.heic_with_everything(upright), upright


def assert_sanitised(stored: bytes) -> None:
    """exiftool sees nothing but a bare JPEG; no planted secret survives; nothing trails EOI."""
    assert fx.metadata_problems(stored) == []
    assert [secret for secret in fx.SECRETS if secret in stored] == []
    _, end = fx.jpeg_markers(stored)
    assert end == len(stored)


# --- upload, every format, raw and multipart --------------------------------------------------


@pytest.mark.parametrize("transport", ["raw", "multipart"])
@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "HEIF"])
async def test_upload_with_everything_stores_only_clean_pixels(
    api: Api, fmt: str, transport: str
) -> None:
    token = await api.device_token()
    report_id = await new_report(api, token)
    data, upright = with_everything(fmt)
    if transport == "raw":
        response = await upload(api, token, report_id, data, RAW_TYPES[fmt])
    else:
        response = await upload_multipart(
            api,
            token,
            report_id,
            data,
            filename=f"IMG_0001{SUFFIXES[fmt]}",
            part_type=RAW_TYPES[fmt],
        )
    assert response.status_code == 201, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert_photo_view(body, report_id)
    # Every fixture carries GPS in EXIF and an XMP DigitalSourceType "trainedAlgorithmicMedia".
    assert body["provenance"]["had_metadata"] is True
    assert body["provenance"]["had_gps"] is True
    assert body["provenance"]["ai_marker"] is True
    stored = await fetched_bytes(api, token, body["id"])
    image = assert_matches_stored(body, stored)
    assert_sanitised(stored)
    if upright is not None:
        assert image.size == upright.size
        assert fx.mean_abs_diff(image, upright) < 4
    # Nothing in the response leaks the metadata either.
    assert [s for s in fx.SECRETS if s in response.content] == []
    assert b"40.71" not in response.content
    assert b"74.00" not in response.content


@pytest.mark.parametrize(
    "content_type", ["image/jpeg", "image/png", "image/webp", "image/heic", "image/heif"]
)
async def test_format_is_sniffed_from_the_bytes_not_the_header(api: Api, content_type: str) -> None:
    """A PNG declared as any allowed image type is accepted as the PNG it is."""
    token = await api.device_token()
    report_id = await new_report(api, token)
    png = fx.png_bytes(fx.asymmetric_image((64, 48)))
    body = await uploaded(api, token, report_id, png, content_type)
    assert (body["width"], body["height"]) == (64, 48)
    image = assert_matches_stored(body, await fetched_bytes(api, token, body["id"]))
    assert fx.mean_abs_diff(image, fx.asymmetric_image((64, 48))) < 4


async def test_content_type_parameters_and_case_are_tolerated(api: Api) -> None:
    token = await api.device_token()
    report_id = await new_report(api, token)
    response = await upload(api, token, report_id, tiny_jpeg(1), "Image/JPEG; q=1")
    assert response.status_code == 201, response.text


async def test_multipart_file_field_is_used_among_other_fields(api: Api) -> None:
    token = await api.device_token()
    report_id = await new_report(api, token)
    data = tiny_jpeg(2)
    response = await api.client.post(
        photos_path(report_id),
        data={"caption": "ignored", "other": "x"},
        files={"file": ("a.jpg", data, "image/jpeg")},
        headers=bearer(token),
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert_photo_view(body, report_id)
    # The same picture sent raw is the same stored photo (replay), so the file part was used.
    raw = await upload(api, token, report_id, data)
    assert raw.status_code == 200, raw.text
    assert raw.json() == body


async def test_response_describes_the_stored_bytes(api: Api) -> None:
    token = await api.device_token()
    report_id = await new_report(api, token)
    data = fx.jpeg_bytes(fx.asymmetric_image((200, 150)))
    body = await uploaded(api, token, report_id, data)
    assert_photo_view(body, report_id)
    stored = await fetched_bytes(api, token, body["id"])
    assert hashlib.sha256(stored).hexdigest() == body["sha256"]
    assert stored != data  # re-encoded, never the upload itself
    image = assert_matches_stored(body, stored)
    assert image.size == (200, 150)
    assert image.mode == "RGB"


# --- orientation ------------------------------------------------------------------------------


@pytest.mark.parametrize("orientation", range(1, 9))
async def test_every_exif_orientation_is_applied(api: Api, orientation: int) -> None:
    token = await api.device_token()
    report_id = await new_report(api, token)
    upright = fx.asymmetric_image((160, 120))
    data = fx.oriented_jpeg(upright, orientation)
    assert fx.exiftool_tags(data)["IFD0:Orientation"]  # the input really is tagged
    body = await uploaded(api, token, report_id, data)
    stored = await fetched_bytes(api, token, body["id"])
    image = assert_matches_stored(body, stored)
    assert image.size == upright.size
    assert fx.mean_abs_diff(image, upright) < 4
    assert fx.mean_abs_diff(image, fx.displayed(fx.decode(data), orientation)) < 4
    for corner, colour in fx.CORNERS.items():
        seen = fx.corner_colour(image, corner)
        assert max(abs(a - b) for a, b in zip(seen, colour, strict=True)) < 24, (corner, seen)
    assert fx.metadata_problems(stored) == []  # no Orientation tag left to rotate it again


# --- provenance -------------------------------------------------------------------------------


async def provenance_of(api: Api, data: bytes, **report: Any) -> dict[str, Any]:
    token = await api.device_token()
    report_id = await new_report(api, token, **report)
    body = await uploaded(api, token, report_id, data)
    provenance: dict[str, Any] = body["provenance"]
    return provenance


async def test_clean_photo_has_no_signals(api: Api) -> None:
    assert await provenance_of(api, pv.plain_image("JPEG")) == {
        "had_metadata": False,
        "had_gps": False,
        "c2pa": "absent",
        "ai_marker": False,
        "capture_time_consistent": None,
        "capture_place_consistent": None,
    }


async def test_gps_near_the_report_is_consistent(api: Api) -> None:
    data = pv.exif_image(lat=REPORT_LAT + 0.002, lon=REPORT_LON)  # ~200 m north
    provenance = await provenance_of(api, data)
    assert provenance["had_metadata"] is True
    assert provenance["had_gps"] is True
    assert provenance["capture_place_consistent"] is True
    assert provenance["capture_time_consistent"] is None


async def test_gps_far_from_the_report_is_inconsistent(api: Api) -> None:
    provenance = await provenance_of(api, pv.exif_image(lat=PARIS[0], lon=PARIS[1]))
    assert provenance["had_gps"] is True
    assert provenance["capture_place_consistent"] is False


@pytest.mark.parametrize(
    ("taken", "offset", "expected"),
    [
        ("2025:11:14 14:30:00", "-05:00", True),  # 19:30Z: the reported instant
        ("2025:11:14 16:00:00", "-05:00", True),  # 1.5 h later
        ("2025:11:14 10:00:00", "-05:00", False),  # 4.5 h earlier
        ("2025:11:15 14:30:00", "-05:00", False),  # a day later
        (None, None, None),  # no capture time at all
    ],
)
async def test_capture_time_against_the_reported_time(
    api: Api, taken: str | None, offset: str | None, expected: bool | None
) -> None:
    data = pv.exif_image(taken=taken, offset=offset, extra=["-EXIF:Make=Phone"])
    provenance = await provenance_of(api, data, occurred_at=REPORTED_AT)
    assert provenance["had_metadata"] is True
    assert provenance["had_gps"] is False
    assert provenance["capture_time_consistent"] is expected
    assert provenance["capture_place_consistent"] is None


async def test_capture_time_and_place_both_consistent(api: Api) -> None:
    data = pv.exif_image(
        "PNG", taken="2025:11:14 14:30:00", offset="-05:00", lat=REPORT_LAT, lon=REPORT_LON
    )
    provenance = await provenance_of(api, data, occurred_at=REPORTED_AT)
    assert provenance == {
        "had_metadata": True,
        "had_gps": True,
        "c2pa": "absent",
        "ai_marker": False,
        "capture_time_consistent": True,
        "capture_place_consistent": True,
    }


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
async def test_xmp_digital_source_type_marks_ai(api: Api, fmt: str) -> None:
    generated = pv.with_exiftool(
        pv.plain_image(fmt),
        fmt,
        f"-XMP-iptcExt:DigitalSourceType={pv.IPTC_SOURCE_TYPE}trainedAlgorithmicMedia",
    )
    provenance = await provenance_of(api, generated)
    assert provenance["ai_marker"] is True
    assert provenance["had_metadata"] is True
    captured = pv.with_exiftool(
        pv.plain_image(fmt),
        fmt,
        f"-XMP-iptcExt:DigitalSourceType={pv.IPTC_SOURCE_TYPE}digitalCapture",
    )
    assert (await provenance_of(api, captured))["ai_marker"] is False


async def test_c2pa_manifest_is_reported_and_removed(api: Api) -> None:
    """An intact manifest from a signer the server does not trust is "present"; its
    DigitalSourceType declares AI; the stored photo carries no manifest."""
    data = pv.c2pa_signed("JPEG", source_type="trainedAlgorithmicMedia")
    token = await api.device_token()
    report_id = await new_report(api, token)
    body = await uploaded(api, token, report_id, data)
    assert body["provenance"]["c2pa"] == "present"
    assert body["provenance"]["ai_marker"] is True
    stored = await fetched_bytes(api, token, body["id"])
    assert_sanitised(stored)
    assert b"c2pa" not in stored
    assert b"jumb" not in stored


# --- replays and the limit --------------------------------------------------------------------


async def test_same_bytes_again_is_200_with_the_same_body(api: Api) -> None:
    token = await api.device_token()
    report_id = await new_report(api, token)
    data = fx.jpeg_with_everything(fx.asymmetric_image((160, 120)))
    first = await upload(api, token, report_id, data)
    assert first.status_code == 201, first.text
    again = await upload(api, token, report_id, data)
    assert again.status_code == 200, again.text
    assert again.json() == first.json()
    as_multipart = await upload_multipart(api, token, report_id, data)
    assert as_multipart.status_code == 200, as_multipart.text
    assert as_multipart.json() == first.json()
    count = await api.conn.fetchval(
        "select count(*) from photos where report_id = $1::uuid", report_id
    )
    assert count == 1


async def test_a_different_photo_gets_a_new_id(api: Api) -> None:
    token = await api.device_token()
    report_id = await new_report(api, token)
    first = await uploaded(api, token, report_id, tiny_jpeg(10))
    second = await uploaded(api, token, report_id, tiny_jpeg(11))
    assert second["id"] != first["id"]
    assert second["sha256"] != first["sha256"]
    assert second["report_id"] == first["report_id"] == report_id


async def test_same_photo_on_another_report_is_a_new_photo(api: Api) -> None:
    token = await api.device_token()
    first_report, second_report = await new_report(api, token), await new_report(api, token)
    data = tiny_jpeg(12)
    first = await uploaded(api, token, first_report, data)
    second = await uploaded(api, token, second_report, data)
    assert second["id"] != first["id"]
    assert second["report_id"] == second_report
    assert second["sha256"] == first["sha256"]


async def test_more_than_the_limit_is_409_photo_limit(api: Api, settings: Settings) -> None:
    assert settings.photos_per_report == 10
    token = await api.device_token()
    report_id = await new_report(api, token)
    bodies = [await uploaded(api, token, report_id, tiny_jpeg(100 + i)) for i in range(10)]
    assert len({body["id"] for body in bodies}) == 10
    over = await upload(api, token, report_id, tiny_jpeg(200))
    assert_problem(over, 409)
    assert over.json()["code"] == "photo_limit"
    # A replay of a photo the report already has is still answered (it adds nothing).
    replay = await upload(api, token, report_id, tiny_jpeg(100))
    assert replay.status_code == 200, replay.text
    assert replay.json() == bodies[0]
    # The limit is per report.
    other = await new_report(api, token)
    assert (await upload(api, token, other, tiny_jpeg(200))).status_code == 201


async def test_simultaneous_uploads_of_one_photo_store_it_once(api: Api) -> None:
    token = await api.device_token()
    report_id = await new_report(api, token)
    data = tiny_jpeg(13, (320, 240))
    responses = await asyncio.gather(*(upload(api, token, report_id, data) for _ in range(4)))
    assert sorted(r.status_code for r in responses) == [200, 200, 200, 201], [
        r.text for r in responses
    ]
    assert len({r.json()["id"] for r in responses}) == 1
    assert all(r.json() == responses[0].json() for r in responses)


async def test_simultaneous_uploads_of_different_photos_are_all_stored(api: Api) -> None:
    token = await api.device_token()
    report_id = await new_report(api, token)
    pictures = [tiny_jpeg(300 + i, (320, 240)) for i in range(6)]
    responses = await asyncio.gather(*(upload(api, token, report_id, p) for p in pictures))
    assert [r.status_code for r in responses] == [201] * 6, [r.text for r in responses]
    for picture, response in zip(pictures, responses, strict=True):
        body = response.json()
        stored = await fetched_bytes(api, token, body["id"])
        assert_matches_stored(body, stored)
        assert fx.mean_abs_diff(fx.decode(stored), fx.decode(picture)) < 4
    assert len({r.json()["id"] for r in responses}) == 6


# --- who may do what --------------------------------------------------------------------------

NON_OWNERS: Final = ("other-observer", "officer", "researcher", "moderator", "admin")


async def credential(api: Api, who: str) -> str:
    if who == "other-observer":
        return await api.device_token()
    return await api.account_token(Role(who))


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("other-observer", 404),
        ("officer", 404),
        ("researcher", 403),
        ("moderator", 403),
        ("admin", 404),
    ],
)
async def test_only_the_owner_may_upload(api: Api, who: str, status: int) -> None:
    owner = await api.device_token()
    report_id = await new_report(api, owner)
    token = await credential(api, who)
    refused = await upload(api, token, report_id, tiny_jpeg(20))
    assert_problem(refused, status)
    count = await api.conn.fetchval(
        "select count(*) from photos where report_id = $1::uuid", report_id
    )
    assert count == 0
    assert (await upload(api, owner, report_id, tiny_jpeg(20))).status_code == 201


async def test_anonymous_upload_is_401(api: Api) -> None:
    owner = await api.device_token()
    report_id = await new_report(api, owner)
    assert_problem(await upload(api, None, report_id, tiny_jpeg(21)), 401)
    assert_problem(await upload(api, "not-a-token", report_id, tiny_jpeg(21)), 401)


@pytest.mark.parametrize("role", [Role.officer, Role.admin])
async def test_account_holders_upload_to_their_own_reports(api: Api, role: Role) -> None:
    token = await api.account_token(role)
    response = await api.submit(
        token, officer_note() if role is Role.officer else observer_report()
    )
    assert response.status_code == 201, response.text
    report_id = response.json()["id"]
    created = await uploaded(api, token, report_id, tiny_jpeg(22))
    assert_photo_view(created, report_id)
    assert (await fetch(api, token, created["id"])).status_code == 200


async def test_unknown_and_withdrawn_reports_are_404(api: Api) -> None:
    token = await api.device_token()
    unknown = await upload(api, token, "0190f3c1-0000-7000-8000-000000000000", tiny_jpeg(23))
    assert_problem(unknown, 404)
    report_id = await new_report(api, token)
    assert (
        await api.client.delete(f"/v1/reports/{report_id}", headers=bearer(token))
    ).status_code == 204
    assert_problem(await upload(api, token, report_id, tiny_jpeg(23)), 404)


async def token_of(api: Api, who: str, owner: str) -> str | None:
    """The credential of ``who``: the report's owner, nobody (anonymous), or a new one."""
    if who == "owner":
        return owner
    if who == "anonymous":
        return None
    return await credential(api, who)


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("owner", 200),
        ("moderator", 200),
        ("admin", 200),
        ("other-observer", 404),
        ("officer", 404),
        ("researcher", 403),
        ("anonymous", 401),
    ],
)
async def test_who_may_read_a_photo(api: Api, who: str, status: int) -> None:
    owner = await api.device_token()
    report_id = await new_report(api, owner)
    body = await uploaded(api, owner, report_id, tiny_jpeg(24))
    token = await token_of(api, who, owner)
    response = await fetch(api, token, body["id"])
    if status == 200:
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "image/jpeg"
        assert_matches_stored(body, response.content)
    else:
        assert_problem(response, status)
        assert body["sha256"] not in response.text


async def test_unknown_photo_is_404(api: Api) -> None:
    moderator = await api.account_token(Role.moderator)
    response = await fetch(api, moderator, "0190f3c1-0000-7000-8000-000000000000")
    assert_problem(response, 404)
    assert_problem(await similar(api, moderator, "0190f3c1-0000-7000-8000-000000000000"), 404)


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("owner", 403),
        ("other-observer", 403),
        ("officer", 403),
        ("researcher", 403),
        ("anonymous", 401),
        ("moderator", 200),
        ("admin", 200),
    ],
)
async def test_only_staff_see_similar_photos(api: Api, who: str, status: int) -> None:
    owner = await api.device_token()
    report_id = await new_report(api, owner)
    body = await uploaded(api, owner, report_id, tiny_jpeg(25))
    token = await token_of(api, who, owner)
    response = await similar(api, token, body["id"])
    if status == 200:
        assert response.status_code == 200, response.text
        assert set(response.json()) == {"items"}
    else:
        assert_problem(response, status)


# --- caching ----------------------------------------------------------------------------------


async def test_etag_and_if_none_match(api: Api) -> None:
    token = await api.device_token()
    report_id = await new_report(api, token)
    body = await uploaded(api, token, report_id, tiny_jpeg(30))
    response = await fetch(api, token, body["id"])
    assert response.status_code == 200
    etag = response.headers["etag"]
    assert etag == f'"{body["sha256"]}"'
    assert "private" in response.headers["cache-control"]
    assert "public" not in response.headers["cache-control"]
    for header in (etag, f"W/{etag}", f'"nope", {etag}'):
        cached = await fetch(api, token, body["id"], {"If-None-Match": header})
        assert cached.status_code == 304, (header, cached.text)
        assert cached.content == b""
        assert cached.headers["etag"] == etag
    stale = await fetch(api, token, body["id"], {"If-None-Match": '"0000"'})
    assert stale.status_code == 200
    assert stale.content == response.content
    # A stranger learns nothing from a matching ETag.
    stranger = await api.device_token()
    assert_problem(await fetch(api, stranger, body["id"], {"If-None-Match": etag}), 404)


# --- near-duplicates --------------------------------------------------------------------------


async def test_similar_finds_near_duplicates_in_other_reports(api: Api) -> None:
    moderator = await api.account_token(Role.moderator)
    picture = scene(41)
    original = fx.jpeg_bytes(picture, quality=95)
    recompressed = fx.jpeg_bytes(picture, quality=60)
    brightened = fx.jpeg_bytes(ImageEnhance.Brightness(picture).enhance(1.06), quality=85)
    retouched = picture.copy()
    ImageDraw.Draw(retouched).rectangle((10, 10, 30, 30), fill=(255, 255, 255))
    marked = fx.jpeg_bytes(retouched, quality=80)  # a few bits away, still a near-duplicate
    unrelated = fx.jpeg_bytes(scene(977), quality=95)

    async def in_new_report(data: bytes) -> dict[str, Any]:
        token = await api.device_token()
        return await uploaded(api, token, await new_report(api, token), data)

    first = await in_new_report(original)
    exact = await in_new_report(original)
    near = await in_new_report(recompressed)
    bright = await in_new_report(brightened)
    mark = await in_new_report(marked)
    other = await in_new_report(unrelated)

    response = await similar(api, moderator, first["id"])
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    items = response.json()["items"]
    for item in items:
        assert set(item) == {"id", "report_id", "phash_distance", "dhash_distance"}
        assert 0 <= item["phash_distance"] <= 8
        assert 0 <= item["dhash_distance"] <= 8
    by_id = {item["id"]: item for item in items}
    assert first["id"] not in by_id  # never its own near-duplicate
    assert other["id"] not in by_id
    assert {exact["id"], near["id"], bright["id"], mark["id"]} <= set(by_id)
    assert by_id[exact["id"]]["report_id"] == exact["report_id"]
    assert (by_id[exact["id"]]["phash_distance"], by_id[exact["id"]]["dhash_distance"]) == (0, 0)
    # Closest first: the byte-identical copy is at distance 0, the retouched one further.
    sums = [item["phash_distance"] + item["dhash_distance"] for item in items]
    assert sums == sorted(sums)
    assert sums[0] == 0
    assert by_id[mark["id"]]["phash_distance"] + by_id[mark["id"]]["dhash_distance"] > 0
    order = [item["id"] for item in items]
    assert order.index(exact["id"]) < order.index(mark["id"])

    # Symmetric, and the unrelated picture has none of them.
    back = (await similar(api, moderator, near["id"])).json()["items"]
    assert first["id"] in {item["id"] for item in back}
    assert near["id"] not in {item["id"] for item in back}
    lonely = (await similar(api, moderator, other["id"])).json()["items"]
    assert not {first["id"], exact["id"], near["id"], bright["id"], mark["id"]} & {
        item["id"] for item in lonely
    }

    limited = await similar(api, moderator, first["id"], limit=1)
    assert limited.status_code == 200, limited.text
    assert len(limited.json()["items"]) == 1
    assert limited.json()["items"][0]["id"] in {exact["id"], near["id"], bright["id"]}


@pytest.mark.parametrize("limit", ["0", "101", "-1", "many"])
async def test_similar_limit_is_validated(api: Api, limit: str) -> None:
    moderator = await api.account_token(Role.moderator)
    token = await api.device_token()
    body = await uploaded(api, token, await new_report(api, token), tiny_jpeg(42))
    response = await api.client.get(
        f"/v1/photos/{body['id']}/similar", params={"limit": limit}, headers=bearer(moderator)
    )
    # Query parameters are refused like everywhere else in the API (see test_reports).
    assert_problem(response, (400, 422), field="limit")


# --- withdrawal -------------------------------------------------------------------------------


async def test_withdrawal_deletes_photos_and_blobs(api: Api, settings: Settings) -> None:
    token = await api.device_token()
    moderator = await api.account_token(Role.moderator)
    report_id = await new_report(api, token)
    bodies = [await uploaded(api, token, report_id, unique_jpeg()) for _ in range(2)]
    paths = [blob_path(settings, body["sha256"]) for body in bodies]
    for body, path in zip(bodies, paths, strict=True):
        assert path.is_file()
        assert path.read_bytes() == await fetched_bytes(api, token, body["id"])

    withdrawn = await api.client.delete(f"/v1/reports/{report_id}", headers=bearer(token))
    assert withdrawn.status_code == 204, withdrawn.text

    for body, path in zip(bodies, paths, strict=True):
        assert_problem(await fetch(api, token, body["id"]), 404)
        assert_problem(await fetch(api, moderator, body["id"]), 404)
        assert_problem(await similar(api, moderator, body["id"]), 404)
        assert not path.exists(), path
    count = await api.conn.fetchval(
        "select count(*) from photos where report_id = $1::uuid", report_id
    )
    assert count == 0


async def test_a_blob_shared_with_another_report_survives_one_withdrawal(
    api: Api, settings: Settings
) -> None:
    first_owner, second_owner = await api.device_token(), await api.device_token()
    first_report = await new_report(api, first_owner)
    second_report = await new_report(api, second_owner)
    data = unique_jpeg()
    first = await uploaded(api, first_owner, first_report, data)
    second = await uploaded(api, second_owner, second_report, data)
    assert first["sha256"] == second["sha256"]
    path = blob_path(settings, first["sha256"])
    assert path.is_file()

    response = await api.client.delete(f"/v1/reports/{first_report}", headers=bearer(first_owner))
    assert response.status_code == 204
    assert_problem(await fetch(api, first_owner, first["id"]), 404)
    assert path.is_file()
    kept = await fetched_bytes(api, second_owner, second["id"])
    assert_matches_stored(second, kept)

    response = await api.client.delete(f"/v1/reports/{second_report}", headers=bearer(second_owner))
    assert response.status_code == 204
    assert not path.exists()
