"""tus 1.0 over HTTP against the running service: core, creation, termination, checksum and
expiration, and every refusal as problem+json. Expectations come from the tus specification
(https://tus.io/protocols/resumable-upload) and the issue, not from the server's code."""

from __future__ import annotations

import base64
import hashlib
import uuid
from datetime import datetime
from email.utils import parsedate_to_datetime

import asyncpg
import httpx
import pytest

from schemas.settings import Settings
from tests.support import tus_client as tus
from tests.support.helpers import Api, bearer
from tests.support.photo_api import new_report, unique_jpeg, upload

PROBLEM = "application/problem+json"


def assert_problem(
    response: httpx.Response, status: int, code: str | None = None
) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["Tus-Resumable"] == "1.0.0"
    assert response.headers["content-type"].startswith(PROBLEM)
    if response.request.method == "HEAD":  # a HEAD answer has no body, only its headers
        return {}
    body: dict[str, object] = response.json()
    assert body["status"] == status
    if code is not None:
        assert body["code"] == code, body
    return body


async def started(
    api: Api, token: str, data: bytes, *, via_metadata: bool = False
) -> tuple[str, str]:
    report_id = await new_report(api, token)
    created = await tus.create(api.client, token, report_id, len(data), via_metadata=via_metadata)
    assert created.status_code == 201, created.text
    return report_id, created.headers["Location"]


async def test_options_announce_the_server(api: Api, settings: Settings) -> None:
    response = await api.client.options("/v1/uploads")
    assert response.status_code == 204
    assert response.headers["Tus-Resumable"] == "1.0.0"
    assert response.headers["Tus-Version"] == "1.0.0"
    extensions = set(response.headers["Tus-Extension"].split(","))
    assert extensions == {"creation", "termination", "checksum", "expiration"}
    assert int(response.headers["Tus-Max-Size"]) == settings.max_upload_bytes
    assert response.headers["Tus-Checksum-Algorithm"] == "sha256"


@pytest.mark.parametrize("via_metadata", [False, True])
async def test_chunked_upload_stores_the_photo(
    api: Api, conn: asyncpg.Connection, via_metadata: bool
) -> None:
    token = await api.device_token()
    data = unique_jpeg((640, 480))
    report_id, location = await started(api, token, data, via_metadata=via_metadata)
    assert location.startswith("/v1/uploads/")
    first = await tus.head(api.client, token, location)
    assert first.status_code == 200
    assert first.headers["Upload-Offset"] == "0"
    assert first.headers["Upload-Length"] == str(len(data))
    assert first.headers["Tus-Resumable"] == "1.0.0"
    assert first.headers["Cache-Control"] == "no-store"
    half = len(data) // 2
    middle = await tus.patch(api.client, token, location, 0, data[:half])
    assert middle.status_code == 204, middle.text
    assert middle.headers["Upload-Offset"] == str(half)
    assert "Plainsight-Photo-Id" not in middle.headers
    last = await tus.patch(api.client, token, location, half, data[half:])
    assert last.status_code == 204, last.text
    assert last.headers["Upload-Offset"] == str(len(data))
    photo_id = last.headers["Plainsight-Photo-Id"]
    stored = await api.client.get(f"/v1/photos/{photo_id}", headers=bearer(token))
    assert stored.status_code == 200
    assert stored.headers["content-type"].startswith("image/jpeg")
    owner = await conn.fetchval("select report_id from photos where id = $1", uuid.UUID(photo_id))
    assert str(owner) == report_id
    # HEAD after completion names the photo (a client whose last answer was lost).
    again = await tus.head(api.client, token, location)
    assert again.status_code == 200
    assert again.headers["Upload-Offset"] == str(len(data))
    assert again.headers["Plainsight-Photo-Id"] == photo_id


async def test_creation_answers_expiry(api: Api, settings: Settings) -> None:
    token = await api.device_token()
    report_id = await new_report(api, token)
    before = datetime.now().astimezone()
    created = await tus.create(api.client, token, report_id, 1000)
    assert created.status_code == 201
    assert created.headers["Tus-Resumable"] == "1.0.0"
    expires = parsedate_to_datetime(created.headers["Upload-Expires"])
    hours = (expires - before).total_seconds() / 3600
    assert settings.upload_expiry_hours - 0.01 < hours <= settings.upload_expiry_hours + 0.01
    head = await tus.head(api.client, token, created.headers["Location"])
    assert head.headers["Upload-Expires"] == created.headers["Upload-Expires"]


