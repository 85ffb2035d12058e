"""How far incidents and counts lag ingest while reports arrive fast and the folder runs as in
``serve`` (every second, fixed rate, try-lock).

    python -m tests.benchmarks.fold_lag --server postgresql://postgres@127.0.0.1:5432 \\
        [--rate 400] [--duration 30] [--connections 16]

On a fresh database of the server (dropped afterwards): ``--connections`` writers submit
reports through ``storage.reports.store.submit_report`` (the service's ingest statement, receipt
signing included) at ``--rate`` reports per second in total, spread over a city and a month so
they group as real ones do, while ``api.tasks.stats_folding``'s loop folds. Every 100 ms a sampler
reads the age of the oldest report the folder has not taken in (what
``plainsight_fold_lag_seconds`` exports): membership and counts are written in the same
transaction, so that is the lag of both. Printed: the rate reached, max and p95 of the lag,
and the folder's rounds. Writers, folder and sampler share this process (and its CPU), which
makes the figure pessimistic rather than flattering.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import msgspec

from api.app import apply_migrations
from api.tasks.stats_folding import background_folding
from schemas.auth import Principal, Role
from schemas.report import ReportIn, minimise
from storage.accounts import store as accounts
from storage.db.pool import PooledDatabase
from storage.incidents import folder
from storage.incidents.grouping import DEFAULT_GROUPING
from storage.reports.receipts import ReceiptSigner
from storage.reports.store import submit_report


def with_database(server: str, name: str) -> str:
    return urlunsplit(urlsplit(server)._replace(path=f"/{name}"))


def body(rng: random.Random) -> dict[str, object]:
    when = datetime(2025, 11, 1, tzinfo=UTC) + timedelta(minutes=rng.randrange(30 * 24 * 60))
    return {
        "client_id": str(uuid.uuid4()),
        "kind": "observer_report",
        "occurred_at": when.isoformat(),
        "location": {
            "lat": 40.70 + rng.random() * 0.1,
            "lon": -74.02 + rng.random() * 0.1,
            "accuracy_m": 20,
        },
        "agents": {
            "count": 3,
            "masked": "all",
            "attire": "plainclothes",
            "agencies_claimed": ["ICE"],
            "agencies_suspected": [],
            "vehicles": "unmarked",
        },
        "identification": {
            "verbal": rng.choice(["no", "yes", "unclear"]),
            "badge_shown": "no",
            "insignia_visible": "no",
            "asked": "yes",
            "response_when_asked": "refused",
        },
    }


async def run(dsn: str, rate: float, duration: float, connections: int) -> None:
    await apply_migrations(dsn)
    db = await PooledDatabase.open(dsn, min_size=connections + 2, max_size=connections + 2)
    try:
        async with db.acquire() as conn:
            device_id, _ = await accounts.create_device(conn)
        principal = Principal(id=device_id, role=Role.observer)
        signer = ReceiptSigner(os.urandom(32))
        sent = 0
        lags: list[float] = []
        stop = time.monotonic() + duration

        async def writer(index: int) -> None:
            nonlocal sent
            rng = random.Random(index)
            interval = connections / rate
            next_at = time.monotonic()
            while time.monotonic() < stop:
                content = minimise(msgspec.convert(body(rng), ReportIn))
                async with db.acquire() as conn:
                    await submit_report(conn, principal=principal, content=content, signer=signer)
                sent += 1
                next_at += interval
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))

        async def sampler() -> None:
            while time.monotonic() < stop:
                async with db.acquire() as conn:
                    lags.append((await folder.pending_state(conn))[1])
                await asyncio.sleep(0.1)

        started = time.monotonic()
        async with background_folding(db, DEFAULT_GROUPING, "UTC"):
            await asyncio.gather(sampler(), *(writer(i) for i in range(connections)))
            elapsed = time.monotonic() - started
            # Drain: how long until the folder has everything.
            drain_started = time.monotonic()
            while True:
                async with db.acquire() as conn:
                    if (await folder.pending_state(conn))[0] == 0:
                        break
                await asyncio.sleep(0.05)
            drain = time.monotonic() - drain_started
        async with db.acquire() as conn:
            counted = await conn.fetchval("select count(*) from reports where counted > 0")
            incidents = await conn.fetchval("select count(*) from incidents")
        lags.sort()
        print(f"reports: {sent} in {elapsed:.1f} s = {sent / elapsed:.0f}/s (target {rate:.0f}/s)")
        print(f"counted {counted}, incidents {incidents}; drained {drain:.2f} s after the last")
        print(
            f"fold lag (oldest pending report), {len(lags)} samples: "
            f"max {lags[-1]:.2f} s, p95 {lags[int(len(lags) * 0.95) - 1]:.2f} s, "
            f"median {statistics.median(lags):.2f} s"
        )
    finally:
        await db.close()


async def _admin(server: str, sql: str) -> None:
    conn = await asyncpg.connect(with_database(server, "postgres"))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--server", required=True, help="postgresql://user@host:port")
    parser.add_argument("--rate", type=float, default=400.0, help="reports per second")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds")
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    name = f"fold_lag_{uuid.uuid4().hex[:8]}"
    asyncio.run(_admin(args.server, f"create database {name}"))
    try:
        asyncio.run(
            run(with_database(args.server, name), args.rate, args.duration, args.connections)
        )
    finally:
        asyncio.run(_admin(args.server, f"drop database {name} with (force)"))


if __name__ == "__main__":
    main()
