"""Reading a stored photo or video: ``GET /v1/photos/{id}`` with single byte ranges (RFC 9110
section 14), which video players need to seek, checked on photos (videos: test_videos_api)."""

from __future__ import annotations

import pytest

from schemas.auth import Role
from tests.support.assertions import assert_problem
from tests.support.helpers import Api
from tests.support.photo_api import fetch, fetched_bytes, new_report, unique_jpeg, uploaded


async def stored_photo(api: Api) -> tuple[str, str, bytes]:
    token = await api.device_token()
    report_id = await new_report(api, token)
    body = await uploaded(api, token, report_id, unique_jpeg((160, 120)))
    return token, body["id"], await fetched_bytes(api, token, body["id"])


async def test_a_whole_photo_says_ranges_are_accepted(api: Api) -> None:
    token, photo_id, whole = await stored_photo(api)
    response = await fetch(api, token, photo_id)
    assert response.status_code == 200
    assert response.headers["accept-ranges"] == "bytes"
    assert response.headers["content-type"] == "image/jpeg"
    assert int(response.headers["content-length"]) == len(whole)


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [
        ("bytes=0-9", 0, 9),
        ("bytes=10-", 10, None),
        ("bytes=-7", -7, None),
        ("bytes=5-5", 5, 5),
        ("bytes=3-999999999", 3, None),
        ("BYTES = 2-4", 2, 4),
    ],
)
async def test_one_range_is_206_with_its_bytes(
    api: Api, header: str, first: int, last: int | None
) -> None:
    token, photo_id, whole = await stored_photo(api)
    response = await fetch(api, token, photo_id, {"Range": header})
    assert response.status_code == 206, response.text
    start = first % len(whole)
    end = len(whole) if last is None else last + 1
    assert response.content == whole[start:end]
    assert response.headers["content-range"] == f"bytes {start}-{end - 1}/{len(whole)}"
    assert int(response.headers["content-length"]) == end - start
    assert response.headers["content-type"] == "image/jpeg"
    assert (
        response.headers["etag"] == f'"{(await fetch(api, token, photo_id)).headers["etag"][1:-1]}"'
    )


@pytest.mark.parametrize(
    "header",
    ["bytes=0-1,4-5", "items=0-4", "bytes=abc", "bytes=9-2", "bytes=-", "bytes", "bytes=1-2-3"],
)
async def test_other_ranges_are_ignored_and_the_whole_is_sent(api: Api, header: str) -> None:
    token, photo_id, whole = await stored_photo(api)
    response = await fetch(api, token, photo_id, {"Range": header})
    assert response.status_code == 200, response.text
    assert response.content == whole


@pytest.mark.parametrize("header", ["bytes={size}-", "bytes={size}-{more}", "bytes=-0"])
async def test_a_range_past_the_end_is_416_problem(api: Api, header: str) -> None:
    token, photo_id, whole = await stored_photo(api)
    wanted = header.format(size=len(whole), more=len(whole) + 10)
    response = await fetch(api, token, photo_id, {"Range": wanted})
    assert_problem(response, 416, field="Range")
    assert response.json()["code"] == "range_not_satisfiable"
    assert response.headers["content-range"] == f"bytes */{len(whole)}"


async def test_if_range_with_another_etag_sends_the_whole(api: Api) -> None:
    token, photo_id, whole = await stored_photo(api)
    etag = (await fetch(api, token, photo_id)).headers["etag"]
    stale = await fetch(api, token, photo_id, {"Range": "bytes=0-3", "If-Range": '"other"'})
    assert stale.status_code == 200
    assert stale.content == whole
    fresh = await fetch(api, token, photo_id, {"Range": "bytes=0-3", "If-Range": etag})
    assert fresh.status_code == 206
    assert fresh.content == whole[:4]


async def test_a_range_read_is_refused_to_strangers_like_a_whole_one(api: Api) -> None:
    _, photo_id, _ = await stored_photo(api)
    stranger = await api.device_token()
    response = await fetch(api, stranger, photo_id, {"Range": "bytes=0-3"})
    assert_problem(response, 404)
    assert "content-range" not in response.headers


async def test_every_range_read_by_staff_is_audited(api: Api) -> None:
    _, photo_id, _ = await stored_photo(api)
    moderator = await api.account_token(Role.moderator)
    before = await api.conn.fetchval("select count(*) from audit_log where action = 'photo.read'")
    for header in ("bytes=0-3", "bytes=4-"):
        assert (await fetch(api, moderator, photo_id, {"Range": header})).status_code == 206
    after = await api.conn.fetchval("select count(*) from audit_log where action = 'photo.read'")
    assert after - before == 2
