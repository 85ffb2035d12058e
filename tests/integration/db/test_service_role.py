"""The service runs under a database role of its own that cannot rewrite the audit log: it can
neither switch triggers off nor change, delete or truncate entries nor move the chain's head,
yet the whole service works under it. Migrations and operators keep the owner's role."""

from __future__ import annotations

import asyncio
import stat
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast
from urllib.parse import urlsplit

import asyncpg
import h3
import httpx
import pytest

from api.app import apply_migrations
from schemas.auth import Principal, Role
from schemas.settings import load_settings
from storage.accounts import store as accounts
from storage.audit import log as audit
from storage.db.pool import connect
from storage.db.roles import (
    ServiceRoleError,
    prepare_service_database,
    role_marker,
    service_role_name,
    user_of,
    with_credentials,
)
from storage.photos.blobs import open_blob_store
from storage.reports.retention import run_retention
from tests.integration.operations.test_cli import terminate_postgres
from tests.support.cli import cli_environment, serving, stop
from tests.support.helpers import PASSWORD, bearer, observer_report

ALICE = Principal(id=uuid.UUID("0192b4a0-0000-7000-8000-00000000a11c"), role=Role.moderator)
SELECT_SERVICE_SESSIONS = """
select distinct usename from pg_stat_activity
where datname = current_database() and pid <> pg_backend_pid() and usename is not null
"""


def database_of(dsn: str) -> str:
    return urlsplit(dsn).path.lstrip("/")


@pytest.fixture
async def migrated(fresh_database: object) -> str:
    make = cast(Callable[[], Awaitable[str]], fresh_database)
    dsn = await make()
    await apply_migrations(dsn)
    return dsn


@pytest.fixture
async def service(migrated: str, tmp_path: Path) -> AsyncIterator[asyncpg.Connection]:
    """A connection as the service's role, set up the way the service's start-up does."""
    conn = await connect(await prepare_service_database(migrated, tmp_path))
    try:
        yield conn
    finally:
        await conn.close()


async def append_some(conn: asyncpg.Connection, count: int) -> None:
    for number in range(count):
        await audit.record(
            conn, actor=ALICE, action="report.read", subject_type="report", subject_id=str(number)
        )


REFUSED = {
    "set session_replication_role = replica": "permission denied to set parameter",
    "update audit_log set action = 'report.reviewed'": "permission denied for table audit_log",
    "delete from audit_log": "permission denied for table audit_log",
    "truncate audit_log": "permission denied for table audit_log",
    "insert into audit_log select * from audit_log": "permission denied for table audit_log",
    "alter table audit_log disable trigger all": "must be owner of table audit_log",
    "alter table audit_log disable trigger audit_log_no_update_delete": "must be owner",
    "drop trigger audit_log_no_update_delete on audit_log": "must be owner",
    "alter table audit_log add column note text": "must be owner",
    "drop table audit_log cascade": "must be owner",
    "update audit_head set last_id = last_id + 1": "permission denied for table audit_head",
    "update audit_head set last_hash = repeat('a', 64)": "permission denied for table audit_head",
    "delete from audit_head": "permission denied for table audit_head",
    "create or replace function audit_log_refuse() returns trigger language plpgsql as "
    "$$ begin return new; end $$": "permission denied for schema public",
    "set role postgres": "permission denied to set role",
}


@pytest.mark.parametrize("statement", list(REFUSED))
async def test_the_service_role_cannot_touch_the_audit_log(
    service: asyncpg.Connection, statement: str
) -> None:
    await append_some(service, 2)
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match=REFUSED[statement]):
        await service.execute(statement)
    assert await service.fetchval("select count(*) from audit_log") == 2
    assert (await audit.verify(service)).ok


