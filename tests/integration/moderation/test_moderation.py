"""Moderation: reviews and their effect on every statistic, the review queue, device
revocation, the incident view, and manual merge/split of incidents.

Reports are placed on chosen H3 cells and minutes (as in test_incidents.py), so which reports
form one incident, and every count below, follows from the grouping rule by hand. After each
step the statistics cube is also recomputed from scratch and compared (``check_cube``).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

import h3
import httpx
import pytest

from api.app import apply_migrations, create_app
from api.tasks.photo_workers import PhotoWorkers
from schemas.auth import Role
from schemas.settings import load_settings
from schemas.stats import Dimension, StatusScope, Unit
from storage.accounts import store as accounts
from storage.db.pool import connect
from storage.statistics.published import TableCache, identification_table
from storage.statistics.query import StatsQuery
from tests.conftest import TEST_RECEIPT_SEED
from tests.support import photo_fixtures as fx
from tests.support.assertions import assert_problem, devices
from tests.support.cube_check import check_cube
from tests.support.helpers import PASSWORD, Api, bearer, fold_now, observer_report, officer_note
from tests.support.live_server import live_server
from tests.support.photo_api import scene, uploaded

ORIGIN = h3.latlng_to_cell(40.7191, -74.0017, 9)
FAR = sorted(h3.grid_ring(ORIGIN, 4))[0]
# Within 2 grid steps of both ORIGIN and FAR: a report here bridges the two.
BRIDGE = sorted(set(h3.grid_disk(ORIGIN, 2)) & set(h3.grid_disk(FAR, 2)))[0]
T0 = datetime(2025, 3, 10, 15, 0, tzinfo=UTC)
NOT_IDENTIFIED = {"verbal": "no", "badge_shown": "no", "insignia_visible": "no"}
IDENTIFIED = {"verbal": "yes", "badge_shown": "no", "insignia_visible": "no"}
UNCLEAR = {"verbal": "unclear", "badge_shown": "no", "insignia_visible": "no"}


def report_at(
    cell: str, minutes: float = 0, answers: dict[str, str] | None = None, *, officer: bool = False
) -> dict[str, Any]:
    lat, lon = h3.cell_to_latlng(cell)
    make = officer_note if officer else observer_report
    return make(
        location={"lat": lat, "lon": lon, "accuracy_m": 10},
        occurred_at=(T0 + timedelta(minutes=minutes)).isoformat(),
        identification=answers or NOT_IDENTIFIED,
    )


async def submit(api: Api, token: str, body: dict[str, Any]) -> str:
    response = await api.submit(token, body)
    assert response.status_code == 201, response.text
    report_id: str = response.json()["id"]
    return report_id


async def incident_of(api: Api, report_id: str) -> int | None:
    value: int | None = await api.conn.fetchval(
        "select incident_id from reports where id = $1", uuid.UUID(report_id)
    )
    return value


async def totals(api: Api, status: StatusScope, unit: Unit) -> tuple[int, int, int, int]:
    """(total, not identified, identified, unclear) over every month, threshold 1."""
    query = StatsQuery(
        group_by=(Dimension.MONTH,), date_from=None, date_to=None, area_resolution=7,
        status=status, unit=unit, time_zone=ZoneInfo("UTC"),
    )  # fmt: skip
    table = await identification_table(api.conn, query, 1, cache=TableCache())
    sums = [0, 0, 0, 0]
    for row in table.rows:
        for index, value in enumerate((row.total, row.not_identified, row.identified, row.unclear)):
            sums[index] += value or 0
    return sums[0], sums[1], sums[2], sums[3]


@pytest.fixture
async def moderator(api: Api) -> str:
    return await api.account_token(Role.moderator)


@pytest.fixture
async def device(api: Api) -> str:
    return await api.device_token()


async def review(
    api: Api, token: str, report_id: str, status: str, reason: str | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"status": status}
    if reason is not None:
        body["reason"] = reason
    response = await api.client.post(
        f"/v1/reports/{report_id}/review", json=body, headers=bearer(token)
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


# --- review -------------------------------------------------------------------------------


async def test_reviews_move_reports_in_and_out_of_the_statistics(
    api: Api, moderator: str, device: str
) -> None:
    # One incident (same cell, 10 minutes apart): two not identified, one identified.
    a = await submit(api, device, report_at(ORIGIN, 0, NOT_IDENTIFIED))
    b = await submit(api, device, report_at(ORIGIN, 10, NOT_IDENTIFIED))
    c = await submit(api, device, report_at(ORIGIN, 20, IDENTIFIED))
    incident = await incident_of(api, a)
    assert await incident_of(api, b) == await incident_of(api, c) == incident
    assert await totals(api, StatusScope.ALL, Unit.REPORT) == (3, 2, 1, 0)
    assert await totals(api, StatusScope.ALL, Unit.INCIDENT) == (1, 1, 0, 0)
    assert await totals(api, StatusScope.VERIFIED, Unit.REPORT) == (0, 0, 0, 0)

    result = await review(api, moderator, a, "verified")
    assert result["status"] == "verified"
    assert result["reason"] is None
    assert result["incident_id"] == incident
    assert await totals(api, StatusScope.VERIFIED, Unit.REPORT) == (1, 1, 0, 0)
    assert await totals(api, StatusScope.VERIFIED, Unit.INCIDENT) == (1, 1, 0, 0)
    await check_cube(api.conn, "UTC")

    await review(api, moderator, c, "verified")
    # Verified: A not identified, C identified - a tie, so the incident is unclear.
    assert await totals(api, StatusScope.VERIFIED, Unit.REPORT) == (2, 1, 1, 0)
    assert await totals(api, StatusScope.VERIFIED, Unit.INCIDENT) == (1, 0, 0, 1)
    # Verifying again changes nothing.
    await review(api, moderator, c, "verified")
    assert await totals(api, StatusScope.VERIFIED, Unit.REPORT) == (2, 1, 1, 0)

    await review(api, moderator, a, "unverified", "implausible")
    assert await totals(api, StatusScope.VERIFIED, Unit.REPORT) == (1, 0, 1, 0)
    assert await totals(api, StatusScope.VERIFIED, Unit.INCIDENT) == (1, 0, 1, 0)
    assert await totals(api, StatusScope.ALL, Unit.REPORT) == (3, 2, 1, 0)
    await check_cube(api.conn, "UTC")

    result = await review(api, moderator, b, "rejected", "duplicate")
    assert result["status"] == "rejected"
    assert result["reason"] == "duplicate"
    assert result["incident_id"] is None
    # B is gone from everything: A (not identified) and C (identified) are left, a tie.
    assert await totals(api, StatusScope.ALL, Unit.REPORT) == (2, 1, 1, 0)
    assert await totals(api, StatusScope.ALL, Unit.INCIDENT) == (1, 0, 0, 1)
    assert await totals(api, StatusScope.VERIFIED, Unit.REPORT) == (1, 0, 1, 0)
    await check_cube(api.conn, "UTC")

    row = await api.conn.fetchrow(
        "select status, review_reason, reviewed_by, reviewed_at, incident_id "
        "from reports where id = $1",
        uuid.UUID(b),
    )
    moderator_id = await api.conn.fetchval("select id from accounts where role = 'moderator'")
    assert row is not None
    assert row["status"] == "rejected"
    assert row["review_reason"] == "duplicate"
    assert row["reviewed_by"] == moderator_id
    assert row["reviewed_at"] is not None
    assert row["incident_id"] is None
    assert result["reviewed_by"] == str(moderator_id)


async def test_rejecting_a_verified_report_takes_it_out_of_both_scopes(
    api: Api, moderator: str, device: str
) -> None:
    a = await submit(api, device, report_at(ORIGIN, 0, UNCLEAR))
    b = await submit(api, device, report_at(ORIGIN, 5, IDENTIFIED))
    await review(api, moderator, a, "verified")
    await review(api, moderator, b, "verified")
    assert await totals(api, StatusScope.VERIFIED, Unit.REPORT) == (2, 0, 1, 1)
    await review(api, moderator, a, "rejected", "spam_or_test")
    assert await totals(api, StatusScope.VERIFIED, Unit.REPORT) == (1, 0, 1, 0)
    assert await totals(api, StatusScope.VERIFIED, Unit.INCIDENT) == (1, 0, 1, 0)
    assert await totals(api, StatusScope.ALL, Unit.REPORT) == (1, 0, 1, 0)
    await check_cube(api.conn, "UTC")


async def test_rejecting_the_bridge_splits_its_incident(
    api: Api, moderator: str, device: str
) -> None:
    west = await submit(api, device, report_at(ORIGIN, 0))
    bridge = await submit(api, device, report_at(BRIDGE, 40))
    east = await submit(api, device, report_at(FAR, 80))
    assert await incident_of(api, west) == await incident_of(api, east)
    assert await totals(api, StatusScope.ALL, Unit.INCIDENT) == (1, 1, 0, 0)

    await review(api, moderator, bridge, "rejected", "implausible")
    assert await incident_of(api, west) != await incident_of(api, east)
    assert await incident_of(api, bridge) is None
    assert await api.conn.fetchval("select count(*) from incidents") == 2
    assert await totals(api, StatusScope.ALL, Unit.INCIDENT) == (2, 2, 0, 0)
    assert await totals(api, StatusScope.ALL, Unit.REPORT) == (2, 2, 0, 0)
    await check_cube(api.conn, "UTC")


async def test_rejecting_the_only_report_removes_its_incident(
    api: Api, moderator: str, device: str
) -> None:
    only = await submit(api, device, report_at(ORIGIN))
    await review(api, moderator, only, "rejected", "off_topic")
    assert await api.conn.fetchval("select count(*) from incidents") == 0
    assert await totals(api, StatusScope.ALL, Unit.INCIDENT) == (0, 0, 0, 0)
    assert await totals(api, StatusScope.ALL, Unit.REPORT) == (0, 0, 0, 0)
    assert (
        await api.conn.fetchval(
            "select count(*) from stats_cube where unclear + identified + not_identified <> 0"
        )
        == 0
    )


async def test_a_later_report_does_not_group_with_a_rejected_one(
    api: Api, moderator: str, device: str
) -> None:
    rejected = await submit(api, device, report_at(ORIGIN, 0))
    await review(api, moderator, rejected, "rejected", "spam_or_test")
    later = await submit(api, device, report_at(ORIGIN, 10))
    assert await incident_of(api, later) is not None
    assert await incident_of(api, rejected) is None
    assert await totals(api, StatusScope.ALL, Unit.REPORT) == (1, 1, 0, 0)
    await check_cube(api.conn, "UTC")


async def test_rejecting_again_changes_only_the_reason(
    api: Api, moderator: str, device: str
) -> None:
    report = await submit(api, device, report_at(ORIGIN))
    await review(api, moderator, report, "rejected", "duplicate")
    result = await review(api, moderator, report, "rejected", "contains_personal_data")
    assert result["reason"] == "contains_personal_data"
    assert result["incident_id"] is None
    assert await totals(api, StatusScope.ALL, Unit.REPORT) == (0, 0, 0, 0)
    # The reporter still sees it, now rejected.
    response = await api.client.get(f"/v1/reports/{report}", headers=bearer(device))
    assert response.json()["status"] == "rejected"


async def test_a_reversed_rejection_counts_and_groups_the_report_again(
    api: Api, moderator: str, device: str
) -> None:
    west = await submit(api, device, report_at(ORIGIN, 0, NOT_IDENTIFIED))
    bridge = await submit(api, device, report_at(BRIDGE, 40, IDENTIFIED))
    east = await submit(api, device, report_at(FAR, 80, NOT_IDENTIFIED))
    await review(api, moderator, bridge, "rejected", "implausible")
    assert await incident_of(api, west) != await incident_of(api, east)
    assert await totals(api, StatusScope.ALL, Unit.INCIDENT) == (2, 2, 0, 0)

    # Verified after all: it bridges the two parts again, and counts in both scopes.
    result = await review(api, moderator, bridge, "verified")
    incident_id = await incident_of(api, west)
    assert result["incident_id"] == incident_id
    assert await incident_of(api, east) == await incident_of(api, bridge) == incident_id
    assert await totals(api, StatusScope.ALL, Unit.REPORT) == (3, 2, 1, 0)
    assert await totals(api, StatusScope.ALL, Unit.INCIDENT) == (1, 1, 0, 0)
    assert await totals(api, StatusScope.VERIFIED, Unit.REPORT) == (1, 0, 1, 0)
    assert await totals(api, StatusScope.VERIFIED, Unit.INCIDENT) == (1, 0, 1, 0)
    await check_cube(api.conn, "UTC")

    # Rejected and reversed to unverified: counted in 'all' only.
    await review(api, moderator, bridge, "rejected", "implausible")
    await review(api, moderator, bridge, "unverified")
    assert await totals(api, StatusScope.ALL, Unit.REPORT) == (3, 2, 1, 0)
    assert await totals(api, StatusScope.VERIFIED, Unit.REPORT) == (0, 0, 0, 0)
    await check_cube(api.conn, "UTC")

    # Alone, a reinstated report makes a new incident.
    lonely = await submit(api, device, report_at(FAR, 1000))
    await review(api, moderator, lonely, "rejected", "off_topic")
    assert await api.conn.fetchval("select count(*) from incidents") == 1
    result = await review(api, moderator, lonely, "unverified")
    assert result["incident_id"] not in (None, incident_id)
    assert await api.conn.fetchval("select count(*) from incidents") == 2
    await check_cube(api.conn, "UTC")


async def test_admins_review_too(api: Api, device: str) -> None:
    admin = await api.account_token(Role.admin)
    report = await submit(api, device, report_at(ORIGIN))
    assert (await review(api, admin, report, "verified"))["status"] == "verified"


async def test_a_withdrawn_report_cannot_be_reviewed(api: Api, moderator: str, device: str) -> None:
    report = await submit(api, device, report_at(ORIGIN))
    assert (
        await api.client.delete(f"/v1/reports/{report}", headers=bearer(device))
    ).status_code == 204
    response = await api.client.post(
        f"/v1/reports/{report}/review", json={"status": "verified"}, headers=bearer(moderator)
    )
    assert_problem(response, 410)


async def test_unknown_report_is_404(api: Api, moderator: str) -> None:
    response = await api.client.post(
        f"/v1/reports/{uuid.uuid4()}/review", json={"status": "verified"}, headers=bearer(moderator)
    )
    assert_problem(response, 404)
    response = await api.client.post(
        "/v1/reports/not-a-uuid/review", json={"status": "verified"}, headers=bearer(moderator)
    )
    # A malformed id is bad input naming the path parameter, not a missing report.
    assert assert_problem(response, 422)["field"] == "report_id"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"status": "rejected"}, "$.reason"),
        ({"status": "approved"}, "$.status"),
        ({"status": "pending"}, "$.status"),
        ({"status": "withdrawn"}, "$.status"),
        ({"status": "verified", "reason": "because"}, "$.reason"),
        ({"status": "verified", "note": "x"}, "$.note"),
        ({}, "$.status"),
    ],
)
async def test_bad_review_bodies_name_the_field(
    api: Api, moderator: str, device: str, body: dict[str, Any], field: str
) -> None:
    report = await submit(api, device, report_at(ORIGIN))
    response = await api.client.post(
        f"/v1/reports/{report}/review", json=body, headers=bearer(moderator)
    )
    assert_problem(response, 422, field=field)
    assert (
        await api.conn.fetchval("select status from reports where id = $1", uuid.UUID(report))
        == "pending"
    )


async def test_malformed_review_body_is_400(api: Api, moderator: str, device: str) -> None:
    report = await submit(api, device, report_at(ORIGIN))
    response = await api.client.post(
        f"/v1/reports/{report}/review",
        content=b"{not json",
        headers={**bearer(moderator), "Content-Type": "application/json"},
    )
    assert_problem(response, 400)


@pytest.mark.parametrize("role", [Role.observer, Role.officer, Role.researcher])
async def test_other_roles_may_not_review(api: Api, device: str, role: Role) -> None:
    report = await submit(api, device, report_at(ORIGIN))
    token = device if role is Role.observer else await api.token(role)
    response = await api.client.post(
        f"/v1/reports/{report}/review", json={"status": "verified"}, headers=bearer(token)
    )
    assert_problem(response, 403)
    response = await api.client.post(f"/v1/reports/{report}/review", json={"status": "verified"})
    assert_problem(response, 401)


# --- the review queue ---------------------------------------------------------------------


async def queue(api: Api, token: str, **params: Any) -> dict[str, Any]:
    response = await api.client.get("/v1/moderation/queue", params=params, headers=bearer(token))
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


async def test_the_queue_lists_pending_reports_oldest_first_with_their_incident(
    api: Api, moderator: str, device: str
) -> None:
    officer = await api.account_token(Role.officer)
    first = await submit(api, device, report_at(ORIGIN, 0))
    note = await submit(api, officer, report_at(ORIGIN, 10, IDENTIFIED, officer=True))
    elsewhere = await submit(api, device, report_at(FAR, 300))
    withdrawn = await submit(api, device, report_at(FAR, 600))
    rejected = await submit(api, device, report_at(FAR, 900))
    assert (
        await api.client.delete(f"/v1/reports/{withdrawn}", headers=bearer(device))
    ).status_code == 204
    await review(api, moderator, rejected, "rejected", "spam_or_test")

    page = await queue(api, moderator)
    assert page["next_cursor"] is None
    assert [item["report"]["id"] for item in page["items"]] == [first, note, elsewhere]
    by_id = {item["report"]["id"]: item for item in page["items"]}
    assert by_id[first]["source"] == "observer"
    assert by_id[note]["source"] == "officer"
    assert by_id[note]["report"]["officer"]["command"] == "Precinct 7"
    assert by_id[first]["incident_id"] == await incident_of(api, first)
    assert by_id[first]["same_incident"] == [{"id": note, "source": "officer", "status": "pending"}]
    assert by_id[note]["same_incident"] == [
        {"id": first, "source": "observer", "status": "pending"}
    ]
    assert by_id[elsewhere]["same_incident"] == []
    assert by_id[first]["photos"] == []
    assert "lat" not in by_id[first]["report"]["location"]

    # Reviewed reports leave the queue; their status shows beside the ones left.
    await review(api, moderator, note, "verified")
    page = await queue(api, moderator)
    assert [item["report"]["id"] for item in page["items"]] == [first, elsewhere]
    assert page["items"][0]["same_incident"] == [
        {"id": note, "source": "officer", "status": "verified"}
    ]


async def test_the_queue_pages_with_a_cursor(api: Api, moderator: str, device: str) -> None:
    ids = [await submit(api, device, report_at(ORIGIN, 200 * n)) for n in range(3)]
    seen: list[str] = []
    cursor = None
    for _ in range(3):
        params: dict[str, Any] = {"limit": 1}
        if cursor is not None:
            params["cursor"] = cursor
        page = await queue(api, moderator, **params)
        seen.extend(item["report"]["id"] for item in page["items"])
        cursor = page["next_cursor"]
    assert seen == ids
    assert cursor is None


async def test_the_queue_shows_photo_provenance_and_near_duplicates(
    api: Api, moderator: str
) -> None:
    picture = scene(41)
    tokens = [await api.device_token() for _ in range(3)]
    reports = [
        await submit(api, tokens[0], report_at(ORIGIN, 0)),
        await submit(api, tokens[1], report_at(FAR, 500)),
        await submit(api, tokens[2], report_at(FAR, 1000)),
    ]
    with_gps = await uploaded(api, tokens[0], reports[0], fx.jpeg_with_everything(picture))
    copy = await uploaded(api, tokens[1], reports[1], fx.jpeg_bytes(picture, quality=60))
    other = await uploaded(api, tokens[2], reports[2], fx.jpeg_bytes(scene(977), quality=95))

    items = (await queue(api, moderator))["items"]
    photos = {item["report"]["id"]: item["photos"] for item in items}
    assert [p["id"] for p in photos[reports[0]]] == [with_gps["id"]]
    first = photos[reports[0]][0]
    # The stored signals, as the upload answered them: the camera photo had GPS, the copy not.
    assert first["provenance"] == with_gps["provenance"]
    assert first["provenance"]["had_gps"] is True
    assert first["provenance"]["had_metadata"] is True
    assert first["provenance"]["ai_marker"] is True  # it declares trainedAlgorithmicMedia
    assert photos[reports[1]][0]["provenance"] == copy["provenance"]
    assert photos[reports[1]][0]["provenance"]["had_gps"] is False
    # The recompressed copy and the original are near duplicates of each other, across reports.
    hints = first["near_duplicates"]
    assert [(h["id"], h["report_id"]) for h in hints] == [(copy["id"], reports[1])]
    assert 0 <= hints[0]["phash_distance"] <= 8
    assert 0 <= hints[0]["dhash_distance"] <= 8
    back = photos[reports[1]][0]["near_duplicates"]
    assert [(h["id"], h["report_id"]) for h in back] == [(with_gps["id"], reports[0])]
    assert photos[reports[2]] == [
        {"id": other["id"], "provenance": other["provenance"], "near_duplicates": []}
    ]


@pytest.mark.parametrize(
    ("params", "field"),
    [({"limit": "0"}, "limit"), ({"limit": "201"}, "limit"), ({"cursor": "nonsense"}, "cursor")],
)
async def test_bad_queue_parameters_name_the_field(
    api: Api, moderator: str, params: dict[str, str], field: str
) -> None:
    response = await api.client.get(
        "/v1/moderation/queue", params=params, headers=bearer(moderator)
    )
    assert_problem(response, 422, field=field)


@pytest.mark.parametrize("role", [Role.observer, Role.officer, Role.researcher])
async def test_other_roles_may_not_read_the_queue(api: Api, role: Role) -> None:
    response = await api.client.get("/v1/moderation/queue", headers=bearer(await api.token(role)))
    assert_problem(response, 403)
    assert_problem(await api.client.get("/v1/moderation/queue"), 401)


# --- device revocation --------------------------------------------------------------------


async def revoke(api: Api, token: str, device_id: str, body: Any) -> Any:
    return await api.client.post(
        f"/v1/devices/{device_id}/revoke", json=body, headers=bearer(token)
    )


async def new_device(api: Api) -> tuple[str, str]:
    response = await api.client.post("/v1/devices")
    assert response.status_code == 201, response.text
    return response.json()["device_id"], response.json()["token"]


async def test_a_revoked_token_stops_working_at_once(api: Api, moderator: str) -> None:
    device_id, token = await new_device(api)
    pending = await submit(api, token, report_at(ORIGIN))
    # Cached by this request: revocation must reach the cache too.
    assert (
        await api.client.get(f"/v1/reports/{pending}", headers=bearer(token))
    ).status_code == 200

    response = await revoke(api, moderator, device_id, {"reject_pending": False})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["device_id"] == device_id
    assert body["rejected_report_ids"] == []
    assert_problem(await api.client.get(f"/v1/reports/{pending}", headers=bearer(token)), 401)
    assert_problem(await api.submit(token, report_at(ORIGIN, 5)), 401)
    # The report itself stays pending, and counted.
    assert (
        await api.conn.fetchval("select status from reports where id = $1", uuid.UUID(pending))
        == "pending"
    )
    assert await totals(api, StatusScope.ALL, Unit.REPORT) == (1, 1, 0, 0)

    # Revoking again keeps the first time.
    again = await revoke(api, moderator, device_id, {"reject_pending": False})
    assert again.status_code == 200
    assert again.json()["revoked_at"] == body["revoked_at"]


async def test_revocation_can_reject_the_pending_reports(api: Api, moderator: str) -> None:
    device_id, token = await new_device(api)
    other = await api.device_token()
    pending = await submit(api, token, report_at(ORIGIN, 0))
    verified = await submit(api, token, report_at(ORIGIN, 10, IDENTIFIED))
    lonely = await submit(api, token, report_at(FAR, 500))
    neighbour = await submit(api, other, report_at(ORIGIN, 20, UNCLEAR))
    await review(api, moderator, verified, "verified")
    assert await totals(api, StatusScope.ALL, Unit.REPORT) == (4, 2, 1, 1)

    response = await revoke(api, moderator, device_id, {"reject_pending": True})
    assert response.status_code == 200, response.text
    assert sorted(response.json()["rejected_report_ids"]) == sorted([pending, lonely])
    rows = await api.conn.fetch("select id::text, status, review_reason from reports order by id")
    states = {row["id"]: (row["status"], row["review_reason"]) for row in rows}
    assert states[pending] == ("rejected", "revoked_device")
    assert states[lonely] == ("rejected", "revoked_device")
    assert states[verified] == ("verified", None)
    assert states[neighbour] == ("pending", None)
    # Left: the verified (identified) report and the other device's (unclear) one, one incident.
    assert await totals(api, StatusScope.ALL, Unit.REPORT) == (2, 0, 1, 1)
    assert await totals(api, StatusScope.ALL, Unit.INCIDENT) == (1, 0, 0, 1)
    assert await totals(api, StatusScope.VERIFIED, Unit.REPORT) == (1, 0, 1, 0)
    await check_cube(api.conn, "UTC")
    # The other device still works.
    assert (await api.submit(other, report_at(FAR, 2000))).status_code == 201


@pytest.mark.parametrize(
    ("body", "field"),
    [({}, "$.reject_pending"), ({"reject_pending": "yes"}, "$.reject_pending"),
     ({"reject_pending": True, "why": 1}, "$.why")],
)  # fmt: skip
async def test_bad_revocation_bodies_name_the_field(
    api: Api, moderator: str, body: dict[str, Any], field: str
) -> None:
    device_id, token = await new_device(api)
    assert_problem(await revoke(api, moderator, device_id, body), 422, field=field)
    assert (await api.client.get("/v1/reports", headers=bearer(token))).status_code == 200


async def test_revoking_an_unknown_device_is_404(api: Api, moderator: str) -> None:
    assert_problem(await revoke(api, moderator, str(uuid.uuid4()), {"reject_pending": True}), 404)
    # An account id is not a device.
    account = await api.conn.fetchval("select id::text from accounts limit 1")
    assert_problem(await revoke(api, moderator, account, {"reject_pending": False}), 404)


@pytest.mark.parametrize("role", [Role.observer, Role.officer, Role.researcher])
async def test_other_roles_may_not_revoke(api: Api, role: Role) -> None:
    device_id, token = await new_device(api)
    caller = token if role is Role.observer else await api.token(role)
    assert_problem(await revoke(api, caller, device_id, {"reject_pending": False}), 403)
    response = await api.client.post(
        f"/v1/devices/{device_id}/revoke", json={"reject_pending": False}
    )
    assert_problem(response, 401)
    assert (await api.client.get("/v1/reports", headers=bearer(token))).status_code == 200


# --- the incident view --------------------------------------------------------------------


async def incident(api: Api, token: str, incident_id: int | None) -> dict[str, Any]:
    response = await api.client.get(f"/v1/incidents/{incident_id}", headers=bearer(token))
    assert response.status_code == 200, response.text
    view: dict[str, Any] = response.json()
    return view


async def test_the_incident_view_compares_observers_and_officers(
    api: Api, moderator: str, device: str
) -> None:
    officer = await api.account_token(Role.officer)
    first = await submit(api, device, report_at(ORIGIN, 0, NOT_IDENTIFIED))
    second = await submit(api, device, report_at(ORIGIN, 5, NOT_IDENTIFIED))
    note = await submit(api, officer, report_at(ORIGIN, 10, IDENTIFIED, officer=True))
    incident_id = await incident_of(api, first)

    view = await incident(api, moderator, incident_id)
    assert view["id"] == incident_id
    assert view["reports"] == 3
    assert view["classification"] == "not_identified"  # two of three
    assert view["verified_classification"] is None
    assert view["h3_cell"] == ORIGIN
    assert view["agency"] == "ICE"
    assert view["masked"] == "all"
    assert view["earliest_at"].startswith("2025-03-10T15:00:00")
    assert view["by_source"] == {
        "observer": {"reports": 2, "not_identified": 2, "identified": 0, "unclear": 0},
        "officer": {"reports": 1, "not_identified": 0, "identified": 1, "unclear": 0},
    }
    assert [r["id"] for r in view["observers"]] == [first, second]
    assert [r["id"] for r in view["officers"]] == [note]
    officer_row = view["officers"][0]
    assert officer_row["source"] == "officer"
    assert officer_row["identification"]["verbal"] == "yes"
    assert officer_row["agents_identified_to_officers"] == "no"
    assert officer_row["classification"] == "identified"
    assert view["observers"][0]["agents_identified_to_officers"] is None
    assert view["observers"][0]["identification"]["badge_shown"] == "no"

    await review(api, moderator, note, "verified")
    view = await incident(api, moderator, incident_id)
    assert view["verified_classification"] == "identified"
    assert view["officers"][0]["status"] == "verified"


async def test_unknown_incidents_are_404(api: Api, moderator: str) -> None:
    for incident_id in ("1", "0", "-5", "99999999999999999999999"):
        response = await api.client.get(f"/v1/incidents/{incident_id}", headers=bearer(moderator))
        assert_problem(response, 404)


@pytest.mark.parametrize("role", [Role.observer, Role.officer, Role.researcher])
async def test_other_roles_may_not_read_incidents(api: Api, device: str, role: Role) -> None:
    incident_id = await incident_of(api, await submit(api, device, report_at(ORIGIN)))
    token = device if role is Role.observer else await api.token(role)
    response = await api.client.get(f"/v1/incidents/{incident_id}", headers=bearer(token))
    assert_problem(response, 403)
    assert_problem(await api.client.get(f"/v1/incidents/{incident_id}"), 401)


# --- merge and split ----------------------------------------------------------------------


async def override(api: Api, token: str, incident_id: Any, action: str, body: Any) -> Any:
    return await api.client.post(
        f"/v1/incidents/{incident_id}/{action}", json=body, headers=bearer(token)
    )


async def test_merging_two_incidents(api: Api, moderator: str, device: str) -> None:
    west = await submit(api, device, report_at(ORIGIN, 0, NOT_IDENTIFIED))
    east = await submit(api, device, report_at(FAR, 0, IDENTIFIED))
    east_too = await submit(api, device, report_at(FAR, 5, IDENTIFIED))
    target, other = await incident_of(api, west), await incident_of(api, east)
    assert target != other
    assert await totals(api, StatusScope.ALL, Unit.INCIDENT) == (2, 1, 1, 0)

    response = await override(api, moderator, target, "merge", {"incident_id": other})
    assert response.status_code == 200, response.text
    view = response.json()
    assert view["id"] == target
    assert view["reports"] == 3
    assert view["classification"] == "identified"  # two of three
    assert {await incident_of(api, r) for r in (west, east, east_too)} == {target}
    assert await api.conn.fetchval("select count(*) from incidents") == 1
    assert await totals(api, StatusScope.ALL, Unit.INCIDENT) == (1, 0, 1, 0)
    assert await totals(api, StatusScope.ALL, Unit.REPORT) == (3, 1, 2, 0)
    await check_cube(api.conn, "UTC")
    assert_problem(await api.client.get(f"/v1/incidents/{other}", headers=bearer(moderator)), 404)


async def test_splitting_an_incident(api: Api, moderator: str, device: str) -> None:
    a = await submit(api, device, report_at(ORIGIN, 0, NOT_IDENTIFIED))
    b = await submit(api, device, report_at(ORIGIN, 5, NOT_IDENTIFIED))
    c = await submit(api, device, report_at(ORIGIN, 10, IDENTIFIED))
    incident_id = await incident_of(api, a)
    assert await totals(api, StatusScope.ALL, Unit.INCIDENT) == (1, 1, 0, 0)

    response = await override(api, moderator, incident_id, "split", {"report_ids": [b, c]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["incident"]["id"] == incident_id
    assert body["incident"]["reports"] == 1
    new_id = body["new_incident"]["id"]
    assert new_id != incident_id
    assert body["new_incident"]["reports"] == 2
    assert body["new_incident"]["classification"] == "unclear"  # one each: a tie
    assert await incident_of(api, a) == incident_id
    assert await incident_of(api, b) == await incident_of(api, c) == new_id
    assert await totals(api, StatusScope.ALL, Unit.INCIDENT) == (2, 1, 0, 1)
    await check_cube(api.conn, "UTC")


async def test_a_later_bridging_report_joins_a_split_incident_again(
    api: Api, moderator: str, device: str
) -> None:
    """No rule is stored: grouping applies to later reports as to any (README, Moderation)."""
    a = await submit(api, device, report_at(ORIGIN, 0))
    b = await submit(api, device, report_at(ORIGIN, 60))
    incident_id = await incident_of(api, a)
    response = await override(api, moderator, incident_id, "split", {"report_ids": [b]})
    assert response.status_code == 200, response.text
    assert await incident_of(api, a) != await incident_of(api, b)
    # Within 90 minutes of both, in the same cell: it joins both parts, which merge.
    later = await submit(api, device, report_at(ORIGIN, 30))
    assert await incident_of(api, a) == await incident_of(api, b) == await incident_of(api, later)
    await check_cube(api.conn, "UTC")


async def test_a_withdrawal_in_a_merged_incident_splits_it_by_the_rule(
    api: Api, moderator: str, device: str
) -> None:
    west = await submit(api, device, report_at(ORIGIN, 0))
    west_too = await submit(api, device, report_at(ORIGIN, 5))
    east = await submit(api, device, report_at(FAR, 0))
    target, other = await incident_of(api, west), await incident_of(api, east)
    assert (
        await override(api, moderator, target, "merge", {"incident_id": other})
    ).status_code == 200
    deleted = await api.client.delete(f"/v1/reports/{west_too}", headers=bearer(device))
    assert deleted.status_code == 204
    assert await incident_of(api, west) != await incident_of(api, east)
    await check_cube(api.conn, "UTC")


@pytest.mark.parametrize(
    ("action", "body", "field"),
    [
        ("merge", {}, "$.incident_id"),
        ("merge", {"incident_id": "x"}, "$.incident_id"),
        ("merge", {"incident_id": 0}, "$.incident_id"),
        ("merge", {"incident_id": "same"}, "$.incident_id"),
        ("merge", {"incident_id": 2**62}, "$.incident_id"),
        ("merge", {"incident_id": 1, "also": 2}, "$.also"),
        ("split", {}, "$.report_ids"),
        ("split", {"report_ids": []}, "$.report_ids"),
        ("split", {"report_ids": ["nope"]}, "$.report_ids[0]"),
        ("split", {"report_ids": ["stranger"]}, "$.report_ids"),
        ("split", {"report_ids": ["all"]}, "$.report_ids"),
        ("split", {"report_ids": ["twice"]}, "$.report_ids"),
    ],
)
async def test_bad_override_bodies_name_the_field(
    api: Api, moderator: str, device: str, action: str, body: dict[str, Any], field: str
) -> None:
    a = await submit(api, device, report_at(ORIGIN, 0))
    b = await submit(api, device, report_at(ORIGIN, 5))
    stranger = await submit(api, device, report_at(FAR, 0))
    incident_id = await incident_of(api, a)
    replacements: dict[str, Any] = {
        "same": incident_id, "stranger": [stranger], "all": [a, b], "twice": [b, b],
    }  # fmt: skip
    for key, value in body.items():
        if isinstance(value, str) and value in replacements:
            body = {key: replacements[value]}
        if isinstance(value, list) and value and value[0] in replacements:
            body = {key: replacements[value[0]]}
    response = await override(api, moderator, incident_id, action, body)
    assert_problem(response, 422, field=field)
    assert {await incident_of(api, r) for r in (a, b)} == {incident_id}


async def test_overrides_of_unknown_incidents_are_404(
    api: Api, moderator: str, device: str
) -> None:
    report = await submit(api, device, report_at(ORIGIN))
    known = await incident_of(api, report)
    unknown = (known or 0) + 1000
    assert_problem(await override(api, moderator, unknown, "merge", {"incident_id": known}), 404)
    assert_problem(await override(api, moderator, unknown, "split", {"report_ids": [report]}), 404)


@pytest.mark.parametrize("role", [Role.observer, Role.officer, Role.researcher])
async def test_other_roles_may_not_override_grouping(api: Api, device: str, role: Role) -> None:
    a = await submit(api, device, report_at(ORIGIN))
    b = await submit(api, device, report_at(FAR))
    first, second = await incident_of(api, a), await incident_of(api, b)
    token = device if role is Role.observer else await api.token(role)
    for action, body in (("merge", {"incident_id": second}), ("split", {"report_ids": [a]})):
        assert_problem(await override(api, token, first, action, body), 403)
        response = await api.client.post(f"/v1/incidents/{first}/{action}", json=body)
        assert_problem(response, 401)
    assert first != second


# --- codebook and audit log ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("lang", "label"), [("en", "Device revoked"), ("es", "Dispositivo revocado")]
)
async def test_review_reasons_are_in_the_codebook(api: Api, lang: str, label: str) -> None:
    response = await api.client.get("/v1/codebook", params={"lang": lang})
    reasons = {item["value"]: item for item in response.json()["review_reasons"]}
    assert set(reasons) == {
        "duplicate", "implausible", "spam_or_test", "contains_personal_data", "off_topic",
        "revoked_device",
    }  # fmt: skip
    assert reasons["revoked_device"]["label"] == label
    assert all(item["description"] for item in reasons.values())


async def audit_entries(api: Api) -> list[tuple[str, str | None, str | None, dict[str, Any]]]:
    rows = await api.conn.fetch(
        "select action, subject_type, subject_id, details from audit_log order by id"
    )
    return [
        (row["action"], row["subject_type"], row["subject_id"], json.loads(row["details"]))
        for row in rows
    ]


async def test_moderation_is_audited(api: Api, moderator: str) -> None:
    device_id, token = await new_device(api)
    first = await submit(api, token, report_at(ORIGIN, 0))
    second = await submit(api, token, report_at(FAR, 0))
    third = await submit(api, token, report_at(FAR, 1000))
    moderator_id = await api.conn.fetchval("select id from accounts where role = 'moderator'")
    start = await api.conn.fetchval("select coalesce(max(id), 0) from audit_log")

    await queue(api, moderator, limit=2)
    await review(api, moderator, first, "verified")
    west, east = await incident_of(api, first), await incident_of(api, second)
    assert (await override(api, moderator, west, "merge", {"incident_id": east})).status_code == 200
    split = await override(api, moderator, west, "split", {"report_ids": [second]})
    new_id = split.json()["new_incident"]["id"]
    await incident(api, moderator, west)
    revoked = await revoke(api, moderator, device_id, {"reject_pending": True})
    assert revoked.status_code == 200, revoked.text

    entries = (await audit_entries(api))[start:]
    assert entries == [
        ("report.read", "report", first, {"via": "moderation_queue"}),
        ("report.read", "report", second, {"via": "moderation_queue"}),
        ("report.reviewed", "report", first, {"status": "verified", "reason": None}),
        ("incident.merged", "incident", str(west),
         {"merged_incident_id": east, "reports_moved": 1}),
        # The merge and split responses show the incidents' reports.
        ("report.read", "report", first, {"via": "merge"}),
        ("report.read", "report", second, {"via": "merge"}),
        ("incident.split", "incident", str(west),
         {"new_incident_id": new_id, "report_ids": [second]}),
        ("report.read", "report", first, {"via": "split"}),
        ("report.read", "report", second, {"via": "split"}),
        ("report.read", "report", first, {"via": "incident"}),
        # In incident order: the split gave the second report the newest incident.
        ("report.reviewed", "report", third, {"status": "rejected", "reason": "revoked_device"}),
        ("report.reviewed", "report", second, {"status": "rejected", "reason": "revoked_device"}),
        ("device.revoked", "device", device_id,
         {"reject_pending": True, "rejected": [third, second]}),
    ]  # fmt: skip
    actors = await api.conn.fetch("select distinct actor_id from audit_log where id > $1", start)
    assert [row["actor_id"] for row in actors] == [moderator_id]
    # Nothing is pending now: an empty page read nothing, so it records nothing.
    before = await api.conn.fetchval("select count(*) from audit_log")
    assert (await queue(api, moderator))["items"] == []
    assert await api.conn.fetchval("select count(*) from audit_log") == before


# --- concurrency --------------------------------------------------------------------------


async def test_reviews_racing_merging_submissions_keep_the_statistics_exact(
    pooled_client: tuple[httpx.AsyncClient, str],
) -> None:
    """Reviews fold under the folder's lock: while bridging reports merge the incidents under
    review, every review and submission succeeds and the cube stays exact."""
    client, dsn = pooled_client
    conn = await connect(dsn)
    try:
        email = "moderator@example.org"
        await accounts.create_account(conn, email=email, role=Role.moderator, password=PASSWORD)
        login = await client.post("/v1/sessions", json={"email": email, "password": PASSWORD})
        moderator = login.json()["token"]
        tokens = await devices(client, 8)

        async def sent(cell: str, minutes: float, token: str) -> str:
            response = await client.post(
                "/v1/reports", json=report_at(cell, minutes), headers=bearer(token)
            )
            assert response.status_code == 201, response.text
            report_id: str = response.json()["id"]
            return report_id

        west = [await sent(ORIGIN, i, token) for i, token in enumerate(tokens)]
        east = [await sent(FAR, i + 80, token) for i, token in enumerate(tokens)]
        decisions = [
            ("verified", None),
            ("rejected", "duplicate"),
            ("unverified", None),
            ("rejected", "implausible"),
        ]
        reviews = [
            client.post(
                f"/v1/reports/{report_id}/review",
                json={"status": status, "reason": reason},
                headers=bearer(moderator),
            )
            for index, report_id in enumerate(west + east)
            for status, reason in [decisions[index % len(decisions)]]
        ]
        bridges = [
            client.post("/v1/reports", json=report_at(BRIDGE, 40 + i), headers=bearer(token))
            for i, token in enumerate(tokens)
        ]
        responses = await asyncio.gather(*reviews, *bridges)
        assert [r.status_code for r in responses] == [200] * 16 + [201] * 8, [
            r.text for r in responses if r.status_code >= 300
        ]
        await fold_now(conn)
        # West and east survive in part (verified or unverified), joined by the bridges.
        assert await conn.fetchval("select count(distinct incident_id) from reports") == 1
        assert await conn.fetchval("select count(*) from reports where status = 'rejected'") == 8
        await check_cube(conn, "UTC")
    finally:
        await conn.close()


async def test_a_revocation_reaches_the_token_cache_of_another_process(
    fresh_database: object, tmp_path: Path, photo_workers: PhotoWorkers
) -> None:
    """Two apps with their own pools and notification listeners stand in for two worker
    processes; the second caches the device's token for 300 s, so only the notification can
    explain a refusal within the test."""
    make = cast(Callable[[], Awaitable[str]], fresh_database)
    dsn = await make()
    await apply_migrations(dsn)
    conn = await connect(dsn)
    try:
        email = "moderator@example.org"
        await accounts.create_account(conn, email=email, role=Role.moderator, password=PASSWORD)
    finally:
        await conn.close()
    settings = load_settings(
        {}, database_url=dsn, data_dir=str(tmp_path), receipt_key=TEST_RECEIPT_SEED,
        auth_cache_seconds=300,
    )  # fmt: skip
    async with AsyncExitStack() as stack:
        clients = []
        for _ in range(2):
            url = await stack.enter_async_context(
                live_server(create_app(settings, photo_workers=photo_workers))
            )
            clients.append(
                await stack.enter_async_context(httpx.AsyncClient(base_url=url, timeout=10))
            )
        first, second = clients
        login = await first.post("/v1/sessions", json={"email": email, "password": PASSWORD})
        moderator = login.json()["token"]
        device = (await first.post("/v1/devices")).json()
        token = device["token"]
        assert (await second.get("/v1/reports", headers=bearer(token))).status_code == 200

        revoked = await first.post(
            f"/v1/devices/{device['device_id']}/revoke",
            json={"reject_pending": False},
            headers=bearer(moderator),
        )
        assert revoked.status_code == 200, revoked.text

        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5
        while (await second.get("/v1/reports", headers=bearer(token))).status_code != 401:
            assert loop.time() < deadline, "the second process still accepts the revoked token"
            await asyncio.sleep(0.02)