async def test_filename_and_type_are_never_stored(api: Api, conn: asyncpg.Connection) -> None:
    token = await api.device_token()
    report_id = await new_report(api, token)
    created = await tus.create(
        api.client,
        token,
        report_id,
        1000,
        extra_metadata={"filename": "protest-Maria-Lopez.jpg", "filetype": "image/x-secret"},
    )
    assert created.status_code == 201
    upload_id = uuid.UUID(created.headers["Location"].rsplit("/", 1)[1])
    row = await conn.fetchval("select row_to_json(u)::text from uploads u where id = $1", upload_id)
    assert row is not None
    for secret in ("Maria", "secret", "IMG", "image/"):
        assert secret not in row


async def test_wrong_or_missing_tus_resumable_is_412(api: Api) -> None:
    token = await api.device_token()
    report_id = await new_report(api, token)
    for headers in ({}, {"Tus-Resumable": "0.2.2"}):
        response = await api.client.post(
            f"/v1/reports/{report_id}/uploads",
            headers={**bearer(token), **headers, "Upload-Length": "10"},
        )
        body = assert_problem(response, 412, "tus_version_unsupported")
        assert body["field"] == "Tus-Resumable"
        assert response.headers["Tus-Version"] == "1.0.0"


async def test_unauthenticated_answers_carry_tus_resumable(api: Api) -> None:
    response = await api.client.post("/v1/uploads", headers={**tus.TUS, "Upload-Length": "10"})
    assert_problem(response, 401)


async def test_creation_refusals(api: Api, settings: Settings) -> None:
    token = await api.device_token()
    report_id = await new_report(api, token)
    path = f"/v1/reports/{report_id}/uploads"
    too_big = await tus.create(api.client, token, report_id, settings.max_upload_bytes + 1)
    assert assert_problem(too_big, 413, "payload_too_large")["field"] == "Upload-Length"
    no_length = await api.client.post(path, headers={**tus.TUS, **bearer(token)})
    assert assert_problem(no_length, 400)["field"] == "Upload-Length"
    for bad in ("-1", "1e6", "ten", ""):
        response = await api.client.post(
            path, headers={**tus.TUS, **bearer(token), "Upload-Length": bad}
        )
        assert assert_problem(response, 400)["field"] == "Upload-Length"
    empty = await tus.create(api.client, token, report_id, 0)
    assert assert_problem(empty, 422)["field"] == "Upload-Length"
    deferred = await api.client.post(
        path, headers={**tus.TUS, **bearer(token), "Upload-Defer-Length": "1"}
    )
    assert assert_problem(deferred, 400)["field"] == "Upload-Defer-Length"
    malformed = await api.client.post(
        "/v1/uploads",
        headers={**tus.TUS, **bearer(token), "Upload-Length": "10", "Upload-Metadata": "a b c"},
    )
    assert assert_problem(malformed, 400)["field"] == "Upload-Metadata"
    not_base64 = await api.client.post(
        "/v1/uploads",
        headers={**tus.TUS, **bearer(token), "Upload-Length": "10", "Upload-Metadata": "k !!"},
    )
    assert assert_problem(not_base64, 400)["field"] == "Upload-Metadata"
    unnamed = await api.client.post(
        "/v1/uploads", headers={**tus.TUS, **bearer(token), "Upload-Length": "10"}
    )
    assert assert_problem(unnamed, 422)["field"] == "Upload-Metadata"
    not_uuid = await api.client.post(
        "/v1/uploads",
        headers={
            **tus.TUS,
            **bearer(token),
            "Upload-Length": "10",
            "Upload-Metadata": tus.metadata(report_id="42"),
        },
    )
    assert assert_problem(not_uuid, 422)["field"] == "Upload-Metadata"
    other_report = await new_report(api, token)
    disagreeing = await api.client.post(
        path,
        headers={
            **tus.TUS,
            **bearer(token),
            "Upload-Length": "10",
            "Upload-Metadata": tus.metadata(report_id=other_report),
        },
    )
    assert assert_problem(disagreeing, 422)["field"] == "Upload-Metadata"


