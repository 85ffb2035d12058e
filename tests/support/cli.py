"""Running the ``plainsight`` command in tests as operators run it: real subprocesses, with the
caller's environment minus every Plainsight setting."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from schemas.settings import ENVIRONMENT_NAMES

ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0
COMMAND_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class Completed:
    returncode: int
    stdout: str
    stderr: str


@dataclass(frozen=True)
class Server:
    process: asyncio.subprocess.Process
    base_url: str
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


def cli_environment(data_path: Path, database_url: str | None) -> dict[str, str]:
    """The caller's environment minus every Plainsight setting, plus the ones given here."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in ENVIRONMENT_NAMES and name != "TEST_DATABASE_URL"
    }
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    env["PLAINSIGHT_DATA_DIR"] = str(data_path)
    if database_url is not None:
        env["DATABASE_URL"] = database_url
    return env


async def run_cli(
    *args: str, env: dict[str, str], stdin: str = "", cwd: Path | None = None
) -> Completed:
    """Run ``plainsight ARGS`` in ``cwd`` (default: the data directory)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "api.cli",
        *args,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=cwd or env["PLAINSIGHT_DATA_DIR"],
    )
    try:
        async with asyncio.timeout(COMMAND_TIMEOUT_S):
            out, err = await process.communicate(stdin.encode())
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return Completed(process.returncode, out.decode(), err.decode())


def free_port(host: str = "127.0.0.1") -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


@asynccontextmanager
async def serving(
    env: dict[str, str],
    log: Path,
    *,
    own_session: bool = False,
    host: str = "127.0.0.1",
    stderr_log: Path | None = None,
    workers: int = 1,
) -> AsyncIterator[Server]:
    """``plainsight serve`` on a free port of ``host``, yielded once /readyz answers 200; killed
    if the test did not stop it. ``own_session``: in a process group of its own (photo workers
    included), killed as a whole. The log is appended to, so a restart keeps the first run's;
    ``stderr_log``: stderr goes there instead of into ``log`` with stdout; ``workers``: serve's
    ``--workers``."""
    port = free_port(host)
    with log.open("ab") as log_file, (stderr_log or log).open("ab") as error_file:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "api.cli",
            "serve",
            "--host",
            host,
            "--port",
            str(port),
            *(("--workers", str(workers)) if workers != 1 else ()),
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT if stderr_log is None else error_file,
            env=env,
            cwd=env["PLAINSIGHT_DATA_DIR"],
            start_new_session=own_session,
        )
    authority = f"[{host}]" if ":" in host else host
    server = Server(process, f"http://{authority}:{port}", log)
    try:
        await wait_until_ready(server)
        yield server
    finally:
        if process.returncode is None:
            if own_session:
                os.killpg(process.pid, signal.SIGKILL)
            else:
                process.kill()
            await process.wait()


async def wait_until_ready(server: Server) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + READY_TIMEOUT_S
    last = "no answer"
    async with httpx.AsyncClient(base_url=server.base_url, timeout=2.0) as client:
        while loop.time() < deadline:
            if server.process.returncode is not None:
                pytest.fail(
                    f"serve exited with {server.process.returncode} before it was ready:\n"
                    + server.output()
                )
            try:
                response = await client.get("/readyz")
            except httpx.TransportError as exc:
                last = repr(exc)
            else:
                if response.status_code == 200:
                    assert response.json() == {"status": "ready"}
                    return
                last = f"{response.status_code} {response.text}"
            await asyncio.sleep(0.2)
    pytest.fail(f"/readyz not 200 within {READY_TIMEOUT_S} s (last: {last}):\n{server.output()}")


async def stop(server: Server) -> int:
    """SIGTERM, then the exit status (which must come within STOP_TIMEOUT_S)."""
    server.process.send_signal(signal.SIGTERM)
    try:
        async with asyncio.timeout(STOP_TIMEOUT_S):
            return await server.process.wait()
    except TimeoutError:
        pytest.fail(f"serve still running {STOP_TIMEOUT_S} s after SIGTERM:\n{server.output()}")
