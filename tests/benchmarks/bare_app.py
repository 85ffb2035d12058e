"""The honest baseline for the ingest benchmark: Litestar + msgspec + asyncpg, nothing else.

``POST /v1/reports`` decodes the raw body with msgspec into a Struct shaped like the service's
observer report, then runs exactly one INSERT (autocommit, one round trip) of a similar row:
uuid id, client_id uuid, kind, occurred_at/received_at timestamps and the body as jsonb. No
authentication, no transaction block, no middleware, no H3, no signing, no metrics.

It reads the same settings as the service (DATABASE_URL, PLAINSIGHT_DB_POOL_MIN/MAX) so the pool
is sized identically, and ``serve`` runs uvicorn with the same arguments as ``plainsight serve``:

    python -m tests.benchmarks.bare_app serve --host 127.0.0.1 --port 8001 --workers 1
    granian --interface asgi --factory tests.benchmarks.bare_app:create_bare_app
"""

from __future__ import annotations

import argparse
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import asyncpg
import msgspec
from litestar import Litestar, Request, get, post
from litestar.datastructures import State

from schemas.settings import load_settings
from storage.db import locks

# Same shape of table as ``reports``: primary key, a unique client_id, timestamps, jsonb content.
CREATE_TABLE = """
create table if not exists bench_reports (
    id uuid primary key,
    client_id uuid not null unique,
    kind text not null,
    occurred_at timestamptz not null,
    received_at timestamptz not null,
    content jsonb not null
)
"""
SCHEMA_LOCK_KEY = locks.BENCH_BARE_SCHEMA  # serialises CREATE TABLE when workers start at once
INSERT = """
insert into bench_reports (id, client_id, kind, occurred_at, received_at, content)
values ($1, $2, $3, $4, $5, $6)
"""


class Location(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    lat: float
    lon: float
    accuracy_m: float | None = None
    description: str | None = None


class Agents(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    count: int | None = None
    masked: str
    attire: str
    agencies_claimed: tuple[str, ...] = ()
    agencies_suspected: tuple[str, ...] = ()
    vehicles: str | None = None


class Identification(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    verbal: str
    badge_shown: str
    insignia_visible: str
    asked: str | None = None
    response_when_asked: str | None = None


class ReportBody(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    client_id: uuid.UUID
    kind: str
    occurred_at: datetime
    location: Location
    agents: Agents
    identification: Identification
    narrative: str | None = None


class Created(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    client_id: uuid.UUID
    kind: str
    status: str
    received_at: datetime


class Health(msgspec.Struct, frozen=True):
    status: str


@post("/v1/reports", status_code=201)
async def submit_report(request: Request[Any, Any, Any], state: State) -> Created:
    body = msgspec.json.decode(await request.body(), type=ReportBody)
    report_id = uuid.uuid4()
    received_at = datetime.now(UTC)
    pool: asyncpg.Pool = state.pool
    await pool.execute(
        INSERT,
        report_id,
        body.client_id,
        body.kind,
        body.occurred_at,
        received_at,
        msgspec.json.encode(body).decode(),
    )
    return Created(
        id=report_id,
        client_id=body.client_id,
        kind=body.kind,
        status="pending",
        received_at=received_at,
    )


@get("/healthz")
async def healthz() -> Health:
    return Health(status="ok")


async def _init_connection(conn: asyncpg.Connection) -> None:
    # Like the service: jsonb travels as text, asyncpg does not re-parse it.
    await conn.set_type_codec(
        "jsonb", encoder=lambda v: v, decoder=lambda v: v, schema="pg_catalog"
    )


def create_bare_app() -> Litestar:
    settings = load_settings()
    if settings.database_url is None:
        raise SystemExit("bare_app: DATABASE_URL must be set")
    dsn = settings.database_url

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        conn: asyncpg.Connection = await asyncpg.connect(dsn)
        try:
            async with conn.transaction():
                await conn.execute("select pg_advisory_xact_lock($1)", SCHEMA_LOCK_KEY)
                await conn.execute(CREATE_TABLE)
        finally:
            await conn.close()
        pool = await asyncpg.create_pool(
            dsn,
            min_size=settings.db_pool_min,
            max_size=settings.db_pool_max,
            init=_init_connection,
            command_timeout=30,
        )
        app.state.pool = pool
        try:
            yield
        finally:
            await pool.close()

    return Litestar(
        route_handlers=[submit_report, healthz],
        lifespan=[lifespan],
        state=State(),
        openapi_config=None,
        debug=False,
    )


def main(argv: list[str] | None = None) -> int:
    """``serve``: uvicorn with exactly the arguments ``plainsight serve`` uses."""
    parser = argparse.ArgumentParser(prog="bare_app")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")
    serve = commands.add_parser("serve")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8001)
    serve.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)

    import uvicorn

    uvicorn.run(
        "tests.benchmarks.bare_app:create_bare_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        access_log=False,
        log_config=None,
        server_header=False,
        proxy_headers=False,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
