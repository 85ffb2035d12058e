"""Faults (issue 5, point 6): the service killed under load, PostgreSQL restarted under the running
service, the connection pool exhausted. Real processes, real PostgreSQL, real HTTP.

(a) runs ``plainsight serve`` as a subprocess on a new database of the test server; (b) restarts
a private embedded PostgreSQL in a temporary directory (never the test server); (c) holds a
table lock from another connection so that requests really wait inside the database.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import asyncpg
import httpx
import pytest

from api.app import create_app
from api.tasks.photo_workers import PhotoWorkers
from schemas.settings import load_settings
from storage.db.embedded import EmbeddedPostgres
from storage.db.pool import connect
from tests.conftest import TEST_RECEIPT_SEED
from tests.support.cli import cli_environment, serving
from tests.support.cube_check import check_cube
from tests.support.helpers import bearer, observer_report
from tests.support.live_server import live_server

# (a)
QUEUED_REPORTS = 240
SENDERS = 16  # requests in flight at once, as many phones flushing their queues
KILL_AFTER_ACKS = 60  # SIGKILL once this many reports have been acknowledged
# (b), (c)
FAIL_FAST_S = 2.0  # an answer during an outage or saturation comes within this
ACQUIRE_TIMEOUT_S = 1.0
RECOVER_TIMEOUT_S = 15.0

PROBLEM = "application/problem+json"


def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    assert int(response.headers["retry-after"]) > 0
    problem = response.json()
    assert problem["status"] == 503
    assert problem["code"] in {"unavailable", "database_unavailable"}


async def timed(request: Awaitable[httpx.Response]) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = await request
    return response, time.monotonic() - started


# --- (a) SIGKILL under load, offline queue re-sent ---------------------------------------------


def queued_report(index: int) -> dict[str, Any]:
    """Reports of a few places and hours, so that several incidents form and merge."""
    return observer_report(
        occurred_at=(datetime.now(UTC) - timedelta(hours=3 + index % 5)).isoformat(),
        location={"lat": 40.70 + 0.01 * (index % 4), "lon": -74.0017, "accuracy_m": 25},
        identification={"verbal": ("no", "yes", "unclear")[index % 3]},
    )


class OfflineQueue:
    """A phone's outbox: a report stays queued until a 201/200 with a receipt comes back."""

    def __init__(self, reports: list[dict[str, Any]], token: str) -> None:
        self.reports = reports
        self.token = token
        self.acknowledged: dict[str, dict[str, Any]] = {}  # client_id -> answer body
        self.failures = 0
        self.watermark = 0  # when this many are acknowledged, ``reached`` is set
        self.reached = asyncio.Event()

    async def flush(self, base_url: str, items: list[dict[str, Any]]) -> list[httpx.Response]:
        """Send ``items`` SENDERS at a time; answers for those that got one."""
        answers: list[httpx.Response] = []
        pending = list(items)

        async def sender(client: httpx.AsyncClient) -> None:
            while pending:
                body = pending.pop(0)
                try:
                    response = await client.post(
                        "/v1/reports", json=body, headers=bearer(self.token)
                    )
                except httpx.TransportError:
                    self.failures += 1  # the answer was lost: stays queued
                    continue
                if response.status_code >= 500:
                    self.failures += 1
                    continue
                assert response.status_code in (200, 201), response.text
                answer = response.json()
                assert answer["receipt"]["client_id"] == body["client_id"]
                self.acknowledged.setdefault(body["client_id"], answer)
                if self.watermark and len(self.acknowledged) >= self.watermark:
                    self.reached.set()
                answers.append(response)

        limits = httpx.Limits(max_connections=SENDERS)
        async with httpx.AsyncClient(base_url=base_url, timeout=10.0, limits=limits) as client:
            await asyncio.gather(*(sender(client) for _ in range(SENDERS)))
        return answers