async def test_reports_of_others_and_withdrawn_ones_are_404(api: Api) -> None:
    owner = await api.device_token()
    stranger = await api.device_token()
    report_id = await new_report(api, owner)
    for via_metadata in (False, True):
        response = await tus.create(api.client, stranger, report_id, 10, via_metadata=via_metadata)
        assert_problem(response, 404)
    missing = await tus.create(api.client, owner, str(uuid.uuid4()), 10)
    assert_problem(missing, 404)
    withdrawn = await new_report(api, owner)
    gone = await api.client.delete(f"/v1/reports/{withdrawn}", headers=bearer(owner))
    assert gone.status_code in (200, 204), gone.text
    assert_problem(await tus.create(api.client, owner, withdrawn, 10), 404)


async def test_uploads_of_others_are_404(api: Api) -> None:
    owner = await api.device_token()
    stranger = await api.device_token()
    data = unique_jpeg()
    _, location = await started(api, owner, data)
    assert_problem(await tus.head(api.client, stranger, location), 404)
    assert_problem(await tus.patch(api.client, stranger, location, 0, data), 404)
    gone = await api.client.delete(location, headers={**tus.TUS, **bearer(stranger)})
    assert_problem(gone, 404)
    assert await tus.offset_of(api.client, owner, location) == 0
    unknown = f"/v1/uploads/{uuid.uuid4()}"
    assert_problem(await tus.head(api.client, owner, unknown), 404)


async def test_withdrawing_the_report_ends_its_uploads(api: Api) -> None:
    token = await api.device_token()
    data = unique_jpeg()
    report_id, location = await started(api, token, data)
    withdrawn = await api.client.delete(f"/v1/reports/{report_id}", headers=bearer(token))
    assert withdrawn.status_code in (200, 204)
    assert_problem(await tus.patch(api.client, token, location, 0, data), 404)
    assert_problem(await tus.head(api.client, token, location), 404)


async def test_patch_refusals_append_nothing(api: Api) -> None:
    token = await api.device_token()
    data = unique_jpeg((320, 240))
    _, location = await started(api, token, data)
    wrong_type = await tus.patch(
        api.client, token, location, 0, data[:100], content_type="application/octet-stream"
    )
    assert assert_problem(wrong_type, 415, "unsupported_media_type")["field"] == "Content-Type"
    ahead = await tus.patch(api.client, token, location, 50, data[:100])
    assert_problem(ahead, 409, "upload_offset_mismatch")
    no_offset = await api.client.patch(
        location,
        headers={**tus.TUS, **bearer(token), "Content-Type": tus.OFFSET_TYPE},
        content=data[:100],
    )
    assert assert_problem(no_offset, 400)["field"] == "Upload-Offset"
    too_long = await tus.patch(api.client, token, location, 0, data + b"x")
    assert_problem(too_long, 413, "payload_too_large")
    assert await tus.offset_of(api.client, token, location) == 0
    ok = await tus.patch(api.client, token, location, 0, data[:100])
    assert ok.status_code == 204
    behind = await tus.patch(api.client, token, location, 0, data[:100])
    assert_problem(behind, 409, "upload_offset_mismatch")
    assert await tus.offset_of(api.client, token, location) == 100


async def test_checksum(api: Api) -> None:
    token = await api.device_token()
    data = unique_jpeg((320, 240))
    _, location = await started(api, token, data)
    piece = data[:1000]
    wrong = await tus.patch(
        api.client, token, location, 0, piece, checksum=tus.sha256_checksum(piece + b"!")
    )
    assert_problem(wrong, 460, "checksum_mismatch")
    assert await tus.offset_of(api.client, token, location) == 0
    digest = base64.b64encode(hashlib.sha256(piece).digest()).decode()
    other = await tus.patch(api.client, token, location, 0, piece, checksum=f"md5 {digest}")
    assert assert_problem(other, 400)["field"] == "Upload-Checksum"
    short = await tus.patch(api.client, token, location, 0, piece, checksum="sha256 AAAA")
    assert assert_problem(short, 400)["field"] == "Upload-Checksum"
    right = await tus.patch(
        api.client, token, location, 0, piece, checksum=tus.sha256_checksum(piece)
    )
    assert right.status_code == 204, right.text
    assert right.headers["Upload-Offset"] == "1000"
    rest = await tus.patch(
        api.client, token, location, 1000, data[1000:], checksum=tus.sha256_checksum(data[1000:])
    )
    assert rest.status_code == 204, rest.text
    assert "Plainsight-Photo-Id" in rest.headers


