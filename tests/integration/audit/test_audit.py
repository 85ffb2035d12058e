"""The tamper-evident audit trail: every hooked event leaves exactly its entry, the database
refuses to change or remove entries, `verify` (and `plainsight audit verify`) names the first
entry an attacker with superuser rights edited, and concurrent appends form one chain."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from nacl.signing import VerifyKey

from api.app import apply_migrations, create_app
from api.tasks.photo_workers import PhotoWorkers
from schemas.auth import Principal, Role
from schemas.settings import load_settings
from storage.accounts import store as accounts
from storage.audit import log as audit
from storage.audit.checkpoints import encode, sign_checkpoint
from storage.db.pool import PooledDatabase, connect
from storage.reports.receipts import ReceiptSigner, b64url, b64url_decode
from tests.conftest import TEST_RECEIPT_SEED
from tests.support.cli import cli_environment, run_cli
from tests.support.helpers import PASSWORD, Api, bearer, observer_report
from tests.support.live_server import live_server
from tests.support.photo_api import fetch, new_report, unique_jpeg, uploaded

ENTRY_COLUMNS = (
    "id, at, actor_id, actor_role, action, subject_type, subject_id, details::text as details, "
    "prev_hash, hash"
)
SELECT_ALL = f"select {ENTRY_COLUMNS} from audit_log order by id"  # noqa: S608 - constants
SELECT_AFTER = f"select {ENTRY_COLUMNS} from audit_log where id > $1 order by id"  # noqa: S608
SELECT_ONE = f"select {ENTRY_COLUMNS} from audit_log where id = $1"  # noqa: S608


async def head(conn: asyncpg.Connection) -> int:
    return await audit.chain_length(conn)


async def entries_after(conn: asyncpg.Connection, mark: int) -> list[dict[str, Any]]:
    """The entries appended after ``mark`` (ids), details decoded."""
    rows = await conn.fetch(SELECT_AFTER, mark)
    return [{**dict(row), "details": json.loads(row["details"])} for row in rows]


def summary(entry: dict[str, Any]) -> tuple[object, ...]:
    actor = None if entry["actor_id"] is None else str(entry["actor_id"])
    return (
        actor,
        entry["actor_role"],
        entry["action"],
        entry["subject_type"],
        entry["subject_id"],
        entry["details"],
    )


async def login(api: Api, email: str, password: str = PASSWORD) -> httpx.Response:
    return await api.client.post("/v1/sessions", json={"email": email, "password": password})


async def account(conn: asyncpg.Connection, role: Role) -> tuple[str, uuid.UUID]:
    """An account made in storage (not audited, as a fixture), with its e-mail and id."""
    email = f"{role}-{uuid.uuid4().hex[:8]}@example.org"
    view = await accounts.create_account(conn, email=email, role=role, password=PASSWORD)
    return email, view.id


async def session_of(api: Api, role: Role) -> tuple[str, uuid.UUID]:
    """A logged-in account: its token and id."""
    email, account_id = await account(api.conn, role)
    response = await login(api, email)
    assert response.status_code == 201, response.text
    return response.json()["token"], account_id


async def device_id(api: Api, token: str) -> uuid.UUID:
    grant = await accounts.grant_for_token(api.conn, token)
    assert grant is not None
    return grant.principal.id


# --- the hooked events ----------------------------------------------------------------------


async def test_login_success_and_failures_leave_no_email(api: Api) -> None:
    email, account_id = await account(api.conn, Role.moderator)
    mark = await head(api.conn)

    assert (await login(api, email)).status_code == 201
    assert (await login(api, email, "not the password at all")).status_code == 401
    unknown = "nobody-at-all@example.org"
    assert (await login(api, unknown)).status_code == 401

    entries = await entries_after(api.conn, mark)
    assert [summary(e) for e in entries] == [
        (str(account_id), "moderator", "session.created", "account", str(account_id), {}),
        (None, None, "session.failed", "account", str(account_id), {}),
        (None, None, "session.failed", None, None, {}),
    ]
    stored = await api.conn.fetchval("select string_agg(audit_log::text, ' ') from audit_log")
    assert email not in stored
    assert unknown not in stored
    assert "nobody" not in stored


async def test_logout_is_recorded(api: Api) -> None:
    token, account_id = await session_of(api, Role.officer)
    mark = await head(api.conn)
    response = await api.client.delete("/v1/sessions/current", headers=bearer(token))
    assert response.status_code == 204
    [entry] = await entries_after(api.conn, mark)
    assert summary(entry) == (
        str(account_id), "officer", "session.closed", "account", str(account_id), {}
    )  # fmt: skip


async def test_admin_creates_and_disables_an_account(api: Api) -> None:
    token, admin_id = await session_of(api, Role.admin)
    mark = await head(api.conn)
    email = "new-researcher@example.org"
    created = await api.client.post(
        "/v1/accounts",
        json={"email": email, "role": "researcher", "password": PASSWORD},
        headers=bearer(token),
    )
    assert created.status_code == 201, created.text
    new_id = created.json()["id"]
    disabled = await api.client.post(f"/v1/accounts/{new_id}/disable", headers=bearer(token))
    assert disabled.status_code == 200, disabled.text

    entries = await entries_after(api.conn, mark)
    assert [summary(e) for e in entries] == [
        (str(admin_id), "admin", "account.created", "account", new_id, {"role": "researcher"}),
        (str(admin_id), "admin", "account.disabled", "account", new_id, {"role": "researcher"}),
    ]
    assert email not in json.dumps([summary(e) for e in entries])


async def test_a_refused_action_leaves_no_entry(api: Api) -> None:
    token, _ = await session_of(api, Role.admin)
    taken, _ = await account(api.conn, Role.officer)
    mark = await head(api.conn)
    again = await api.client.post(
        "/v1/accounts",
        json={"email": taken, "role": "officer", "password": PASSWORD},
        headers=bearer(token),
    )
    assert again.status_code == 409
    missing = await api.client.post(f"/v1/accounts/{uuid.uuid4()}/disable", headers=bearer(token))
    assert missing.status_code == 404
    assert await entries_after(api.conn, mark) == []


async def test_submission_is_not_audited_and_withdrawal_is(api: Api) -> None:
    token = await api.device_token()
    mark = await head(api.conn)
    submitted = await api.submit(token, observer_report())
    assert submitted.status_code == 201
    assert await entries_after(api.conn, mark) == []

    report_id = submitted.json()["id"]
    withdrawn = await api.client.delete(f"/v1/reports/{report_id}", headers=bearer(token))
    assert withdrawn.status_code == 204
    [entry] = await entries_after(api.conn, mark)
    assert summary(entry) == (
        str(await device_id(api, token)), "observer", "report.withdrawn", "report", report_id, {}
    )  # fmt: skip


async def test_staff_reads_of_others_reports_are_recorded(api: Api) -> None:
    observer = await api.device_token()
    first = await new_report(api, observer)
    second = await new_report(api, observer)
    admin, admin_id = await session_of(api, Role.admin)
    own = await new_report(api, admin)
    moderator, moderator_id = await session_of(api, Role.moderator)
    mark = await head(api.conn)

    # Owners reading their own reports: nothing to record.
    assert (await api.client.get(f"/v1/reports/{first}", headers=bearer(observer))).is_success
    assert (await api.client.get("/v1/reports", headers=bearer(observer))).is_success
    assert (await api.client.get(f"/v1/reports/{own}", headers=bearer(admin))).is_success
    assert await entries_after(api.conn, mark) == []

    read = await api.client.get(f"/v1/reports/{first}", headers=bearer(moderator))
    assert read.status_code == 200
    [entry] = await entries_after(api.conn, mark)
    assert summary(entry) == (
        str(moderator_id), "moderator", "report.read", "report", first, {"via": "get"}
    )  # fmt: skip

    mark = await head(api.conn)
    page = await api.client.get("/v1/reports?limit=200", headers=bearer(admin))
    assert page.status_code == 200
    shown = [item["id"] for item in page.json()["items"]]
    assert {first, second, own} <= set(shown)
    entries = await entries_after(api.conn, mark)
    assert [summary(e) for e in entries] == [
        (str(admin_id), "admin", "report.read", "report", report_id, {"via": "list"})
        for report_id in shown
        if report_id != own
    ]


async def test_a_withdrawn_report_read_by_staff_leaves_no_entry(api: Api) -> None:
    observer = await api.device_token()
    report_id = await new_report(api, observer)
    await api.client.delete(f"/v1/reports/{report_id}", headers=bearer(observer))
    moderator, _ = await session_of(api, Role.moderator)
    mark = await head(api.conn)
    gone = await api.client.get(f"/v1/reports/{report_id}", headers=bearer(moderator))
    assert gone.status_code == 410
    assert await entries_after(api.conn, mark) == []


async def test_staff_photo_reads_are_recorded(api: Api) -> None:
    observer = await api.device_token()
    report_id = await new_report(api, observer)
    photo = await uploaded(api, observer, report_id, unique_jpeg())
    moderator, moderator_id = await session_of(api, Role.moderator)
    mark = await head(api.conn)

    assert (await fetch(api, observer, photo["id"])).status_code == 200
    assert await entries_after(api.conn, mark) == []

    served = await fetch(api, moderator, photo["id"])
    assert served.status_code == 200
    cached = await fetch(api, moderator, photo["id"], {"If-None-Match": served.headers["etag"]})
    assert cached.status_code == 304
    expected = [
        (
            str(moderator_id),
            "moderator",
            "photo.read",
            "photo",
            photo["id"],
            {"report_id": report_id, "not_modified": not_modified},
        )
        for not_modified in (False, True)
    ]
    assert [summary(e) for e in await entries_after(api.conn, mark)] == expected


@pytest.mark.parametrize("extension", ["csv", "json"])
async def test_exports_are_recorded(api: Api, extension: str) -> None:
    token, researcher_id = await session_of(api, Role.researcher)
    mark = await head(api.conn)
    response = await api.client.get(
        f"/v1/exports/identification.{extension}",
        params={"group_by": "month,agency", "from": "2025-01-15"},
        headers=bearer(token),
    )
    assert response.status_code == 200, response.text
    [entry] = await entries_after(api.conn, mark)
    version = response.headers["content-disposition"].split("identification-")[1].split(".")[0]
    assert summary(entry)[:5] == (str(researcher_id), "researcher", "export.downloaded", None, None)
    details = entry["details"]
    assert details["format"] == extension
    assert details["dataset_version"] == version
    assert details["filters"]["group_by"] == ["month", "agency"]
    assert details["filters"]["from"] == "2025-01-15"  # as asked; answered for whole months
    assert details["answered"] == {"from": "2025-01-01", "to": None}


async def incident_of(api: Api, report_id: str) -> int:
    incident: int = await api.conn.fetchval(
        "select incident_id from reports where id = $1", uuid.UUID(report_id)
    )
    return incident


def shown(view: dict[str, Any]) -> list[str]:
    return [report["id"] for report in view["observers"] + view["officers"]]


async def test_merge_responses_record_every_report_they_show(api: Api) -> None:
    observer = await api.device_token()
    here = await new_report(api, observer)
    also_here = await new_report(api, observer)
    far = await new_report(api, observer, location={"lat": 41.2, "lon": -74.0, "accuracy_m": 25})
    target, absorbed = await incident_of(api, here), await incident_of(api, far)
    assert await incident_of(api, also_here) == target != absorbed
    moderator, moderator_id = await session_of(api, Role.moderator)
    mark = await head(api.conn)
    merged = await api.client.post(
        f"/v1/incidents/{target}/merge", json={"incident_id": absorbed}, headers=bearer(moderator)
    )
    assert merged.status_code == 200, merged.text
    assert sorted(shown(merged.json())) == sorted([here, also_here, far])
    [merge, *reads] = await entries_after(api.conn, mark)
    assert summary(merge)[2:5] == ("incident.merged", "incident", str(target))
    assert sorted(summary(e) for e in reads) == sorted(
        (str(moderator_id), "moderator", "report.read", "report", report_id, {"via": "merge"})
        for report_id in (here, also_here, far)
    )


async def test_split_responses_record_every_report_they_show(api: Api) -> None:
    observer = await api.device_token()
    first = await new_report(api, observer)
    second = await new_report(api, observer)
    third = await new_report(api, observer)
    incident = await incident_of(api, first)
    admin, admin_id = await session_of(api, Role.admin)
    own = await new_report(api, admin)  # the admin's own report: shown, not recorded
    assert await incident_of(api, own) == incident
    mark = await head(api.conn)
    split = await api.client.post(
        f"/v1/incidents/{incident}/split", json={"report_ids": [third]}, headers=bearer(admin)
    )
    assert split.status_code == 200, split.text
    body = split.json()
    assert sorted(shown(body["incident"]) + shown(body["new_incident"])) == sorted(
        [first, second, third, own]
    )
    [split_entry, *reads] = await entries_after(api.conn, mark)
    assert summary(split_entry)[2:5] == ("incident.split", "incident", str(incident))
    assert sorted(summary(e) for e in reads) == sorted(
        (str(admin_id), "admin", "report.read", "report", report_id, {"via": "split"})
        for report_id in (first, second, third)
    )


async def test_a_refused_merge_records_no_read(api: Api) -> None:
    observer = await api.device_token()
    incident = await incident_of(api, await new_report(api, observer))
    moderator, _ = await session_of(api, Role.moderator)
    mark = await head(api.conn)
    refused = await api.client.post(
        f"/v1/incidents/{incident}/merge", json={"incident_id": incident}, headers=bearer(moderator)
    )
    assert refused.status_code == 422
    assert await entries_after(api.conn, mark) == []


@pytest.mark.parametrize("role", [Role.researcher, Role.moderator, Role.admin])
async def test_statistics_queries_are_recorded_like_exports(api: Api, role: Role) -> None:
    token, reader_id = await session_of(api, role)
    mark = await head(api.conn)
    response = await api.client.get(
        "/v1/stats/identification",
        params={"group_by": "month,area", "from": "2025-01-01", "to": "2025-06-30",
                "unit": "report", "status": "verified"},
        headers=bearer(token),
    )  # fmt: skip
    assert response.status_code == 200, response.text
    [entry] = await entries_after(api.conn, mark)
    assert summary(entry)[:5] == (str(reader_id), role.value, "stats.queried", None, None)
    details = entry["details"]
    assert details["dataset_version"] == response.json()["dataset_version"]
    filters = details["filters"]
    assert filters["group_by"] == ["month", "area"]
    assert (filters["from"], filters["to"]) == ("2025-01-01", "2025-06-30")
    assert (filters["unit"], filters["status"]) == ("report", "verified")
    assert details["answered"] == {"from": "2025-01-01", "to": "2025-06-30"}
    assert "rows" not in json.dumps(details)


async def test_refused_and_public_statistics_queries_leave_no_entry(api: Api) -> None:
    token, _ = await session_of(api, Role.researcher)
    observer = await api.device_token()
    mark = await head(api.conn)
    bad = await api.client.get(
        "/v1/stats/identification", params={"group_by": "colour"}, headers=bearer(token)
    )
    assert bad.status_code == 422
    forbidden = await api.client.get("/v1/stats/identification", headers=bearer(observer))
    assert forbidden.status_code == 403
    public = await api.client.get("/v1/public/releases")
    assert public.status_code == 200
    assert await entries_after(api.conn, mark) == []


async def test_users_create_on_the_command_line_is_recorded(
    empty_database: str, tmp_path: Path
) -> None:
    env = cli_environment(tmp_path, empty_database)
    result = await run_cli(
        "users", "create", "--email", "first-admin@example.org", "--role", "admin",
        env=env, stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    conn = await connect(empty_database)
    try:
        [entry] = await entries_after(conn, 0)
        account_id = await conn.fetchval("select id::text from accounts")
    finally:
        await conn.close()
    assert summary(entry) == (
        None, None, "account.created", "account", account_id, {"role": "admin", "via": "cli"}
    )  # fmt: skip
    assert "first-admin" not in json.dumps(summary(entry))


# --- the log itself -------------------------------------------------------------------------

ALICE = Principal(id=uuid.UUID("0192b4a0-0000-7000-8000-00000000a11c"), role=Role.moderator)


async def append_some(conn: asyncpg.Connection, count: int) -> None:
    for number in range(count):
        await audit.record(
            conn,
            actor=ALICE if number % 2 else None,
            action="report.read",
            subject_type="report",
            subject_id=str(uuid.uuid4()),
            details={"via": "get", "n": number, "note": 'é ✓ "quoted"\n'},
        )


async def test_update_delete_and_truncate_are_refused(conn: asyncpg.Connection) -> None:
    await append_some(conn, 2)
    statements = {
        "UPDATE": "update audit_log set action = 'report.reviewed'",
        "DELETE": "delete from audit_log",
        "TRUNCATE": "truncate audit_log",
    }
    for operation, statement in statements.items():
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only") as refused:
            async with conn.transaction():
                await conn.execute(statement)
        assert operation in str(refused.value)
    for statement in (
        "update audit_head set last_id = 0",
        "delete from audit_head",
        "truncate audit_head",
    ):
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="only moves forward"):
            async with conn.transaction():
                await conn.execute(statement)
    assert await conn.fetchval("select count(*) from audit_log") >= 2
    assert (await audit.verify(conn)).ok


async def test_verify_accepts_a_good_chain(conn: asyncpg.Connection) -> None:
    start = await audit.verify(conn)
    assert start.ok
    await append_some(conn, 5)
    result = await audit.verify(conn)
    assert result.ok
    assert result.checked == start.checked + 5
    assert result.last_id == await head(conn)
    assert result.last_hash == await conn.fetchval(
        "select hash from audit_log where id = $1", result.last_id
    )


async def test_the_documented_recipe_reproduces_every_hash(conn: asyncpg.Connection) -> None:
    """What an oversight body would do: recompute from the rows with nothing but the stdlib."""
    await append_some(conn, 4)
    previous = "0" * 64
    for row in await conn.fetch(SELECT_ALL):
        entry = {
            "id": row["id"],
            "at": row["at"].strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "actor_id": None if row["actor_id"] is None else str(row["actor_id"]),
            "actor_role": row["actor_role"],
            "action": row["action"],
            "subject_type": row["subject_type"],
            "subject_id": row["subject_id"],
            "details": json.loads(row["details"]),
            "prev_hash": previous,
        }
        text = json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        assert hashlib.sha256(text.encode()).hexdigest() == row["hash"]
        assert row["prev_hash"] == previous
        previous = row["hash"]


async def test_a_rolled_back_append_leaves_no_gap(conn: asyncpg.Connection) -> None:
    mark = await head(conn)
    failed_action = conn.transaction()
    await failed_action.start()
    await append_some(conn, 2)
    await failed_action.rollback()
    assert await head(conn) == mark
    await append_some(conn, 1)
    assert [e["id"] for e in await entries_after(conn, mark)] == [mark + 1]
    assert (await audit.verify(conn)).ok


async def test_details_refuse_floats_and_actions_are_codes(conn: asyncpg.Connection) -> None:
    mark = await head(conn)
    with pytest.raises(TypeError, match="floating-point"):
        await audit.record(conn, actor=None, action="export.downloaded", details={"x": [0.5]})
    with pytest.raises(ValueError, match="codes"):
        await audit.record(conn, actor=None, action="Read a report")
    assert await head(conn) == mark


async def tampered(conn: asyncpg.Connection, statement: str, *args: object) -> audit.VerifyResult:
    """Run ``statement`` as a superuser who switched the triggers off, verify, then undo it."""
    transaction = conn.transaction()
    await transaction.start()
    try:
        await conn.execute("set local session_replication_role = replica")
        await conn.execute(statement, *args)
        await conn.execute("set local session_replication_role = origin")
        return await audit.verify(conn)
    finally:
        await transaction.rollback()


SET_DETAILS = 'update audit_log set details = \'{"via": "list"}\' where id = $1'
CHANGES = {
    "actor_id": "update audit_log set actor_id = gen_random_uuid() where id = $1",
    "actor_role": "update audit_log set actor_role = 'admin' where id = $1",
    "at": "update audit_log set at = at + interval '1 microsecond' where id = $1",
    "subject_type": "update audit_log set subject_type = 'photo' where id = $1",
    "subject_id": "update audit_log set subject_id = 'another' where id = $1",
    "action": "update audit_log set action = 'report.reviewed' where id = $1",
    "prev_hash": "update audit_log set prev_hash = repeat('0', 64) where id = $1",
}
DELETE_ENTRY = "delete from audit_log where id = $1"
REWRITE = "update audit_log set action = 'report.reviewed', hash = $2 where id = $1"


async def test_tampering_names_exactly_the_edited_entry(conn: asyncpg.Connection) -> None:
    mark = await head(conn)
    await append_some(conn, 6)
    third, fourth, last = mark + 3, mark + 4, mark + 6

    edited = await tampered(conn, SET_DETAILS, third)
    assert (edited.broken_id, edited.checked) == (third, third - 1)
    assert edited.broken_action == "report.read"
    assert edited.broken_at is not None
    assert "does not match its hash" in (edited.reason or "")

    # The fourth entry has an actor (append_some alternates); every field is covered.
    for column, statement in CHANGES.items():
        changed = await tampered(conn, statement, fourth)
        assert changed.broken_id == fourth, column

    removed = await tampered(conn, DELETE_ENTRY, third)
    assert removed.broken_id == fourth
    assert f"entries {third} to {third} are missing" in (removed.reason or "")

    # Rewritten with a hash recomputed by the recipe: the next entry's link gives it away.
    row = await conn.fetchrow(SELECT_ONE, third)
    assert row is not None
    forged = audit.entry_hash(
        {
            "id": third,
            "at": audit.format_time(row["at"]),
            "actor_id": None,
            "actor_role": None,
            "action": "report.reviewed",
            "subject_type": row["subject_type"],
            "subject_id": row["subject_id"],
            "details": json.loads(row["details"]),
            "prev_hash": row["prev_hash"],
        }
    )
    rehashed = await tampered(conn, REWRITE, third, forged)
    assert rehashed.broken_id == fourth
    assert f"prev_hash is not the hash of entry {third}" in (rehashed.reason or "")

    cut = await tampered(conn, DELETE_ENTRY, last)
    assert cut.broken_id == last
    assert "missing from the end" in (cut.reason or "")

    assert (await audit.verify(conn)).ok  # every tampering was undone


# --- concurrency ----------------------------------------------------------------------------


async def test_concurrent_appends_over_a_pool_form_one_chain(empty_database: str) -> None:
    await apply_migrations(empty_database)
    db = await PooledDatabase.open(empty_database, min_size=10, max_size=10)
    appenders, every = 60, 10  # every tenth appender's transaction rolls back

    async def append(number: int) -> None:
        async with db.transaction() as conn:
            await audit.record(
                conn,
                actor=ALICE,
                action="report.read",
                subject_type="report",
                subject_id=str(number),
            )
            await asyncio.sleep(0.001)  # hold the head a moment: the others must queue
            if number % every == 0:
                raise ValueError("the audited action failed")

    try:
        results = await asyncio.gather(
            *(append(n) for n in range(appenders)), return_exceptions=True
        )
        async with db.acquire() as conn:
            result = await audit.verify(conn)
            rows = await conn.fetch("select id, subject_id from audit_log order by id")
    finally:
        await db.close()
    committed = [str(n) for n in range(appenders) if n % every]
    assert [r for r in results if not isinstance(r, ValueError)] == [None] * len(committed)
    assert result.ok, result.reason
    assert result.checked == len(committed)
    assert [row["id"] for row in rows] == list(range(1, len(committed) + 1))
    assert sorted(row["subject_id"] for row in rows) == sorted(committed)


async def test_concurrent_logins_over_http_form_one_chain(
    empty_database: str, tmp_path: Path, photo_workers: PhotoWorkers
) -> None:
    """The service with its real pool (and no rate limit: a dozen logins from one address;
    fewer than the pool's connections, since each holds one through its password check)."""
    await apply_migrations(empty_database)
    settings = load_settings(
        {},
        database_url=empty_database,
        data_dir=str(tmp_path),
        receipt_key=TEST_RECEIPT_SEED,
        rate_limits="off",
    )
    app = create_app(settings, photo_workers=photo_workers)
    conn = await connect(empty_database)
    try:
        email, _ = await account(conn, Role.officer)
        attempts = [PASSWORD if n % 3 == 0 else "wrong password" for n in range(12)]
        async with (
            live_server(app) as base_url,
            httpx.AsyncClient(base_url=base_url, timeout=30.0) as client,
        ):
            responses = await asyncio.gather(
                *(
                    client.post("/v1/sessions", json={"email": email, "password": password})
                    for password in attempts
                )
            )
        result = await audit.verify(conn)
        actions = await conn.fetch("select action from audit_log")
    finally:
        await conn.close()
    assert sorted(r.status_code for r in responses) == sorted(
        201 if p == PASSWORD else 401 for p in attempts
    )
    assert result.ok, result.reason
    assert result.checked == len(attempts)
    assert sorted(r["action"] for r in actions) == sorted(
        "session.created" if p == PASSWORD else "session.failed" for p in attempts
    )


# --- plainsight audit verify ----------------------------------------------------------------


@pytest.fixture
async def committed_log(empty_database: str) -> str:
    """A database whose audit log holds five committed entries."""
    await apply_migrations(empty_database)
    conn = await connect(empty_database)
    try:
        async with conn.transaction():
            await append_some(conn, 5)
    finally:
        await conn.close()
    return empty_database


async def superuser_edit(dsn: str, statement: str) -> None:
    conn = await connect(dsn)
    try:
        async with conn.transaction():
            await conn.execute("set local session_replication_role = replica")
            await conn.execute(statement)
    finally:
        await conn.close()


async def test_cli_verify_ok_then_names_the_broken_entry(
    committed_log: str, tmp_path: Path
) -> None:
    env = cli_environment(tmp_path, committed_log)
    good = await run_cli("audit", "verify", env=env)
    assert good.returncode == 0, good.stderr
    assert "audit log OK: 5 entries checked" in good.stdout
    conn = await connect(committed_log)
    try:
        last_hash = await conn.fetchval("select hash from audit_log where id = 5")
        at = await conn.fetchval("select at from audit_log where id = 2")
    finally:
        await conn.close()
    assert f"last entry 5, hash {last_hash}" in good.stdout

    await superuser_edit(committed_log, "update audit_log set subject_id = 'x' where id = 2")
    bad = await run_cli("audit", "verify", env=env)
    assert bad.returncode == 1
    assert "BROKEN at entry 2 " in bad.stderr
    assert f"time {audit.format_time(at)}, action report.read" in bad.stderr
    assert "does not match its hash" in bad.stderr
    assert "1 entries before it are intact" in bad.stderr
    assert "Traceback" not in bad.stderr


async def test_cli_verify_on_an_empty_log(empty_database: str, tmp_path: Path) -> None:
    result = await run_cli("audit", "verify", env=cli_environment(tmp_path, empty_database))
    assert result.returncode == 0, result.stderr
    assert "audit log OK: 0 entries checked" in result.stdout


# --- anchoring the chain outside the database ------------------------------------------------


async def rewrite_history(dsn: str, entry_id: int) -> None:
    """The attack: as the owner with triggers off, change an entry, then recompute every
    later hash and link and the head, so that the chain is whole again."""
    conn = await connect(dsn)
    try:
        async with conn.transaction():
            await conn.execute("set local session_replication_role = replica")
            await conn.execute(
                "update audit_log set subject_id = 'someone-else' where id = $1", entry_id
            )
            rows = await conn.fetch(SELECT_AFTER, entry_id - 1)
            previous = rows[0]["prev_hash"]
            for row in rows:
                digest = audit.entry_hash(
                    {
                        "id": row["id"],
                        "at": audit.format_time(row["at"]),
                        "actor_id": None if row["actor_id"] is None else str(row["actor_id"]),
                        "actor_role": row["actor_role"],
                        "action": row["action"],
                        "subject_type": row["subject_type"],
                        "subject_id": row["subject_id"],
                        "details": json.loads(row["details"]),
                        "prev_hash": previous,
                    }
                )
                await conn.execute(
                    "update audit_log set prev_hash = $2, hash = $3 where id = $1",
                    row["id"], previous, digest,
                )  # fmt: skip
                previous = digest
            await conn.execute("update audit_head set last_hash = $1", previous)
    finally:
        await conn.close()


def messages(stderr: str) -> list[str]:
    """The command's own lines on stderr (the progress bar shares it)."""
    return [line for line in stderr.splitlines() if line.startswith("plainsight:")]


async def hash_of(dsn: str, entry_id: int) -> str:
    conn = await connect(dsn)
    try:
        digest: str = await conn.fetchval("select hash from audit_log where id = $1", entry_id)
        return digest
    finally:
        await conn.close()


async def test_a_rewritten_chain_passes_alone_but_not_against_an_expected_hash(
    committed_log: str, tmp_path: Path
) -> None:
    env = cli_environment(tmp_path, committed_log)
    fourth, last = await hash_of(committed_log, 4), await hash_of(committed_log, 5)
    anchored = await run_cli("audit", "verify", "--expect", f"4:{fourth}", env=env)
    assert anchored.returncode == 0, anchored.stderr
    assert "1 recorded hashes match" in anchored.stdout

    await rewrite_history(committed_log, 2)
    alone = await run_cli("audit", "verify", env=env)
    assert alone.returncode == 0, alone.stderr  # the attack of issue 11: a whole new chain

    for expected in (f"4:{fourth}", f"5:{last}"):
        caught = await run_cli("audit", "verify", "--expect", expected, env=env)
        assert caught.returncode == 1
        entry = expected.split(":")[0]
        [line] = messages(caught.stderr)
        assert line.startswith(f"plainsight: audit log BROKEN at entry {entry} ")
        assert f"but {expected.split(':')[1]} was recorded for it outside the database" in line
    # An expectation of an entry the log no longer has (cut from the end) fails too.
    beyond = await run_cli("audit", "verify", "--expect", f"9:{last}", env=env)
    assert beyond.returncode == 1
    assert "entry 9, recorded outside the database" in beyond.stderr
    assert "the log ends at entry 5" in beyond.stderr


@pytest.mark.parametrize(
    "argument", ["5", "five:" + "a" * 64, "0:" + "a" * 64, "5:" + "A" * 64, "5:abc", ""]
)
async def test_expect_refuses_malformed_anchors(
    committed_log: str, tmp_path: Path, argument: str
) -> None:
    result = await run_cli(
        "audit", "verify", "--expect", argument, env=cli_environment(tmp_path, committed_log)
    )
    assert result.returncode == 2
    assert "ID:HASH" in result.stderr
    assert "Traceback" not in result.stderr


async def test_expect_with_two_hashes_for_one_entry_is_bad_usage(
    committed_log: str, tmp_path: Path
) -> None:
    env = cli_environment(tmp_path, committed_log)
    result = await run_cli(
        "audit", "verify", "--expect", "3:" + "a" * 64, "--expect", "3:" + "b" * 64, env=env
    )
    assert result.returncode == 2
    assert "entry 3 is expected with two different hashes" in result.stderr


async def test_a_signed_checkpoint_catches_a_later_rewrite(
    committed_log: str, tmp_path: Path
) -> None:
    env = cli_environment(tmp_path, committed_log)
    env["PLAINSIGHT_RECEIPT_KEY"] = TEST_RECEIPT_SEED
    taken = await run_cli("audit", "checkpoint", env=env)
    assert taken.returncode == 0, taken.stderr
    printed = json.loads(taken.stdout)
    [saved] = (tmp_path / "audit-checkpoints").iterdir()
    assert json.loads(saved.read_text()) == printed
    assert printed["last_id"] == 5
    assert printed["last_hash"] == await hash_of(committed_log, 5)
    assert str(saved) in taken.stderr
    # Signed by the receipt key, over the documented fields, as receipts are.
    public_key = ReceiptSigner.from_seed(TEST_RECEIPT_SEED).public_key_b64
    assert printed["public_key"] == public_key
    signed = {k: printed[k] for k in ("at", "last_id", "last_hash", "public_key")}
    VerifyKey(b64url_decode(public_key)).verify(
        json.dumps(signed, sort_keys=True, separators=(",", ":")).encode(),
        b64url_decode(printed["signature"]),
    )

    good = await run_cli("audit", "verify", "--checkpoint", str(saved), env=env)
    assert good.returncode == 0, good.stderr
    await rewrite_history(committed_log, 3)
    assert (await run_cli("audit", "verify", env=env)).returncode == 0
    caught = await run_cli("audit", "verify", "--checkpoint", str(saved), env=env)
    assert caught.returncode == 1
    assert "BROKEN at entry 5 " in caught.stderr
    assert "recorded for it outside the database" in caught.stderr


async def test_a_forged_or_foreign_checkpoint_is_refused(
    committed_log: str, tmp_path: Path
) -> None:
    env = cli_environment(tmp_path, committed_log)
    env["PLAINSIGHT_RECEIPT_KEY"] = TEST_RECEIPT_SEED
    taken = await run_cli("audit", "checkpoint", env=env)
    assert taken.returncode == 0, taken.stderr
    real = json.loads(taken.stdout)
    await rewrite_history(committed_log, 3)
    # The attacker writes a checkpoint matching the rewritten chain, without the key.
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps({**real, "last_hash": await hash_of(committed_log, 5)}))
    other_key = ReceiptSigner.from_seed(b64url(b"\x01" * 32))
    foreign = tmp_path / "foreign.json"
    signed = sign_checkpoint(other_key, 5, await hash_of(committed_log, 5), datetime.now(UTC))
    foreign.write_bytes(encode(signed))
    garbage = tmp_path / "garbage.json"
    garbage.write_text('{"last_id": "five"}')
    expectations = {
        forged: "has no valid signature",
        foreign: "was signed by another key",
        garbage: "is not an audit checkpoint",
        tmp_path / "missing.json": "cannot read checkpoint",
    }
    for path, message in expectations.items():
        result = await run_cli("audit", "verify", "--checkpoint", str(path), env=env)
        assert result.returncode == 1, path
        [line] = messages(result.stderr)
        assert message in line
        assert "Traceback" not in result.stderr


async def test_checkpoint_of_a_broken_chain_is_refused(committed_log: str, tmp_path: Path) -> None:
    env = cli_environment(tmp_path, committed_log)
    await superuser_edit(committed_log, "update audit_log set subject_id = 'x' where id = 2")
    result = await run_cli("audit", "checkpoint", env=env)
    assert result.returncode == 1
    assert "BROKEN at entry 2 " in result.stderr
    assert result.stdout == ""
    assert not (tmp_path / "audit-checkpoints").exists()


async def test_verify_names_a_head_whose_hash_is_not_the_last_entrys(
    conn: asyncpg.Connection,
) -> None:
    await append_some(conn, 3)
    last = await head(conn)
    wrong = await tampered(conn, "update audit_head set last_hash = repeat('a', 64)")
    assert wrong.broken_id == last
    assert f"the chain head records entry {last} with hash {'a' * 64}" in (wrong.reason or "")
