"""Replays are keyed on the uploaded bytes, blobs on the sanitised bytes (issue 15, point 4).

The same bytes sent again to the same report are a replay: 200 with the first answer. The same
pixels with other metadata are another upload: 201, a row of its own with its own provenance
(an AI marker on the second copy is seen), sharing the stored blob. A blob is deleted only when
no row refers to it any more.

Expected values come from the issue and the API contract; digests are recomputed here from
their definition (HMAC-SHA256 keyed with the receipt key's "upload digest" derivation).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import struct
from typing import Final

from api.app import receipt_signer
from schemas.auth import Role
from schemas.settings import Settings
from storage.photos import store as photos
from storage.photos.blobs import FilesystemBlobStore
from tests.support import provenance_fixtures as pv
from tests.support.assertions import assert_problem
from tests.support.helpers import Api, bearer
from tests.support.photo_api import (
    assert_matches_stored,
    assert_photo_view,
    blob_path,
    fetch,
    fetched_bytes,
    new_report,
    unique_jpeg,
    upload,
    uploaded,
)

AI_SOURCE: Final = f"{pv.IPTC_SOURCE_TYPE}trainedAlgorithmicMedia"


def with_segment(jpeg: bytes, marker: int, body: bytes) -> bytes:
    """``jpeg`` with one more marker segment right after SOI: the same entropy-coded pixels."""
    assert jpeg[:2] == b"\xff\xd8"
    return jpeg[:2] + bytes((0xFF, marker)) + struct.pack(">H", len(body) + 2) + body + jpeg[2:]


def marked_as_ai(jpeg: bytes) -> bytes:
    """The same picture declaring itself generated (IPTC DigitalSourceType in an XMP APP1)."""
    return with_segment(
        jpeg, 0xE1, b"http://ns.adobe.com/xap/1.0/\x00" + pv.digital_source_type_xmp(AI_SOURCE)
    )


def with_gps(jpeg: bytes) -> bytes:
    """The same picture with an EXIF APP1 carrying a GPS position (Paris)."""
    exif = pv.gps_exif(((48, 1), (51, 1), (24, 1)), ((2, 1), (21, 1), (8, 1)))
    return with_segment(jpeg, 0xE1, exif)


def expected_digest(settings: Settings, data: bytes) -> str:
    key = receipt_signer(settings).derive_key("upload digest")
    return hmac.new(key, data, hashlib.sha256).hexdigest()


async def test_same_pixels_with_an_ai_marker_are_a_new_upload_with_their_own_provenance(
    api: Api, settings: Settings
) -> None:
    token = await api.device_token()
    report_id = await new_report(api, token)
    plain = unique_jpeg((64, 48))
    generated = marked_as_ai(plain)
    assert generated != plain

    first = await uploaded(api, token, report_id, plain)
    second_response = await upload(api, token, report_id, generated)
    assert second_response.status_code == 201, second_response.text
    second = second_response.json()
    assert_photo_view(second, report_id)

    assert second["id"] != first["id"]
    # One picture, one blob ...
    assert second["sha256"] == first["sha256"]
    assert blob_path(settings, first["sha256"]).is_file()
    # ... but each upload's own signals.
    assert first["provenance"]["ai_marker"] is False
    assert first["provenance"]["had_metadata"] is False
    assert second["provenance"]["ai_marker"] is True
    assert second["provenance"]["had_metadata"] is True
    for body in (first, second):
        assert_matches_stored(body, await fetched_bytes(api, token, body["id"]))
    rows = await api.conn.fetch(
        "select id::text, provenance->>'ai_marker' as ai from photos"
        " where report_id = $1::uuid order by created_at, id",
        report_id,
    )
    assert [(row["id"], row["ai"]) for row in rows] == [
        (first["id"], "false"),
        (second["id"], "true"),
    ]


async def test_same_pixels_with_other_exif_are_a_new_upload(api: Api) -> None:
    token = await api.device_token()
    report_id = await new_report(api, token)
    plain = unique_jpeg((64, 48))
    first = await uploaded(api, token, report_id, plain)
    second = await uploaded(api, token, report_id, with_gps(plain))
    assert second["id"] != first["id"]
    assert second["sha256"] == first["sha256"]
    assert first["provenance"]["had_gps"] is False
    assert second["provenance"]["had_gps"] is True
    # The report is in New York, the EXIF position in Paris.
    assert second["provenance"]["capture_place_consistent"] is False
    assert first["provenance"]["capture_place_consistent"] is None


async def test_each_upload_replays_its_own_answer(api: Api) -> None:
    token = await api.device_token()
    report_id = await new_report(api, token)
    plain = unique_jpeg((64, 48))
    generated = marked_as_ai(plain)
    first = await uploaded(api, token, report_id, plain)
    second = await uploaded(api, token, report_id, generated)
    for data, body in ((generated, second), (plain, first), (generated, second)):
        again = await upload(api, token, report_id, data)
        assert again.status_code == 200, again.text
        assert again.json() == body
    count = await api.conn.fetchval(
        "select count(*) from photos where report_id = $1::uuid", report_id
    )
    assert count == 2


async def test_a_replay_needs_the_same_report(api: Api) -> None:
    token = await api.device_token()
    first_report, second_report = await new_report(api, token), await new_report(api, token)
    data = unique_jpeg()
    first = await uploaded(api, token, first_report, data)
    second = await uploaded(api, token, second_report, data)
    assert (second["report_id"], first["report_id"]) == (second_report, first_report)
    assert second["id"] != first["id"]


async def test_a_replay_is_checked_for_ownership_first(api: Api) -> None:
    """Someone else sending the owner's exact bytes learns nothing: 404, not the answer."""
    owner, stranger = await api.device_token(), await api.device_token()
    report_id = await new_report(api, owner)
    data = unique_jpeg()
    await uploaded(api, owner, report_id, data)
    response = await upload(api, stranger, report_id, data)
    assert_problem(response, 404)
    assert "sha256" not in response.text


