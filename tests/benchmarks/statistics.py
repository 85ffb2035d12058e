"""Statistics benchmark: bulk import of millions of clustered reports, then every grouping
from the cube beside the naive GROUP BY over the reports table, in the same run.

    python -m tests.benchmarks.statistics [--reports 5000000] [--runs 20] [--naive-runs 3]
                                          [--keep FILE]

Reports are generated in realistic clusters: a few dozen metropolitan areas, most incidents in
hotspots of each, 1-8 reports per incident (mostly one or two) within two cells and an hour,
over two years, with agencies, masking and identification drawn from skewed distributions.
The NDJSON file is written first (not timed); ``plainsight import``'s code path then loads it
(timed: reports/s end to end, validation to folded statistics). Each grouping is run
``--runs`` times through the service's own statistics code (SQL on the cube plus disclosure
control), and ``--naive-runs`` times as one GROUP BY over the reports (incidents computed on
the fly); p50 and p95 are printed with the ratio. A fresh database on the embedded PostgreSQL
(or on the server in $DATABASE_URL) is used and dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import itertools
import os
import platform
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg

from api.app import apply_migrations
from schemas.auth import Role
from schemas.stats import Dimension, StatusScope, Unit
from storage.accounts import store as accounts
from storage.db.pool import connect
from storage.incidents import folder
from storage.incidents.grouping import GroupingRule
from storage.reports.bulk_import import import_reports
from storage.statistics.cube import count_cells
from storage.statistics.published import TableCache, identification_table
from storage.statistics.query import Period, StatsQuery
from tests.benchmarks.ingest import create_database, drop_database, postgres_server

GROUPINGS: list[tuple[Dimension, ...]] = [
    (Dimension.MONTH,),
    (Dimension.WEEK,),
    (Dimension.AREA,),
    (Dimension.AGENCY,),
    (Dimension.MASKED,),
    (Dimension.KIND,),
    (Dimension.MONTH, Dimension.AREA),
    (Dimension.WEEK, Dimension.AREA),
    (Dimension.MONTH, Dimension.AGENCY),
    (Dimension.MONTH, Dimension.AREA, Dimension.AGENCY),
]
METROS = [
    (40.71, -74.00), (34.05, -118.24), (41.88, -87.63), (29.76, -95.37), (33.45, -112.07),
    (39.95, -75.17), (29.42, -98.49), (32.72, -117.16), (32.78, -96.80), (37.34, -121.89),
    (30.27, -97.74), (30.33, -81.66), (37.77, -122.42), (39.96, -83.00), (35.23, -80.84),
    (39.77, -86.16), (47.61, -122.33), (39.74, -104.99), (38.91, -77.04), (42.36, -71.06),
    (25.76, -80.19), (33.75, -84.39), (45.52, -122.68), (36.17, -115.14), (44.98, -93.27),
]  # fmt: skip
AGENCIES = ["ICE", "ICE", "ICE", "CBP", "CBP", "HSI", "FBI", "DEA", "USMS", "unknown"]
START = datetime(2024, 7, 1, tzinfo=UTC)
DAYS = 730
FLOOR_ROWS = 1_000_000
THRESHOLD = 11  # the service's default suppression threshold
NAIVE_SQL = """
with reports_in as (
    select incident_id, occurred_at, h3_cell, kind, masked, agency, identification, id
    from reports where incident_id is not null
), incidents as (
    select incident_id,
           min(occurred_at) as earliest_at,
           (array_agg(h3_cell order by occurred_at, id))[1] as h3_cell,
           (array_agg(kind order by occurred_at, id))[1] as kind,
           (array_agg(masked order by occurred_at, id))[1] as masked,
           (array_agg(agency order by occurred_at, id))[1] as agency,
           count(*) filter (where identification = 'not_identified') as n,
           count(*) filter (where identification = 'identified') as i,
           count(*) filter (where identification = 'unclear') as u
    from reports_in group by incident_id
), classified as (
    select *, case when n > i and n > u then 'not_identified'
                   when i > n and i > u then 'identified' else 'unclear' end as class
    from incidents
)
select {keys}
       count(*) filter (where class = 'not_identified'),
       count(*) filter (where class = 'identified'),
       count(*) filter (where class = 'unclear')
