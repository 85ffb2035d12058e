"""Console benchmark: server-side render time of console pages at 1,000,000 reports.

    python -m tests.benchmarks.console_render [--reports 1000000] [--runs 60] [--keep FILE]

Reports are generated and imported as the statistics benchmark's are (tests.benchmarks.
statistics: clustered over two years from July 2024, through ``plainsight import``'s code path)
into a fresh database (embedded PostgreSQL, or the server in $DATABASE_URL), with the service's
default grouping and time zone. The service then runs as ``serve`` runs it (its own pool, its
background folder and placing), on a real socket in this process; an admin signs in to the
console (an admin may open every console page) and each page in ``PAGES`` is requested
``--warmup`` times, then ``--runs`` times one after another. The time of a request is taken
inside the app, from the request reaching it to the last byte handed to the server: session
check, the statistics read and its audit record, and the template. p50, p95 and max are printed,
then the same for the month x area page over a period not asked before on each request (no
table and no drawing kept: the cold path, the months' groups already placed).

To time another page, add it to ``PAGES`` (a name and a path with its query), or call
``render_times(bench, path, runs)`` with a signed-in ``Bench``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Final

import httpx
from litestar import Litestar
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, Scope, Send

from api.app import apply_migrations, create_app, grouping_rule
from schemas.auth import Role
from schemas.settings import Settings, load_settings
from storage.accounts import store as accounts
from storage.db.pool import connect
from storage.reports.bulk_import import import_reports
from tests.benchmarks.ingest import create_database, drop_database, postgres_server
from tests.benchmarks.statistics import generate, percentile
from tests.support.console import sign_in
from tests.support.helpers import PASSWORD
from tests.support.live_server import live_server

YEAR_2025: Final = "from=2025-01-01&to=2025-12-31"
PAGES: Final = [
    ("statistics, month x area, 2025", f"/statistics?{YEAR_2025}&group_by=month&group_by=area"),
    ("statistics, no grouping", "/statistics"),
    # Every imported report is pending: the queue's first page is its oldest 20 of a million.
    ("moderation queue, first page", "/moderation"),
]
"""(name, path) of every page timed."""
TARGET_P95_MS: Final = 100.0
FIRST_MONTH: Final = date(2024, 7, 1)  # the generated reports run two years from here
EMAIL: Final = "bench-admin@example.org"


@dataclass
class Bench:
    """A signed-in console client and the app's own clock of each request it served."""

    client: httpx.AsyncClient
    served_ms: list[float] = field(default_factory=list)


def timing(app: Litestar, bench_times: list[float]) -> None:
    """Time every HTTP request inside the app: from the request reaching Litestar's handler
    to the response's last byte handed to the server."""
    inner: ASGIApp = app.asgi_handler

    async def timed(scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        try:
            await inner(scope, receive, send)
        finally:
            if scope["type"] == ScopeType.HTTP:
                bench_times.append((time.perf_counter() - started) * 1000)

    app.asgi_handler = timed


async def render_times(bench: Bench, path: str, runs: int) -> list[float]:
    """Milliseconds the app spent on each of ``runs`` GETs of ``path`` (each must be 200)."""
    times: list[float] = []
    for _ in range(runs):
        mark = len(bench.served_ms)
        response = await bench.client.get(path)
        if response.status_code != 200:
            raise RuntimeError(f"GET {path}: {response.status_code}\n{response.text[:2000]}")
        times.append(bench.served_ms[mark])
    return times


def new_periods(runs: int) -> list[str]:
    """The month x area page over ``runs`` periods of whole months never asked before in the
    run (6 to 12 months from each month of the data): no table and no drawing is kept."""
    paths = []
    for length in range(6, 13):
        for start in range(24 - length + 1):
            month = FIRST_MONTH.month - 1 + start
            first = date(FIRST_MONTH.year + month // 12, month % 12 + 1, 1)
            month += length
            end = date(FIRST_MONTH.year + month // 12, month % 12 + 1, 1) - timedelta(days=1)
            paths.append(f"/statistics?from={first}&to={end}&group_by=month&group_by=area")
    if runs > len(paths):
        raise ValueError(f"at most {len(paths)} new periods")
    return paths[:runs]


async def seed(settings: Settings, dsn: str, path: Path) -> None:
    conn = await connect(dsn)
    try:
        account = await accounts.create_account(
            conn, email=EMAIL, role=Role.admin, password=PASSWORD
        )
        started = time.perf_counter()
        with ProcessPoolExecutor(os.cpu_count() or 1) as executor:
            summary = await import_reports(
                conn, path, account_id=account.id, grouping=grouping_rule(settings),
                time_zone=settings.timezone, executor=executor,
            )  # fmt: skip
        print(
            f"import: {summary.imported} reports, {summary.incidents} incidents in "
            f"{time.perf_counter() - started:.0f} s"
        )
        await conn.execute("vacuum analyze")
    finally:
        await conn.close()


async def run(args: argparse.Namespace, server_url: str, workdir: Path) -> None:
    path = Path(args.keep) if args.keep else workdir / "reports.ndjson"
    if not path.exists():
        incidents = generate(path, args.reports, seed=20251126)
        print(f"generated {args.reports} reports in {incidents} planned incidents")
    name, dsn = await create_database(server_url)
    try:
        await apply_migrations(dsn)
        settings = load_settings(
            {}, database_url=dsn, data_dir=str(workdir / "data"), rate_limits="off"
        )
        await seed(settings, dsn, path)
        app = create_app(settings)
        served: list[float] = []
        timing(app, served)
        async with (
            live_server(app) as base_url,
            httpx.AsyncClient(base_url=base_url, timeout=60.0) as client,
        ):
            signed_in = await sign_in(client, EMAIL)
            if signed_in.status_code != 303:
                raise RuntimeError(f"signing in failed: {signed_in.status_code}")
            bench = Bench(client, served)
            print(f"load: {os.getloadavg()[0]:.1f} (1 min average)")
            print(
                f"\n{'page':<36}{'bytes':>10}{'p50':>8}{'p95':>8}{'max':>8}  (ms, {args.runs} runs)"
            )
            for page, page_path in PAGES:
                first = await render_times(bench, page_path, 1)  # places what it needs
                await render_times(bench, page_path, args.warmup)
                times = await render_times(bench, page_path, args.runs)
                size = len((await client.get(page_path)).content)
                p95 = percentile(times, 0.95)
                verdict = "ok" if p95 <= TARGET_P95_MS else f"OVER {TARGET_P95_MS:.0f} ms"
                print(
                    f"{page:<36}{size:>10,}{percentile(times, 0.5):>8.1f}{p95:>8.1f}"
                    f"{max(times):>8.1f}  {verdict} (first request {first[0]:.0f} ms)"
                )
            cold = [(await render_times(bench, path, 1))[0] for path in new_periods(args.runs)]
            print(
                f"{'month x area, a new period each':<36}{'':>10}{percentile(cold, 0.5):>8.1f}"
                f"{percentile(cold, 0.95):>8.1f}{max(cold):>8.1f}"
            )
            print(f"load: {os.getloadavg()[0]:.1f} (1 min average)")
    finally:
        await drop_database(server_url, name)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.console_render")
    parser.add_argument("--reports", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--keep", help="reuse (or write) the generated NDJSON at this path")
    args = parser.parse_args(argv)
    if args.runs < 50:
        parser.error("--runs must be at least 50 for a p95")
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}"
    )
    with (
        tempfile.TemporaryDirectory(prefix="plainsight-console-") as tmp,
        postgres_server(Path(tmp)) as server_url,
    ):
        asyncio.run(run(args, server_url, Path(tmp)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
