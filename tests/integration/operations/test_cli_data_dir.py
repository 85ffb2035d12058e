"""Commands that need an existing database refuse to create one.

With no DATABASE_URL, the embedded PostgreSQL lives in ``$PLAINSIGHT_DATA_DIR/postgres``, and
the default data directory ``./var`` is relative: run from another directory, ``audit verify``
used to start a new, empty database there and report "audit log OK: 0 entries". Only ``serve``
and ``migrate`` may create the database; every other command names the directory it looked in
and exits 2, creating nothing.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.cli import cli_environment, run_cli

PASSWORD = "correct horse battery staple"

COMMANDS: dict[str, tuple[str, ...]] = {
    "audit verify": ("audit", "verify"),
    "gc": ("gc",),
    "import": ("import", "{reports}", "--account", "admin@example.org"),
    "users create": ("users", "create", "--email", "admin@example.org", "--role", "admin"),
    "retention run": ("retention", "run"),
    "retention run --dry-run": ("retention", "run", "--dry-run"),
}


def files_under(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


@pytest.fixture
def reports_file(tmp_path: Path) -> Path:
    path = tmp_path / "reports.ndjson"
    path.write_text('{"kind": "observer_report"}\n')
    return path


def command(name: str, reports_file: Path) -> tuple[str, ...]:
    return tuple(arg.replace("{reports}", str(reports_file)) for arg in COMMANDS[name])


def assert_refused(stderr: str, looked_in: Path) -> None:
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr  # one plain line, no traceback, no log
    assert lines[0].startswith("plainsight: no database"), stderr
    assert str(looked_in / "postgres") in lines[0]
    assert "PLAINSIGHT_DATA_DIR" in lines[0]
    assert "plainsight migrate" in lines[0]


@pytest.mark.parametrize("name", list(COMMANDS))
async def test_command_from_another_directory_refuses_the_default_data_dir(
    tmp_path: Path, reports_file: Path, name: str
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = cli_environment(elsewhere, None)
    del env["PLAINSIGHT_DATA_DIR"]  # the default, ./var, relative to where the command runs
    result = await run_cli(
        *command(name, reports_file), env=env, stdin=PASSWORD + "\n", cwd=elsewhere
    )
    assert result.returncode == 2, result.stderr
    assert_refused(result.stderr, elsewhere / "var")
    assert result.stdout == ""
    assert files_under(elsewhere) == []  # not even ./var


@pytest.mark.parametrize("name", list(COMMANDS))
async def test_command_refuses_a_data_dir_without_a_database(
    tmp_path: Path, reports_file: Path, name: str
) -> None:
    data_path = tmp_path / "data"
    data_path.mkdir()
    (data_path / "keys").mkdir()  # a data directory in use, but its database is elsewhere
    result = await run_cli(
        *command(name, reports_file), env=cli_environment(data_path, None), stdin=PASSWORD + "\n"
    )
    assert result.returncode == 2, result.stderr
    assert_refused(result.stderr, data_path)
    assert files_under(data_path) == ["keys"]


async def test_a_missing_data_dir_is_not_created(tmp_path: Path, reports_file: Path) -> None:
    missing = tmp_path / "no" / "such" / "dir"
    env = cli_environment(missing, None)
    result = await run_cli("audit", "verify", env=env, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert_refused(result.stderr, missing)
    assert not (tmp_path / "no").exists()
    assert sorted(os.listdir(tmp_path)) == ["reports.ndjson"]


async def test_database_url_needs_no_data_dir(empty_database: str, tmp_path: Path) -> None:
    # With DATABASE_URL the data directory holds no database: nothing to refuse.
    data_path = tmp_path / "data"
    data_path.mkdir()
    result = await run_cli("audit", "verify", env=cli_environment(data_path, empty_database))
    assert result.returncode == 0, result.stderr
    assert "audit log OK" in result.stdout
