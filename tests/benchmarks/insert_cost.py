"""Database cost of ingest's one statement: this tree's INSERT, against an older checkout's
``select ingest_report(...)`` (store, group under advisory locks and log a change, in one
round trip), each on a fresh database of the same server.

    python -m tests.benchmarks.insert_cost --server postgresql://postgres@127.0.0.1:5432 \\
        [--old-checkout DIR] [--reports 5000] [--seed 1]

``--old-checkout``: a checkout of the commit before the folder (``git worktree add DIR
2c65aa6``); its own code builds the old statement's arguments (neighbourhood, lock keys), in a
subprocess that imports from DIR. The same reports (same seed: a city, a month, so they group
as real ones do) go through both, one autocommit statement each, as the service sends them.
Printed per variant: mean, p50 and p99 of the statement's round trip (ms) and the backend's
CPU per statement (from /proc of the backend process, on a local server).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

# Runs in this process for this tree, and in a subprocess importing from the old checkout:
# it uses only what both trees have, and branches on the statement the tree ingests with.
MEASURE = r"""
import asyncio, hashlib, json, os, random, statistics, sys, time
from datetime import UTC, datetime, timedelta

import h3
import msgspec

from api.app import apply_migrations
from schemas.report import ReportIn, minimise
from storage import accounts
from storage import reports as R
from storage.db.pool import connect
from storage.incidents.grouping import classify, report_agency


def bodies(count, seed):
    rng = random.Random(seed)
    start = datetime(2025, 11, 1, tzinfo=UTC)
    out = []
    for _ in range(count):
        when = start + timedelta(minutes=rng.randrange(0, 30 * 24 * 60))
        out.append({
            "client_id": str(__import__("uuid").UUID(int=rng.getrandbits(128), version=4)),
            "kind": "observer_report",
            "occurred_at": when.isoformat(),
            "location": {"lat": 40.70 + rng.random() * 0.1, "lon": -74.02 + rng.random() * 0.1,
                         "accuracy_m": 20},
            "agents": {"count": 3, "masked": "all", "attire": "plainclothes",
                       "agencies_claimed": ["ICE"], "agencies_suspected": [],
                       "vehicles": "unmarked"},
            "identification": {"verbal": "no", "badge_shown": "no",
                               "insignia_visible": "no", "asked": "yes",
                               "response_when_asked": "refused"},
        })
    return out


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def measure(dsn, count, seed):
    await apply_migrations(dsn)
    conn = await connect(dsn)
    try:
        device, _ = await accounts.create_device(conn)
        old = hasattr(R, "INGEST_REPORT")
        sql = R.INGEST_REPORT if old else R.INSERT_REPORT
        if old:
            from storage.incidents.grouping import GroupingRule
            rule = GroupingRule(2, timedelta(minutes=90))
        statement = await conn.prepare(sql)
        pid = await conn.fetchval("select pg_backend_pid()")
        local = os.path.exists(f"/proc/{pid}/stat")
        rows = []
        for body in bodies(count, seed):
            content = minimise(msgspec.convert(body, ReportIn))
            text = R.canonical_content(content)
            cell = h3.str_to_int(content.location.h3_cell)
            args = [__import__("uuid").uuid4(), device, None, content.client_id,
                    R.kind_of(content), datetime.now(UTC), hashlib.sha256(text).hexdigest(),
                    "signature", content.occurred_at, cell, text.decode(),
                    classify(content.identification), content.agents.masked.value,
                    list(content.agents.agencies_claimed),
                    list(content.agents.agencies_suspected), report_agency(content.agents)]
            if old:
                around = rule.neighbourhood(cell, content.occurred_at)
                args += [around.cells, rule.window, around.lock_keys]
            rows.append(args)
        for args in rows[:200]:  # warm-up: plans, caches (not counted)
            args = list(args)
            args[0], args[3] = __import__("uuid").uuid4(), __import__("uuid").uuid4()
            await statement.fetchval(*args)
        times = []
        cpu_before = cpu_seconds(pid) if local else 0.0
        for args in rows:
            started = time.perf_counter()
            await statement.fetchval(*args)
            times.append((time.perf_counter() - started) * 1000)
        cpu = (cpu_seconds(pid) - cpu_before) if local else float("nan")
        times.sort()
        return {
            "statement": "select ingest_report(...)" if old else "insert ... on conflict",
            "reports": count,
            "mean_ms": statistics.fmean(times),
            "p50_ms": times[len(times) // 2],
            "p99_ms": times[int(len(times) * 0.99) - 1],
            "backend_cpu_ms": cpu * 1000 / count,
        }
    finally:
        await conn.close()


if __name__ == "__main__":
    dsn, count, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    print(json.dumps(asyncio.run(measure(dsn, count, seed))))
"""


def with_database(server: str, name: str) -> str:
    parts = urlsplit(server)
    return urlunsplit(parts._replace(path=f"/{name}"))


async def _admin(server: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(with_database(server, "postgres"))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def run_in(checkout: Path | None, dsn: str, count: int, seed: int) -> dict[str, object]:
    cwd = checkout or Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    result = subprocess.run(
        [sys.executable, "-", dsn, str(count), str(seed)],
        input=MEASURE,
        text=True,
        capture_output=True,
        cwd=cwd,
        env=env,
        check=False,
    )
    if result.returncode != 0:
        sys.exit(f"insert_cost: the measurement in {cwd} failed:\n{result.stderr}")
    measured: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    return measured


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", required=True, help="postgresql://user@host:port")
    parser.add_argument("--old-checkout", type=Path, default=None)
    parser.add_argument("--reports", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    variants: list[tuple[str, Path | None]] = [("this tree", None)]
    if args.old_checkout is not None:
        variants.append((f"old ({args.old_checkout})", args.old_checkout))
    print(f"{'variant':<34} {'statement':<28} {'mean':>7} {'p50':>7} {'p99':>7} {'cpu':>7}")
    for label, checkout in variants:
        name = f"insert_cost_{uuid.uuid4().hex[:8]}"
        asyncio.run(_admin(args.server, f"create database {name}"))
        try:
            m = run_in(checkout, with_database(args.server, name), args.reports, args.seed)
        finally:
            asyncio.run(_admin(args.server, f"drop database {name} with (force)"))
        print(
            f"{label:<34} {m['statement']!s:<28} {m['mean_ms']:>6.3f}  {m['p50_ms']:>6.3f}  "
            f"{m['p99_ms']:>6.3f}  {m['backend_cpu_ms']:>6.3f}   (ms per report)"
        )


if __name__ == "__main__":
    main()
