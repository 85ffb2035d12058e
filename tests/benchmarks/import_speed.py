"""Import benchmark: ``plainsight import``'s code path on realistic clustered reports.

    python -m tests.benchmarks.import_speed [--reports 200000] [--rounds 1] [--keep FILE]
                                            [--status pending|verified] [--on-top]

Reports are generated as the statistics benchmark's are, with the issue's parameters: 25
metropolitan areas with eight hotspots each, events of 1-6 reports within two cells and an
hour, all through 2025. The NDJSON file is written first (not timed; ``--keep`` reuses it).
Each round imports it into a fresh, migrated database (embedded PostgreSQL, or the server in
$DATABASE_URL) with a validating process per CPU, as the command does, and prints the time of
each phase, the total and reports/s, with the machine's load average beside them (the figures
mean little on a busy machine). ``--on-top``: the file is imported over a database already
holding it once under other client_ids' owner (a second account): the import then joins
stored incidents instead of starting from an empty table.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import platform
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

from api.app import apply_migrations
from schemas.auth import Role
from schemas.codes import ReportStatus
from storage.accounts import store as accounts
from storage.db.pool import connect
from storage.incidents.grouping import DEFAULT_GROUPING
from storage.reports.bulk_import import import_reports
from tests.benchmarks.ingest import create_database, drop_database, postgres_server
from tests.benchmarks.statistics import AGENCIES, METROS

START = datetime(2025, 1, 1, tzinfo=UTC)
DAYS = 365
TEMPLATE = (
    '{{"client_id":"{client}","kind":"observer_report","occurred_at":"{at}",'
    '"location":{{"lat":{lat:.5f},"lon":{lon:.5f},"accuracy_m":20}},'
    '"agents":{{"count":{agents},"masked":"{masked}","attire":"plainclothes",'
    '"agencies_claimed":[{claimed}],"agencies_suspected":[],"vehicles":"unmarked"}},'
    '"identification":{{"verbal":"{verbal}","badge_shown":"no",'
    '"insignia_visible":"no","asked":"no"}}}}\n'
)


def generate(path: Path, count: int, seed: int) -> int:
    """Write ``count`` reports (NDJSON) in events of 1-6 reports; returns the events."""
    rng = random.Random(seed)
    hotspots = [
        [(lat + rng.gauss(0, 0.06), lon + rng.gauss(0, 0.08)) for _ in range(8)]
        for lat, lon in METROS
    ]
    written = events = 0
    with path.open("w") as out:
        while written < count:
            events += 1
            lat, lon = rng.choice(hotspots[rng.randrange(len(METROS))])
            lat += rng.gauss(0, 0.012)
            lon += rng.gauss(0, 0.015)
            at = START + timedelta(seconds=rng.randrange(DAYS * 86400 - 3600))
            agency = rng.choice(AGENCIES)
            masked = rng.choice(["all", "all", "some", "none", "unknown"])
            for _ in range(min(rng.randint(1, 6), count - written)):
                out.write(
                    TEMPLATE.format(
                        client=uuid.UUID(int=rng.getrandbits(128), version=4),
                        at=(at + timedelta(minutes=rng.randint(0, 60))).isoformat(),
                        lat=lat + rng.gauss(0, 0.0015),
                        lon=lon + rng.gauss(0, 0.0015),
                        agents=rng.randint(2, 8),
                        masked=masked,
                        claimed=f'"{agency}"' if agency != "unknown" else "",
                        verbal="no" if rng.random() < 0.6 else rng.choice(["yes", "unclear"]),
                    )
                )
                written += 1
    return events


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load {one:.2f} {five:.2f} {fifteen:.2f}"


async def one_round(
    server_url: str, path: Path, status: ReportStatus, on_top: bool
) -> tuple[float, int, int]:
    name, dsn = await create_database(server_url)
    try:
        await apply_migrations(dsn)
        conn = await connect(dsn)
        try:
            owners = []
            for number in range(2 if on_top else 1):
                account = await accounts.create_account(
                    conn, email=f"bench{number}@example.org", role=Role.admin, password="x" * 16
                )
                owners.append(account.id)
            with ProcessPoolExecutor(os.cpu_count() or 1) as executor:
                if on_top:
                    await import_reports(
                        conn, path, account_id=owners[1], grouping=DEFAULT_GROUPING,
                        time_zone="UTC", executor=executor,
                    )  # fmt: skip
                    await conn.execute("vacuum analyze")
                print(f"  before: {load()}")
                started = time.perf_counter()
                phases: list[tuple[str, float]] = [("validating and staging", started)]
                summary = await import_reports(
                    conn, path, account_id=owners[0], grouping=DEFAULT_GROUPING,
                    time_zone="UTC", executor=executor, status=status,
                    phase=lambda step: phases.append((step, time.perf_counter())),
                )  # fmt: skip
                elapsed = time.perf_counter() - started
            phases.append(("", time.perf_counter()))
            for (step, begun), (_, ended) in itertools.pairwise(phases):
                print(f"  {step:<48}{ended - begun:7.1f} s")
            print(
                f"  imported {summary.imported:,} reports into {summary.incidents:,} incidents "
                f"({summary.merged} merged) in {elapsed:.1f} s = "
                f"{summary.imported / elapsed:,.0f} reports/s; after: {load()}"
            )
            return elapsed, summary.imported, summary.incidents
        finally:
            await conn.close()
    finally:
        await drop_database(server_url, name)


async def run(args: argparse.Namespace, server_url: str, workdir: Path) -> None:
    path = Path(args.keep) if args.keep else workdir / "reports.ndjson"
    if not path.exists() or sum(1 for _ in path.open("rb")) != args.reports:
        events = generate(path, args.reports, seed=20251204)
        print(f"generated {args.reports:,} reports in {events:,} events")
    times = []
    for number in range(args.rounds):
        print(f"round {number + 1}:")
        elapsed, imported, _ = await one_round(
            server_url, path, ReportStatus(args.status), args.on_top
        )
        times.append(elapsed)
    median = statistics.median(times)
    print(
        f"import of {imported:,} reports ({args.status}{', on top' if args.on_top else ''}): "
        f"median {median:.1f} s = {imported / median:,.0f} reports/s over {len(times)} rounds"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.import_speed")
    parser.add_argument("--reports", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--keep", help="reuse (or write) the generated NDJSON at this path")
    parser.add_argument("--status", choices=["pending", "verified"], default="pending")
    parser.add_argument("--on-top", action="store_true", help="import over a stored copy")
    args = parser.parse_args(argv)
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, {load()}"
    )
    with (
        tempfile.TemporaryDirectory(prefix="plainsight-import-") as tmp,
        postgres_server(Path(tmp)) as server_url,
    ):
        asyncio.run(run(args, server_url, Path(tmp)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
