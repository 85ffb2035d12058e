"""An observer device ends or renews its own token, and device tokens expire when unused.

Expectations come from the API contract ("DELETE /v1/devices/current — an observer device
revokes its own token (204); its reports stay counted") and the README's device token policy:
a token expires at the end of the PLAINSIGHT_DEVICE_TOKEN_DAYS-th UTC day after it was last
used, registered or rotated. The clock is the database's: expiries are moved in the test's
transaction, which the service shares, rather than waited for.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import msgspec
import pytest

from api.app import create_app
from api.tasks.photo_workers import PhotoWorkers
from schemas.auth import Role
from schemas.settings import Settings, SettingsError, load_settings
from schemas.stats import Dimension, StatusScope, Unit
from storage.accounts.tokens import token_hash
from storage.db.pool import SingleConnectionDatabase
from storage.statistics.published import TableCache, identification_table
from storage.statistics.query import StatsQuery
from tests.support.assertions import assert_problem
from tests.support.helpers import Api, bearer, observer_report
from tests.support.live_server import live_server

NOT_OBSERVERS = (Role.officer, Role.researcher, Role.moderator, Role.admin)


def expiry_after_use_today(days: int) -> datetime:
    """The end of the ``days``-th UTC day after today (the README's policy)."""
    today = datetime.now(UTC).date()
    return datetime.combine(today + timedelta(days=days + 1), time.min, tzinfo=UTC)


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def register(api: Api) -> dict[str, Any]:
    response = await api.client.post("/v1/devices")
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def submit(api: Api, token: str, body: dict[str, Any] | None = None) -> str:
    response = await api.submit(token, body or observer_report())
    assert response.status_code == 201, response.text
    report_id: str = response.json()["id"]
    return report_id


async def revoke_self(api: Api, token: str | None) -> httpx.Response:
    headers = {} if token is None else bearer(token)
    return await api.client.delete("/v1/devices/current", headers=headers)


async def rotate(api: Api, token: str | None) -> httpx.Response:
    headers = {} if token is None else bearer(token)
    return await api.client.post("/v1/devices/current/token", headers=headers)


async def own_report_ids(api: Api, token: str) -> list[str]:
    response = await api.client.get("/v1/reports", headers=bearer(token))
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


async def set_expiry(api: Api, token: str, from_now: timedelta) -> None:
    await api.conn.execute(
        "update devices set expires_at = now() + $2 where token_hash = $1",
        token_hash(token),
        from_now,
    )


async def stored_expiry(api: Api, device_id: str) -> datetime:
    value: datetime = await api.conn.fetchval(
        "select expires_at from devices where id = $1", uuid.UUID(device_id)
    )
    return value


async def counted_reports(api: Api) -> int:
    """Reports counted by the statistics (every month, status all, threshold 1)."""
    query = StatsQuery(
        group_by=(Dimension.MONTH,), date_from=None, date_to=None, area_resolution=7,
        status=StatusScope.ALL, unit=Unit.REPORT, time_zone=ZoneInfo("UTC"),
    )  # fmt: skip
    table = await identification_table(api.conn, query, 1, cache=TableCache())
    return sum(row.total or 0 for row in table.rows)


async def audit_entries(api: Api, action: str, device_id: str) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await api.conn.fetch(
        "select actor_id::text, actor_role, subject_type, details from audit_log "
        "where action = $1 and subject_id = $2 order by id",
        action,
        device_id,
    )
    return rows


# --- registration and the lifetime policy -------------------------------------------------


async def test_registration_tells_when_the_token_expires(api: Api) -> None:
    body = await register(api)
    assert set(body) == {"device_id", "token", "expires_at"}
    # The default policy: 90 days without use, to the end of the UTC day.
    assert parse_time(body["expires_at"]) == expiry_after_use_today(90)
    assert await stored_expiry(api, body["device_id"]) == expiry_after_use_today(90)


async def test_an_expired_token_is_refused_like_an_unknown_one(api: Api) -> None:
    body = await register(api)
    token = body["token"]
    await set_expiry(api, token, timedelta(seconds=-1))

    unknown = await api.client.get("/v1/reports", headers=bearer("psd_" + "A" * 43))
    expired = await api.client.get("/v1/reports", headers=bearer(token))
    assert_problem(expired, 401)
    assert expired.json() == unknown.json()
    assert_problem(await api.submit(token, observer_report()), 401)
    assert_problem(await rotate(api, token), 401)
    assert_problem(await revoke_self(api, token), 401)
    # Presenting an expired token does not bring it back.
    assert await stored_expiry(api, body["device_id"]) < datetime.now(UTC)


async def test_using_a_token_renews_its_expiry(api: Api) -> None:
    """An offline queue: the device was last seen 89 days ago (one day left); its first
    request back is accepted and renews the token for the full period."""
    body = await register(api)
    token = body["token"]
    await set_expiry(api, token, timedelta(hours=20))
    queued = observer_report(occurred_at=(datetime.now(UTC) - timedelta(days=80)).isoformat())

    response = await api.submit(token, queued)

    assert response.status_code == 201, response.text
    assert await stored_expiry(api, body["device_id"]) == expiry_after_use_today(90)


async def test_renewal_only_moves_an_expiry_forward(api: Api) -> None:
    """Renewal is a conditional write (at most once a UTC day): an expiry already beyond what
    today's use gives is left as it is."""
    body = await register(api)
    await set_expiry(api, body["token"], timedelta(days=95, hours=5))
    before = await stored_expiry(api, body["device_id"])
    assert (await api.client.get("/v1/reports", headers=bearer(body["token"]))).status_code == 200
    assert await stored_expiry(api, body["device_id"]) == before


@pytest.fixture
async def week_api(
    settings: Settings, conn: asyncpg.Connection, photo_workers: PhotoWorkers
) -> AsyncIterator[Api]:
    """The service with PLAINSIGHT_DEVICE_TOKEN_DAYS=7, on the test's transaction."""
    app = create_app(
        msgspec.structs.replace(settings, device_token_days=7),
        database=SingleConnectionDatabase(conn),
        photo_workers=photo_workers,
    )
    async with (
        live_server(app) as base_url,
        httpx.AsyncClient(base_url=base_url, timeout=10.0) as client,
    ):
        yield Api(client, conn)


async def test_the_lifetime_is_a_setting(week_api: Api) -> None:
    body = await register(week_api)
    assert parse_time(body["expires_at"]) == expiry_after_use_today(7)
    await set_expiry(week_api, body["token"], timedelta(hours=1))
    assert (await own_report_ids(week_api, body["token"])) == []
    assert await stored_expiry(week_api, body["device_id"]) == expiry_after_use_today(7)
    rotated = await rotate(week_api, body["token"])
    assert rotated.status_code == 201, rotated.text
    assert parse_time(rotated.json()["expires_at"]) == expiry_after_use_today(7)


@pytest.mark.parametrize("value", ["0", "-3", "3651", "ninety"])
def test_a_bad_lifetime_setting_is_refused_by_name(value: str) -> None:
    with pytest.raises(SettingsError, match="PLAINSIGHT_DEVICE_TOKEN_DAYS"):
        load_settings({"PLAINSIGHT_DEVICE_TOKEN_DAYS": value})


def test_the_lifetime_setting_is_read_from_the_environment() -> None:
    assert load_settings({"PLAINSIGHT_DEVICE_TOKEN_DAYS": "30"}).device_token_days == 30
    assert load_settings({}).device_token_days == 90


# --- self-revocation ----------------------------------------------------------------------


async def test_a_device_revokes_its_own_token_and_its_reports_stay_counted(api: Api) -> None:
    body = await register(api)
    device_id, token = body["device_id"], body["token"]
    report_id = await submit(api, token)
    # Cached by this request: the revocation must reach the token cache too.
    assert await own_report_ids(api, token) == [report_id]
    assert await counted_reports(api) == 1

    response = await revoke_self(api, token)

    assert response.status_code == 204, response.text
    assert response.content == b""
    assert_problem(await api.client.get("/v1/reports", headers=bearer(token)), 401)
    assert_problem(await api.submit(token, observer_report()), 401)
    assert_problem(await revoke_self(api, token), 401)
    # Its report is untouched: still pending, still counted, still readable by moderators.
    status = await api.conn.fetchval(
        "select status from reports where id = $1", uuid.UUID(report_id)
    )
    assert status == "pending"
    assert await counted_reports(api) == 1
    moderator = await api.account_token(Role.moderator)
    read = await api.client.get(f"/v1/reports/{report_id}", headers=bearer(moderator))
    assert read.status_code == 200, read.text
    assert read.json()["status"] == "pending"
    # Audited, with the device itself as the actor.
    [entry] = await audit_entries(api, "device.revoked", device_id)
    assert (entry["actor_id"], entry["actor_role"]) == (device_id, "observer")
    assert entry["subject_type"] == "device"


async def test_a_self_revoked_device_cannot_rotate_its_token(api: Api) -> None:
    body = await register(api)
    assert (await revoke_self(api, body["token"])).status_code == 204
    assert_problem(await rotate(api, body["token"]), 401)
    assert await audit_entries(api, "device.token_rotated", body["device_id"]) == []


async def test_self_revocation_leaves_other_devices_alone(api: Api) -> None:
    mine = await register(api)
    other = await register(api)
    other_report = await submit(api, other["token"])
    assert (await revoke_self(api, mine["token"])).status_code == 204
    assert await own_report_ids(api, other["token"]) == [other_report]


# --- rotation -----------------------------------------------------------------------------


async def test_rotation_replaces_the_token_for_the_same_device(api: Api) -> None:
    body = await register(api)
    device_id, old = body["device_id"], body["token"]
    sent = observer_report()
    report_id = await submit(api, old, sent)
    assert await own_report_ids(api, old) == [report_id]  # cached under the old token

    response = await rotate(api, old)

    assert response.status_code == 201, response.text
    rotated = response.json()
    assert set(rotated) == {"device_id", "token", "expires_at"}
    assert rotated["device_id"] == device_id
    new = rotated["token"]
    assert new != old
    assert new.startswith("psd_")
    assert parse_time(rotated["expires_at"]) == expiry_after_use_today(90)
    assert_problem(await api.client.get("/v1/reports", headers=bearer(old)), 401)
    assert_problem(await rotate(api, old), 401)
    # The new token is the same device: its reports, and its client_id scope (a re-send
    # replays the original answer instead of making a second report).
    assert await own_report_ids(api, new) == [report_id]
    own = await api.client.get(f"/v1/reports/{report_id}", headers=bearer(new))
    assert own.status_code == 200, own.text
    replay = await api.submit(new, sent)
    assert replay.status_code == 200, replay.text
    assert replay.json()["id"] == report_id
    withdrawn = await api.client.delete(f"/v1/reports/{report_id}", headers=bearer(new))
    assert withdrawn.status_code == 204, withdrawn.text
    [entry] = await audit_entries(api, "device.token_rotated", device_id)
    assert (entry["actor_id"], entry["actor_role"]) == (device_id, "observer")
    # Only the hash of the new token is stored.
    stored = await api.conn.fetchval(
        "select token_hash from devices where id = $1", uuid.UUID(device_id)
    )
    assert bytes(stored) == token_hash(new)


async def test_a_rotated_token_can_rotate_again_and_revoke_itself(api: Api) -> None:
    body = await register(api)
    second = (await rotate(api, body["token"])).json()["token"]
    third_response = await rotate(api, second)
    assert third_response.status_code == 201, third_response.text
    third = third_response.json()["token"]
    assert_problem(await api.client.get("/v1/reports", headers=bearer(second)), 401)
    assert (await revoke_self(api, third)).status_code == 204
    assert_problem(await api.client.get("/v1/reports", headers=bearer(third)), 401)


async def test_a_token_revoked_behind_the_cache_cannot_rotate(api: Api) -> None:
    """The token's lookup is cached and its revocation sent no notification (as when the
    listener is down): the request gets through authentication, but the rotation itself checks
    the token against the database and refuses it."""
    body = await register(api)
    assert (await api.client.get("/v1/reports", headers=bearer(body["token"]))).status_code == 200
    await api.conn.execute(
        "update devices set revoked_at = now() where id = $1", uuid.UUID(body["device_id"])
    )
    assert (await api.client.get("/v1/reports", headers=bearer(body["token"]))).status_code == 200

    assert_problem(await rotate(api, body["token"]), 401)


async def test_a_moderator_revoked_device_cannot_rotate(api: Api) -> None:
    body = await register(api)
    moderator = await api.account_token(Role.moderator)
    revoked = await api.client.post(
        f"/v1/devices/{body['device_id']}/revoke",
        json={"reject_pending": False},
        headers=bearer(moderator),
    )
    assert revoked.status_code == 200, revoked.text
    assert_problem(await rotate(api, body["token"]), 401)


async def test_an_expired_token_cannot_rotate_into_a_fresh_one(api: Api) -> None:
    body = await register(api)
    await set_expiry(api, body["token"], timedelta(seconds=-1))
    assert_problem(await rotate(api, body["token"]), 401)
    assert await stored_expiry(api, body["device_id"]) < datetime.now(UTC)


# --- who may call them --------------------------------------------------------------------


@pytest.mark.parametrize("role", NOT_OBSERVERS)
async def test_accounts_have_no_device_to_revoke_or_rotate(api: Api, role: Role) -> None:
    token = await api.account_token(role)
    assert_problem(await revoke_self(api, token), 403)
    assert_problem(await rotate(api, token), 403)
    # Nothing happened to the caller's own session.
    session = await api.conn.fetchval(
        "select count(*) from sessions where token_hash = $1", token_hash(token)
    )
    assert session == 1


async def test_without_a_token_both_are_401(api: Api) -> None:
    assert_problem(await revoke_self(api, None), 401)
    assert_problem(await rotate(api, None), 401)
    for headers in ({"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic eDp5"}):
        assert_problem(await api.client.delete("/v1/devices/current", headers=headers), 401)
        assert_problem(await api.client.post("/v1/devices/current/token", headers=headers), 401)


async def test_a_body_on_rotation_is_ignored(api: Api) -> None:
    """Rotation takes no input: a body (even one naming another device) changes nothing."""
    body = await register(api)
    other = await register(api)
    response = await api.client.post(
        "/v1/devices/current/token",
        json={"device_id": other["device_id"]},
        headers=bearer(body["token"]),
    )
    assert response.status_code == 201, response.text
    assert response.json()["device_id"] == body["device_id"]
    assert await own_report_ids(api, other["token"]) == []
