"""Mixed-load benchmark: submissions, reads of own reports and statistics at once.

    python -m tests.benchmarks.mixed_load [--duration 60] [--warmup 5] [--connections 64]
                                          [--threads 2] [--workers 1] [--json FILE]

Starts the service as deployed (``python -m api.cli serve``, ``PLAINSIGHT_RATE_LIMITS=off``) on
a fresh database (embedded PostgreSQL in a temporary directory, or the server in $DATABASE_URL;
dropped afterwards), registers one observer device per connection, creates a researcher account
in the database and logs it in (``POST /v1/sessions``), seeds reports over 2025 (and a few per
device), then loads it with wrk and ``mixed_load.lua``: 70% ``POST /v1/reports``, 20% reads of
the device's own reports, 10% ``GET /v1/stats/identification``. Prints throughput, the share,
count and latency of each type, p50/p99 overall, errors (any makes the run invalid: exit 1), the
server's resident memory before and after, and CPU use as ``ingest`` does. All load goes to
127.0.0.1 only. Helpers (processes, databases, CPU accounting) are ``ingest``'s.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import random
import re
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import asyncpg

from schemas.auth import Role
from storage.accounts import store as accounts
from tests.benchmarks import ingest
from tests.benchmarks.ingest import HOST, BenchmarkError, CpuUse, WrkResult
from tests.support.helpers import PASSWORD, observer_report

LUA_SCRIPT = Path(__file__).resolve().with_name("mixed_load.lua")
TYPES = ("submit", "read_one", "read_list", "stats")
TYPE_LABELS = {
    "submit": "POST /v1/reports",
    "read_one": "GET /v1/reports/{id}",
    "read_list": "GET /v1/reports?limit=20",
    "stats": "GET /v1/stats/identification",
}
TYPE_LINE = re.compile(r"^BENCH_TYPE (.*)$", re.MULTILINE)
RESEARCHER_EMAIL = "researcher@bench.invalid"
SEED_PER_DEVICE = 3
AGENCIES = ("ICE", "CBP", "HSI", "FBI", "unknown")
TRISTATE = ("yes", "no", "unclear")


@dataclass
class TypeResult:
    name: str
    sent: int
    answered: int
    timed: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float


@dataclass
class Memory:
    """Resident memory of the server's processes (the uvicorn master and its workers)."""

    processes: int
    rss_mb: float


@dataclass
class MixedRun:
    workers: int
    result: WrkResult
    types: list[TypeResult]
    warmup_errors: int
    seeded_reports: int
    rows: int
    ok_submissions: int
    memory_before: Memory
    memory_after_warmup: Memory
    memory_after: Memory
    cpu: CpuUse
    notes: list[str] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return self.result.errors == 0 and self.warmup_errors == 0 and not self.notes


# --- memory --------------------------------------------------------------------------------


def server_memory(pgid: int) -> Memory:
    """Sum of VmRSS over every process in the server's process group."""
    total_kb, count = 0, 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.getpgid(int(entry)) != pgid:
                continue
            status = Path(f"/proc/{entry}/status").read_text()
        except (OSError, ProcessLookupError):
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total_kb += int(line.split()[1])
                count += 1
                break
    return Memory(processes=count, rss_mb=total_kb / 1024)


# --- set-up ----------------------------------------------------------------------------------


