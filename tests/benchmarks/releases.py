"""Release benchmark: how long one month's public release takes at a realistic size.

    python -m tests.benchmarks.releases [--reports 5000000] [--keep FILE]

Reports are generated as the import benchmark's are (25 metropolitan areas, events of 1-6
reports, all through 2025), imported with ``--status verified`` (releases count verified
reports by default) into a fresh database (embedded PostgreSQL, or the server in
$DATABASE_URL), then ``make_releases`` runs once as ``serve`` would 8 days after the import:
every month from January 2025 is due. Each month's release (exact counts, noise, document,
signature, storing) is timed on its own; the slowest, the median over 2025's months and the
total are printed with the machine's load.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from api.app import apply_migrations
from schemas.auth import Role
from schemas.codes import ReportStatus
from schemas.stats import StatusScope
from storage.accounts import store as accounts
from storage.db.pool import connect
from storage.incidents.grouping import DEFAULT_GROUPING
from storage.reports.bulk_import import import_reports
from storage.reports.receipts import ReceiptSigner
from storage.statistics.releases import maker
from tests.benchmarks.import_speed import generate, load
from tests.benchmarks.ingest import create_database, drop_database, postgres_server


def timed(
    inner: Callable[..., Awaitable[Any]], times: dict[date, float]
) -> Callable[..., Awaitable[Any]]:
    """``maker._release_month`` with its time recorded per month."""

    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return await inner(*args, **kwargs)
        finally:
            times[args[3]] = time.perf_counter() - started

    return wrapper


async def run(args: argparse.Namespace, server_url: str, workdir: Path) -> None:
    path = Path(args.keep) if args.keep else workdir / "reports.ndjson"
    if not path.exists() or sum(1 for _ in path.open("rb")) != args.reports:
        events = generate(path, args.reports, seed=20251204)
        print(f"generated {args.reports:,} reports in {events:,} events")
    name, dsn = await create_database(server_url)
    try:
        await apply_migrations(dsn)
        conn = await connect(dsn)
        try:
            account = await accounts.create_account(
                conn, email="bench@example.org", role=Role.admin, password="x" * 16
            )
            started = time.perf_counter()
            with ProcessPoolExecutor(os.cpu_count() or 1) as executor:
                summary = await import_reports(
                    conn, path, account_id=account.id, grouping=DEFAULT_GROUPING,
                    time_zone="UTC", executor=executor, status=ReportStatus.VERIFIED,
                )  # fmt: skip
            print(
                f"imported {summary.imported:,} verified reports into {summary.incidents:,} "
                f"incidents in {time.perf_counter() - started:.1f} s; {load()}"
            )
            await conn.execute("vacuum analyze")
            policy = maker.ReleasePolicy(
                epsilon=1.0,
                delta=1e-6,
                status=StatusScope.VERIFIED,
                delay=timedelta(days=7),
                time_zone="UTC",
            )
            times: dict[date, float] = {}
            # Timed one month at a time: the maker calls it by its module name.
            setattr(maker, "_release_month", timed(maker._release_month, times))  # noqa: B010
            started = time.perf_counter()
            published = await maker.make_releases(
                conn,
                policy,
                ReceiptSigner(os.urandom(32)),
                DEFAULT_GROUPING,
                now=datetime.now(UTC) + timedelta(days=8),
            )
            total = time.perf_counter() - started
        finally:
            await conn.close()
    finally:
        await drop_database(server_url, name)
    of_2025 = [seconds for month, seconds in times.items() if month.year == 2025]
    slowest = max(times, key=lambda month: times[month])
    print(
        f"{len(published or [])} releases in {total:.1f} s; a month of 2025: median "
        f"{statistics.median(of_2025):.2f} s, slowest {slowest:%Y-%m} {times[slowest]:.2f} s "
        f"(target <= 10 s); {load()}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.releases")
    parser.add_argument("--reports", type=int, default=5_000_000)
    parser.add_argument("--keep", help="reuse (or write) the generated NDJSON at this path")
    args = parser.parse_args(argv)
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, {load()}"
    )
    with (
        tempfile.TemporaryDirectory(prefix="plainsight-releases-") as tmp,
        postgres_server(Path(tmp)) as server_url,
    ):
        asyncio.run(run(args, server_url, Path(tmp)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