from classified
where earliest_at >= '2025-01-01T00:00:00Z' and earliest_at < '2026-01-01T00:00:00Z'
{group}
"""
NAIVE_KEYS = {
    Dimension.MONTH: "to_char(earliest_at at time zone 'UTC', 'YYYY-MM')",
    Dimension.WEEK: """to_char(earliest_at at time zone 'UTC', 'IYYY-"W"IW')""",
    Dimension.AREA: "h3_parent(h3_cell, 7)",
    Dimension.AGENCY: "agency",
    Dimension.MASKED: "masked",
    Dimension.KIND: "kind",
}


def generate(path: Path, count: int, seed: int) -> int:
    """Write ``count`` reports (NDJSON) in clusters; returns the number of incidents."""
    rng = random.Random(seed)
    # Encounters concentrate where enforcement does (a few neighbourhoods, courthouses,
    # workplaces per city): eight hotspots of ~1.5 km per metropolitan area.
    hotspots = [
        [(lat + rng.gauss(0, 0.06), lon + rng.gauss(0, 0.08)) for _ in range(8)]
        for lat, lon in METROS
    ]
    template = (
        '{{"client_id":"{client}","kind":"{kind}","occurred_at":"{at}",'
        '"location":{{"lat":{lat:.5f},"lon":{lon:.5f},"accuracy_m":20}},'
        '"agents":{{"count":{agents},"masked":"{masked}","attire":"plainclothes",'
        '"agencies_claimed":[{claimed}],"agencies_suspected":[],"vehicles":"unmarked"}},'
        '"identification":{{"verbal":"{verbal}","badge_shown":"{badge}",'
        '"insignia_visible":"no","asked":"no"}}{officer}}}\n'
    )
    officer = ',"officer":{"command":"Precinct 1"}'
    written = incidents = 0
    with path.open("w") as out:
        while written < count:
            incidents += 1
            metro = rng.randrange(len(METROS))
            lat, lon = rng.choice(hotspots[metro])
            lat += rng.gauss(0, 0.012)
            lon += rng.gauss(0, 0.015)
            at = START + timedelta(seconds=rng.randrange(DAYS * 86400))
            size = min(8, 1 + int(rng.expovariate(0.9)))
            agency = rng.choice(AGENCIES)
            masked = rng.choice(["all", "all", "some", "none", "unknown"])
            for _ in range(min(size, count - written)):
                officer_note = rng.random() < 0.05
                verbal = "no" if rng.random() < 0.6 else rng.choice(["yes", "unclear"])
                out.write(
                    template.format(
                        client=uuid.UUID(int=rng.getrandbits(128), version=4),
                        kind="officer_note" if officer_note else "observer_report",
                        at=(at + timedelta(minutes=rng.randint(0, 60))).isoformat(),
                        lat=lat + rng.gauss(0, 0.0015),
                        lon=lon + rng.gauss(0, 0.0015),
                        agents=rng.randint(2, 8),
                        masked=masked,
                        claimed=f'"{agency}"' if agency != "unknown" else "",
                        verbal=verbal,
                        badge="yes" if verbal == "yes" and rng.random() < 0.5 else "no",
                        officer=officer if officer_note else "",
                    )
                )
                written += 1
    return incidents


async def storage_floor(conn: asyncpg.Connection, workdir: Path, limit: int) -> tuple[int, float]:
    """Rows/s of storing up to ``limit`` imported reports again, as stored, into a table with
    their columns and nothing else: the least any import on this machine spends per report,
    before validation, grouping, indexes and statistics."""
    path = workdir / "floor.copy"
    await conn.copy_from_query(
        "select * from reports limit $1", limit, output=path, format="binary"
    )
    await conn.execute("create table bench_floor (like reports)")
    try:
        started = time.perf_counter()
        status = await conn.copy_to_table("bench_floor", source=path, format="binary")
        elapsed = time.perf_counter() - started
    finally:
        await conn.execute("drop table bench_floor")
        path.unlink()
    rows = int(status.split()[-1])
    return rows, rows / elapsed


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def timed(coro_factory: object, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        await coro_factory()  # type: ignore[operator]
        times.append((time.perf_counter() - started) * 1000)
    return times


def shifted(query: StatsQuery, months: int) -> StatsQuery:
    """The query's 12 months moved ``months`` on, within the two years generated."""
    start = date(2024, 7, 1)
    first = date(start.year + (start.month - 1 + months % 13) // 12,
                 (start.month - 1 + months % 13) % 12 + 1, 1)  # fmt: skip
    last = date(first.year + 1, first.month, 1) - timedelta(days=1)
    return dataclasses.replace(query, date_from=first, date_to=last)


def query_for(group_by: tuple[Dimension, ...]) -> StatsQuery:
    # A typical research question: the calendar year 2025, all of it.
    return StatsQuery(
        group_by=group_by,
        date_from=date(2025, 1, 1),
        date_to=date(2025, 12, 31),
        area_resolution=7,
        status=StatusScope.ALL,
        unit=Unit.INCIDENT,
        time_zone=ZoneInfo("UTC"),
    )