async def test_the_service_role_appends_only_links_of_the_chain(
    service: asyncpg.Connection,
) -> None:
    """Appending goes through audit_append, which takes only the ids just claimed, each
    linked to the entry before: no entry can be slipped in elsewhere in the chain."""
    await append_some(service, 3)
    forged = "f" * 64
    head = await audit.verify(service)
    attempts = {
        "an id not claimed": (2, head.last_hash, "not one of the ids just claimed"),
        "a broken link": (4, "0" * 64, "does not link to the entry before"),
        "an older entry's link": (4, head.last_hash[::-1], "does not link to the entry before"),
    }
    for entry_id, prev_hash, message in attempts.values():
        attempt = service.transaction()
        await attempt.start()
        try:
            claimed = await service.fetchrow(audit.CLAIM_IDS, 1)
            assert claimed is not None
            assert claimed["last_id"] == 4
            with pytest.raises(asyncpg.InvalidParameterValueError, match=message):
                await service.execute(
                    audit.APPEND, claimed["at"], [entry_id], [None], [None], ["report.read"],
                    [None], [None], ["{}"], [prev_hash], [forged],
                )  # fmt: skip
        finally:
            await attempt.rollback()
    assert await service.fetchval("select count(*) from audit_log") == 3
    with pytest.raises(asyncpg.InvalidParameterValueError, match="at least one id"):
        await service.fetchrow(audit.CLAIM_IDS, 0)
    assert (await audit.verify(service)).ok


async def test_the_service_role_is_made_once_per_database_with_a_private_password(
    migrated: str, tmp_path: Path
) -> None:
    dsn = await prepare_service_database(migrated, tmp_path)
    database = database_of(migrated)
    role = service_role_name(database)
    assert user_of(dsn) == role
    password_file = tmp_path / "keys" / f"database-{role}.password"
    assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
    password = password_file.read_text().strip()
    assert len(password) >= 40
    assert dsn == with_credentials(migrated, role, password)
    # A second start (another worker, a restart) uses the same role and password.
    assert await prepare_service_database(migrated, tmp_path) == dsn
    owner = await connect(migrated)
    try:
        row = await owner.fetchrow(
            "select rolsuper, rolcreaterole, rolcreatedb, rolinherit, rolbypassrls, "
            "rolreplication, shobj_description(oid, 'pg_authid') as comment, "
            "rolpassword from pg_authid where rolname = $1",
            role,
        )
        owned = await owner.fetchval(
            "select count(*) from pg_class where relowner = (select oid from pg_roles "
            "where rolname = $1)",
            role,
        )
    finally:
        await owner.close()
    assert row is not None
    assert not any(row[a] for a in ("rolsuper", "rolcreaterole", "rolcreatedb", "rolinherit"))
    assert not row["rolbypassrls"]
    assert not row["rolreplication"]
    assert row["comment"] == role_marker(database)
    assert row["rolpassword"].startswith("SCRAM-SHA-256$4096:")
    assert password not in row["rolpassword"]
    assert owned == 0


def test_role_names_fit_and_differ_per_database() -> None:
    assert service_role_name("plainsight") == "plainsight_service"
    long_name = "x" * 60
    odd_name = 'Plain "sight"'
    for name in (long_name, odd_name):
        role = service_role_name(name)
        assert len(role) <= 63
        assert role.startswith("plainsight_")
        assert role.endswith("_service")
    assert service_role_name(long_name) != service_role_name(long_name + "y")


def test_derived_dsns_swap_only_the_credentials() -> None:
    assert (
        with_credentials("postgresql://owner:secret@db.example:5432/ps?sslmode=require", "s", "p")
        == "postgresql://s:p@db.example:5432/ps?sslmode=require"
    )
    # The embedded server's form: a socket directory in the query, no host.
    assert (
        with_credentials("postgresql://postgres:@/postgres?host=/run/ps", "svc", "p/w")
        == "postgresql://svc:p%2Fw@/postgres?host=/run/ps"
    )
    assert (
        with_credentials("postgres://h/db?user=owner&password=x&sslmode=verify-full", "s", "p")
        == "postgres://s:p@h/db?sslmode=verify-full"
    )
    with pytest.raises(ServiceRoleError, match="not a postgresql:// URL"):
        with_credentials("host=db user=owner", "s", "p")