async def test_simultaneous_copies_with_different_metadata_are_all_stored(api: Api) -> None:
    token = await api.device_token()
    report_id = await new_report(api, token)
    plain = unique_jpeg((64, 48))
    copies = [plain, marked_as_ai(plain), with_gps(plain), plain, marked_as_ai(plain)]
    responses = await asyncio.gather(*(upload(api, token, report_id, c) for c in copies))
    statuses = [r.status_code for r in responses]
    assert sorted(statuses) == [200, 200, 201, 201, 201], [r.text for r in responses]
    bodies = [r.json() for r in responses]
    assert len({body["sha256"] for body in bodies}) == 1
    # Identical bytes got one answer; different bytes different ones.
    assert bodies[0] == bodies[3]
    assert bodies[1] == bodies[4]
    assert len({bodies[0]["id"], bodies[1]["id"], bodies[2]["id"]}) == 3


async def test_the_digest_is_keyed_never_a_plain_hash(api: Api, settings: Settings) -> None:
    token = await api.device_token()
    report_id = await new_report(api, token)
    data = marked_as_ai(unique_jpeg())
    body = await uploaded(api, token, report_id, data)
    row = await api.conn.fetchrow(
        "select to_jsonb(p) as everything, upload_digest from photos p where id = $1::uuid",
        body["id"],
    )
    assert row is not None
    assert row["upload_digest"] == expected_digest(settings, data)
    assert hashlib.sha256(data).hexdigest() not in row["everything"]


async def test_a_photo_stored_before_digests_is_replayed_when_its_answer_is_the_same(
    api: Api, settings: Settings
) -> None:
    """A row from before migration 0020 has no digest. Bytes whose sanitised copy and
    provenance both equal it are its replay (and the row adopts their digest); the same
    pixels with other metadata are a new upload."""
    token = await api.device_token()
    report_id = await new_report(api, token)
    plain = unique_jpeg((64, 48))
    legacy = await uploaded(api, token, report_id, plain)
    await api.conn.execute(
        "update photos set upload_digest = null where id = $1::uuid", legacy["id"]
    )

    replay = await upload(api, token, report_id, plain)
    assert replay.status_code == 200, replay.text
    assert replay.json() == legacy
    digest = await api.conn.fetchval(
        "select upload_digest from photos where id = $1::uuid", legacy["id"]
    )
    assert digest == expected_digest(settings, plain)

    await api.conn.execute(
        "update photos set upload_digest = null where id = $1::uuid", legacy["id"]
    )
    generated = await uploaded(api, token, report_id, marked_as_ai(plain))
    assert generated["id"] != legacy["id"]
    assert generated["provenance"]["ai_marker"] is True
    # The legacy row kept no digest: the AI copy did not claim it.
    digest = await api.conn.fetchval(
        "select upload_digest from photos where id = $1::uuid", legacy["id"]
    )
    assert digest is None


async def test_a_blob_shared_by_rows_of_two_reports_lives_until_the_last_goes(
    api: Api, settings: Settings
) -> None:
    first_owner, second_owner = await api.device_token(), await api.device_token()
    first_report = await new_report(api, first_owner)
    second_report = await new_report(api, second_owner)
    plain = unique_jpeg((64, 48))
    # Two rows of the first report and one of the second, one blob.
    a = await uploaded(api, first_owner, first_report, plain)
    b = await uploaded(api, first_owner, first_report, marked_as_ai(plain))
    c = await uploaded(api, second_owner, second_report, with_gps(plain))
    assert a["sha256"] == b["sha256"] == c["sha256"]
    path = blob_path(settings, a["sha256"])
    assert path.is_file()

    response = await api.client.delete(f"/v1/reports/{first_report}", headers=bearer(first_owner))
    assert response.status_code == 204, response.text
    for body in (a, b):
        assert_problem(await fetch(api, first_owner, body["id"]), 404)
    assert path.is_file()
    assert_matches_stored(c, await fetched_bytes(api, second_owner, c["id"]))
    # Garbage collection sees the blob still referenced, too.
    store = FilesystemBlobStore(settings.data_path / "photos")
    assert await photos.release_blobs(api.conn, store, [a["sha256"]]) == 0
    assert path.is_file()

    moderator = await api.account_token(Role.moderator)
    assert (await fetch(api, moderator, c["id"])).status_code == 200
    response = await api.client.delete(f"/v1/reports/{second_report}", headers=bearer(second_owner))
    assert response.status_code == 204, response.text
    assert not path.exists()
