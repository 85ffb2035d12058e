"""The embedded PostgreSQL across crashes: real ``plainsight`` processes, real SIGKILL.

A ``serve`` killed with SIGKILL leaves its PostgreSQL running (pg_ctl puts it in a session of
its own). The next process to start on that data directory stops that orphan and starts afresh,
and says so; a process only logs "stopped" when the server is gone; a command run beside a live
``serve`` uses its server and leaves it running, and says that instead.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]
import pytest

from tests.integration.operations.test_cli import postgres_processes, terminate_postgres
from tests.support.cli import cli_environment, run_cli, serving, stop

ORPHAN_STOPPED = "embedded postgresql: stopped an orphaned server left by a crash"


def postmaster_pid(pgdata: Path) -> int:
    return int((pgdata / "postmaster.pid").read_text().split("\n", 1)[0])


def log_entries(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def messages(text: str, message: str) -> list[dict[str, Any]]:
    return [entry for entry in log_entries(text) if entry["message"] == message]


async def crash_serve(env: dict[str, str], log: Path, pgdata: Path) -> int:
    """Start serve, SIGKILL it with its workers; return the pid of the PostgreSQL it left."""
    async with serving(env, log, own_session=True) as crashed:
        orphan = postmaster_pid(pgdata)
        os.killpg(crashed.process.pid, signal.SIGKILL)
        await crashed.process.wait()
    assert psutil.pid_exists(orphan), "the crash took PostgreSQL with it: nothing to test"
    return orphan


@pytest.fixture
def data_path(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


@pytest.mark.slow
async def test_serve_after_a_crash_stops_the_orphan_and_its_own_server(
    data_path: Path, tmp_path: Path
) -> None:
    env = cli_environment(data_path, None)
    pgdata = data_path / "postgres"
    try:
        orphan = await crash_serve(env, tmp_path / "crashed.log", pgdata)

        async with serving(env, tmp_path / "after.log") as server:
            fresh = postmaster_pid(pgdata)
            assert fresh != orphan
            assert not psutil.pid_exists(orphan)
            # A command beside a live serve attaches to its server and leaves it running.
            beside = await run_cli("audit", "verify", env=env)
            assert beside.returncode == 0, beside.stderr
            assert [e["pid"] for e in messages(beside.stderr, ORPHAN_STOPPED)] == []
            [left] = messages(
                beside.stderr, "embedded postgresql left running: other processes use it"
            )
            assert left["pid"] == fresh
            assert left["users"] == [server.process.pid]
            assert messages(beside.stderr, "embedded postgresql stopped") == []
            assert postmaster_pid(pgdata) == fresh
            assert psutil.pid_exists(fresh)
            assert await stop(server) == 0, server.output()

        log = (tmp_path / "after.log").read_text()
        [stopped_orphan] = messages(log, ORPHAN_STOPPED)
        assert stopped_orphan["pid"] == orphan
        assert stopped_orphan["level"] == "warning"
        [stopped] = messages(log, "embedded postgresql stopped")
        assert stopped["pid"] == fresh
        assert not psutil.pid_exists(fresh)
        assert not (pgdata / "postmaster.pid").exists()
        assert postgres_processes(pgdata) == []
    finally:
        terminate_postgres(pgdata)


@pytest.mark.slow
async def test_a_command_after_a_crash_stops_the_orphan(data_path: Path, tmp_path: Path) -> None:
    env = cli_environment(data_path, None)
    pgdata = data_path / "postgres"
    try:
        orphan = await crash_serve(env, tmp_path / "crashed.log", pgdata)

        verified = await run_cli("audit", "verify", env=env)
        assert verified.returncode == 0, verified.stderr
        assert "audit log OK" in verified.stdout
        [stopped_orphan] = messages(verified.stderr, ORPHAN_STOPPED)
        assert stopped_orphan["pid"] == orphan
        [stopped] = messages(verified.stderr, "embedded postgresql stopped")
        assert stopped["pid"] != orphan
        assert not psutil.pid_exists(orphan)
        assert not psutil.pid_exists(stopped["pid"])
        assert not (pgdata / "postmaster.pid").exists()
        assert postgres_processes(pgdata) == []
    finally:
        terminate_postgres(pgdata)