async def test_a_role_that_could_rewrite_the_log_is_refused(migrated: str, tmp_path: Path) -> None:
    """PLAINSIGHT_SERVICE_DATABASE_URL set to the owner itself: the service will not start."""
    with pytest.raises(ServiceRoleError, match="could rewrite the audit log: it is a superuser"):
        await prepare_service_database(migrated, tmp_path, migrated)


async def test_replicas_starting_together_all_pass_the_role_check(
    migrated: str, tmp_path: Path
) -> None:
    """Each start renews the role's grants under the migration lock, then checks the role
    outside it: another replica renewing meanwhile must never show the grant on all tables
    that briefly covers the audit log (seen as replicas refusing to start)."""
    for _ in range(6):
        dsns = await asyncio.gather(
            *(prepare_service_database(migrated, tmp_path) for _ in range(4))
        )
        assert len(set(dsns)) == 1


async def test_a_named_service_role_gets_its_grants(migrated: str, tmp_path: Path) -> None:
    """The operator made the role (PLAINSIGHT_SERVICE_DATABASE_URL): it is given exactly the
    service's privileges, whatever it had on the audit log before."""
    role = service_role_name(database_of(migrated))
    owner = await connect(migrated)
    try:
        await owner.execute(f'create role "{role}" login')
        await owner.execute(f'grant update, delete on audit_log to "{role}"')
    finally:
        await owner.close()
    named = with_credentials(migrated, role, "unused-with-trust")
    assert await prepare_service_database(migrated, tmp_path, named) == named
    assert not (tmp_path / "keys").exists()
    conn = await connect(named)
    try:
        await append_some(conn, 1)
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied"):
            await conn.execute("delete from audit_log")
    finally:
        await conn.close()


async def test_a_foreign_role_of_the_same_name_is_not_adopted(
    migrated: str, tmp_path: Path
) -> None:
    role = service_role_name(database_of(migrated))
    owner = await connect(migrated)
    try:
        await owner.execute(f'create role "{role}" login')
    finally:
        await owner.close()
    with pytest.raises(ServiceRoleError, match="was not made by Plainsight"):
        await prepare_service_database(migrated, tmp_path)
    with pytest.raises(ServiceRoleError, match="names the role nobody_at_all, which does not"):
        await prepare_service_database(
            migrated, tmp_path, with_credentials(migrated, "nobody_at_all", "x")
        )


ORIGIN = h3.latlng_to_cell(40.7191, -74.0017, 9)
SUM_REPORTS = """
select sum(not_identified + identified + unclear) from stats_cube
where rollup = 2 and unit = 'report' and scope = 'all'
"""