async def run(args: argparse.Namespace, server_url: str, workdir: Path) -> None:
    path = Path(args.keep) if args.keep else workdir / "reports.ndjson"
    if not path.exists():
        started = time.perf_counter()
        incidents = generate(path, args.reports, seed=20251126)
        print(
            f"generated {args.reports} reports in {incidents} planned incidents "
            f"({path.stat().st_size / 1e9:.2f} GB) in {time.perf_counter() - started:.0f} s"
        )
    name, dsn = await create_database(server_url)
    try:
        await apply_migrations(dsn)
        # The import and the served paths run on connections set up as the CLI's and the
        # service's are; the naive baseline on one with the server's defaults (JIT included).
        conn = await connect(dsn)
        naive_conn = await asyncpg.connect(dsn)
        try:
            account = await accounts.create_account(
                conn, email="bench@example.org", role=Role.admin, password="x" * 16
            )
            rule = GroupingRule(2, timedelta(minutes=90))
            started = time.perf_counter()
            phases: list[tuple[str, float]] = [("validating and staging", started)]
            with ProcessPoolExecutor(os.cpu_count() or 1) as executor:
                summary = await import_reports(
                    conn, path, account_id=account.id, grouping=rule, time_zone="UTC",
                    executor=executor,
                    phase=lambda name: phases.append((name, time.perf_counter())),
                )  # fmt: skip
            elapsed = time.perf_counter() - started
            phases.append(("", time.perf_counter()))
            for (name, begun), (_, ended) in itertools.pairwise(phases):
                print(f"  {name:<34}{ended - begun:8.1f} s")
            print(
                f"import: {summary.imported} reports, {summary.incidents} incidents, "
                f"{summary.rejected} rejected in {elapsed:.1f} s = "
                f"{summary.imported / elapsed:,.0f} reports/s (target >= 50,000/s)"
            )
            rows, floor = await storage_floor(conn, workdir, FLOOR_ROWS)
            print(
                f"floor: COPY of {rows:,} of these reports, already validated and grouped, "
                f"into a table with no index, constraint or trigger: {floor:,.0f} rows/s "
                f"(the import reaches {summary.imported / elapsed / floor:.0%} of it)"
            )
            await conn.execute("vacuum analyze")
            print(f"load: {os.getloadavg()[0]:.1f} (1 min average)")
            # What the folder does once after an import, per family it keeps current (or the
            # first query of a family): place the kept groups of every month.
            periods: tuple[Period, ...] = ("month", "week")
            for period in periods:
                family = folder.Family(THRESHOLD, period, StatusScope.ALL, Unit.INCIDENT)
                started = time.perf_counter()
                months = await folder.place(conn, family, None, None)
                print(
                    f"placing the {period} family's groups: {months} months in "
                    f"{time.perf_counter() - started:.1f} s"
                )
            await conn.execute("vacuum analyze stats_placed_groups")
            print(
                f"\n{'grouping':<26}{'cells':>7}{'cold p50':>10}{'p95':>10}{'sql p50':>10}"
                f"{'cached p50':>11}{'naive p50':>10}{'cold x':>8}{'cached x':>9}"
            )
            for group_by in GROUPINGS:
                query = query_for(group_by)
                table = await identification_table(conn, query, THRESHOLD)
                # Each run a 12-month period not asked before in this run, no table cached.
                windows = itertools.count()
                cold = await timed(
                    lambda q=query, n=windows: identification_table(
                        conn, shifted(q, next(n)), THRESHOLD
                    ),
                    args.runs,
                )
                sql = await timed(lambda q=query: count_cells(conn, q), args.runs)
                cache = TableCache()
                await identification_table(conn, query, THRESHOLD, cache=cache)
                cached = await timed(
                    lambda q=query, c=cache: identification_table(conn, q, THRESHOLD, cache=c),
                    args.runs,
                )
                keys = "".join(f"{NAIVE_KEYS[d]}, " for d in group_by)
                group = "group by " + ", ".join(str(i + 1) for i in range(len(group_by)))
                naive_sql = NAIVE_SQL.format(keys=keys, group=group if group_by else "")
                naive = await timed(lambda s=naive_sql: naive_conn.fetch(s), args.naive_runs)
                naive_p50 = percentile(naive, 0.5)
                cold_p50, cached_p50 = percentile(cold, 0.5), percentile(cached, 0.5)
                print(
                    f"{'x'.join(d.value for d in group_by):<26}{len(table.rows):>7}"
                    f"{cold_p50:>10.1f}{percentile(cold, 0.95):>10.1f}"
                    f"{percentile(sql, 0.5):>10.1f}{cached_p50:>11.1f}"
                    f"{naive_p50:>10.0f}{naive_p50 / cold_p50:>7.0f}x"
                    f"{naive_p50 / cached_p50:>8.0f}x"
                )
            print(
                "(milliseconds. cold: a 12-month period not asked before, no table cached: fold"
                " check + check that its months are placed + one sum over the stored kept"
                " groups + Wilson; sql: plain counts from the cube's rollups; cached: as served"
                " while the months of 2025 are unchanged; naive: one GROUP BY over the reports)"
            )
            print(f"load: {os.getloadavg()[0]:.1f} (1 min average)")
        finally:
            await conn.close()
            await naive_conn.close()
    finally:
        await drop_database(server_url, name)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.statistics")
    parser.add_argument("--reports", type=int, default=5_000_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--naive-runs", type=int, default=3)
    parser.add_argument("--keep", help="reuse (or write) the generated NDJSON at this path")
    args = parser.parse_args(argv)
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}"
    )
    with (
        tempfile.TemporaryDirectory(prefix="plainsight-stats-") as tmp,
        postgres_server(Path(tmp)) as server_url,
    ):
        asyncio.run(run(args, server_url, Path(tmp)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
