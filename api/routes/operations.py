"""Liveness and readiness probes."""

from __future__ import annotations

import msgspec
from litestar import Response, get
from litestar.datastructures import State
from litestar.openapi import ResponseSpec

from api.errors import RETRY_AFTER_S
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
    # Every 503 says when to look again (a load balancer's probe, a deploy script's wait).
    retry = {"Retry-After": RETRY_AFTER_S}
    if pending:
        detail = f"migrations not applied yet: {pending}"
        return problem_response(503, "migrations_pending", detail, headers=retry)
    if definitions:
        # A changed function, view or trigger file is as pending as a new numbered file.
        detail = f"repeatable definitions not applied yet: {definitions}"
        return problem_response(503, "migrations_pending", detail, headers=retry)
    return Health(status="ready")


ROUTES = [healthz, readyz]
