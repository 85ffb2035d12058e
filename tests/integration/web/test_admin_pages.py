"""The admin pages over real HTTP: accounts (create, disable, re-enable, a one-time reset code
that really redeems), the audit log (listed, filtered, paged, itself audited) and verifying its
chain, with the same audit entries as the API and the API's rules for bad input."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from schemas.auth import Principal, Role
from storage.audit import log as audit
from tests.support.console import console_client, csrf_field, post_form, sign_in, staff_email
from tests.support.helpers import PASSWORD, Api, bearer

pytestmark = pytest.mark.asyncio(loop_scope="session")

NEW_PASSWORD = "a new password, long enough"
RESET_CODE = re.compile(r'<p class="shown-once" id="reset-code"[^>]*>([A-Z0-9-]+)</p>')
AUDIT_ROW = re.compile(r'<tr id="entry-(\d+)">')


class Admin:
    def __init__(self, client: httpx.AsyncClient, account_id: uuid.UUID) -> None:
        self.client = client
        self.id = account_id


@asynccontextmanager
async def admin_console(api: Api) -> AsyncIterator[Admin]:
    """A signed-in admin client that also knows its account id (for the audit trail)."""
    email = await staff_email(api, Role.admin)
    account_id = await api.conn.fetchval("select id from accounts where email = $1", email)
    async with httpx.AsyncClient(base_url=str(api.client.base_url), timeout=10.0) as client:
        response = await sign_in(client, email)
        assert response.status_code == 303, response.text
        yield Admin(client, account_id)


async def account_id_of(conn: asyncpg.Connection, email: str) -> uuid.UUID:
    found: uuid.UUID | None = await conn.fetchval("select id from accounts where email = $1", email)
    assert found is not None, f"no account {email}"
    return found


async def entries_about(conn: asyncpg.Connection, subject_id: uuid.UUID) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "select actor_id, actor_role, action, subject_type, subject_id, details::text as details"
        " from audit_log where subject_id = $1 order by id",
        str(subject_id),
    )
    return [dict(row) for row in rows]


def create_form(email: str, role: str = "moderator", password: str = PASSWORD) -> dict[str, str]:
    return {"email": email, "role": role, "password": password, "confirm": password}


def new_email() -> str:
    return f"new-{uuid.uuid4().hex[:8]}@example.org"


async def api_session(api: Api, email: str, password: str = PASSWORD) -> httpx.Response:
    return await api.client.post("/v1/sessions", json={"email": email, "password": password})


def row_of(html: str, account_id: uuid.UUID) -> str:
    start = html.index(f'<tr id="account-{account_id}">')
    return html[start : html.index("</tr>", start)]


# --- accounts -------------------------------------------------------------------------------


async def test_an_admin_creates_disables_and_re_enables_an_account(api: Api) -> None:
    email = new_email()
    async with admin_console(api) as admin:
        created = await post_form(
            admin.client, "/admin/accounts", "/admin/accounts", create_form(email)
        )
        assert created.status_code == 303
        assert created.headers["location"] == "/admin/accounts?notice=created"
        assert "@" not in created.headers["location"]
        account_id = await account_id_of(api.conn, email)

        listed = await admin.client.get(created.headers["location"])
        assert listed.status_code == 200
        assert 'id="accounts-notice"' in listed.text
        row = row_of(listed.text, account_id)
        assert email in row
        assert "moderator" in row
        assert "active" in row
        assert f'id="disable-{account_id}"' in row

        # The new account works in the API; disabling it ends that session at once.
        session = await api_session(api, email)
        assert session.status_code == 201
        token = session.json()["token"]
        assert (
            await api.client.get("/v1/moderation/queue", headers=bearer(token))
        ).status_code == 200

        disabled = await post_form(
            admin.client, "/admin/accounts", f"/admin/accounts/{account_id}/disable", {}
        )
        assert (disabled.status_code, disabled.headers["location"]) == (
            303,
            "/admin/accounts?notice=disabled",
        )
        refused = await api.client.get("/v1/moderation/queue", headers=bearer(token))
        assert refused.status_code == 401
        assert (await api_session(api, email)).status_code == 401
        row = row_of((await admin.client.get("/admin/accounts")).text, account_id)
        assert "disabled" in row
        assert f'id="enable-{account_id}"' in row

        enabled = await post_form(
            admin.client, "/admin/accounts", f"/admin/accounts/{account_id}/enable", {}
        )
        assert (enabled.status_code, enabled.headers["location"]) == (
            303,
            "/admin/accounts?notice=enabled",
        )
        assert (
            await api.client.get("/v1/moderation/queue", headers=bearer(token))
        ).status_code == 401
        assert (await api_session(api, email)).status_code == 201

    entries = [e for e in await entries_about(api.conn, account_id) if e["actor_id"] == admin.id]
    assert [e["action"] for e in entries] == [
        "account.created",
        "account.disabled",
        "account.enabled",
    ]
    assert all(e["actor_role"] == "admin" and e["subject_type"] == "account" for e in entries)
    assert all(email not in e["details"] for e in entries)


async def test_the_console_writes_the_same_audit_entries_as_the_api(api: Api) -> None:
    """The same acts through the API and through the pages leave the same entries."""
    admin_token = await api.account_token(Role.admin)
    through_api = new_email()
    created = await api.client.post(
        "/v1/accounts",
        json={"email": through_api, "role": "researcher", "password": PASSWORD},
        headers=bearer(admin_token),
    )
    assert created.status_code == 201
    api_id = uuid.UUID(created.json()["id"])
    for act in ("disable", "enable", "reset"):
        answer = await api.client.post(f"/v1/accounts/{api_id}/{act}", headers=bearer(admin_token))
        assert answer.status_code in (200, 201), answer.text

    through_console = new_email()
    async with admin_console(api) as admin:
        await post_form(
            admin.client,
            "/admin/accounts",
            "/admin/accounts",
            create_form(through_console, "researcher"),
        )
        console_id = await account_id_of(api.conn, through_console)
        for act in ("disable", "enable", "reset"):
            answer = await post_form(
                admin.client, "/admin/accounts", f"/admin/accounts/{console_id}/{act}", {}
            )
            assert answer.status_code in (200, 303), answer.text

    def shape(entries: list[dict[str, Any]]) -> list[tuple[str, str, str, str]]:
        return [(e["actor_role"], e["action"], e["subject_type"], e["details"]) for e in entries]

    api_entries = await entries_about(api.conn, api_id)
    console_entries = await entries_about(api.conn, console_id)
    assert len(api_entries) == 4
    assert shape(console_entries) == shape(api_entries)


async def test_a_reset_code_is_shown_once_and_redeems(api: Api) -> None:
    email = await staff_email(api, Role.researcher)
    account_id = await account_id_of(api.conn, email)
    async with admin_console(api) as admin:
        page = await post_form(
            admin.client, "/admin/accounts", f"/admin/accounts/{account_id}/reset", {}
        )
    assert page.status_code == 200  # rendered here: the code never travels in a URL
    assert "location" not in page.headers
    assert page.headers["cache-control"] == "no-store"
    match = RESET_CODE.search(page.text)
    assert match is not None, page.text
    code = match[1]
    assert "/v1/password-resets" in page.text
    assert email in page.text

    redeemed = await api.client.post(
        "/v1/password-resets",
        json={"email": email, "code": code, "new_password": NEW_PASSWORD},
    )
    assert redeemed.status_code == 204, redeemed.text
    assert (await api_session(api, email, NEW_PASSWORD)).status_code == 201
    assert (await api_session(api, email)).status_code == 401
    again = await api.client.post(
        "/v1/password-resets",
        json={"email": email, "code": code, "new_password": NEW_PASSWORD + "!"},
    )
    assert again.status_code == 400  # once only
    entries = await entries_about(api.conn, account_id)
    actions = [e["action"] for e in entries if e["action"].startswith("account.reset")]
    assert actions == ["account.reset_issued", "account.reset_used", "account.reset_failed"]
    stored = await api.conn.fetchval(
        "select count(*) from audit_log where details::text like $1", f"%{code}%"
    )
    assert stored == 0


async def test_a_disabled_account_gets_no_reset_code(api: Api) -> None:
    email = await staff_email(api, Role.moderator)
    account_id = await account_id_of(api.conn, email)
    async with admin_console(api) as admin:
        await post_form(
            admin.client, "/admin/accounts", f"/admin/accounts/{account_id}/disable", {}
        )
        page = await post_form(
            admin.client, "/admin/accounts", f"/admin/accounts/{account_id}/reset", {}
        )
    assert page.status_code == 409
    assert page.headers["content-type"].startswith("text/html")
    assert RESET_CODE.search(page.text) is None


BAD_FORMS = [
    ("not-an-address", "moderator", PASSWORD, PASSWORD, "email", "Enter a valid e-mail address"),
    (None, "observer", PASSWORD, PASSWORD, "role", "Choose officer, researcher"),
    (None, "wizard", PASSWORD, PASSWORD, "role", "Choose officer, researcher"),
    (None, "moderator", "short", "short", "password", "at least 12 characters"),
    (None, "moderator", PASSWORD, PASSWORD + "x", "confirm", "are not the same"),
]


@pytest.mark.parametrize(
    ("email", "role", "password", "confirm", "field", "words"),
    BAD_FORMS,
    ids=["email", "observer", "unknown-role", "short-password", "confirm"],
)
async def test_a_bad_field_shows_the_form_again_with_the_error_beside_it(
    api: Api, email: str | None, role: str, password: str, confirm: str, field: str, words: str
) -> None:
    address = email or new_email()
    async with admin_console(api) as admin:
        page = await post_form(
            admin.client,
            "/admin/accounts",
            "/admin/accounts",
            {"email": address, "role": role, "password": password, "confirm": confirm},
        )
    assert page.status_code == 422
    assert f'id="account-{field}-error"' in page.text
    beside = page.text[page.text.index(f'id="account-{field}-error"') :]
    assert words in beside[: beside.index("</p>")]
    assert f'value="{address}"' in page.text  # kept for correcting
    assert password not in page.text  # never sent back
    assert await api.conn.fetchval("select count(*) from accounts where email = $1", address) == 0


async def test_a_taken_address_is_a_conflict_beside_the_field(api: Api) -> None:
    email = await staff_email(api, Role.officer)
    async with admin_console(api) as admin:
        page = await post_form(
            admin.client, "/admin/accounts", "/admin/accounts", create_form(email.upper())
        )
    assert page.status_code == 409
    assert 'id="account-email-error"' in page.text
    assert "already exists" in page.text
    assert (
        await api.conn.fetchval(
            "select count(*) from accounts where lower(email) = lower($1)", email
        )
        == 1
    )


async def test_an_unknown_or_malformed_account_is_a_404_page(api: Api) -> None:
    async with admin_console(api) as admin:
        for act in ("disable", "enable", "reset"):
            unknown = await post_form(
                admin.client, "/admin/accounts", f"/admin/accounts/{uuid.uuid4()}/{act}", {}
            )
            assert unknown.status_code == 404, act
            assert unknown.headers["content-type"].startswith("text/html")
            assert "There is nothing here" in unknown.text
            malformed = await post_form(
                admin.client, "/admin/accounts", f"/admin/accounts/not-a-uuid/{act}", {}
            )
            assert malformed.status_code in (404, 422)
            assert malformed.headers["content-type"].startswith("text/html")


async def test_an_admin_may_disable_itself_as_in_the_api_and_is_signed_out(api: Api) -> None:
    async with admin_console(api) as admin:
        answer = await post_form(
            admin.client, "/admin/accounts", f"/admin/accounts/{admin.id}/disable", {}
        )
        assert answer.status_code == 303
        after = await admin.client.get("/admin/accounts")
        assert after.status_code == 303
        assert after.headers["location"].startswith("/sign-in")


async def test_accounts_are_paged_with_the_api_cursor(api: Api) -> None:
    for _ in range(55):
        await staff_email(api, Role.officer)
    async with admin_console(api) as admin:
        first = await admin.client.get("/admin/accounts")
        assert first.status_code == 200
        first_ids = re.findall(r'<tr id="account-([0-9a-f-]+)">', first.text)
        assert len(first_ids) == 50
        link = re.search(r'href="(/admin/accounts\?cursor=[^"]+)" rel="next"', first.text)
        assert link is not None
        second = await admin.client.get(link[1].replace("&amp;", "&"))
        second_ids = re.findall(r'<tr id="account-([0-9a-f-]+)">', second.text)
    total = await api.conn.fetchval("select count(*) from accounts")
    assert len(second_ids) == min(total - 50, 50)
    assert not set(first_ids) & set(second_ids)
    ordered = await api.conn.fetch("select id from accounts order by created_at, id limit 100")
    assert (
        first_ids + second_ids == [str(row["id"]) for row in ordered][: len(first_ids + second_ids)]
    )


async def test_a_bad_cursor_is_a_page_not_a_crash(api: Api) -> None:
    async with admin_console(api) as admin:
        page = await admin.client.get("/admin/accounts?cursor=not-ours")
    assert page.status_code == 422
    assert page.headers["content-type"].startswith("text/html")


# --- who may --------------------------------------------------------------------------------

ADMIN_PAGES = ["/admin/accounts", "/admin/audit"]


@pytest.mark.parametrize("role", [Role.moderator, Role.researcher, Role.officer])
async def test_other_roles_get_a_403_page(api: Api, role: Role) -> None:
    target = await staff_email(api, Role.officer)
    target_id = await account_id_of(api.conn, target)
    async with console_client(api, role) as client:
        for page in ADMIN_PAGES:
            refused = await client.get(page)
            assert refused.status_code == 403, page
            assert refused.headers["content-type"].startswith("text/html")
            assert "Your role may not open this page" in refused.text
        # The CSRF pair of a page this role may open: the refusals are for the role.
        token = csrf_field((await client.get("/no-pages")).text)
        for action, data in (
            ("/admin/accounts", create_form(new_email())),
            (f"/admin/accounts/{target_id}/disable", {}),
            (f"/admin/accounts/{target_id}/reset", {}),
            ("/admin/audit/verify", {}),
        ):
            answer = await client.post(action, data={**data, "_csrf_token": token})
            assert answer.status_code == 403, action
    assert (
        await api.conn.fetchval("select disabled_at from accounts where id = $1", target_id) is None
    )


async def test_without_a_session_admin_pages_send_to_sign_in(api: Api) -> None:
    for page in ADMIN_PAGES:
        answer = await api.client.get(page)
        assert answer.status_code == 303
        assert answer.headers["location"] == f"/sign-in?next={page}"


# --- the audit log --------------------------------------------------------------------------


async def test_the_audit_log_lists_filters_and_is_itself_audited(api: Api) -> None:
    email = new_email()
    async with admin_console(api) as admin:
        await post_form(admin.client, "/admin/accounts", "/admin/accounts", create_form(email))
        account_id = await account_id_of(api.conn, email)
        await post_form(
            admin.client, "/admin/accounts", f"/admin/accounts/{account_id}/disable", {}
        )

        everything = await admin.client.get("/admin/audit")
        assert everything.status_code == 200
        for action in ("account.created", "account.disabled", "session.created"):
            assert action in everything.text
        ids = [int(i) for i in AUDIT_ROW.findall(everything.text)]
        assert ids == sorted(ids, reverse=True)  # newest first

        only_disabled = await admin.client.get(
            "/admin/audit", params={"action": "account.disabled", "actor": str(admin.id)}
        )
        rows = AUDIT_ROW.findall(only_disabled.text)
        assert len(rows) == 1
        assert str(account_id) in only_disabled.text
        assert "account.created" not in only_disabled.text.split('id="audit-table"')[1]

        by_subject = await admin.client.get(
            "/admin/audit", params={"subject_type": "account", "subject_id": str(account_id)}
        )
        assert len(AUDIT_ROW.findall(by_subject.text)) == 2

        today = datetime.now(UTC).date()
        this_day = await admin.client.get(
            "/admin/audit",
            params={"actor": str(admin.id), "since": str(today), "until": str(today)},
        )
        assert len(AUDIT_ROW.findall(this_day.text)) >= 3
        tomorrow = await admin.client.get(
            "/admin/audit",
            params={"actor": str(admin.id), "since": str(today + timedelta(days=1))},
        )
        assert AUDIT_ROW.findall(tomorrow.text) == []
        assert 'id="audit-empty"' in tomorrow.text

    reads = await api.conn.fetch(
        "select details::text as details from audit_log where action = 'audit.read'"
        " and actor_id = $1 order by id",
        admin.id,
    )
    assert len(reads) == 5  # every view of the log, with which filters (never their values)
    assert json.loads(reads[1]["details"])["filters"] == ["action", "actor"]
    assert str(account_id) not in reads[2]["details"]


async def test_the_audit_log_pages_newest_first_keeping_the_filters(api: Api) -> None:
    actor = Principal(id=uuid.uuid4(), role=Role.moderator)
    await audit.record_many(
        api.conn,
        [
            audit.Entry(actor=actor, action="report.read", subject_type="report", subject_id=str(n))
            for n in range(60)
        ],
    )
    async with admin_console(api) as admin:
        first = await admin.client.get("/admin/audit", params={"actor": str(actor.id)})
        first_ids = [int(i) for i in AUDIT_ROW.findall(first.text)]
        assert len(first_ids) == 50
        link = re.search(r'href="(/admin/audit\?[^"]+)" rel="next"', first.text)
        assert link is not None
        url = link[1].replace("&amp;", "&")
        assert f"actor={actor.id}" in url
        second = await admin.client.get(url)
        second_ids = [int(i) for i in AUDIT_ROW.findall(second.text)]
        assert 'rel="next"' not in second.text
        assert 'id="audit-newest"' in second.text
    assert len(second_ids) == 10
    every = first_ids + second_ids
    assert every == sorted(every, reverse=True)
    expected = await api.conn.fetch(
        "select id from audit_log where actor_id = $1 order by id desc", actor.id
    )
    assert every == [row["id"] for row in expected]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"actor": "not-a-uuid"}, "actor"),
        ({"action": "Drop Table"}, "action"),
        ({"since": "2026-13-01"}, "since"),
        ({"since": "2026-05-02", "until": "2026-05-01"}, "until"),
        ({"subject_id": "x" * 201}, "subject_id"),
    ],
    ids=["actor", "action", "date", "range", "long"],
)
async def test_a_bad_filter_is_named_beside_its_field(
    api: Api, params: dict[str, str], field: str
) -> None:
    async with admin_console(api) as admin:
        page = await admin.client.get("/admin/audit", params=params)
    assert page.status_code == 422
    assert f'id="filter-{field}-error"' in page.text
    assert AUDIT_ROW.findall(page.text) == []


async def test_verifying_the_chain_says_ok_then_where_it_breaks(api: Api) -> None:
    async with admin_console(api) as admin:
        ok = await post_form(admin.client, "/admin/audit", "/admin/audit/verify", {})
        assert ok.status_code == 200
        entries = await api.conn.fetchval("select count(*) from audit_log")
        assert f"The chain is intact: {entries} entries checked." in ok.text

        # A superuser edits an entry behind the triggers (as tests/integration/audit do).
        victim = await api.conn.fetchval(
            "select max(id) from audit_log where action = 'session.created'"
        )
        tampering = api.conn.transaction()
        await tampering.start()
        try:
            await api.conn.execute("set local session_replication_role = replica")
            await api.conn.execute(
                "update audit_log set details = '{\"edited\": true}' where id = $1", victim
            )
            await api.conn.execute("set local session_replication_role = origin")
            broken = await post_form(admin.client, "/admin/audit", "/admin/audit/verify", {})
        finally:
            await tampering.rollback()
    assert broken.status_code == 200
    assert f"The chain is broken at entry {victim}." in broken.text
    before = await api.conn.fetchval("select count(*) from audit_log where id < $1", victim)
    assert f"The {before} entries before it are intact." in broken.text
    assert "session.created" in broken.text
    assert "does not match its hash" in broken.text
    # Verifying is not audited, as the CLI's verify is not.
    assert (
        await api.conn.fetchval("select count(*) from audit_log where action like 'audit.verif%'")
        == 0
    )


# --- redeeming a code on the console's form -------------------------------------------------


async def issued_code(api: Api, email: str) -> str:
    account_id = await account_id_of(api.conn, email)
    async with admin_console(api) as admin:
        page = await post_form(
            admin.client, "/admin/accounts", f"/admin/accounts/{account_id}/reset", {}
        )
    assert 'href="/reset-password"' in page.text
    match = RESET_CODE.search(page.text)
    assert match is not None
    return match[1]


def reset_form(email: str, code: str, password: str = NEW_PASSWORD) -> dict[str, str]:
    return {"email": email, "code": code, "password": password, "confirm": password}


async def test_the_code_redeems_on_the_reset_password_page(api: Api) -> None:
    email = await staff_email(api, Role.moderator)
    code = await issued_code(api, email)
    async with httpx.AsyncClient(base_url=str(api.client.base_url), timeout=10.0) as visitor:
        # As a person types it: lower case, spaces instead of dashes.
        typed = code.lower().replace("-", " ")
        done = await post_form(
            visitor, "/reset-password", "/reset-password", reset_form(email, typed)
        )
        assert (done.status_code, done.headers["location"]) == (303, "/reset-password?done=1")
        page = await visitor.get(done.headers["location"])
        assert 'id="reset-done"' in page.text
        assert (await sign_in(visitor, email, NEW_PASSWORD)).status_code == 303
        again = await post_form(
            visitor,
            "/reset-password",
            "/reset-password",
            reset_form(email, code, NEW_PASSWORD + "!"),
        )
    assert again.status_code == 400
    assert 'id="reset-code-field-error"' in again.text
    assert "already used" in again.text
    account_id = await account_id_of(api.conn, email)
    entries = await entries_about(api.conn, account_id)
    actions = [e["action"] for e in entries if e["action"].startswith("account.reset")]
    assert actions == ["account.reset_issued", "account.reset_used", "account.reset_failed"]


@pytest.mark.parametrize(
    ("change", "field", "status"),
    [
        ({"code": "WRONG-CODE"}, "code", 400),
        ({"email": "someone-else@example.org"}, "code", 400),
        ({"email": "not-an-address"}, "email", 422),
        ({"password": "short", "confirm": "short"}, "password", 422),
        ({"confirm": "something else entirely"}, "confirm", 422),
    ],
    ids=["wrong-code", "other-address", "bad-address", "short-password", "confirm"],
)
async def test_the_reset_password_page_refuses_bad_input_beside_the_field(
    api: Api, change: dict[str, str], field: str, status: int
) -> None:
    email = await staff_email(api, Role.researcher)
    code = await issued_code(api, email)
    async with httpx.AsyncClient(base_url=str(api.client.base_url), timeout=10.0) as visitor:
        page = await post_form(
            visitor, "/reset-password", "/reset-password", {**reset_form(email, code), **change}
        )
        assert page.status_code == status
        field_id = {"code": "reset-code-field", "password": "reset-password-field"}.get(
            field, f"reset-{field}"
        )
        assert f'id="{field_id}-error"' in page.text
        assert NEW_PASSWORD not in page.text
        # Nothing changed: the old password still signs in.
        assert (await api_session(api, email)).status_code == 201
