"""Reports over HTTP: submit, read, list, withdraw, validation and location minimisation.

Expectations come from the API contract ("Reports", "Roles and credentials") and the design
brief's principles, not from the code under test.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import h3
import httpx
import pytest

from schemas.auth import Role
from tests.support.assertions import assert_problem, walk_pages
from tests.support.helpers import Api, bearer, observer_report, officer_note

LAT, LON = 40.7191, -74.0017
EXPECTED_CELL = h3.latlng_to_cell(LAT, LON, 9)
COORDINATE_TEXTS = ("40.7191", "-74.0017", "74.0017")
MAX_BODY_BYTES = 256 * 1024
CREATED_KEYS = {"id", "client_id", "kind", "status", "received_at", "receipt"}
RECEIPT_KEYS = {"report_id", "client_id", "payload_sha256", "received_at", "signature", "key_id"}


async def submitted(api: Api, token: str, body: dict[str, Any] | None = None) -> str:
    """Submit ``body`` (a valid observer report by default); return the new report's id."""
    response = await api.submit(token, body or observer_report())
    assert response.status_code == 201, response.text
    report_id: str = response.json()["id"]
    return report_id


async def get(api: Api, token: str | None, report_id: str) -> httpx.Response:
    headers = bearer(token) if token is not None else {}
    return await api.client.get(f"/v1/reports/{report_id}", headers=headers)


async def withdraw(api: Api, token: str | None, report_id: str) -> httpx.Response:
    headers = bearer(token) if token is not None else {}
    return await api.client.delete(f"/v1/reports/{report_id}", headers=headers)


async def list_ids(api: Api, token: str, **params: str) -> list[str]:
    items = await walk_pages(api.client, "/v1/reports", bearer(token), limit=50, params=params)
    return [item["id"] for item in items]


async def report_count(api: Api) -> int:
    count: int = await api.conn.fetchval("select count(*) from reports")
    return count


# --- submitting ----------------------------------------------------------------------------


async def test_observer_submission_is_201_with_contract_shape(api: Api) -> None:
    token = await api.device_token()
    body = observer_report()
    response = await api.submit(token, body)
    assert response.status_code == 201, response.text
    assert response.headers["content-type"].startswith("application/json")
    created = response.json()
    assert set(created) == CREATED_KEYS
    assert created["client_id"] == body["client_id"]
    assert created["kind"] == "observer_report"
    assert created["status"] == "pending"
    assert datetime.fromisoformat(created["received_at"]).tzinfo is not None
    receipt = created["receipt"]
    assert set(receipt) == RECEIPT_KEYS
    assert receipt["report_id"] == created["id"]
    assert receipt["client_id"] == body["client_id"]
    assert receipt["received_at"] == created["received_at"]
    uuid.UUID(created["id"])


async def test_201_means_the_report_is_in_the_database(api: Api) -> None:
    token = await api.device_token()
    report_id = await submitted(api, token)
    row = await api.conn.fetchrow(
        "select kind, status from reports where id = $1", uuid.UUID(report_id)
    )
    assert row is not None
    assert (row["kind"], row["status"]) == ("observer_report", "pending")


async def test_officer_submits_officer_note(api: Api) -> None:
    token = await api.account_token(Role.officer)
    response = await api.submit(token, officer_note())
    assert response.status_code == 201, response.text
    assert response.json()["kind"] == "officer_note"


async def test_officer_note_needs_only_command_in_officer(api: Api) -> None:
    token = await api.account_token(Role.officer)
    body = officer_note()
    body["officer"] = {"command": "Precinct 7"}
    response = await api.submit(token, body)
    assert response.status_code == 201, response.text


@pytest.mark.parametrize("kind", ["observer_report", "officer_note"])
async def test_admin_may_submit_either_kind(api: Api, kind: str) -> None:
    token = await api.account_token(Role.admin)
    body = observer_report() if kind == "observer_report" else officer_note()
    response = await api.submit(token, body)
    assert response.status_code == 201, response.text


