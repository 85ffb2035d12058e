"""Ingest benchmark: the service as deployed versus a bare Litestar+msgspec+asyncpg endpoint.

    python -m tests.benchmarks.ingest [--rounds 3] [--profile-dir DIR] [--duration 15]
                                      [--warmup 5] [--servers uvicorn,granian] [--workers 1,2]
                                      [--apps service,bare] [--json FILE]

One PostgreSQL (embedded in a temporary directory, or the server in $DATABASE_URL) serves every
run; each run gets its own fresh database, dropped afterwards. For every ASGI server and worker
count it starts the service exactly as deployed (``plainsight serve`` for uvicorn; the granian CLI
on ``api.server:app_from_environment``), registers an observer device, warms up, and loads
``POST /v1/reports`` with wrk (``post_report.lua``: a unique client_id per request, reports
spread over a city and a month, so they group into incidents as real ones do); then the
same for ``bare_app.py``, with the same server and worker settings. It prints req/s, p50 and
p99 per run and, per server, the ratio service/bare and the p99 of each. Beside every measured
run of the service it samples the folder's lag behind ingest (``lag.py``: the oldest unfolded
report's wait, every 100 ms) and prints its median, p95 and max and how long the folder took to
drain after the load. With
``--profile-dir``, after the last round each app gets one more loaded run
(not counted in the figures: py-spy takes CPU of its own) recorded by py-spy, and the top 15
frames by own time are printed. A run with any non-2xx response or socket error is marked
invalid. All load goes to 127.0.0.1 only.

Nothing is installed here: wrk comes from Debian's ``wrk`` package, granian from the ``bench``
extra, py-spy (only for ``--profile-dir``) from pip.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import importlib.util
import json
import os
import re
import resource
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import FrameType
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from storage.db.embedded import EmbeddedPostgres
from tests.benchmarks.ingest.lag import TARGET_LAG_S, LagFigures, LagSampler
from tests.benchmarks.ingest.profiles import format_top
from tests.support.helpers import observer_report

HOST = "127.0.0.1"  # the only address this benchmark ever sends load to
REPO_ROOT = Path(__file__).resolve().parents[3]
LUA_SCRIPT = Path(__file__).resolve().parents[1] / "post_report.lua"
SERVERS = ("uvicorn", "granian")
APPS = ("service", "bare")
TARGET_RATIO = 0.7
PROFILE_RATE_HZ = 250
PROFILE_TOP = 15
TARGET_P99_MS = 60.0
STARTUP_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 15.0
# The wrk script's body (tests/support/helpers.py's observer_report at the fixed past time of the
# Lua script), without its client_id: every request adds its own.
EXAMPLE_REPORT: dict[str, object] = {
    key: value
    for key, value in observer_report(occurred_at="2025-11-12T14:30:00-05:00").items()
    if key != "client_id"
}
TABLES = {"service": "reports", "bare": "bench_reports"}
MODULES = {
    "service": "api.cli",
    "bare": "tests.benchmarks.bare_app",
}
FACTORIES = {
    "service": "api.server:app_from_environment",
    "bare": "tests.benchmarks.bare_app:create_bare_app",
}
RESULT_LINE = re.compile(r"^BENCH_RESULT (.*)$", re.MULTILINE)
STATUS_LINE = re.compile(r"^BENCH_STATUS (.*)$", re.MULTILINE)
SAMPLE_LINE = re.compile(r"^BENCH_ERROR_SAMPLE (.*)$", re.MULTILINE)


class BenchmarkError(RuntimeError):
    """The benchmark cannot go on (a process did not start, a sanity request failed...)."""


@dataclass
class WrkResult:
    requests: int
    duration_s: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    non2xx: int
    socket_errors: int
    statuses: str = ""
    error_sample: str = ""

    @property
    def errors(self) -> int:
        return self.non2xx + self.socket_errors


@dataclass
class RunResult:
    server: str
    workers: int
    app: str
    result: WrkResult
    warmup_errors: int
    rows: int
    ok_responses: int
    cpu: CpuUse
    round: int = 1
    profile: str | None = None
    lag: LagFigures | None = None
    """The service's folder behind ingest during the measured run."""
    notes: list[str] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return self.result.errors == 0 and self.warmup_errors == 0 and not self.notes