@pytest.mark.slow
async def test_sigkill_under_load_loses_and_duplicates_nothing(
    fresh_database: object, tmp_path: Path
) -> None:
    dsn = await cast(Callable[[], Awaitable[str]], fresh_database)()
    data_path = tmp_path / "data"
    data_path.mkdir()
    env = cli_environment(data_path, dsn)
    env["PLAINSIGHT_RATE_LIMITS"] = "off"
    env["PLAINSIGHT_RECEIPT_KEY"] = TEST_RECEIPT_SEED
    env["PLAINSIGHT_PHOTO_WORKERS"] = "1"
    log = tmp_path / "serve.log"
    reports = [queued_report(i) for i in range(QUEUED_REPORTS)]

    async with serving(env, log, own_session=True) as server:
        async with httpx.AsyncClient(base_url=server.base_url) as client:
            registered = await client.post("/v1/devices")
            assert registered.status_code == 201, registered.text
        queue = OfflineQueue(reports, registered.json()["token"])

        queue.watermark = KILL_AFTER_ACKS

        async def kill_mid_load() -> None:
            await queue.reached.wait()
            os.killpg(server.process.pid, signal.SIGKILL)

        killer = asyncio.create_task(kill_mid_load())
        await queue.flush(server.base_url, reports)
        async with asyncio.timeout(5):
            await killer
        assert await server.process.wait() == -signal.SIGKILL
    acknowledged_before = dict(queue.acknowledged)
    assert KILL_AFTER_ACKS <= len(acknowledged_before) < QUEUED_REPORTS
    assert queue.failures > 0

    # The phone lost every answer: it re-sends its whole queue to the restarted service.
    queue.acknowledged.clear()
    queue.failures = 0
    async with serving(env, log, own_session=True) as server:
        answers = await queue.flush(server.base_url, reports)
        assert queue.failures == 0
        assert len(answers) == QUEUED_REPORTS
        by_client = {a.json()["receipt"]["client_id"]: a for a in answers}
        for client_id, first in acknowledged_before.items():
            replay = by_client[client_id]
            assert replay.status_code == 200, replay.text
            assert replay.json()["receipt"] == first["receipt"]
            assert replay.json()["id"] == first["id"]
        created_after = sum(a.status_code == 201 for a in answers)
        replayed_after = sum(a.status_code == 200 for a in answers)
        server.process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(15):
            assert await server.process.wait() == 0

    conn = await connect(dsn)
    try:
        rows = await conn.fetch(
            "select client_id::text, count(*) as n, min(id::text) as id"
            " from reports group by client_id"
        )
        stored = {r["client_id"]: (r["n"], r["id"]) for r in rows}
        assert set(stored) == {r["client_id"] for r in reports}
        duplicated = [c for c, (n, _) in stored.items() if n != 1]
        assert duplicated == []
        for client_id, first in acknowledged_before.items():
            assert stored[client_id][1] == first["id"]
            assert first["receipt"]["report_id"] == first["id"]
        await check_cube(conn, "UTC")
    finally:
        await conn.close()
    print(
        f"\n(a) queued {QUEUED_REPORTS}, acknowledged before SIGKILL {len(acknowledged_before)},"
        f" after restart: created {created_after}, replayed {replayed_after},"
        f" stored {len(stored)}, duplicated {len(duplicated)}"
    )


# --- (b) PostgreSQL restarted under the running service ------------------------------------------


@pytest.mark.slow
async def test_postgres_restart_answers_503_fast_and_recovers(
    tmp_path: Path, photo_workers: PhotoWorkers
) -> None:
    # A private server, even with TEST_DATABASE_URL: this test stops and starts it.
    pg_dir = tmp_path / "postgres"
    embedded = EmbeddedPostgres(pg_dir, delete_on_stop=False)
    dsn = await asyncio.to_thread(embedded.start)
    settings = load_settings(
        {},
        database_url=dsn,
        data_dir=str(tmp_path),
        receipt_key=TEST_RECEIPT_SEED,
        rate_limits="off",
        db_acquire_timeout_seconds=ACQUIRE_TIMEOUT_S,
    )
    restarted: EmbeddedPostgres | None = None
    try:
        app = create_app(settings, photo_workers=photo_workers)
        async with (
            live_server(app) as base_url,
            httpx.AsyncClient(base_url=base_url, timeout=10.0) as client,
        ):
            assert (await client.get("/readyz")).status_code == 200
            token = (await client.post("/v1/devices")).json()["token"]
            first = await client.post("/v1/reports", json=observer_report(), headers=bearer(token))
            assert first.status_code == 201, first.text

            await asyncio.to_thread(embedded.stop)

            timings: dict[str, float] = {}
            probes: tuple[tuple[str, Callable[[], Awaitable[httpx.Response]]], ...] = (
                ("readyz", lambda: client.get("/readyz")),
                (
                    "submit",
                    lambda: client.post(
                        "/v1/reports", json=observer_report(), headers=bearer(token)
                    ),
                ),
                ("list", lambda: client.get("/v1/reports", headers=bearer(token))),
                ("register", lambda: client.post("/v1/devices")),
            )
            for name, request in probes:
                for _ in range(3):  # the pool's idle connections first, then new ones
                    response, took = await timed(request())
                    assert_unavailable(response)
                    assert took < FAIL_FAST_S, (name, took)
                    timings[name] = max(timings.get(name, 0.0), took)
            # The same port and socket: the service never learns anything but the DSN.
            restarted = EmbeddedPostgres(pg_dir, delete_on_stop=False)
            restart_began = time.monotonic()
            assert await asyncio.to_thread(restarted.start) == dsn
            started = time.monotonic()
            while True:
                response, took = await timed(client.get("/readyz"))
                assert took < FAIL_FAST_S
                if response.status_code == 200:
                    break
                assert_unavailable(response)
                assert time.monotonic() - started < RECOVER_TIMEOUT_S, response.text
                await asyncio.sleep(0.05)
            recovered = time.monotonic() - started
            again = await client.post("/v1/reports", json=observer_report(), headers=bearer(token))
            assert again.status_code == 201, again.text
            replay = await client.post(
                "/v1/reports", json=(body := observer_report()), headers=bearer(token)
            )
            assert replay.status_code == 201
            assert (
                await client.post("/v1/reports", json=body, headers=bearer(token))
            ).status_code == 200
            listed = await client.get("/v1/reports", headers=bearer(token))
            assert listed.status_code == 200, listed.text
            assert len(listed.json()["items"]) == 3
        print(
            "\n(b) during the outage (slowest of 3 each): "
            + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in timings.items())
            + f"; PostgreSQL start {started - restart_began:.2f} s,"
            f" /readyz 200 again {recovered * 1000:.0f} ms after it"
        )
    finally:
        for server in (restarted, embedded):
            if server is not None:
                await asyncio.to_thread(server.stop)