async def test_observer_may_not_submit_officer_note(api: Api) -> None:
    token = await api.device_token()
    assert_problem(await api.submit(token, officer_note()), 403)
    assert await report_count(api) == 0


async def test_officer_may_not_submit_observer_report(api: Api) -> None:
    token = await api.account_token(Role.officer)
    assert_problem(await api.submit(token, observer_report()), 403)
    assert await report_count(api) == 0


@pytest.mark.parametrize("role", [Role.researcher, Role.moderator])
async def test_non_reporting_roles_may_not_submit(api: Api, role: Role) -> None:
    token = await api.account_token(role)
    for body in (observer_report(), officer_note()):
        assert_problem(await api.submit(token, body), 403)
    assert await report_count(api) == 0


async def test_submit_without_token_is_401_with_bearer_challenge(api: Api) -> None:
    response = await api.client.post("/v1/reports", json=observer_report())
    assert_problem(response, 401)
    assert response.headers["www-authenticate"].lower().startswith("bearer")


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer garbage",
        "Bearer psd_not-a-real-token",
        "Bearer pss_not-a-real-token",
        "Basic dXNlcjpwYXNz",
        "Bearer",
        "psd_token-without-scheme",
    ],
)
async def test_submit_with_bad_credentials_is_401(api: Api, authorization: str) -> None:
    response = await api.client.post(
        "/v1/reports", json=observer_report(), headers={"Authorization": authorization}
    )
    assert_problem(response, 401)
    assert response.headers["www-authenticate"].lower().startswith("bearer")
    assert await report_count(api) == 0


async def test_revoked_device_token_is_401(api: Api) -> None:
    created = await api.client.post("/v1/devices")
    token, device_id = created.json()["token"], uuid.UUID(created.json()["device_id"])
    await api.conn.execute("update devices set revoked_at = now() where id = $1", device_id)
    assert_problem(await api.submit(token, observer_report()), 401)


# --- validation ----------------------------------------------------------------------------


def _future() -> str:
    return (datetime.now(UTC) + timedelta(days=2)).isoformat()


def _without(body: dict[str, Any], *path: str) -> dict[str, Any]:
    target = body
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return body


INVALID_OBSERVER_REPORTS: list[tuple[str, dict[str, Any], str]] = [
    ("unknown-top-level", observer_report(foo=1), "$.foo"),
    ("unknown-nested", observer_report(agents={"foo": 1}), "$.agents.foo"),
    ("unknown-in-location", observer_report(location={"altitude": 3}), "$.location.altitude"),
    ("no-immigration-status", observer_report(immigration_status="x"), "$.immigration_status"),
    ("bad-enum", observer_report(agents={"masked": "maybe"}), "$.agents.masked"),
    ("bad-attire", observer_report(agents={"attire": "suit"}), "$.agents.attire"),
    (
        "bad-tristate",
        observer_report(identification={"verbal": "maybe"}),
        "$.identification.verbal",
    ),
    ("string-for-int", observer_report(agents={"count": "4"}), "$.agents.count"),
    ("float-for-int", observer_report(agents={"count": 4.5}), "$.agents.count"),
    ("zero-agents", observer_report(agents={"count": 0}), "$.agents.count"),
    (
        "bad-agency",
        observer_report(agents={"agencies_claimed": ["NSA"]}),
        "$.agents.agencies_claimed[0]",
    ),
    ("future", observer_report(occurred_at=_future()), "$.occurred_at"),
    ("before-2000", observer_report(occurred_at="1999-12-31T23:59:59+00:00"), "$.occurred_at"),
    ("no-offset", observer_report(occurred_at="2025-11-12T14:30:00"), "$.occurred_at"),
    ("not-a-date", observer_report(occurred_at="yesterday"), "$.occurred_at"),
    ("lat-91", observer_report(location={"lat": 91}), "$.location.lat"),
    ("lat-minus-91", observer_report(location={"lat": -91}), "$.location.lat"),
    ("lon-181", observer_report(location={"lon": 181}), "$.location.lon"),
    ("lat-string", observer_report(location={"lat": "40.7"}), "$.location.lat"),
    ("narrative-too-long", observer_report(narrative="x" * 4001), "$.narrative"),
    ("narrative-nul", observer_report(narrative="a\u0000b"), "$.narrative"),
    ("bad-client-id", observer_report(client_id="not-a-uuid"), "$.client_id"),
    ("unknown-kind", observer_report(kind="tip_off"), "$.kind"),
    ("missing-kind", _without(observer_report(), "kind"), "$.kind"),
    ("missing-client-id", _without(observer_report(), "client_id"), "$.client_id"),
    ("missing-location", _without(observer_report(), "location"), "$.location"),
    ("missing-masked", _without(observer_report(), "agents", "masked"), "$.agents.masked"),
    ("officer-object-on-observer-report", observer_report(officer={"command": "P7"}), "$.officer"),
]


