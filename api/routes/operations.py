"""Liveness and readiness probes."""

from __future__ import annotations

import msgspec
from litestar import Response, get
from litestar.datastructures import State
from litestar.openapi import ResponseSpec

from api.middleware.auth import PUBLIC_OPT
from api.problems import Problem, problem_response, problem_specs
from storage.db.migrations import pending_migrations, pending_repeatables
from storage.db.pool import Database


class Health(msgspec.Struct, frozen=True):
    status: str


@get("/healthz", opt={PUBLIC_OPT: True}, tags=["operations"], summary="The process is alive")
async def healthz() -> Health:
    return Health(status="ok")


@get(
    "/readyz",
    opt={PUBLIC_OPT: True},
    tags=["operations"],
    summary="The database is reachable and fully migrated",
    # The handler's union return type would document the 200 as oneOf [Health, {}].
    responses={
        200: ResponseSpec(Health, generate_examples=False, description="Ready"),
        **problem_specs(503),
    },
)
async def readyz(state: State) -> Health | Response[Problem]:
    db: Database = state.db
    async with db.acquire() as conn:
        pending = await pending_migrations(conn)
        definitions = await pending_repeatables(conn)
    if pending:
        return problem_response(503, "migrations_pending", f"migrations not applied yet: {pending}")
    if definitions:
        # A changed function, view or trigger file is as pending as a new numbered file.
        return problem_response(
            503, "migrations_pending", f"repeatable definitions not applied yet: {definitions}"
        )
    return Health(status="ready")


ROUTES = [healthz, readyz]
