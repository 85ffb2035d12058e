"""The ``plainsight`` command as operators run it: real subprocesses, real databases.

``migrate`` and ``users create`` run against a new empty database on the test server; ``serve``
runs once against such a database and once with no DATABASE_URL at all, on the embedded
PostgreSQL it starts (and must stop again) in its data directory.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import asyncpg
import httpx
import psutil  # type: ignore[import-untyped]
import pytest

from schemas.auth import Role
from storage.accounts import password_resets
from storage.accounts import store as accounts
from storage.db.migrations import Migration, load_migrations, migrate
from storage.db.pool import connect
from storage.errors import Unauthenticated
from tests.support.cli import (
    Server,
    cli_environment,
    run_cli,
    serving,
    stop,
)
from tests.support.helpers import observer_report

PASSWORD = "correct horse battery staple"


@pytest.fixture
def data_path(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


async def log_in(server: Server, email: str, password: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10.0) as client:
        return await client.post("/v1/sessions", json={"email": email, "password": password})


def postgres_processes(pgdata: Path) -> list[str]:
    """Command lines of running postgres processes whose command line names ``pgdata``."""
    needle = str(pgdata.resolve())
    found: list[str] = []
    for process in psutil.process_iter():
        try:
            cmdline: list[str] = process.cmdline()
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
        if cmdline and "postgres" in Path(cmdline[0]).name and needle in " ".join(cmdline):
            found.append(" ".join(cmdline))
    return found


def terminate_postgres(pgdata: Path) -> None:
    """Best-effort cleanup after a failed test, so no server outlives the run."""
    needle = str(pgdata.resolve())
    for process in psutil.process_iter():
        try:
            cmdline = process.cmdline()
            if cmdline and "postgres" in Path(cmdline[0]).name and needle in " ".join(cmdline):
                process.terminate()
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue


async def account_rows(database_url: str) -> list[asyncpg.Record]:
    conn = await connect(database_url)
    try:
        if not await conn.fetchval("select to_regclass('accounts') is not null"):
            return []
        rows: list[asyncpg.Record] = await conn.fetch(
            "select email, role, password_hash from accounts order by created_at"
        )
        return rows
    finally:
        await conn.close()


# --- migrate --------------------------------------------------------------------------------


async def test_migrate_applies_and_reports(empty_database: str, data_path: Path) -> None:
    env = cli_environment(data_path, empty_database)
    versions = [m.version for m in load_migrations()]

    first = await run_cli("migrate", env=env)
    assert first.returncode == 0, first.stderr
    expected = ", ".join(f"{v:04d}" for v in versions)
    assert f"migrations applied: {expected}" in first.stdout

    conn = await connect(empty_database)
    try:
        applied = [r["version"] for r in await conn.fetch("select version from schema_migrations")]
    finally:
        await conn.close()
    assert sorted(applied) == versions

    second = await run_cli("migrate", env=env)
    assert second.returncode == 0, second.stderr
    assert "already up to date" in second.stdout


async def test_migrate_refuses_a_database_newer_than_the_code(
    empty_database: str, data_path: Path
) -> None:
    files = load_migrations()
    future = Migration(files[-1].version + 1, "from_the_future", "create table ftf (id int)")
    conn = await connect(empty_database)
    try:
        await migrate(conn, [*files, future])
    finally:
        await conn.close()
    result = await run_cli("migrate", env=cli_environment(data_path, empty_database))
    assert result.returncode == 1
    assert f"{future.version:04d}_from_the_future" in result.stderr
    assert "Traceback" not in result.stderr


async def test_invalid_setting_exits_2_naming_the_variable(
    empty_database: str, data_path: Path
) -> None:
    env = cli_environment(data_path, empty_database) | {"PLAINSIGHT_DB_POOL_MAX": "lots"}
    result = await run_cli("migrate", env=env)
    assert result.returncode == 2
    assert "PLAINSIGHT_DB_POOL_MAX" in result.stderr
    assert "Traceback" not in result.stderr


# --- users create ---------------------------------------------------------------------------


async def test_users_create_makes_an_account_that_can_log_in(
    empty_database: str, data_path: Path
) -> None:
    env = cli_environment(data_path, empty_database)
    result = await run_cli(
        "users", "create", "--email", "mod@example.org", "--role", "moderator",
        env=env, stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "mod@example.org" in result.stdout
    assert "moderator" in result.stdout
    assert PASSWORD not in result.stdout + result.stderr

    [row] = await account_rows(empty_database)
    assert row["email"] == "mod@example.org"
    assert row["role"] == "moderator"
    # The command runs in a process of its own: the service's argon2id parameters, not the
    # cheap ones the in-process tests use (RFC 9106's second recommendation).
    assert row["password_hash"].startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert PASSWORD not in row["password_hash"]

    conn = await connect(empty_database)
    try:
        token, role, _ = await accounts.open_session(
            conn, email="MOD@example.org", password=PASSWORD, lifetime=timedelta(hours=1)
        )
        assert token
        assert role is Role.moderator
        with pytest.raises(Unauthenticated):
            await accounts.open_session(
                conn, email="mod@example.org", password=PASSWORD + "!", lifetime=timedelta(hours=1)
            )
    finally:
        await conn.close()


async def test_users_create_duplicate_email_fails_clearly(
    empty_database: str, data_path: Path
) -> None:
    env = cli_environment(data_path, empty_database)
    create = ("users", "create", "--role", "officer", "--email")
    first = await run_cli(*create, "officer@example.org", env=env, stdin=PASSWORD + "\n")
    assert first.returncode == 0, first.stderr

    again = await run_cli(*create, "Officer@Example.org", env=env, stdin="another password 123\n")
    assert again.returncode != 0
    assert "already exists" in again.stderr
    assert "Traceback" not in again.stderr
    assert len(await account_rows(empty_database)) == 1


async def test_users_reset_prints_a_one_time_code_that_sets_a_new_password(
    empty_database: str, data_path: Path
) -> None:
    """The way back in when the only admin is locked out (password and second factor)."""
    env = cli_environment(data_path, empty_database)
    created = await run_cli(
        "users", "create", "--email", "root@example.org", "--role", "admin",
        env=env, stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    conn = await connect(empty_database)
    try:
        await conn.execute("update accounts set totp_secret = 'JBSWY3DPEHPK3PXP'")
        result = await run_cli(
            "users", "reset", "--email", "ROOT@example.org", "--remove-totp", env=env
        )
        assert result.returncode == 0, result.stderr
        match = re.search(
            r"code for ROOT@example.org: ([A-Z2-7]{4}(?:-[A-Z2-7]{4}){5})\n", result.stdout
        )
        assert match is not None, result.stdout
        assert "valid until" in result.stdout

        new_password = "a brand new admin password"
        async with conn.transaction():
            await password_resets.redeem_reset(
                conn, email="root@example.org", code=match[1], new_password=new_password
            )
        token, role, _ = await accounts.open_session(
            conn, email="root@example.org", password=new_password, lifetime=timedelta(hours=1)
        )
        assert token
        assert role is Role.admin
        actions = [
            row["action"] for row in await conn.fetch("select action from audit_log order by id")
        ]
        assert actions[-2:] == ["account.reset_issued", "account.totp_removed"]
        assert match[1] not in str(await conn.fetch("select * from audit_log"))
    finally:
        await conn.close()


async def test_users_reset_of_an_unknown_account_fails_in_one_line(
    empty_database: str, data_path: Path
) -> None:
    env = cli_environment(data_path, empty_database)
    result = await run_cli("users", "reset", "--email", "nobody@example.org", env=env)
    assert result.returncode == 1
    # The structured log lines (migrations applied) come first; then one plain line.
    assert result.stderr.strip().splitlines()[-1] == (
        "plainsight: no account has the e-mail address nobody@example.org"
    )
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("role", ["observer", "superuser", "Admin"])
async def test_users_create_rejects_unknown_role(
    empty_database: str, data_path: Path, role: str
) -> None:
    env = cli_environment(data_path, empty_database)
    result = await run_cli(
        "users", "create", "--email", "x@example.org", "--role", role,
        env=env, stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert result.returncode == 2
    assert "invalid choice" in result.stderr
    assert await account_rows(empty_database) == []


@pytest.mark.parametrize("password", ["", "short", "eleven char"])
async def test_users_create_rejects_short_password(
    empty_database: str, data_path: Path, password: str
) -> None:
    env = cli_environment(data_path, empty_database)
    result = await run_cli(
        "users", "create", "--email", "x@example.org", "--role", "admin",
        env=env, stdin=password + "\n",
    )  # fmt: skip
    assert result.returncode == 2
    assert "password" in result.stderr
    assert "12" in result.stderr
    assert "Traceback" not in result.stderr
    assert await account_rows(empty_database) == []


# --- serve ----------------------------------------------------------------------------------


@pytest.mark.slow
async def test_serve_with_database_url_starts_and_stops_on_sigterm(
    empty_database: str, data_path: Path, tmp_path: Path
) -> None:
    env = cli_environment(data_path, empty_database)
    async with serving(env, tmp_path / "serve.log") as server:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=5.0) as client:
            health = await client.get("/healthz")
            assert health.status_code == 200
            assert health.json() == {"status": "ok"}
            schema = await client.get("/schema/openapi.json")
            assert schema.status_code == 200, schema.text
            assert schema.json()["openapi"].startswith("3.1")
        assert await stop(server) == 0, server.output()
    assert "database ready" in server.output()


@pytest.mark.slow
async def test_serve_logs_no_client_address(
    empty_database: str, data_path: Path, tmp_path: Path
) -> None:
    # The client connects from its own loopback address, so any trace of it in the log is a
    # client address that leaked (the server's bind address 127.0.0.1 may appear at start-up).
    client_address = "127.0.0.77"
    env = cli_environment(data_path, empty_database) | {"PLAINSIGHT_LOG_LEVEL": "DEBUG"}
    transport = httpx.AsyncHTTPTransport(local_address=client_address)
    async with (
        serving(env, tmp_path / "serve.log") as server,
        httpx.AsyncClient(base_url=server.base_url, transport=transport, timeout=10.0) as client,
    ):
        device = await client.post("/v1/devices")
        assert device.status_code == 201, device.text
        token = {"Authorization": f"Bearer {device.json()['token']}"}
        answers = [
            await client.post("/v1/reports", json=observer_report(), headers=token),
            await client.post("/v1/reports", content=b"{broken", headers=token),
            await client.get("/v1/reports", headers={"Authorization": "Bearer psd_wrong"}),
            await client.get("/no/such/route?token=secret-in-query"),
            await client.delete("/healthz"),
        ]
        assert [a.status_code for a in answers] == [201, 400, 401, 404, 405]
        assert await stop(server) == 0, server.output()
    log = server.log.read_text(errors="replace")
    assert "database ready" in log  # the log was captured at all
    assert client_address not in log
    assert "secret-in-query" not in log


@pytest.mark.slow
async def test_serve_embedded_stops_its_postgres_and_keeps_data(
    data_path: Path, tmp_path: Path
) -> None:
    env = cli_environment(data_path, None)
    pgdata = data_path / "postgres"
    try:
        # Only serve and migrate create the database; then an account can be made with the
        # embedded server not running: the command starts it, then stops it.
        migrated = await run_cli("migrate", env=env)
        assert migrated.returncode == 0, migrated.stderr
        assert (pgdata / "PG_VERSION").is_file()
        created = await run_cli(
            "users", "create", "--email", "first@example.org", "--role", "admin",
            env=env, stdin=PASSWORD + "\n",
        )  # fmt: skip
        assert created.returncode == 0, created.stderr
        assert "embedded postgresql stopped" in created.stderr
        assert postgres_processes(pgdata) == []

        async with serving(env, tmp_path / "serve-1.log") as server:
            assert postgres_processes(pgdata), "serve did not start the embedded postgres"
            assert (await log_in(server, "first@example.org", PASSWORD)).status_code == 201
            # While serve runs, the CLI attaches to the same server and leaves it running.
            created = await run_cli(
                "users", "create", "--email", "second@example.org", "--role", "moderator",
                env=env, stdin=PASSWORD + "\n",
            )  # fmt: skip
            assert created.returncode == 0, created.stderr
            assert "embedded postgresql left running: other processes use it" in created.stderr
            assert "embedded postgresql stopped" not in created.stderr
            session = await log_in(server, "second@example.org", PASSWORD)
            assert session.status_code == 201, session.text
            assert session.json()["role"] == "moderator"
            assert await stop(server) == 0, server.output()
        assert postgres_processes(pgdata) == []

        # Second start: same data directory, same accounts.
        async with serving(env, tmp_path / "serve-2.log") as server:
            for email in ("first@example.org", "second@example.org"):
                session = await log_in(server, email, PASSWORD)
                assert session.status_code == 201, session.text
            assert await stop(server) == 0, server.output()
        assert postgres_processes(pgdata) == []
    finally:
        terminate_postgres(pgdata)


@pytest.mark.parametrize("command", [["releases", "make"], ["fold"]])
async def test_a_database_that_does_not_answer_is_one_plain_line_and_exit_1(
    data_path: Path, command: list[str]
) -> None:
    # Port 1 on the loopback: nothing listens, the connection is refused at once.
    env = cli_environment(data_path, "postgresql://postgres@127.0.0.1:1/plainsight")
    result = await run_cli(*command, env=env)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("plainsight:")]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("plainsight: the command failed: ")
