"""Observer devices, staff sessions and admin account management, over HTTP.

Expectations come from the API contract ("Roles and credentials"), not from the code.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from schemas.auth import Role
from storage.accounts import store as accounts
from tests.support.assertions import assert_problem, walk_pages
from tests.support.helpers import PASSWORD, Api, bearer, observer_report

NEW_PASSWORD = "a long enough new password"
NON_ADMINS = (Role.observer, Role.officer, Role.researcher, Role.moderator)
ACCOUNT_ROLES = (Role.officer, Role.researcher, Role.moderator, Role.admin)


async def make_account(api: Api, role: Role, email: str | None = None) -> str:
    """Create an account directly in storage (like the CLI does); return its e-mail."""
    email = email or f"{role}-{uuid.uuid4().hex[:8]}@example.org"
    await accounts.create_account(api.conn, email=email, role=role, password=PASSWORD)
    return email


async def login(api: Api, email: str, password: str = PASSWORD) -> httpx.Response:
    return await api.client.post("/v1/sessions", json={"email": email, "password": password})


async def whoami_status(api: Api, token: str) -> int:
    """Status of an authenticated call every role may make (an empty report list is fine)."""
    response = await api.client.get("/v1/reports", headers=bearer(token))
    return response.status_code


async def create_via_api(api: Api, admin: str, **body: Any) -> httpx.Response:
    payload = {"email": f"new-{uuid.uuid4().hex[:8]}@example.org", "role": "officer"}
    payload["password"] = NEW_PASSWORD
    payload.update(body)
    return await api.client.post("/v1/accounts", json=payload, headers=bearer(admin))


# --- devices -------------------------------------------------------------------------------


async def test_device_registration_returns_id_and_working_token(api: Api) -> None:
    response = await api.client.post("/v1/devices")
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"device_id", "token", "expires_at"}
    uuid.UUID(body["device_id"])
    created = await api.submit(body["token"], observer_report())
    assert created.status_code == 201, created.text


async def test_device_registration_needs_no_auth_and_ignores_bad_token(api: Api) -> None:
    response = await api.client.post("/v1/devices", headers=bearer("nonsense"))
    # A public route: a stale token left on a phone must not block registering again.
    assert response.status_code == 201, response.text


async def test_device_row_holds_nothing_personal(api: Api) -> None:
    response = await api.client.post("/v1/devices", headers={"User-Agent": "Pixel 8 / Alice"})
    assert response.status_code == 201
    columns = {
        row["column_name"]
        for row in await api.conn.fetch(
            "select column_name from information_schema.columns where table_name = 'devices'"
        )
    }
    assert columns == {"id", "token_hash", "created_at", "revoked_at", "expires_at"}
    row = await api.conn.fetchrow(
        "select * from devices where id = $1", uuid.UUID(response.json()["device_id"])
    )
    assert row is not None
    assert "Alice" not in str(dict(row))


async def test_each_device_gets_a_distinct_token(api: Api) -> None:
    first = await api.device_token()
    second = await api.device_token()
    assert first != second


# --- sessions ------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ACCOUNT_ROLES)
async def test_login_returns_token_role_and_future_expiry(api: Api, role: Role) -> None:
    email = await make_account(api, role)
    response = await login(api, email)
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"token", "role", "expires_at"}
    assert body["role"] == role.value
    expires_at = datetime.fromisoformat(body["expires_at"])
    assert expires_at.tzinfo is not None
    assert expires_at > datetime.now(UTC)
    assert await whoami_status(api, body["token"]) in (200, 403)


async def test_login_email_is_case_insensitive(api: Api) -> None:
    await make_account(api, Role.officer, "Mixed.Case@Example.org")
    response = await login(api, "mixed.case@example.org")
    assert response.status_code == 201, response.text


async def test_wrong_password_and_unknown_email_look_identical(api: Api) -> None:
    email = await make_account(api, Role.moderator)
    wrong_password = await login(api, email, "not the password at all")
    unknown_email = await login(api, "nobody-here@example.org")
    assert_problem(wrong_password, 401)
    assert_problem(unknown_email, 401)
    assert wrong_password.json() == unknown_email.json()
    assert wrong_password.content == unknown_email.content


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "someone@example.org"}, "$.password"),
        ({"password": "whatever"}, "$.email"),
        ({"email": "someone@example.org", "password": "x", "remember_me": True}, "$.remember_me"),
        ({"email": 42, "password": "whatever"}, "$.email"),
        ({"email": "someone@example.org", "password": ["x"]}, "$.password"),
    ],
    ids=["missing-password", "missing-email", "unknown-field", "int-email", "list-password"],
)
async def test_malformed_login_body_is_422_naming_the_field(
    api: Api, body: dict[str, Any], field: str
) -> None:
    response = await api.client.post("/v1/sessions", json=body)
    assert_problem(response, 422, field=field)


@pytest.mark.parametrize("raw", [b'{"email": ', b'{"email": "\xff@x"}'], ids=["cut", "bad-utf8"])
async def test_login_with_invalid_json_is_400(api: Api, raw: bytes) -> None:
    response = await api.client.post(
        "/v1/sessions", content=raw, headers={"Content-Type": "application/json"}
    )
    problem = assert_problem(response, 400)
    assert problem["code"] == "malformed_json"


async def test_logout_revokes_the_token(api: Api) -> None:
    token = await api.account_token(Role.officer)
    assert await whoami_status(api, token) == 200
    response = await api.client.delete("/v1/sessions/current", headers=bearer(token))
    assert response.status_code == 204, response.text
    assert await whoami_status(api, token) == 401


async def test_logout_leaves_other_sessions_alone(api: Api) -> None:
    email = await make_account(api, Role.officer)
    first = (await login(api, email)).json()["token"]
    second = (await login(api, email)).json()["token"]
    await api.client.delete("/v1/sessions/current", headers=bearer(first))
    assert await whoami_status(api, second) == 200


async def test_logout_without_token_is_401(api: Api) -> None:
    response = await api.client.delete("/v1/sessions/current")
    assert_problem(response, 401)


async def test_expired_session_is_401(api: Api) -> None:
    token = await api.account_token(Role.officer)
    await api.conn.execute(
        "update sessions set expires_at = now() - interval '1 second' where token_hash = $1",
        hashlib.sha256(token.encode()).digest(),
    )
    response = await api.client.get("/v1/reports", headers=bearer(token))
    assert_problem(response, 401)
    assert response.headers["www-authenticate"].lower().startswith("bearer")


async def test_disabled_account_loses_sessions_and_cannot_log_in(api: Api) -> None:
    admin = await api.account_token(Role.admin)
    email = await make_account(api, Role.moderator)
    token = (await login(api, email)).json()["token"]
    account_id = await api.conn.fetchval("select id from accounts where email = $1", email)

    response = await api.client.post(f"/v1/accounts/{account_id}/disable", headers=bearer(admin))
    assert response.status_code == 200, response.text
    assert response.json()["disabled"] is True

    assert await whoami_status(api, token) == 401
    assert (
        await api.conn.fetchval("select count(*) from sessions where account_id = $1", account_id)
        == 0
    )
    assert_problem(await login(api, email), 401)


async def test_disabled_account_login_looks_like_wrong_password(api: Api) -> None:
    admin = await api.account_token(Role.admin)
    email = await make_account(api, Role.officer)
    account_id = await api.conn.fetchval("select id from accounts where email = $1", email)
    await api.client.post(f"/v1/accounts/{account_id}/disable", headers=bearer(admin))
    disabled = await login(api, email)
    unknown = await login(api, "nobody-here@example.org")
    assert disabled.json() == unknown.json()


# --- accounts (admin only) -----------------------------------------------------------------


async def test_admin_creates_account_201_and_it_can_log_in(api: Api) -> None:
    admin = await api.account_token(Role.admin)
    email = f"researcher-{uuid.uuid4().hex[:8]}@example.org"
    response = await create_via_api(api, admin, email=email, role="researcher")
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["email"] == email
    assert body["role"] == "researcher"
    assert body["disabled"] is False
    uuid.UUID(body["id"])
    assert "password" not in response.text
    assert NEW_PASSWORD not in response.text
    session = await login(api, email, NEW_PASSWORD)
    assert session.status_code == 201
    assert session.json()["role"] == "researcher"


async def test_password_is_stored_as_argon2id_hash(
    api: Api, production_password_hashing: object
) -> None:
    # The other tests hash with the cheapest argon2id (tests/conftest.py); this one runs the
    # service's own parameters: RFC 9106's second recommendation (64 MiB, 3 passes, 4 lanes).
    admin = await api.account_token(Role.admin)
    email = f"hash-{uuid.uuid4().hex[:8]}@example.org"
    assert (await create_via_api(api, admin, email=email)).status_code == 201
    stored = await api.conn.fetchval("select password_hash from accounts where email = $1", email)
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert NEW_PASSWORD not in stored
    assert (await login(api, email, NEW_PASSWORD)).status_code == 201
    assert (await login(api, email, PASSWORD)).status_code == 401
    assert (await login(api, f"nobody-{email}", NEW_PASSWORD)).status_code == 401


async def test_duplicate_email_is_409_regardless_of_case(api: Api) -> None:
    admin = await api.account_token(Role.admin)
    email = f"dup-{uuid.uuid4().hex[:8]}@example.org"
    assert (await create_via_api(api, admin, email=email)).status_code == 201
    response = await create_via_api(api, admin, email=email.upper())
    problem = assert_problem(response, 409)
    assert problem["code"] == "conflict"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"role": "observer"}, "$.role"),
        ({"role": "superuser"}, "$.role"),
        ({"password": "short"}, "$.password"),
        ({"email": "not-an-email"}, "$.email"),
        ({"is_admin": True}, "$.is_admin"),
    ],
    ids=["observer-role", "unknown-role", "short-password", "bad-email", "unknown-field"],
)
async def test_invalid_account_is_422_naming_the_field(
    api: Api, body: dict[str, Any], field: str
) -> None:
    admin = await api.account_token(Role.admin)
    response = await create_via_api(api, admin, **body)
    assert_problem(response, 422, field=field)


async def test_account_without_password_is_422_naming_it(api: Api) -> None:
    admin = await api.account_token(Role.admin)
    response = await api.client.post(
        "/v1/accounts",
        json={"email": "nopass@example.org", "role": "officer"},
        headers=bearer(admin),
    )
    assert_problem(response, 422, field="$.password")


async def test_account_list_keyset_walk_visits_every_account_once(api: Api) -> None:
    admin = await api.account_token(Role.admin)
    created = {await make_account(api, role) for role in ACCOUNT_ROLES}
    items = await walk_pages(api.client, "/v1/accounts", bearer(admin), limit=1)
    seen = [item["email"] for item in items]
    assert len(seen) == len(set(seen))
    assert created <= set(seen)
    total = await api.conn.fetchval("select count(*) from accounts")
    assert len(seen) == total


async def test_account_list_items_never_carry_password_hashes(api: Api) -> None:
    admin = await api.account_token(Role.admin)
    response = await api.client.get("/v1/accounts", headers=bearer(admin))
    assert response.status_code == 200
    assert "argon2" not in response.text
    assert "password" not in response.text


@pytest.mark.parametrize("cursor", ["bogus", "eyJub3QiOiJhIGN1cnNvciJ9", "!!!"])
async def test_account_list_bogus_cursor_is_422(api: Api, cursor: str) -> None:
    admin = await api.account_token(Role.admin)
    response = await api.client.get(
        "/v1/accounts", params={"cursor": cursor}, headers=bearer(admin)
    )
    assert_problem(response, 422, field="cursor")


@pytest.mark.parametrize("limit", ["0", "201", "-1", "ten"])
async def test_account_list_out_of_range_limit_is_rejected(api: Api, limit: str) -> None:
    admin = await api.account_token(Role.admin)
    response = await api.client.get("/v1/accounts", params={"limit": limit}, headers=bearer(admin))
    assert_problem(response, (400, 422), field="limit")


async def test_disable_unknown_account_is_404(api: Api) -> None:
    admin = await api.account_token(Role.admin)
    response = await api.client.post(f"/v1/accounts/{uuid.uuid4()}/disable", headers=bearer(admin))
    assert_problem(response, 404)


@pytest.mark.parametrize("role", NON_ADMINS)
async def test_non_admin_roles_may_not_manage_accounts(api: Api, role: Role) -> None:
    token = await api.token(role)
    target = await make_account(api, Role.officer)
    target_id = await api.conn.fetchval("select id from accounts where email = $1", target)
    headers = bearer(token)
    responses = [
        await api.client.get("/v1/accounts", headers=headers),
        await api.client.post(
            "/v1/accounts",
            json={"email": "x@example.org", "role": "admin", "password": NEW_PASSWORD},
            headers=headers,
        ),
        await api.client.post(f"/v1/accounts/{target_id}/disable", headers=headers),
    ]
    for response in responses:
        assert_problem(response, 403)
    disabled_at = await api.conn.fetchval(
        "select disabled_at from accounts where id = $1", target_id
    )
    assert disabled_at is None
    created = await api.conn.fetchval("select count(*) from accounts where email = 'x@example.org'")
    assert created == 0


async def test_anonymous_may_not_manage_accounts(api: Api) -> None:
    for response in (
        await api.client.get("/v1/accounts"),
        await api.client.post(
            "/v1/accounts",
            json={"email": "x@example.org", "role": "admin", "password": NEW_PASSWORD},
        ),
        await api.client.post(f"/v1/accounts/{uuid.uuid4()}/disable"),
    ):
        assert_problem(response, 401)
        assert response.headers["www-authenticate"].lower().startswith("bearer")


async def test_observers_have_no_session_to_end(api: Api) -> None:
    token = await api.device_token()
    response = await api.client.delete("/v1/sessions/current", headers=bearer(token))
    assert_problem(response, 403)
    assert await whoami_status(api, token) == 200


# --- tokens stored only as hashes ----------------------------------------------------------


async def all_table_text(api: Api) -> str:
    """Every row of every application table, rendered as text."""
    tables = [
        row["table_name"]
        for row in await api.conn.fetch(
            "select table_name from information_schema.tables "
            "where table_schema = 'public' and table_type = 'BASE TABLE'"
        )
    ]
    dumps: list[str] = []
    for table in tables:
        rows = await api.conn.fetch(f'select t::text as row from "{table}" t')  # noqa: S608
        dumps.extend(row["row"] for row in rows)
    return "\n".join(dumps)


async def test_tokens_are_stored_only_as_sha256_hashes(api: Api) -> None:
    device = await api.client.post("/v1/devices")
    device_token = device.json()["token"]
    session_token = await api.account_token(Role.officer)

    device_hash = await api.conn.fetchval(
        "select token_hash from devices where id = $1", uuid.UUID(device.json()["device_id"])
    )
    assert bytes(device_hash) == hashlib.sha256(device_token.encode()).digest()
    session_hashes = {
        bytes(row["token_hash"]) for row in await api.conn.fetch("select token_hash from sessions")
    }
    assert hashlib.sha256(session_token.encode()).digest() in session_hashes

    everything = await all_table_text(api)
    for token in (device_token, session_token):
        assert token not in everything
        assert token.encode().hex() not in everything