# --- (c) the connection pool exhausted -----------------------------------------------------------


async def lock_waiters(conn: asyncpg.Connection) -> int:
    count: int = await conn.fetchval(
        "select count(*) from pg_stat_activity"
        " where datname = current_database() and wait_event_type = 'Lock'"
    )
    return count


@pytest.mark.slow
async def test_exhausted_pool_answers_503_within_the_acquire_timeout(
    fresh_database: object, tmp_path: Path, photo_workers: PhotoWorkers
) -> None:
    dsn = await cast(Callable[[], Awaitable[str]], fresh_database)()
    settings = load_settings(
        {},
        database_url=dsn,
        data_dir=str(tmp_path),
        receipt_key=TEST_RECEIPT_SEED,
        rate_limits="off",
        db_pool_min=1,
        db_pool_max=2,
        db_acquire_timeout_seconds=ACQUIRE_TIMEOUT_S,
    )
    app = create_app(settings, photo_workers=photo_workers)
    # pg_stat_activity is read from another connection: inside the locker's transaction it
    # would be one cached snapshot.
    locker, monitor = await connect(dsn), await connect(dsn)
    try:
        async with (
            live_server(app) as base_url,
            httpx.AsyncClient(base_url=base_url, timeout=30.0) as client,
        ):
            token = (await client.post("/v1/devices")).json()["token"]
            warm = await client.get("/v1/reports", headers=bearer(token))  # token now cached
            assert warm.status_code == 200, warm.text

            # Every pooled connection ends up waiting inside PostgreSQL for this lock.
            lock = locker.transaction()
            await lock.start()
            await locker.execute("lock table reports in access exclusive mode")
            held = [
                asyncio.create_task(
                    client.post("/v1/reports", json=observer_report(), headers=bearer(token))
                )
                for _ in range(2)
            ]
            deadline = time.monotonic() + 10
            while await lock_waiters(monitor) < 2:
                assert time.monotonic() < deadline, "requests never reached the lock"
                await asyncio.sleep(0.02)

            waits: list[float] = []
            requests: tuple[Callable[[], Awaitable[httpx.Response]], ...] = (
                lambda: client.get("/readyz"),
                lambda: client.post("/v1/reports", json=observer_report(), headers=bearer(token)),
                lambda: client.get("/v1/reports", headers=bearer(token)),
            )
            for request in requests:
                response, took = await timed(request())
                assert_unavailable(response)
                assert ACQUIRE_TIMEOUT_S * 0.9 <= took < ACQUIRE_TIMEOUT_S + FAIL_FAST_S, took
                waits.append(took)
            assert not any(task.done() for task in held)

            await lock.rollback()
            released = time.monotonic()
            for response in await asyncio.gather(*held):
                assert response.status_code == 201, response.text
            assert (await client.get("/readyz")).status_code == 200
            after = await client.post("/v1/reports", json=observer_report(), headers=bearer(token))
            assert after.status_code == 201, after.text
            back = time.monotonic() - released
            listed = await client.get("/v1/reports", headers=bearer(token))
            assert len(listed.json()["items"]) == 3
        print(
            f"\n(c) pool of 2 held; 503 after {', '.join(f'{w * 1000:.0f}' for w in waits)} ms"
            f" (acquire timeout {ACQUIRE_TIMEOUT_S * 1000:.0f} ms); held requests 201 and new"
            f" ones served {back * 1000:.0f} ms after release"
        )
    finally:
        await locker.close()
        await monitor.close()