async def create_researcher(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await accounts.create_account(
            conn, email=RESEARCHER_EMAIL, role=Role.researcher, password=PASSWORD
        )
    finally:
        await conn.close()


def open_session(port: int) -> str:
    body = json.dumps({"email": RESEARCHER_EMAIL, "password": PASSWORD}).encode()
    status, answer = ingest.http_request(port, "POST", "/v1/sessions", body)
    if status != 201:
        raise BenchmarkError(f"POST /v1/sessions answered {status}: {answer[:300]!r}")
    token: str = json.loads(answer)["token"]
    return token


def seed_report(rng: random.Random, *, november: bool) -> dict[str, object]:
    """A report somewhere in the load's metropolitan area: in November 2025 like the load's
    (``november``), else any day of 2025, with varied identification answers and agencies."""
    month = 11 if november else rng.randint(1, 12)
    day = rng.randint(1, 28)
    occurred = f"2025-{month:02d}-{day:02d}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00"
    agency = rng.choice(AGENCIES)
    asked = rng.choice(TRISTATE)
    return observer_report(
        client_id=str(uuid.uuid4()),
        occurred_at=occurred + "-05:00",
        location={
            "lat": round(40.5 + rng.random() * 0.4, 5),
            "lon": round(-74.25 + rng.random() * 0.55, 5),
            "accuracy_m": 25,
        },
        agents={"agencies_claimed": [agency], "agencies_suspected": [agency]},
        identification={
            "verbal": rng.choice(TRISTATE),
            "badge_shown": rng.choice(TRISTATE),
            "insignia_visible": rng.choice(TRISTATE),
            "asked": asked,
            "response_when_asked": None if asked == "no" else "refused",
        },
    )


def seed_reports(port: int, tokens: Sequence[str], count: int, rng: random.Random) -> int:
    """``count`` reports over 2025 (the statistics' data) from the first device, then
    SEED_PER_DEVICE in November from every device (their list pages are not empty); one
    keep-alive connection. Returns how many were stored."""
    plan = [(tokens[0], False)] * count + [
        (token, True) for token in tokens for _ in range(SEED_PER_DEVICE)
    ]
    connection = http.client.HTTPConnection(HOST, port, timeout=30)
    try:
        for token, november in plan:
            body = json.dumps(seed_report(rng, november=november)).encode()
            headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
            connection.request("POST", "/v1/reports", body=body, headers=headers)
            response = connection.getresponse()
            answer = response.read()
            if response.status != 201:
                raise BenchmarkError(
                    f"seeding: POST /v1/reports answered {response.status}: {answer[:300]!r}"
                )
    finally:
        connection.close()
    return len(plan)


def check_reads(port: int, device: str, researcher: str) -> None:
    """One request of each type must succeed before any load."""
    for path, token in (
        ("/v1/reports?limit=20", device),
        ("/v1/stats/identification?group_by=month,area&from=2025-01-01&to=2025-12-31", researcher),
    ):
        status, answer = ingest.http_request(port, "GET", path, token=token)
        if status != 200:
            raise BenchmarkError(f"GET {path} answered {status}: {answer[:300]!r}")


# --- load ------------------------------------------------------------------------------------


def run_wrk(
    port: int, credentials: Path, *, duration_s: int, threads: int, connections: int
) -> tuple[WrkResult, list[TypeResult]]:
    text = ingest.wrk_output(
        LUA_SCRIPT,
        f"http://{HOST}:{port}",
        [str(credentials), str(threads)],
        duration_s=duration_s,
        threads=threads,
        connections=connections,
    )
    result = ingest.parse_wrk(text)
    types = []
    for match in TYPE_LINE.finditer(text):
        values = ingest.bench_fields(match.group(1))
        types.append(
            TypeResult(
                name=values["name"],
                sent=int(values["sent"]),
                answered=int(values["answered"]),
                timed=int(values["timed"]),
                p50_ms=float(values["p50_ms"]),
                p90_ms=float(values["p90_ms"]),
                p99_ms=float(values["p99_ms"]),
                max_ms=float(values["max_ms"]),
            )
        )
    if [t.name for t in types] != list(TYPES):
        raise BenchmarkError(f"wrk printed no BENCH_TYPE lines for {TYPES}:\n{text}")
    return result, types


def run(args: argparse.Namespace, tmp: Path, server_url: str, pgdata: Path | None) -> MixedRun:
    name, dsn = asyncio.run(ingest.create_database(server_url))
    port = ingest.free_port()
    log_path = tmp / "service.log"
    rng = random.Random(args.seed)
    try:
        command = ingest.server_command("uvicorn", "service", port, args.workers)
        with ingest.running(command, ingest.server_environment(dsn, tmp / "data"), log_path) as pid:
            ingest.wait_until_ready(port, "/readyz", pid, log_path)
            tokens = [ingest.register_device(port) for _ in range(args.connections)]
            asyncio.run(create_researcher(dsn))
            researcher = open_session(port)
            credentials = tmp / "credentials.txt"
            credentials.write_text(
                "".join(f"device {token}\n" for token in tokens) + f"researcher {researcher}\n"
            )
            print(f"    seeding {args.seed_reports} reports over 2025 ...", flush=True)
            seeded = seed_reports(port, tokens, args.seed_reports, rng)
            check_reads(port, tokens[0], researcher)
            load = {"threads": args.threads, "connections": args.connections}
            memory_before = server_memory(pid)
            warmup, warmup_types = run_wrk(port, credentials, duration_s=args.warmup, **load)
            memory_after_warmup = server_memory(pid)
            meter = ingest.CpuMeter(pid, pgdata)
            meter.start()
            result, types = run_wrk(port, credentials, duration_s=args.duration, **load)
            cpu = meter.stop()
            memory_after = server_memory(pid)
        rows = asyncio.run(ingest.count_rows(dsn, "reports"))
    finally:
        asyncio.run(ingest.drop_database(server_url, name))
    submitted = {t.name: t.answered for t in warmup_types}["submit"]
    submitted += {t.name: t.answered for t in types}["submit"]
    mixed = MixedRun(
        workers=args.workers,
        result=result,
        types=types,
        warmup_errors=warmup.errors,
        seeded_reports=seeded,
        rows=rows,
        ok_submissions=submitted,
        memory_before=memory_before,
        memory_after_warmup=memory_after_warmup,
        memory_after=memory_after,
        cpu=cpu,
    )
    if rows < seeded + submitted:
        mixed.notes.append(f"only {rows} reports stored for {seeded + submitted} answered 2xx")
    return mixed


# --- report ------------------------------------------------------------------------------------


def print_run(run: MixedRun) -> None:
    r, cpu = run.result, run.cpu
    print(
        f"throughput: {r.rps:.1f} req/s ({r.requests} requests in {r.duration_s:.1f} s), "
        f"p50 {r.p50_ms:.2f} ms, p90 {r.p90_ms:.2f} ms, p99 {r.p99_ms:.2f} ms, "
        f"max {r.max_ms:.2f} ms (all types, wrk)"
    )
    total_sent = sum(t.sent for t in run.types) or 1
    header = (
        f"{'type':<30} {'sent':>7} {'share':>6} {'answered':>8} {'req/s':>7} {'p50 ms':>8} "
        f"{'p90 ms':>8} {'p99 ms':>8} {'max ms':>8}"
    )
    print(header)
    print("-" * len(header))
    for t in run.types:
        rate = t.answered / r.duration_s if r.duration_s else 0.0
        print(
            f"{TYPE_LABELS[t.name]:<30} {t.sent:>7} {t.sent / total_sent:>6.1%} {t.answered:>8} "
            f"{rate:>7.1f} {t.p50_ms:>8.2f} {t.p90_ms:>8.2f} {t.p99_ms:>8.2f} {t.max_ms:>8.2f}"
        )
    print("(per-type latency timed in the Lua script from request() to response(); see the README)")
    print(
        f"errors: {r.errors} (non-2xx {r.non2xx}{f' [{r.statuses}]' if r.statuses else ''}, "
        f"socket errors "
        f"{r.socket_errors}); warm-up errors {run.warmup_errors}"
        + (f"; first error body: {r.error_sample[:300]}" if r.error_sample else "")
    )
    print(
        f"reports stored: {run.rows} ({run.seeded_reports} seeded, {run.ok_submissions} "
        f"submissions answered 2xx in warm-up and run)"
    )
    for label, memory in (
        ("before load (set up, seeded)", run.memory_before),
        ("after warm-up", run.memory_after_warmup),
        ("after the run", run.memory_after),
    ):
        print(f"server RSS {label:<29} {memory.rss_mb:8.1f} MB over {memory.processes} process(es)")
    growth = run.memory_after.rss_mb - run.memory_before.rss_mb
    print(f"server RSS growth over warm-up and run {growth:+.1f} MB")
    per_request = cpu.app / r.rps * 1000 if r.rps else 0.0
    print(
        f"cpu (cores busy during the run): app {cpu.app:.2f}, postgres "
        f"{ingest._fmt_cores(cpu.postgres)}, wrk {cpu.wrk:.2f}, other "
        f"{ingest._fmt_cores(cpu.other)}; app ms/req {per_request:.3f}"
    )
    print("('other' is CPU used by processes this benchmark did not start - above ~0.1 the")
    print(" throughput and latency figures are disturbed by other load)")
    for note in run.notes:
        print(f"INVALID: {note}")
    print(f"valid: {'yes' if run.valid else 'NO'}")


# --- entry point -------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.benchmarks.mixed_load",
        description="Load the service with 70%% submissions, 20%% own reads, 10%% statistics.",
    )
    parser.add_argument("--duration", type=int, default=60, help="measured seconds (default 60)")
    parser.add_argument("--warmup", type=int, default=5, help="warm-up seconds (default 5)")
    parser.add_argument("--connections", type=int, default=64, help="also the device count")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--workers", type=int, default=1, help="service workers (default 1)")
    parser.add_argument(
        "--seed-reports",
        type=int,
        default=2000,
        help="reports seeded over 2025 before the load (default 2000)",
    )
    parser.add_argument("--seed", type=int, default=1, help="random seed of the seeded reports")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)
    if min(args.duration, args.warmup, args.connections, args.threads, args.workers) < 1:
        parser.error("durations, connections, threads and workers must be positive")
    if args.connections < args.threads:
        parser.error("at least one connection per thread")
    if args.seed_reports < 0:
        parser.error("--seed-reports must not be negative")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if not ingest.start_benchmark("mixed-load benchmark", ["uvicorn"]):
        return 2
    load_average = os.getloadavg()[0]
    print(f"load average (1 min) at start: {load_average:.2f}")
    print(
        f"load: wrk -t{args.threads} -c{args.connections}, {args.warmup} s warm-up + "
        f"{args.duration} s measured, uvicorn {args.workers} worker(s), 70% POST /v1/reports, "
        f"20% own reads, 10% statistics on {HOST}"
    )
    result = ingest.in_workspace(
        "mixed-load benchmark",
        lambda tmp, server_url, pgdata: run(args, tmp, server_url, pgdata),
    )
    if isinstance(result, int):
        return result
    print()
    print_run(result)
    if args.json is not None:
        payload = {
            **asdict(result),
            "errors": result.result.errors,
            "valid": result.valid,
            "load_average_at_start": load_average,
            "machine": ingest.machine_description(),
        }
        args.json.write_text(json.dumps(payload))
    return 0 if result.valid else 1


if __name__ == "__main__":
    raise SystemExit(main())
