"""Token lookups are cached per process; a revocation made through one process reaches another
process's cache at once through PostgreSQL notifications (two apps with their own pools and
listeners stand in for two worker processes)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import httpx
import pytest

from api.app import apply_migrations, create_app
from api.tasks.photo_workers import PhotoWorkers
from schemas.auth import Role
from schemas.settings import load_settings
from storage.accounts import store as accounts
from storage.db.pool import connect
from tests.conftest import TEST_RECEIPT_SEED
from tests.support.helpers import PASSWORD, bearer
from tests.support.live_server import live_server

# Long enough that only a notification can explain a revocation seen within the test.
CACHE_SECONDS = 300
NOTIFICATION_WAIT_S = 5.0


@dataclass(frozen=True)
class TwoProcesses:
    first: httpx.AsyncClient
    second: httpx.AsyncClient
    dsn: str
    email: str


@pytest.fixture
async def two_processes(
    fresh_database: object, tmp_path: Path, photo_workers: PhotoWorkers
) -> AsyncIterator[TwoProcesses]:
    make = cast(Callable[[], Awaitable[str]], fresh_database)
    dsn = await make()
    await apply_migrations(dsn)
    conn = await connect(dsn)
    try:
        await accounts.create_account(
            conn, email="mod@example.org", role=Role.moderator, password=PASSWORD
        )
    finally:
        await conn.close()
    settings = load_settings(
        {},
        database_url=dsn,
        data_dir=str(tmp_path),
        receipt_key=TEST_RECEIPT_SEED,
        auth_cache_seconds=CACHE_SECONDS,
    )
    async with AsyncExitStack() as stack:
        clients = []
        for _ in range(2):
            # No database handed in: each app opens its own pool and revocation listener.
            app = create_app(settings, photo_workers=photo_workers)
            base_url = await stack.enter_async_context(live_server(app))
            client = httpx.AsyncClient(base_url=base_url, timeout=10.0)
            await stack.enter_async_context(client)
            clients.append(client)
        yield TwoProcesses(clients[0], clients[1], dsn, "mod@example.org")


async def eventually_unauthorised(client: httpx.AsyncClient, token: str) -> float:
    """Seconds until ``token`` is refused by ``client``'s process."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    while True:
        response = await client.get("/v1/reports", headers=bearer(token))
        if response.status_code == 401:
            return loop.time() - started
        assert response.status_code == 200, response.text
        if loop.time() - started > NOTIFICATION_WAIT_S:
            pytest.fail(f"token still accepted {NOTIFICATION_WAIT_S} s after its revocation")
        await asyncio.sleep(0.02)


async def test_logout_in_one_process_reaches_the_cache_of_another(
    two_processes: TwoProcesses,
) -> None:
    first, second, email = two_processes.first, two_processes.second, two_processes.email
    login = await first.post("/v1/sessions", json={"email": email, "password": PASSWORD})
    assert login.status_code == 201, login.text
    token = login.json()["token"]
    # The second process looks the token up once and caches it.
    assert (await second.get("/v1/reports", headers=bearer(token))).status_code == 200

    assert (await first.delete("/v1/sessions/current", headers=bearer(token))).status_code == 204

    assert (await first.get("/v1/reports", headers=bearer(token))).status_code == 401
    assert await eventually_unauthorised(second, token) < NOTIFICATION_WAIT_S


async def test_disabling_an_account_reaches_the_cache_of_another_process(
    two_processes: TwoProcesses,
) -> None:
    first, second, email = two_processes.first, two_processes.second, two_processes.email
    conn = await connect(two_processes.dsn)
    try:
        await accounts.create_account(
            conn, email="admin@example.org", role=Role.admin, password=PASSWORD
        )
        moderator_id = await conn.fetchval("select id from accounts where email = $1", email)
    finally:
        await conn.close()
    login = await first.post("/v1/sessions", json={"email": email, "password": PASSWORD})
    token = login.json()["token"]
    assert (await second.get("/v1/reports", headers=bearer(token))).status_code == 200
    admin_login = {"email": "admin@example.org", "password": PASSWORD}
    admin = (await first.post("/v1/sessions", json=admin_login)).json()["token"]

    disabled = await first.post(f"/v1/accounts/{moderator_id}/disable", headers=bearer(admin))
    assert disabled.status_code == 200, disabled.text

    assert await eventually_unauthorised(second, token) < NOTIFICATION_WAIT_S


async def test_without_notifications_the_cache_would_keep_the_token(
    two_processes: TwoProcesses,
) -> None:
    """The control: deleting the session behind the service's back (no notification) leaves
    the second process's cached lookup in place, so the tests above do test the channel."""
    first, second, email = two_processes.first, two_processes.second, two_processes.email
    login = await first.post("/v1/sessions", json={"email": email, "password": PASSWORD})
    token = login.json()["token"]
    assert (await second.get("/v1/reports", headers=bearer(token))).status_code == 200
    conn = await connect(two_processes.dsn)
    try:
        await conn.execute("delete from sessions")
    finally:
        await conn.close()
    await asyncio.sleep(0.5)
    assert (await second.get("/v1/reports", headers=bearer(token))).status_code == 200


async def test_a_device_revoking_itself_reaches_the_cache_of_another_process(
    two_processes: TwoProcesses,
) -> None:
    first, second = two_processes.first, two_processes.second
    device = await first.post("/v1/devices")
    token = device.json()["token"]
    assert (await second.get("/v1/reports", headers=bearer(token))).status_code == 200

    revoked = await first.delete("/v1/devices/current", headers=bearer(token))
    assert revoked.status_code == 204, revoked.text

    assert (await first.get("/v1/reports", headers=bearer(token))).status_code == 401
    assert await eventually_unauthorised(second, token) < NOTIFICATION_WAIT_S


async def test_a_rotated_token_stops_in_another_process_and_its_successor_works(
    two_processes: TwoProcesses,
) -> None:
    first, second = two_processes.first, two_processes.second
    device = await first.post("/v1/devices")
    old = device.json()["token"]
    assert (await second.get("/v1/reports", headers=bearer(old))).status_code == 200

    rotated = await first.post("/v1/devices/current/token", headers=bearer(old))
    assert rotated.status_code == 201, rotated.text
    new = rotated.json()["token"]

    assert await eventually_unauthorised(second, old) < NOTIFICATION_WAIT_S
    assert (await second.get("/v1/reports", headers=bearer(new))).status_code == 200
