"""Staff account security over HTTP: TOTP second factor, password change, re-enabling,
admin-issued password resets, and the audit trail each leaves.

Codes are computed with pyotp for the current 30-second step or the next one (the service
accepts one step of drift either side), so no clock is moved: a code for step ``now + 1`` is
a fresh one after a code of step ``now`` was spent.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import asyncpg
import httpx
import pyotp
import pytest

from api.app import create_app
from api.tasks.photo_workers import PhotoWorkers
from schemas.auth import Role
from schemas.settings import SettingsError, load_settings
from storage.accounts import store as accounts
from storage.db.pool import SingleConnectionDatabase
from tests.conftest import TEST_RECEIPT_SEED
from tests.support.assertions import assert_problem
from tests.support.helpers import PASSWORD, Api, bearer
from tests.support.live_server import live_server

NEW_PASSWORD = "another long enough password"
NON_ADMINS = (Role.observer, Role.officer, Role.researcher, Role.moderator)
STEP_S = 30


def code(secret: str, steps_ahead: int = 0) -> str:
    """The code of the current step (or one ahead: still within the accepted drift)."""
    return pyotp.TOTP(secret).at(time.time() + steps_ahead * STEP_S)


def wrong(correct: str) -> str:
    return f"{(int(correct) + 1) % 1_000_000:06d}"


async def make_account(api: Api, role: Role) -> tuple[uuid.UUID, str]:
    email = f"{role}-{uuid.uuid4().hex[:8]}@example.org"
    view = await accounts.create_account(api.conn, email=email, role=role, password=PASSWORD)
    return view.id, email


async def login(
    client: httpx.AsyncClient, email: str, password: str = PASSWORD, totp: str | None = None
) -> httpx.Response:
    body: dict[str, Any] = {"email": email, "password": password}
    if totp is not None:
        body["totp"] = totp
    return await client.post("/v1/sessions", json=body)


async def session(client: httpx.AsyncClient, email: str, totp: str | None = None) -> str:
    response = await login(client, email, totp=totp)
    assert response.status_code == 201, response.text
    token: str = response.json()["token"]
    return token


async def enrol_spending(client: httpx.AsyncClient, token: str) -> tuple[str, str]:
    """Enrol and confirm a second factor with a code of the current step: (secret, code)."""
    started = await client.post("/v1/accounts/current/totp", headers=bearer(token))
    assert started.status_code == 201, started.text
    secret: str = started.json()["secret"]
    spent = code(secret)
    confirmed = await client.post(
        "/v1/accounts/current/totp/confirm", json={"code": spent}, headers=bearer(token)
    )
    assert confirmed.status_code == 204, confirmed.text
    return secret, spent


async def enrol(client: httpx.AsyncClient, token: str) -> str:
    secret, _ = await enrol_spending(client, token)
    return secret


async def status_of_call(client: httpx.AsyncClient, token: str) -> int:
    """An authenticated call every account role may make."""
    return (await client.get("/v1/reports", headers=bearer(token))).status_code


async def audit_entries(api: Api, action: str, account_id: uuid.UUID) -> list[dict[str, Any]]:
    rows = await api.conn.fetch(
        "select actor_id, actor_role, details::text as details from audit_log "
        "where action = $1 and subject_type = 'account' and subject_id = $2 order by id",
        action,
        str(account_id),
    )
    return [
        {"actor_id": r["actor_id"], "actor_role": r["actor_role"], **json.loads(r["details"])}
        for r in rows
    ]


async def all_audit_text(api: Api) -> str:
    return str(await api.conn.fetchval("select string_agg(audit_log::text, ' ') from audit_log"))


Serve = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def serve(
    conn: asyncpg.Connection, data_dir: Path, database_url: str, photo_workers: PhotoWorkers
) -> Serve:
    """The service with settings of the test's choosing, on the test's connection."""

    @asynccontextmanager
    async def start(**overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
        settings = load_settings(
            {},
            database_url=database_url,
            data_dir=str(data_dir),
            receipt_key=TEST_RECEIPT_SEED,
            rate_limits="off",
            **overrides,
        )
        app = create_app(
            settings, database=SingleConnectionDatabase(conn), photo_workers=photo_workers
        )
        async with (
            live_server(app) as base_url,
            httpx.AsyncClient(base_url=base_url, timeout=10.0) as client,
        ):
            yield client

    return start


# --- TOTP enrolment ---------------------------------------------------------------------------


async def test_enrolment_shows_a_secret_once_and_a_code_activates_it(api: Api) -> None:
    account_id, email = await make_account(api, Role.moderator)
    token = await session(api.client, email)
    started = await api.client.post("/v1/accounts/current/totp", headers=bearer(token))
    assert started.status_code == 201, started.text
    body = started.json()
    assert set(body) == {"secret", "otpauth_uri"}
    uri = urlparse(body["otpauth_uri"])
    assert uri.scheme == "otpauth"
    assert uri.netloc == "totp"
    assert parse_qs(uri.query)["secret"] == [body["secret"]]
    assert parse_qs(uri.query)["issuer"] == ["Plainsight"]

    # Not active before it is confirmed: logging in needs no code yet.
    assert (await login(api.client, email)).status_code == 201

    confirmed = await api.client.post(
        "/v1/accounts/current/totp/confirm",
        json={"code": code(body["secret"])},
        headers=bearer(token),
    )
    assert confirmed.status_code == 204, confirmed.text
    assert_problem(await login(api.client, email), 401)
    assert (await login(api.client, email, totp=code(body["secret"], 1))).status_code == 201
    assert len(await audit_entries(api, "account.totp_enabled", account_id)) == 1


async def test_a_wrong_confirmation_code_is_422_and_activates_nothing(api: Api) -> None:
    _, email = await make_account(api, Role.admin)
    token = await session(api.client, email)
    started = await api.client.post("/v1/accounts/current/totp", headers=bearer(token))
    secret = started.json()["secret"]
    response = await api.client.post(
        "/v1/accounts/current/totp/confirm",
        json={"code": wrong(code(secret))},
        headers=bearer(token),
    )
    problem = assert_problem(response, 422, field="$.code")
    assert problem["code"] == "totp_invalid"
    assert (await login(api.client, email)).status_code == 201


@pytest.mark.parametrize(
    ("body", "field"),
    [({}, "$.code"), ({"code": "12345"}, "$.code"), ({"code": 123456}, "$.code")],
    ids=["missing", "five-digits", "number"],
)
async def test_a_malformed_confirmation_is_422_naming_the_field(
    api: Api, body: dict[str, Any], field: str
) -> None:
    token = await api.account_token(Role.officer)
    await api.client.post("/v1/accounts/current/totp", headers=bearer(token))
    response = await api.client.post(
        "/v1/accounts/current/totp/confirm", json=body, headers=bearer(token)
    )
    assert_problem(response, 422, field=field)


async def test_confirming_without_an_enrolment_or_enrolling_twice_is_409(api: Api) -> None:
    token = await api.account_token(Role.researcher)
    premature = await api.client.post(
        "/v1/accounts/current/totp/confirm", json={"code": "123456"}, headers=bearer(token)
    )
    assert_problem(premature, 409)
    await enrol(api.client, token)
    again = await api.client.post("/v1/accounts/current/totp", headers=bearer(token))
    assert_problem(again, 409)


async def test_observers_have_no_second_factor_to_enrol(api: Api) -> None:
    device = await api.device_token()
    response = await api.client.post("/v1/accounts/current/totp", headers=bearer(device))
    assert_problem(response, 403)


# --- logging in with a second factor ---------------------------------------------------------


async def test_login_needs_a_valid_unused_code_once_totp_is_on(api: Api) -> None:
    account_id, email = await make_account(api, Role.admin)
    secret = await enrol(api.client, await session(api.client, email))

    missing = assert_problem(await login(api.client, email), 401)
    assert missing["code"] == "totp_required"
    bad = assert_problem(await login(api.client, email, totp=wrong(code(secret, 1))), 401)
    assert bad["code"] == "totp_required"

    fresh = code(secret, 1)
    accepted = await login(api.client, email, totp=fresh)
    assert accepted.status_code == 201, accepted.text
    assert await status_of_call(api.client, accepted.json()["token"]) == 200

    replayed = assert_problem(await login(api.client, email, totp=fresh), 401)
    assert replayed["code"] == "totp_required"
    # A code of an earlier step than the last one used is spent too.
    older = assert_problem(await login(api.client, email, totp=code(secret)), 401)
    assert older["code"] == "totp_required"

    failures = await audit_entries(api, "session.failed", account_id)
    assert [f.get("second_factor") for f in failures] == [True, True, True, True]


async def test_a_wrong_password_never_reveals_the_second_factor(api: Api) -> None:
    _, email = await make_account(api, Role.moderator)
    secret = await enrol(api.client, await session(api.client, email))
    wrong_password = await login(api.client, email, "not the password", totp=code(secret, 1))
    unknown_email = await login(api.client, "nobody-at-all@example.org", totp=code(secret, 1))
    problem = assert_problem(wrong_password, 401)
    assert problem["code"] == "unauthenticated"
    assert wrong_password.content == unknown_email.content
    # The code was not spent by the failed attempt.
    assert (await login(api.client, email, totp=code(secret, 1))).status_code == 201


async def test_a_malformed_totp_at_login_is_422(api: Api) -> None:
    response = await api.client.post(
        "/v1/sessions", json={"email": "a@example.org", "password": "x", "totp": "12 34 56"}
    )
    assert_problem(response, 422, field="$.totp")


async def test_a_code_sent_for_an_account_without_a_second_factor_is_ignored(api: Api) -> None:
    """Clients may always send the field; only accounts with a second factor read it."""
    _, email = await make_account(api, Role.officer)
    assert (await login(api.client, email, totp="123456")).status_code == 201


# --- turning the second factor off -------------------------------------------------------------


async def test_the_holder_turns_totp_off_with_a_fresh_code(api: Api) -> None:
    account_id, email = await make_account(api, Role.officer)
    token = await session(api.client, email)
    secret, confirming_code = await enrol_spending(api.client, token)
    path = "/v1/accounts/current/totp/disable"

    wrong_code = await api.client.post(
        path, json={"code": wrong(code(secret, 1))}, headers=bearer(token)
    )
    assert assert_problem(wrong_code, 422, field="$.code")["code"] == "totp_invalid"
    # The code that confirmed the enrolment is spent.
    spent = await api.client.post(path, json={"code": confirming_code}, headers=bearer(token))
    assert_problem(spent, 422, field="$.code")

    done = await api.client.post(path, json={"code": code(secret, 1)}, headers=bearer(token))
    assert done.status_code == 204, done.text
    assert (await login(api.client, email)).status_code == 201
    assert len(await audit_entries(api, "account.totp_disabled", account_id)) == 1
    again = await api.client.post(path, json={"code": code(secret, 1)}, headers=bearer(token))
    assert_problem(again, 409)


async def test_a_required_second_factor_cannot_be_turned_off(serve: Serve, api: Api) -> None:
    _, email = await make_account(api, Role.moderator)
    async with serve(require_totp="moderator") as client:
        token = await session(client, email)
        secret = await enrol(client, token)
        response = await client.post(
            "/v1/accounts/current/totp/disable",
            json={"code": code(secret, 1)},
            headers=bearer(token),
        )
        assert assert_problem(response, 403)["code"] == "totp_required_for_role"
        assert_problem(await login(client, email), 401)


async def test_an_admin_removes_a_lost_second_factor(api: Api) -> None:
    admin = await api.account_token(Role.admin)
    account_id, email = await make_account(api, Role.moderator)
    secret = await enrol(api.client, await session(api.client, email))
    holder = await session(api.client, email, totp=code(secret, 1))

    response = await api.client.delete(f"/v1/accounts/{account_id}/totp", headers=bearer(admin))
    assert response.status_code == 200, response.text
    assert response.json()["totp"] is False
    assert (await login(api.client, email)).status_code == 201
    # Idempotent, and audited once: only the removal that removed something.
    again = await api.client.delete(f"/v1/accounts/{account_id}/totp", headers=bearer(admin))
    assert again.status_code == 200
    entries = await audit_entries(api, "account.totp_removed", account_id)
    assert len(entries) == 1
    assert entries[0]["actor_role"] == "admin"
    assert await status_of_call(api.client, holder) == 200

    missing = await api.client.delete(f"/v1/accounts/{uuid.uuid4()}/totp", headers=bearer(admin))
    assert_problem(missing, 404)


# --- a second factor required by the settings ---------------------------------------------------


async def test_required_totp_gives_an_enrolment_only_session_until_confirmed(
    serve: Serve, api: Api
) -> None:
    _, email = await make_account(api, Role.admin)
    async with serve(require_totp="admin,moderator") as client:
        response = await login(client, email)
        assert response.status_code == 201, response.text
        assert response.json()["totp_enrolment_required"] is True
        token = response.json()["token"]

        refused = await client.get("/v1/accounts", headers=bearer(token))
        assert assert_problem(refused, 403)["code"] == "totp_enrolment_required"
        assert_problem(await client.get("/v1/reports", headers=bearer(token)), 403)

        secret = await enrol(client, token)
        # The same session is whole once the factor is confirmed.
        assert (await client.get("/v1/accounts", headers=bearer(token))).status_code == 200
        assert_problem(await login(client, email), 401)
        second = await login(client, email, totp=code(secret, 1))
        assert second.status_code == 201
        assert "totp_enrolment_required" not in second.json()

        # A role the setting does not name is not restricted.
        _, officer = await make_account(api, Role.officer)
        officer_login = await login(client, officer)
        assert "totp_enrolment_required" not in officer_login.json()
        assert await status_of_call(client, officer_login.json()["token"]) == 200


async def test_an_enrolment_only_session_can_log_out(serve: Serve, api: Api) -> None:
    _, email = await make_account(api, Role.moderator)
    async with serve(require_totp="moderator") as client:
        token = await session(client, email)
        response = await client.delete("/v1/sessions/current", headers=bearer(token))
        assert response.status_code == 204, response.text


async def test_without_the_setting_no_role_must_enrol(api: Api) -> None:
    _, email = await make_account(api, Role.admin)
    response = await login(api.client, email)
    assert set(response.json()) == {"token", "role", "expires_at"}
    admin = response.json()["token"]
    assert (await api.client.get("/v1/accounts", headers=bearer(admin))).status_code == 200


@pytest.mark.parametrize("value", ["root", "admin,observer", "admins"])
def test_an_unknown_role_in_the_setting_is_refused_naming_the_variable(value: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({"PLAINSIGHT_REQUIRE_TOTP": value})
    assert "PLAINSIGHT_REQUIRE_TOTP" in str(caught.value)


# --- password change ----------------------------------------------------------------------------


async def test_a_password_change_ends_the_other_sessions_only(api: Api) -> None:
    account_id, email = await make_account(api, Role.officer)
    current = await session(api.client, email)
    other = await session(api.client, email)
    response = await api.client.post(
        "/v1/accounts/current/password",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        headers=bearer(current),
    )
    assert response.status_code == 204, response.text
    assert await status_of_call(api.client, other) == 401
    assert await status_of_call(api.client, current) == 200
    assert_problem(await login(api.client, email), 401)
    assert (await login(api.client, email, NEW_PASSWORD)).status_code == 201
    entries = await audit_entries(api, "account.password_changed", account_id)
    assert len(entries) == 1
    assert entries[0]["actor_id"] == account_id
    text = await all_audit_text(api)
    assert PASSWORD not in text
    assert NEW_PASSWORD not in text


async def test_a_wrong_current_password_is_422_and_changes_nothing(api: Api) -> None:
    _, email = await make_account(api, Role.officer)
    token = await session(api.client, email)
    response = await api.client.post(
        "/v1/accounts/current/password",
        json={"current_password": "not it", "new_password": NEW_PASSWORD},
        headers=bearer(token),
    )
    problem = assert_problem(response, 422, field="$.current_password")
    assert problem["code"] == "wrong_password"
    assert (await login(api.client, email)).status_code == 201


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"current_password": PASSWORD, "new_password": "too short"}, "$.new_password"),
        ({"current_password": PASSWORD}, "$.new_password"),
        ({"new_password": NEW_PASSWORD}, "$.current_password"),
        ({"current_password": PASSWORD, "new_password": NEW_PASSWORD, "x": 1}, "$.x"),
    ],
    ids=["short", "no-new", "no-current", "unknown-field"],
)
async def test_a_bad_password_change_is_422_naming_the_field(
    api: Api, body: dict[str, Any], field: str
) -> None:
    _, email = await make_account(api, Role.moderator)
    token = await session(api.client, email)
    response = await api.client.post(
        "/v1/accounts/current/password", json=body, headers=bearer(token)
    )
    assert_problem(response, 422, field=field)
    assert (await login(api.client, email)).status_code == 201


async def test_observers_have_no_password_to_change(api: Api) -> None:
    device = await api.device_token()
    response = await api.client.post(
        "/v1/accounts/current/password",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        headers=bearer(device),
    )
    assert_problem(response, 403)


# --- re-enabling ---------------------------------------------------------------------------------


async def test_an_admin_re_enables_a_disabled_account(api: Api) -> None:
    admin = await api.account_token(Role.admin)
    account_id, email = await make_account(api, Role.moderator)
    old = await session(api.client, email)
    disabled = await api.client.post(f"/v1/accounts/{account_id}/disable", headers=bearer(admin))
    assert disabled.status_code == 200
    assert_problem(await login(api.client, email), 401)

    enabled = await api.client.post(f"/v1/accounts/{account_id}/enable", headers=bearer(admin))
    assert enabled.status_code == 200, enabled.text
    assert enabled.json()["disabled"] is False
    assert enabled.json()["id"] == str(account_id)
    assert (await login(api.client, email)).status_code == 201
    assert await status_of_call(api.client, old) == 401  # its old sessions stay ended
    entries = await audit_entries(api, "account.enabled", account_id)
    assert [e["role"] for e in entries] == ["moderator"]

    missing = await api.client.post(f"/v1/accounts/{uuid.uuid4()}/enable", headers=bearer(admin))
    assert_problem(missing, 404)


@pytest.mark.parametrize("role", NON_ADMINS)
async def test_only_admins_enable_reset_or_remove_a_second_factor(api: Api, role: Role) -> None:
    token = await api.token(role)
    account_id, _ = await make_account(api, Role.officer)
    await api.conn.execute("update accounts set disabled_at = now() where id = $1", account_id)
    for response in (
        await api.client.post(f"/v1/accounts/{account_id}/enable", headers=bearer(token)),
        await api.client.post(f"/v1/accounts/{account_id}/reset", headers=bearer(token)),
        await api.client.delete(f"/v1/accounts/{account_id}/totp", headers=bearer(token)),
    ):
        assert_problem(response, 403)
    assert await api.conn.fetchval(
        "select disabled_at is not null from accounts where id = $1", account_id
    )
    assert await api.conn.fetchval("select count(*) from password_resets") == 0


# --- admin-issued password resets -----------------------------------------------------------------


async def issue(api: Api, admin: str, account_id: uuid.UUID) -> dict[str, Any]:
    response = await api.client.post(f"/v1/accounts/{account_id}/reset", headers=bearer(admin))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def redeem(
    api: Api, email: str, reset_code: str, new_password: str = NEW_PASSWORD
) -> httpx.Response:
    return await api.client.post(
        "/v1/password-resets",
        json={"email": email, "code": reset_code, "new_password": new_password},
    )


async def test_a_reset_code_sets_a_new_password_once_and_ends_every_session(api: Api) -> None:
    admin = await api.account_token(Role.admin)
    account_id, email = await make_account(api, Role.moderator)
    before = await session(api.client, email)

    issued = await issue(api, admin, account_id)
    assert set(issued) == {"code", "expires_at"}
    expires_at = datetime.fromisoformat(issued["expires_at"])
    assert timedelta(hours=23) < expires_at - datetime.now(UTC) <= timedelta(hours=24)
    # Only a hash is stored: the code appears in no table.
    dump = await api.conn.fetchval(
        "select string_agg(t::text, ' ') from (select * from password_resets) t"
    )
    assert issued["code"] not in dump
    assert issued["code"].replace("-", "") not in dump
    assert (await login(api.client, email)).status_code == 201  # the old password until used

    redeemed = await redeem(api, email.upper(), issued["code"].lower().replace("-", " "))
    assert redeemed.status_code == 204, redeemed.text
    assert await status_of_call(api.client, before) == 401
    assert (
        await api.conn.fetchval("select count(*) from sessions where account_id = $1", account_id)
        == 0
    )
    assert_problem(await login(api.client, email), 401)
    assert (await login(api.client, email, NEW_PASSWORD)).status_code == 201

    used_again = await redeem(api, email, issued["code"], "yet another long password")
    assert assert_problem(used_again, 400, field="$.code")["code"] == "reset_code_invalid"

    issued_entries = await audit_entries(api, "account.reset_issued", account_id)
    used_entries = await audit_entries(api, "account.reset_used", account_id)
    failed_entries = await audit_entries(api, "account.reset_failed", account_id)
    assert [e["role"] for e in issued_entries] == ["moderator"]
    assert [e["actor_id"] for e in used_entries] == [account_id]
    assert len(failed_entries) == 1
    text = await all_audit_text(api)
    for secret in (issued["code"], issued["code"].replace("-", ""), NEW_PASSWORD, email):
        assert secret not in text


async def test_bad_reset_codes_all_fail_alike(api: Api) -> None:
    admin = await api.account_token(Role.admin)
    account_id, email = await make_account(api, Role.officer)
    other_id, other_email = await make_account(api, Role.officer)
    voided = (await issue(api, admin, account_id))["code"]
    current = (await issue(api, admin, account_id))["code"]  # voids `voided`
    expired = (await issue(api, admin, other_id))["code"]
    await api.conn.execute(
        "update password_resets set expires_at = now() - interval '1 second' where account_id = $1",
        other_id,
    )

    answers = [
        await redeem(api, other_email, expired),
        await redeem(api, email, voided),
        await redeem(api, email, "AAAA-AAAA-AAAA-AAAA-AAAA-AAAA"),
        await redeem(api, other_email, current),  # another account's code
    ]
    for answer in answers:
        assert_problem(answer, 400, field="$.code")
    assert len({answer.content for answer in answers}) == 1
    assert (await login(api.client, email)).status_code == 201
    assert (await redeem(api, email, current)).status_code == 204


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "a@example.org", "code": "X", "new_password": "short"}, "$.new_password"),
        ({"email": "a@example.org", "new_password": NEW_PASSWORD}, "$.code"),
        ({"email": "a@example.org", "code": "", "new_password": NEW_PASSWORD}, "$.code"),
        ({"code": "X", "new_password": NEW_PASSWORD}, "$.email"),
    ],
    ids=["short-password", "no-code", "empty-code", "no-email"],
)
async def test_a_malformed_reset_is_422_naming_the_field(
    api: Api, body: dict[str, Any], field: str
) -> None:
    response = await api.client.post("/v1/password-resets", json=body)
    assert_problem(response, 422, field=field)


async def test_a_disabled_or_unknown_account_gets_no_reset_code(api: Api) -> None:
    admin = await api.account_token(Role.admin)
    account_id, email = await make_account(api, Role.officer)
    issued = await issue(api, admin, account_id)
    await api.client.post(f"/v1/accounts/{account_id}/disable", headers=bearer(admin))
    refused = await api.client.post(f"/v1/accounts/{account_id}/reset", headers=bearer(admin))
    assert_problem(refused, 409)
    # A code issued before the account was disabled does not bring it back.
    assert_problem(await redeem(api, email, issued["code"]), 400)
    missing = await api.client.post(f"/v1/accounts/{uuid.uuid4()}/reset", headers=bearer(admin))
    assert_problem(missing, 404)


async def test_a_reset_keeps_the_second_factor(api: Api) -> None:
    admin = await api.account_token(Role.admin)
    account_id, email = await make_account(api, Role.admin)
    secret = await enrol(api.client, await session(api.client, email))
    issued = await issue(api, admin, account_id)
    assert (await redeem(api, email, issued["code"])).status_code == 204
    assert_problem(await login(api.client, email, NEW_PASSWORD), 401)
    assert (await login(api.client, email, NEW_PASSWORD, totp=code(secret, 1))).status_code == 201