# --- processes ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def server_command(server: str, app: str, port: int, workers: int) -> list[str]:
    python = sys.executable
    common = ["--host", HOST, "--port", str(port), "--workers", str(workers)]
    if server == "uvicorn":
        # All run uvicorn.run(...) with the arguments of ``plainsight serve`` (api/cli.py).
        return [python, "-m", MODULES[app], "serve", *common]
    target = FACTORIES[app]
    return [
        python,
        "-m",
        "granian",
        "--interface",
        "asgi",
        "--factory",
        *common,
        "--no-access-log",
        "--log-level",
        "warning",
        target,
    ]


def server_environment(dsn: str, data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "PLAINSIGHT_DATA_DIR")}
    env.update(
        DATABASE_URL=dsn,
        PLAINSIGHT_DATA_DIR=str(data_dir),
        PLAINSIGHT_RATE_LIMITS="off",
        PYTHONPATH=os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH")) if p),
    )
    return env


@contextmanager
def running(command: Sequence[str], env: dict[str, str], log_path: Path) -> Iterator[int]:
    """Run ``command`` in its own process group; on the way out (also on Ctrl-C or an error)
    stop the whole group: SIGTERM, then SIGKILL after STOP_TIMEOUT_S."""
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield process.pid
        finally:
            stop_group(process)


