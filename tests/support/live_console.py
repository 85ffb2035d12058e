"""The whole service served over HTTP for a browser, on its own migrated database with a real
connection pool (a page, its stylesheet and its scripts are requested at once), plus ways for a
test to put data in it: staff accounts, devices and observer reports."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from api.app import create_app
from api.tasks.photo_workers import PhotoWorkers
from schemas.auth import Role
from schemas.settings import load_settings
from storage.accounts import store as accounts
from storage.db.pool import connect
from tests.support.helpers import PASSWORD, bearer, fold_now, observer_report
from tests.support.live_server import live_server


@dataclass(frozen=True)
class StaffAccount:
    id: uuid.UUID
    email: str
    password: str
    role: Role


@dataclass(frozen=True)
class LiveConsole:
    """The running service: ``base_url`` for the browser, ``dsn`` for the owner's connection
    (as operators and migrations use), ``client`` for the HTTP API."""

    base_url: str
    dsn: str
    client: httpx.AsyncClient

    @asynccontextmanager
    async def owner(self) -> AsyncIterator[asyncpg.Connection]:
        """A connection as the database's owner (not the service's role)."""
        conn = await connect(self.dsn)
        try:
            yield conn
        finally:
            await conn.close()

    async def staff(
        self, role: Role, *, email: str | None = None, password: str = PASSWORD
    ) -> StaffAccount:
        """A staff account made as ``plainsight accounts create`` makes it."""
        address = email or f"{role.value}-{uuid.uuid4().hex[:8]}@example.org"
        async with self.owner() as conn:
            view = await accounts.create_account(conn, email=address, role=role, password=password)
        return StaffAccount(view.id, view.email, password, role)

    async def api_token(self, account: StaffAccount) -> str:
        """A bearer token for ``account`` from POST /v1/sessions."""
        response = await self.client.post(
            "/v1/sessions", json={"email": account.email, "password": account.password}
        )
        assert response.status_code == 201, response.text
        token: str = response.json()["token"]
        return token

    async def device(self) -> str:
        """A new observer device's token, from POST /v1/devices."""
        response = await self.client.post("/v1/devices")
        assert response.status_code == 201, response.text
        token: str = response.json()["token"]
        return token

    async def report(
        self, device_token: str | None = None, *, fold: bool = True, **overrides: Any
    ) -> dict[str, Any]:
        """POST an observer report (tests.support.helpers.observer_report with ``overrides``)
        from ``device_token`` (a new device if None); ``fold``: group it into an incident now
        rather than within the background loop's second. Returns the 201 body."""
        token = device_token or await self.device()
        response = await self.client.post(
            "/v1/reports", json=observer_report(**overrides), headers=bearer(token)
        )
        assert response.status_code == 201, response.text
        if fold:
            await self.fold()
        body: dict[str, Any] = response.json()
        return body

    async def fold(self) -> None:
        """Group pending reports into incidents now."""
        async with self.owner() as conn:
            await fold_now(conn)


@asynccontextmanager
async def live_console(
    make_database: Callable[[], Awaitable[str]],
    data_dir: Path,
    photo_workers: PhotoWorkers,
    receipt_key: str,
    **settings: object,
) -> AsyncIterator[LiveConsole]:
    """The service on a new database from ``make_database``, served by uvicorn as ``plainsight
    serve`` runs it: its lifespan migrates the database, sets up the service's role and opens
    the pool."""
    dsn = await make_database()
    app = create_app(
        load_settings(
            {}, database_url=dsn, data_dir=str(data_dir), receipt_key=receipt_key, **settings
        ),
        photo_workers=photo_workers,
    )
    async with (
        live_server(app) as base_url,
        httpx.AsyncClient(base_url=base_url, timeout=30.0) as client,
    ):
        yield LiveConsole(base_url, dsn, client)