async def test_the_whole_service_works_under_its_role(
    pooled_client: tuple[httpx.AsyncClient, str], tmp_path: Path
) -> None:
    """Devices, submissions, logins, reviews, incidents, merges, statistics (with the fold),
    withdrawals and retention, all as the service's role; the owner keeps the audit chain."""
    client, dsn = pooled_client
    owner = await connect(dsn)
    try:
        sessions = {r["usename"] for r in await owner.fetch(SELECT_SERVICE_SESSIONS)}
        assert sessions == {service_role_name(database_of(dsn))}

        tokens = {}
        for role in (Role.moderator, Role.researcher):
            email = f"{role}@example.org"
            await accounts.create_account(owner, email=email, role=role, password=PASSWORD)
            login = await client.post("/v1/sessions", json={"email": email, "password": PASSWORD})
            assert login.status_code == 201, login.text
            tokens[role] = login.json()["token"]
        device = (await client.post("/v1/devices")).json()["token"]
        lat, lon = h3.cell_to_latlng(ORIGIN)
        long_ago = datetime.now(UTC) - timedelta(days=60)
        reports = []
        for minutes in (0, 200, 400):
            body = observer_report(
                location={"lat": lat, "lon": lon, "accuracy_m": 10},
                occurred_at=(long_ago + timedelta(minutes=minutes)).isoformat(),
            )
            sent = await client.post("/v1/reports", json=body, headers=bearer(device))
            assert sent.status_code == 201, sent.text
            reports.append(sent.json()["id"])
        moderator, researcher = tokens[Role.moderator], tokens[Role.researcher]
        reviewed = await client.post(
            f"/v1/reports/{reports[0]}/review",
            json={"status": "verified", "reason": None},
            headers=bearer(moderator),
        )
        assert reviewed.status_code == 200, reviewed.text
        # A statistics query runs the folder first, as the service's role.
        folded = await client.get("/v1/stats/identification", headers=bearer(researcher))
        assert folded.status_code == 200, folded.text
        incidents = [
            await owner.fetchval("select incident_id from reports where id = $1", uuid.UUID(r))
            for r in reports
        ]
        assert len(set(incidents)) == 3
        merged = await client.post(
            f"/v1/incidents/{incidents[0]}/merge",
            json={"incident_id": incidents[1]},
            headers=bearer(moderator),
        )
        assert merged.status_code == 200, merged.text
        withdrawn = await client.delete(f"/v1/reports/{reports[2]}", headers=bearer(device))
        assert withdrawn.status_code == 204
        stats = await client.get(
            "/v1/stats/identification", params={"unit": "report"}, headers=bearer(researcher)
        )
        assert stats.status_code == 200, stats.text
        # The query folded the changes into the cube (as the service's role): two reports.
        assert await owner.fetchval(SUM_REPORTS) == 2
        queue = await client.get("/v1/moderation/queue", headers=bearer(moderator))
        assert queue.status_code == 200, queue.text

        # Retention as the background task runs it, on a connection as the service's role.
        service_dsn = await prepare_service_database(dsn, tmp_path)
        service = await connect(service_dsn)
        try:
            settings = load_settings({}, database_url=dsn, data_dir=str(tmp_path))
            blobs = open_blob_store(settings)
            try:
                later = datetime.now(UTC) + timedelta(days=settings.retention_days + 1)
                summary = await run_retention(
                    service, blobs, now=later, days=settings.retention_days
                )
            finally:
                await blobs.close()
        finally:
            await service.close()
        assert summary.reports_coarsened == 2

        result = await audit.verify(owner)
        actions = [r["action"] for r in await owner.fetch("select action from audit_log")]
    finally:
        await owner.close()
    assert result.ok, result.reason
    for action in ("report.reviewed", "incident.merged", "report.withdrawn", "retention.run"):
        assert action in actions


@pytest.mark.slow
async def test_serve_on_the_embedded_default_runs_as_the_service_role(tmp_path: Path) -> None:
    """No DATABASE_URL: the embedded server's superuser migrates, the service runs as its own
    role, whose password is kept in the data directory."""
    data = tmp_path / "data"
    data.mkdir()
    pgdata = data / "postgres"
    try:
        async with serving(cli_environment(data, None), tmp_path / "serve.log") as server:
            lines = (pgdata / "postmaster.pid").read_text().splitlines()
            port, socket_dir = lines[3], lines[4]
            owner = await asyncpg.connect(
                f"postgresql://postgres@/postgres?host={socket_dir}&port={port}"
            )
            try:
                sessions = {r["usename"] for r in await owner.fetch(SELECT_SERVICE_SESSIONS)}
            finally:
                await owner.close()
            async with httpx.AsyncClient(base_url=server.base_url) as client:
                assert (await client.post("/v1/devices")).status_code == 201
            assert await stop(server) == 0, server.output()
    finally:
        terminate_postgres(pgdata)
    assert sessions == {"postgres_service"}
    password_file = data / "keys" / "database-postgres_service.password"
    assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
    assert password_file.read_text().strip() not in (tmp_path / "serve.log").read_text()