def stop_group(process: subprocess.Popen[bytes]) -> None:
    # The group id is the pid of the process started above (start_new_session=True).
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        process.wait()
        return
    with suppress(subprocess.TimeoutExpired):
        process.wait(timeout=STOP_TIMEOUT_S)
    # Workers may outlive a supervisor; make sure nothing of the group is left.
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def http_request(
    port: int, method: str, path: str, body: bytes | None = None, token: str | None = None
) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection(HOST, port, timeout=10)
    try:
        headers = {"Content-Type": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def wait_until_ready(port: int, path: str, pid: int, log_path: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            raise BenchmarkError(f"the server exited during start-up:\n{tail(log_path)}") from None
        try:
            status, _ = http_request(port, "GET", path)
            if status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise BenchmarkError(f"the server did not answer {path} in time:\n{tail(log_path)}")


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# --- load ------------------------------------------------------------------------------------


def wrk_output(
    script: Path,
    url: str,
    script_args: Sequence[str],
    *,
    duration_s: int,
    threads: int,
    connections: int,
) -> str:
    """Runs wrk with a Lua script and returns what it printed (stdout and stderr together)."""
    command = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{duration_s}s",
        "-s",
        str(script),
        url,
        "--",
        *script_args,
    ]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        output, _ = process.communicate(timeout=duration_s + 60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    return output.decode(errors="replace")


def bench_fields(line: str) -> dict[str, str]:
    """The key=value pairs of one BENCH_* line."""
    return dict(item.split("=", 1) for item in line.split())


def run_wrk(port: int, token: str, *, duration_s: int, threads: int, connections: int) -> WrkResult:
    output = wrk_output(
        LUA_SCRIPT,
        f"http://{HOST}:{port}/v1/reports",
        [token],
        duration_s=duration_s,
        threads=threads,
        connections=connections,
    )
    return parse_wrk(output)


def parse_wrk(output: str) -> WrkResult:
    match = RESULT_LINE.search(output)
    if match is None:
        raise BenchmarkError(f"wrk printed no BENCH_RESULT line:\n{output}")
    values = bench_fields(match.group(1))
    statuses = STATUS_LINE.search(output)
    sample = SAMPLE_LINE.search(output)
    return WrkResult(
        requests=int(values["requests"]),
        duration_s=float(values["duration_s"]),
        rps=float(values["rps"]),
        p50_ms=float(values["p50_ms"]),
        p90_ms=float(values["p90_ms"]),
        p99_ms=float(values["p99_ms"]),
        max_ms=float(values["max_ms"]),
        non2xx=int(values["non2xx"]),
        socket_errors=sum(
            int(values[k]) for k in ("connect_errors", "read_errors", "write_errors", "timeouts")
        ),
        statuses=statuses.group(1) if statuses else "",
        error_sample=sample.group(1) if sample else "",
    )


@contextmanager
def profiling(
    pid: int, profile_dir: Path | None, name: str, duration_s: int
) -> Iterator[str | None]:
    """py-spy over the server and its worker processes for the measured run (collapsed stacks)."""
    if profile_dir is None:
        yield None
        return
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(py_spy).exists():
        raise BenchmarkError("--profile-dir needs py-spy: pip install py-spy")
    profile_dir.mkdir(parents=True, exist_ok=True)
    output = profile_dir / f"{name}.txt"
    command = [
        py_spy, "record", "--pid", str(pid), "--subprocesses", "--nonblocking",
        "--rate", str(PROFILE_RATE_HZ), "--format", "raw", "--duration", str(duration_s),
        "--output", str(output),
    ]  # fmt: skip
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        yield str(output)
    finally:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


# --- databases -------------------------------------------------------------------------------


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


async def create_database(server_url: str) -> tuple[str, str]:
    name = f"plainsight_bench_{secrets.token_hex(6)}"
    admin = await asyncpg.connect(with_database(server_url, "postgres"))
    try:
        await admin.execute(f'create database "{name}"')
    finally:
        await admin.close()
    return name, with_database(server_url, name)


async def drop_database(server_url: str, name: str) -> None:
    admin = await asyncpg.connect(with_database(server_url, "postgres"))
    try:
        await admin.execute(f'drop database if exists "{name}" with (force)')
    finally:
        await admin.close()


async def count_rows(dsn: str, table: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        count: int = await conn.fetchval(f"select count(*) from {table}")  # noqa: S608
        return count
    finally:
        await conn.close()


@contextmanager
def postgres_server(tmp: Path) -> Iterator[str]:
    external = os.environ.get("DATABASE_URL")
    if external:
        yield external
        return
    embedded = EmbeddedPostgres(tmp / "postgres", delete_on_stop=True)
    try:
        yield embedded.start()
    finally:
        embedded.stop()


# --- CPU accounting (the machine may be shared: say how much CPU went elsewhere) ----------


@dataclass
class CpuUse:
    """CPU used during the measured run, in cores (1.0 = one core busy the whole time)."""

    app: float
    postgres: float | None
    wrk: float
    other: float | None


def _proc_stats() -> dict[int, tuple[int, int, int]]:
    """pid -> (ppid, process group, utime + stime in clock ticks) for every visible process."""
    stats: dict[int, tuple[int, int, int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            text = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2 :].split()
        stats[int(entry)] = (int(fields[1]), int(fields[2]), int(fields[11]) + int(fields[12]))
    return stats


def _machine_busy_ticks() -> int:
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return user + nice + system + irq + softirq + steal


def _postmaster_pid(pgdata: Path | None) -> int | None:
    if pgdata is None:
        return None
    try:
        return int((pgdata / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


class CpuMeter:
    """Measures the server's process group, PostgreSQL (when embedded), wrk (a waited child)
    and everything else on the machine between ``start`` and ``stop``."""

    def __init__(self, server_pgid: int, pgdata: Path | None) -> None:
        self.server_pgid = server_pgid
        self.postmaster = _postmaster_pid(pgdata)

    def _sample(self) -> tuple[float, dict[int, tuple[int, int, int]], int, float]:
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        return (
            time.monotonic(),
            _proc_stats(),
            _machine_busy_ticks(),
            children.ru_utime + children.ru_stime,
        )

    def start(self) -> None:
        self._before = self._sample()

    def stop(self) -> CpuUse:
        t0, procs0, busy0, children0 = self._before
        t1, procs1, busy1, children1 = self._sample()
        hz = os.sysconf("SC_CLK_TCK")
        elapsed = t1 - t0

        def used(pids: set[int]) -> float:
            ticks = sum(procs1[p][2] - procs0.get(p, (0, 0, 0))[2] for p in pids if p in procs1)
            return ticks / hz / elapsed

        app = used({p for p, (_, pgid, _) in procs1.items() if pgid == self.server_pgid})
        postgres = None
        if self.postmaster is not None:
            pg = {p for p, (ppid, _, _) in procs1.items() if self.postmaster in (p, ppid)}
            postgres = used(pg)
        wrk = (children1 - children0) / elapsed
        other = None
        if postgres is not None:
            other = max(0.0, (busy1 - busy0) / hz / elapsed - app - postgres - wrk)
        return CpuUse(app=app, postgres=postgres, wrk=wrk, other=other)


# --- one run -----------------------------------------------------------------------------------


def register_device(port: int) -> str:
    status, body = http_request(port, "POST", "/v1/devices")
    if status != 201:
        raise BenchmarkError(f"POST /v1/devices answered {status}: {body[:300]!r}")
    token: str = json.loads(body)["token"]
    return token


def check_one_report(port: int, token: str) -> None:
    report = {"client_id": str(uuid.uuid4()), **EXAMPLE_REPORT}
    status, body = http_request(port, "POST", "/v1/reports", json.dumps(report).encode(), token)
    if status != 201:
        raise BenchmarkError(f"a single POST /v1/reports answered {status}: {body[:500]!r}")


def run_one(
    server: str,
    workers: int,
    app: str,
    *,
    server_url: str,
    pgdata: Path | None,
    tmp: Path,
    args: argparse.Namespace,
    round_number: int = 1,
) -> RunResult:
    name, dsn = asyncio.run(create_database(server_url))
    port = free_port()
    label = f"{server}-w{workers}-{app}"
    log_path = tmp / f"{label}.log"
    try:
        command = server_command(server, app, port, workers)
        with running(command, server_environment(dsn, tmp / "data"), log_path) as pid:
            wait_until_ready(port, "/healthz" if app == "bare" else "/readyz", pid, log_path)
            # The bare endpoint ignores the header; it gets a token of the same shape.
            token = f"psd_{secrets.token_urlsafe(32)}" if app == "bare" else register_device(port)
            check_one_report(port, token)
            load = {"threads": args.threads, "connections": args.connections}
            warmup = run_wrk(port, token, duration_s=args.warmup, **load)
            sampler = LagSampler(dsn) if app == "service" else None
            if sampler is not None:
                sampler.start()
            meter = CpuMeter(pid, pgdata)
            meter.start()
            result = run_wrk(port, token, duration_s=args.duration, **load)
            cpu = meter.stop()
            lag = sampler.stop() if sampler is not None else None
            profile = None
            profiled_ok = profiled_errors = 0
            if args.profile_dir is not None and round_number == args.rounds:
                # A loaded run of its own: py-spy's sampling would take CPU from a measured one.
                with profiling(pid, args.profile_dir, label, args.duration) as profile:
                    profiled = run_wrk(port, token, duration_s=args.duration, **load)
                profiled_ok = profiled.requests - profiled.non2xx
                profiled_errors = profiled.errors
        rows = asyncio.run(count_rows(dsn, TABLES[app]))
    finally:
        asyncio.run(drop_database(server_url, name))
    ok = 1 + (warmup.requests - warmup.non2xx) + (result.requests - result.non2xx) + profiled_ok
    run = RunResult(
        server=server,
        workers=workers,
        app=app,
        result=result,
        warmup_errors=warmup.errors + profiled_errors,
        rows=rows,
        ok_responses=ok,
        cpu=cpu,
        round=round_number,
        profile=profile,
        lag=lag,
    )
    if rows < ok:
        run.notes.append(f"only {rows} rows for {ok} successful responses")
    return run


# --- report ------------------------------------------------------------------------------------


def _fmt_cores(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def print_table(runs: list[RunResult]) -> None:
    header = (
        f"{'server':<8} {'workers':>7} {'app':<8} {'round':>5} {'req/s':>9} {'p50 ms':>8} "
        f"{'p99 ms':>8} {'max ms':>8} {'errors':>6} {'rows':>7} {'cpu app':>7} {'cpu pg':>6} "
        f"{'cpu wrk':>7} {'other':>6} {'app ms/req':>10}  valid"
    )
    print(header)
    print("-" * len(header))
    for run in runs:
        r, cpu = run.result, run.cpu
        per_request = cpu.app / r.rps * 1000 if r.rps else 0.0
        print(
            f"{run.server:<8} {run.workers:>7} {run.app:<8} {run.round:>5} {r.rps:>9.1f} "
            f"{r.p50_ms:>8.2f} {r.p99_ms:>8.2f} {r.max_ms:>8.2f} {r.errors:>6} {run.rows:>7} "
            f"{cpu.app:>7.2f} {_fmt_cores(cpu.postgres):>6} {cpu.wrk:>7.2f} "
            f"{_fmt_cores(cpu.other):>6} {per_request:>10.3f}  {'yes' if run.valid else 'NO'}"
        )
    print("(cpu columns in cores busy during the measured run; 'other' is CPU used by processes")
    print(" this benchmark did not start - above ~0.1 the figures are disturbed by other load)")
    for run in runs:
        if not run.valid:
            r = run.result
            print(
                f"  {run.server} w{run.workers} {run.app} round {run.round}: INVALID - non-2xx "
                f"{r.non2xx} ({r.statuses or '-'}), socket errors {r.socket_errors}, warm-up "
                f"errors {run.warmup_errors}; {'; '.join(run.notes)} {r.error_sample[:200]}"
            )
    for run in runs:
        if run.lag is not None:
            label = f"{run.server} w{run.workers} {run.app} round {run.round}"
            print(f"  {label}: {run.lag.describe()}")
    print()
    groups: dict[tuple[str, int, str], list[RunResult]] = {}
    for run in runs:
        groups.setdefault((run.server, run.workers, run.app), []).append(run)

    def median(values: list[float]) -> float:
        return statistics.median(values) if values else 0.0

    best: dict[int, tuple[float, str]] = {}
    for server, workers in sorted({(run.server, run.workers) for run in runs}):
        print(
            f"{server} w{workers}"
            + (f" [medians of {args_rounds(runs)} rounds]:" if args_rounds(runs) > 1 else ":")
        )
        bare = groups.get((server, workers, "bare"), [])
        bare_rps = median([run.result.rps for run in bare])
        for app in APPS:
            these = groups.get((server, workers, app), [])
            if not these:
                continue
            rps = median([run.result.rps for run in these])
            p50 = median([run.result.p50_ms for run in these])
            p99 = median([run.result.p99_ms for run in these])
            parts = [f"  {app:<8} {rps:8.1f} req/s  p50 {p50:6.1f} ms  p99 {p99:6.1f} ms"]
            if app != "bare" and bare_rps:
                ratio = rps / bare_rps
                verdict = "meets" if ratio >= TARGET_RATIO else "misses"
                parts.append(f"  ratio {app}/bare {ratio:.2f} ({verdict} >= {TARGET_RATIO})")
            verdict = "meets" if p99 <= TARGET_P99_MS else "misses"
            parts.append(f"  p99 {verdict} <= {TARGET_P99_MS:.0f} ms")
            print("".join(parts))
            lags = [run.lag for run in these if run.lag is not None]
            if lags:
                worst = max(lag.max_s for lag in lags)
                verdict = "meets" if worst < TARGET_LAG_S else "misses"
                print(
                    f"  {app:<8} fold lag at this rate: median "
                    f"{median([lag.median_s for lag in lags]):.2f} s, p95 "
                    f"{median([lag.p95_s for lag in lags]):.2f} s, max {worst:.2f} s "
                    f"({verdict} < {TARGET_LAG_S:.0f} s)"
                )
            valid = all(run.valid for run in these)
            if app == "service" and valid and rps > best.get(workers, (0.0, ""))[0]:
                best[workers] = (rps, server)
        if bare and median([run.result.p99_ms for run in bare]) > TARGET_P99_MS:
            print(
                "  (the bare endpoint's own p99 is above the target: a floor of this machine at"
                " this load, not of the service)"
            )
    if len({run.server for run in runs}) > 1:
        for workers, (rps, server) in sorted(best.items()):
            print(
                f"fastest server for the service at {workers} worker(s): {server} ({rps:.0f} req/s)"
            )
    for run in runs:
        if run.profile is not None:
            print()
            print(f"{run.server} w{run.workers} {run.app} (profiled run, not counted above)")
            print(format_top(Path(run.profile), PROFILE_TOP))


def args_rounds(runs: list[RunResult]) -> int:
    return max((run.round for run in runs), default=1)


def machine_description() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs ({len(os.sched_getaffinity(0))} usable), {model}"


# --- entry point -------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.benchmarks.ingest",
        description="Load POST /v1/reports of the service and of a bare endpoint with wrk.",
    )
    parser.add_argument("--duration", type=int, default=15, help="measured seconds (>= 15)")
    parser.add_argument("--warmup", type=int, default=5, help="warm-up seconds (default 5)")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument(
        "--servers", default="uvicorn", help="comma list of uvicorn, granian (default uvicorn)"
    )
    parser.add_argument("--workers", default="1", help="comma list of worker counts (default 1)")
    parser.add_argument(
        "--apps", default=",".join(APPS), help="comma list of service, bare (default both)"
    )
    parser.add_argument(
        "--profile-dir",
        type=Path,
        default=None,
        help="after the last round, one more run per app recorded by py-spy into this directory;"
        " prints the top frames by own time",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="repeat everything N times, interleaved; ratios use the medians (default 1)",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)
    args.server_list = [s for s in args.servers.split(",") if s]
    args.app_list = [a for a in args.apps.split(",") if a]
    args.worker_list = [int(w) for w in args.workers.split(",") if w]
    for server in args.server_list:
        if server not in SERVERS:
            parser.error(f"unknown server {server!r}")
    for app in args.app_list:
        if app not in APPS:
            parser.error(f"unknown app {app!r}")
    if (
        args.duration < 1
        or args.warmup < 1
        or args.rounds < 1
        or any(w < 1 for w in args.worker_list)
    ):
        parser.error("durations and worker counts must be positive")
    return args


def check_tools(servers: Sequence[str]) -> str | None:
    if shutil.which("wrk") is None:
        return (
            "wrk is not installed; it comes from Debian's package: "
            "sudo apt-get update && sudo apt-get install -y wrk"
        )
    if "granian" in servers and importlib.util.find_spec("granian") is None:
        return "granian is not installed: pip install -e '.[bench]' (or --servers uvicorn)"
    return None


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


T = TypeVar("T")


def start_benchmark(name: str, servers: Sequence[str]) -> bool:
    """Checks the tools, stops on SIGTERM and prints the machine; False if a tool is missing."""
    problem = check_tools(servers)
    if problem is not None:
        print(f"{name}: {problem}", file=sys.stderr)
        return False
    signal.signal(signal.SIGTERM, _raise_interrupt)
    print(f"machine: {machine_description()}")
    return True


def in_workspace(name: str, body: Callable[[Path, str, Path | None], T]) -> T | int:
    """Runs body(tmp, server_url, pgdata) with a scratch folder and a PostgreSQL server.

    Returns what body returns, or the exit code when interrupted (130) or failed (1).
    """
    try:
        with tempfile.TemporaryDirectory(prefix="plainsight-bench-") as tmp_name:
            tmp = Path(tmp_name)
            with postgres_server(tmp) as server_url:
                pgdata = None if os.environ.get("DATABASE_URL") else tmp / "postgres"
                return body(tmp, server_url, pgdata)
    except KeyboardInterrupt:
        print("interrupted; every process started here was stopped", file=sys.stderr)
        return 130
    except BenchmarkError as exc:
        print(f"{name} failed: {exc}", file=sys.stderr)
        return 1


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if not start_benchmark("ingest benchmark", args.server_list):
        return 2
    print(
        f"load: wrk -t{args.threads} -c{args.connections}, {args.warmup} s warm-up + "
        f"{args.duration} s measured, POST /v1/reports on {HOST}"
    )

    def run_all(tmp: Path, server_url: str, pgdata: Path | None) -> list[RunResult]:
        runs: list[RunResult] = []
        for round_number in range(1, args.rounds + 1):
            for server in args.server_list:
                for workers in args.worker_list:
                    for app in args.app_list:
                        print(
                            f"... round {round_number}: {server}, {workers} worker(s), {app}",
                            flush=True,
                        )
                        run = run_one(
                            server,
                            workers,
                            app,
                            server_url=server_url,
                            pgdata=pgdata,
                            tmp=tmp,
                            args=args,
                            round_number=round_number,
                        )
                        r = run.result
                        print(
                            f"    {r.rps:.1f} req/s, p50 {r.p50_ms:.2f} ms, "
                            f"p99 {r.p99_ms:.2f} ms, errors {r.errors}, "
                            f"other load {_fmt_cores(run.cpu.other)} cores",
                            flush=True,
                        )
                        runs.append(run)
        return runs

    runs = in_workspace("ingest benchmark", run_all)
    if isinstance(runs, int):
        return runs
    print()
    print_table(runs)
    if args.json is not None:
        payload = [{**asdict(run), "errors": run.result.errors, "valid": run.valid} for run in runs]
        args.json.write_text(json.dumps({"machine": machine_description(), "runs": payload}))
    return 0 if all(run.valid for run in runs) else 1


if __name__ == "__main__":
    raise SystemExit(main())