@pytest.mark.parametrize(
    ("body", "field"),
    [(body, field) for _, body, field in INVALID_OBSERVER_REPORTS],
    ids=[name for name, _, _ in INVALID_OBSERVER_REPORTS],
)
async def test_invalid_observer_report_is_422_naming_the_field(
    api: Api, body: dict[str, Any], field: str
) -> None:
    token = await api.device_token()
    problem = assert_problem(await api.submit(token, body), 422, field=field)
    assert problem["code"] == "validation_failed"
    assert await report_count(api) == 0


async def test_officer_note_without_command_is_422(api: Api) -> None:
    token = await api.account_token(Role.officer)
    body = officer_note()
    del body["officer"]["command"]
    assert_problem(await api.submit(token, body), 422, field="$.officer.command")


async def test_officer_note_without_officer_object_is_422(api: Api) -> None:
    token = await api.account_token(Role.officer)
    body = officer_note()
    del body["officer"]
    assert_problem(await api.submit(token, body), 422, field="$.officer")


async def test_officer_note_with_bad_prior_notification_is_422(api: Api) -> None:
    token = await api.account_token(Role.officer)
    body = officer_note(officer={"prior_notification": "unclear"})
    assert_problem(await api.submit(token, body), 422, field="$.officer.prior_notification")


async def test_narrative_at_the_limit_is_accepted(api: Api) -> None:
    token = await api.device_token()
    response = await api.submit(token, observer_report(narrative="x" * 4000))
    assert response.status_code == 201, response.text


async def test_occurred_at_with_offset_is_accepted(api: Api) -> None:
    token = await api.device_token()
    response = await api.submit(token, observer_report(occurred_at="2025-11-12T14:30:00-05:00"))
    assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    "raw",
    [
        b'{"kind": "observer_report",',
        b"not json",
        b"",
        b"{'kind': 'x'}",
        b'{"kind": "\xff"}',
        b'{"narrative": "\\ud800"}',
        b'{"lat": NaN}',
    ],
    ids=["truncated", "text", "empty", "single-quotes", "invalid-utf8", "lone-surrogate", "nan"],
)
async def test_malformed_json_is_400(api: Api, raw: bytes) -> None:
    token = await api.device_token()
    response = await api.client.post(
        "/v1/reports",
        content=raw,
        headers={**bearer(token), "Content-Type": "application/json"},
    )
    problem = assert_problem(response, 400)
    assert problem["code"] == "malformed_json"


@pytest.mark.parametrize("raw", [b"[]", b'"report"', b"null", b"42"], ids=str)
async def test_json_that_is_not_an_object_is_422(api: Api, raw: bytes) -> None:
    token = await api.device_token()
    response = await api.client.post(
        "/v1/reports",
        content=raw,
        headers={**bearer(token), "Content-Type": "application/json"},
    )
    assert_problem(response, 422, field="$")