async def test_termination(api: Api, settings: Settings) -> None:
    token = await api.device_token()
    data = unique_jpeg((320, 240))
    _, location = await started(api, token, data)
    assert (await tus.patch(api.client, token, location, 0, data[:500])).status_code == 204
    upload_id = location.rsplit("/", 1)[1]
    part = settings.data_path / "uploads" / f"{upload_id}.part"
    assert part.stat().st_size == 500
    gone = await api.client.delete(location, headers={**tus.TUS, **bearer(token)})
    assert gone.status_code == 204
    assert gone.headers["Tus-Resumable"] == "1.0.0"
    assert not part.exists()
    assert_problem(await tus.head(api.client, token, location), 404)
    assert_problem(await tus.patch(api.client, token, location, 500, data[500:]), 404)


async def test_expired_upload_is_410(api: Api, conn: asyncpg.Connection) -> None:
    token = await api.device_token()
    data = unique_jpeg()
    _, location = await started(api, token, data)
    upload_id = uuid.UUID(location.rsplit("/", 1)[1])
    await conn.execute(
        "update uploads set expires_at = now() - interval '1 second' where id = $1", upload_id
    )
    assert_problem(await tus.head(api.client, token, location), 410)
    assert_problem(await tus.patch(api.client, token, location, 0, data), 410, "upload_expired")


async def test_uploads_in_flight_are_limited(api: Api, settings: Settings) -> None:
    token = await api.device_token()
    report_id = await new_report(api, token)
    locations = []
    for _ in range(settings.uploads_in_flight):
        created = await tus.create(api.client, token, report_id, 1000)
        assert created.status_code == 201
        locations.append(created.headers["Location"])
    refused = await tus.create(api.client, token, report_id, 1000)
    assert_problem(refused, 429, "too_many_uploads")
    # Waiting does not help (finishing or deleting an upload does): no Retry-After, as the
    # document says (its Retry-After on this 429 is for rate_limited only).
    assert "retry-after" not in refused.headers
    # Another device is not held back by this one's uploads.
    other = await api.device_token()
    assert (
        await tus.create(api.client, other, await new_report(api, other), 10)
    ).status_code == 201
    # Ending one frees a place.
    deleted = await api.client.delete(locations[0], headers={**tus.TUS, **bearer(token)})
    assert deleted.status_code == 204
    assert (await tus.create(api.client, token, report_id, 1000)).status_code == 201


async def test_refused_content_deletes_the_upload(api: Api, settings: Settings) -> None:
    token = await api.device_token()
    data = b"GIF89a" + bytes(range(256)) * 8
    report_id, location = await started(api, token, data)
    refused = await tus.patch(api.client, token, location, 0, data)
    assert_problem(refused, 415, "unsupported_media_type")
    assert_problem(await tus.head(api.client, token, location), 404)
    upload_id = location.rsplit("/", 1)[1]
    assert not (settings.data_path / "uploads" / f"{upload_id}.part").exists()
    photos = await api.client.get(f"/v1/reports/{report_id}", headers=bearer(token))
    assert photos.status_code == 200


async def test_single_request_upload_is_unchanged(api: Api) -> None:
    token = await api.device_token()
    report_id = await new_report(api, token)
    response = await upload(api, token, report_id, unique_jpeg())
    assert response.status_code == 201, response.text
    assert "Tus-Resumable" not in response.headers


async def test_post_with_method_override_is_a_patch(api: Api) -> None:
    """tus-java-client (under tus-android-client) sends its PATCH as a POST with
    X-HTTP-Method-Override where its HTTP stack refuses PATCH."""
    token = await api.device_token()
    data = unique_jpeg((320, 240))
    _, location = await started(api, token, data)
    headers = {**tus.TUS, **bearer(token), "Content-Type": tus.OFFSET_TYPE, "Upload-Offset": "0"}
    plain = await api.client.post(location, headers=headers, content=data[:100])
    assert assert_problem(plain, 405)["field"] == "X-HTTP-Method-Override"
    assert await tus.offset_of(api.client, token, location) == 0
    first = await api.client.post(
        location, headers={**headers, "X-HTTP-Method-Override": "PATCH"}, content=data[:100]
    )
    assert first.status_code == 204, first.text
    assert first.headers["Upload-Offset"] == "100"
    rest = await api.client.post(
        location,
        headers={**headers, "Upload-Offset": "100", "X-HTTP-Method-Override": "PATCH"},
        content=data[100:],
    )
    assert rest.status_code == 204, rest.text
    assert "Plainsight-Photo-Id" in rest.headers