async def test_body_over_the_limit_is_413(api: Api) -> None:
    token = await api.device_token()
    raw = b'{"narrative": "' + b"x" * MAX_BODY_BYTES + b'"}'
    response = await api.client.post(
        "/v1/reports",
        content=raw,
        headers={**bearer(token), "Content-Type": "application/json"},
    )
    problem = assert_problem(response, 413)
    assert problem["code"] == "payload_too_large"
    assert await report_count(api) == 0


async def test_body_over_the_limit_without_content_length_is_413(api: Api) -> None:
    token = await api.device_token()

    async def chunks() -> Any:
        for _ in range(5):
            yield b" " * (MAX_BODY_BYTES // 4)
        yield b"{}"

    response = await api.client.post(
        "/v1/reports",
        content=chunks(),
        headers={**bearer(token), "Content-Type": "application/json"},
    )
    assert_problem(response, 413)


# --- reading -------------------------------------------------------------------------------


async def test_owner_reads_report_as_submitted_with_h3_cell(api: Api) -> None:
    token = await api.device_token()
    body = observer_report()
    report_id = await submitted(api, token, body)
    response = await get(api, token, report_id)
    assert response.status_code == 200, response.text
    view = response.json()
    assert view["id"] == report_id
    assert view["client_id"] == body["client_id"]
    assert view["kind"] == "observer_report"
    assert view["status"] == "pending"
    assert datetime.fromisoformat(view["received_at"]).tzinfo is not None
    assert datetime.fromisoformat(view["occurred_at"]) == datetime.fromisoformat(
        body["occurred_at"]
    )
    # Optional fields the client left out come back as null; everything sent comes back.
    for section in ("agents", "identification"):
        assert view[section].items() >= body[section].items()
    assert view["narrative"] == body["narrative"]
    assert view["location"]["h3_cell"] == EXPECTED_CELL
    assert view["location"]["accuracy_m"] == 25
    assert "lat" not in view["location"]
    assert "lon" not in view["location"]


async def test_officer_reads_own_note_with_officer_details(api: Api) -> None:
    token = await api.account_token(Role.officer)
    body = officer_note()
    report_id = await submitted(api, token, body)
    response = await get(api, token, report_id)
    assert response.status_code == 200, response.text
    assert response.json()["officer"] == body["officer"]
    assert response.json()["kind"] == "officer_note"


async def test_another_observers_report_is_404_not_403(api: Api) -> None:
    owner = await api.device_token()
    stranger = await api.device_token()
    report_id = await submitted(api, owner)
    hidden = await get(api, stranger, report_id)
    missing = await get(api, stranger, str(uuid.uuid4()))
    assert_problem(hidden, 404)
    assert_problem(missing, 404)
    assert hidden.json() == missing.json()


async def test_officer_cannot_read_an_observers_report(api: Api) -> None:
    report_id = await submitted(api, await api.device_token())
    officer = await api.account_token(Role.officer)
    assert_problem(await get(api, officer, report_id), 404)


async def test_observer_cannot_read_an_officers_note(api: Api) -> None:
    report_id = await submitted(api, await api.account_token(Role.officer), officer_note())
    assert_problem(await get(api, await api.device_token(), report_id), 404)


@pytest.mark.parametrize("role", [Role.moderator, Role.admin])
async def test_staff_read_any_report(api: Api, role: Role) -> None:
    observer_report_id = await submitted(api, await api.device_token())
    note_id = await submitted(api, await api.account_token(Role.officer), officer_note())
    token = await api.account_token(role)
    for report_id in (observer_report_id, note_id):
        response = await get(api, token, report_id)
        assert response.status_code == 200, response.text
        assert response.json()["id"] == report_id


async def test_researcher_never_reads_raw_reports(api: Api) -> None:
    report_id = await submitted(api, await api.device_token())
    token = await api.account_token(Role.researcher)
    assert_problem(await get(api, token, report_id), 403)
    assert_problem(await api.client.get("/v1/reports", headers=bearer(token)), 403)
    assert_problem(await withdraw(api, token, report_id), 403)


async def test_anonymous_cannot_read_or_list(api: Api) -> None:
    report_id = await submitted(api, await api.device_token())
    assert_problem(await get(api, None, report_id), 401)
    assert_problem(await api.client.get("/v1/reports"), 401)
    assert_problem(await withdraw(api, None, report_id), 401)


async def test_unknown_report_id_is_404(api: Api) -> None:
    token = await api.account_token(Role.moderator)
    assert_problem(await get(api, token, str(uuid.uuid4())), 404)


async def test_malformed_report_id_is_a_client_error(api: Api) -> None:
    token = await api.device_token()
    response = await get(api, token, "not-a-uuid")
    assert_problem(response, (400, 404, 422))


# --- withdrawing ---------------------------------------------------------------------------


async def test_withdraw_is_204_and_purges_content(api: Api) -> None:
    token = await api.device_token()
    report_id = await submitted(api, token)
    response = await withdraw(api, token, report_id)
    assert response.status_code == 204, response.text
    assert response.content == b""
    row = await api.conn.fetchrow(
        "select status, content, occurred_at, h3_cell from reports where id = $1",
        uuid.UUID(report_id),
    )
    assert row is not None
    assert row["status"] == "withdrawn"
    assert (row["content"], row["occurred_at"], row["h3_cell"]) == (None, None, None)


async def test_withdrawn_report_is_gone_for_owner_and_staff(api: Api) -> None:
    token = await api.device_token()
    report_id = await submitted(api, token)
    await withdraw(api, token, report_id)
    # 410 rather than 404: the owner knows the report existed, and "gone" tells the app to
    # drop its local copy instead of retrying.
    problem = assert_problem(await get(api, token, report_id), 410)
    assert "narrative" not in problem
    moderator = await api.account_token(Role.moderator)
    assert_problem(await get(api, moderator, report_id), 410)


async def test_withdrawn_report_leaves_every_list(api: Api) -> None:
    token = await api.device_token()
    kept = await submitted(api, token)
    gone = await submitted(api, token)
    await withdraw(api, token, gone)
    assert await list_ids(api, token) == [kept]
    moderator = await api.account_token(Role.moderator)
    staff_view = await list_ids(api, moderator)
    assert gone not in staff_view
    assert kept in staff_view


async def test_resending_a_withdrawn_client_id_is_410(api: Api) -> None:
    token = await api.device_token()
    body = observer_report()
    report_id = await submitted(api, token, body)
    await withdraw(api, token, report_id)
    assert_problem(await api.submit(token, body), 410)
    changed = {**body, "narrative": "something else"}
    assert_problem(await api.submit(token, changed), 410)
    assert await report_count(api) == 1


async def test_withdrawing_anothers_report_is_404_and_changes_nothing(api: Api) -> None:
    owner = await api.device_token()
    report_id = await submitted(api, owner)
    for stranger in (await api.device_token(), await api.account_token(Role.officer)):
        assert_problem(await withdraw(api, stranger, report_id), 404)
    status = await api.conn.fetchval(
        "select status from reports where id = $1", uuid.UUID(report_id)
    )
    assert status == "pending"
    assert (await get(api, owner, report_id)).status_code == 200


async def test_admin_cannot_withdraw_someone_elses_report(api: Api) -> None:
    report_id = await submitted(api, await api.device_token())
    admin = await api.account_token(Role.admin)
    assert_problem(await withdraw(api, admin, report_id), 404)


async def test_moderator_cannot_withdraw(api: Api) -> None:
    report_id = await submitted(api, await api.device_token())
    moderator = await api.account_token(Role.moderator)
    assert_problem(await withdraw(api, moderator, report_id), 403)


async def test_withdrawn_report_stays_hidden_from_strangers(api: Api) -> None:
    token = await api.device_token()
    report_id = await submitted(api, token)
    await withdraw(api, token, report_id)
    assert_problem(await get(api, await api.device_token(), report_id), 404)


async def test_withdrawing_twice_does_not_fail_or_resurrect(api: Api) -> None:
    token = await api.device_token()
    report_id = await submitted(api, token)
    await withdraw(api, token, report_id)
    again = await withdraw(api, token, report_id)
    assert again.status_code in (204, 404, 410), again.text
    assert_problem(await get(api, token, report_id), 410)


async def test_withdrawing_unknown_report_is_404(api: Api) -> None:
    token = await api.device_token()
    assert_problem(await withdraw(api, token, str(uuid.uuid4())), 404)


async def test_officer_withdraws_own_note(api: Api) -> None:
    token = await api.account_token(Role.officer)
    report_id = await submitted(api, token, officer_note())
    assert (await withdraw(api, token, report_id)).status_code == 204


# --- listing -------------------------------------------------------------------------------


async def test_list_shows_only_own_reports_newest_first(api: Api) -> None:
    mine = await api.device_token()
    other = await api.device_token()
    my_ids = [await submitted(api, mine) for _ in range(3)]
    other_id = await submitted(api, other)
    assert await list_ids(api, mine) == list(reversed(my_ids))
    assert await list_ids(api, other) == [other_id]


async def test_list_items_have_the_read_representation(api: Api) -> None:
    token = await api.device_token()
    report_id = await submitted(api, token)
    one = (await get(api, token, report_id)).json()
    response = await api.client.get("/v1/reports", headers=bearer(token))
    assert response.status_code == 200
    assert response.json() == {"items": [one], "next_cursor": None}


async def test_officer_list_is_own_notes_only(api: Api) -> None:
    officer = await api.account_token(Role.officer)
    note_id = await submitted(api, officer, officer_note())
    await submitted(api, await api.device_token())
    assert await list_ids(api, officer) == [note_id]


async def test_keyset_walk_visits_each_report_once_in_order(api: Api) -> None:
    token = await api.device_token()
    ids = [await submitted(api, token) for _ in range(5)]
    items = await walk_pages(api.client, "/v1/reports", bearer(token), limit=1)
    walked = [item["id"] for item in items]
    assert walked == list(reversed(ids))
    received = [datetime.fromisoformat(item["received_at"]) for item in items]
    assert received == sorted(received, reverse=True)


async def test_keyset_walk_with_page_size_two(api: Api) -> None:
    token = await api.device_token()
    ids = [await submitted(api, token) for _ in range(5)]
    items = await walk_pages(api.client, "/v1/reports", bearer(token), limit=2)
    assert [item["id"] for item in items] == list(reversed(ids))


async def test_last_page_has_null_cursor(api: Api) -> None:
    token = await api.device_token()
    await submitted(api, token)
    response = await api.client.get("/v1/reports", params={"limit": 1}, headers=bearer(token))
    assert response.json()["next_cursor"] is None


async def test_empty_list(api: Api) -> None:
    token = await api.device_token()
    response = await api.client.get("/v1/reports", headers=bearer(token))
    assert response.status_code == 200
    assert response.json() == {"items": [], "next_cursor": None}


@pytest.mark.parametrize("role", [Role.moderator, Role.admin])
async def test_staff_list_everything(api: Api, role: Role) -> None:
    ids = {
        await submitted(api, await api.device_token()),
        await submitted(api, await api.device_token()),
        await submitted(api, await api.account_token(Role.officer), officer_note()),
    }
    listed = await list_ids(api, await api.account_token(role))
    assert ids <= set(listed)


async def test_moderator_filters_by_status(api: Api) -> None:
    device = await api.device_token()
    pending = await submitted(api, device)
    verified = await submitted(api, device)
    await api.conn.execute(
        "update reports set status = 'verified' where id = $1", uuid.UUID(verified)
    )
    moderator = await api.account_token(Role.moderator)
    pending_items = await walk_pages(
        api.client, "/v1/reports", bearer(moderator), limit=1, params={"status": "pending"}
    )
    assert {item["status"] for item in pending_items} == {"pending"}
    assert pending in {item["id"] for item in pending_items}
    assert verified not in {item["id"] for item in pending_items}
    assert await list_ids(api, moderator, status="verified") == [verified]


@pytest.mark.parametrize("role", [Role.observer, Role.officer])
async def test_non_staff_may_not_filter_by_status(api: Api, role: Role) -> None:
    token = await api.token(role)
    response = await api.client.get(
        "/v1/reports", params={"status": "pending"}, headers=bearer(token)
    )
    assert_problem(response, 403)


async def test_invalid_status_value_names_status(api: Api) -> None:
    moderator = await api.account_token(Role.moderator)
    response = await api.client.get(
        "/v1/reports", params={"status": "approved"}, headers=bearer(moderator)
    )
    assert_problem(response, (400, 422), field="status")


@pytest.mark.parametrize("limit", ["0", "201", "-5", "many"])
async def test_out_of_range_limit_names_limit(api: Api, limit: str) -> None:
    token = await api.device_token()
    response = await api.client.get("/v1/reports", params={"limit": limit}, headers=bearer(token))
    assert_problem(response, (400, 422), field="limit")


@pytest.mark.parametrize("limit", ["1", "200"])
async def test_limit_bounds_are_inclusive(api: Api, limit: str) -> None:
    token = await api.device_token()
    response = await api.client.get("/v1/reports", params={"limit": limit}, headers=bearer(token))
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("cursor", ["bogus", "W10", "WyJ4IiwieSJd", "%%%"])
async def test_bogus_cursor_is_422(api: Api, cursor: str) -> None:
    token = await api.device_token()
    response = await api.client.get("/v1/reports", params={"cursor": cursor}, headers=bearer(token))
    assert_problem(response, 422, field="cursor")


# --- location minimisation -----------------------------------------------------------------


async def test_h3_cell_is_resolution_9_of_the_submitted_point(api: Api) -> None:
    token = await api.device_token()
    lat, lon = 34.052235, -118.243683
    body = observer_report(location={"lat": lat, "lon": lon})
    report_id = await submitted(api, token, body)
    cell = (await get(api, token, report_id)).json()["location"]["h3_cell"]
    assert cell == h3.latlng_to_cell(lat, lon, 9)
    assert h3.get_resolution(cell) == 9
    stored = await api.conn.fetchval(
        "select h3_cell from reports where id = $1", uuid.UUID(report_id)
    )
    assert stored == h3.str_to_int(cell)


async def test_coordinates_never_leave_or_enter_storage(api: Api) -> None:
    token = await api.device_token()
    body = observer_report(location={"lat": LAT, "lon": LON})
    created = await api.submit(token, body)
    assert created.status_code == 201
    report_id = created.json()["id"]
    responses = [
        created,
        await get(api, token, report_id),
        await api.client.get("/v1/reports", headers=bearer(token)),
        await get(api, await api.account_token(Role.moderator), report_id),
    ]
    for response in responses:
        for text in COORDINATE_TEXTS:
            assert text not in response.text
    row_text = await api.conn.fetchval(
        "select r::text from reports r where id = $1", uuid.UUID(report_id)
    )
    for text in COORDINATE_TEXTS:
        assert text not in row_text
    columns = {
        row["column_name"]
        for row in await api.conn.fetch(
            "select column_name from information_schema.columns where table_name = 'reports'"
        )
    }
    assert not columns & {"lat", "lon", "latitude", "longitude", "ip", "ip_address"}


@pytest.mark.parametrize(
    # (0, 0) is refused as a GPS failure: test_input_edges.py. The equator and the prime
    # meridian are places.
    ("lat", "lon"),
    [(90, 180), (-90, -180), (0, 12.5), (51.4779, 0), (-33.8688, 151.2093)],
    ids=str,
)
async def test_coordinate_bounds_are_inclusive(api: Api, lat: float, lon: float) -> None:
    token = await api.device_token()
    report_id = await submitted(api, token, observer_report(location={"lat": lat, "lon": lon}))
    cell = (await get(api, token, report_id)).json()["location"]["h3_cell"]
    assert cell == h3.latlng_to_cell(lat, lon, 9)
