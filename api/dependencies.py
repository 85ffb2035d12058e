"""Request-scoped dependencies: a database connection, in a transaction or in autocommit."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any, TypeVar

import asyncpg
import msgspec
from litestar import Request
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide

from storage.db import Database

T = TypeVar("T")


async def provide_transaction(state: State) -> AsyncGenerator[asyncpg.Connection, None]:
    """Yield a connection inside a transaction; commit on success, roll back on any error.

    Litestar exits this before sending the response, so a 201 means committed.
    """
    db: Database = state.db
    async with db.transaction() as conn:
        yield conn


async def provide_connection(state: State) -> AsyncGenerator[asyncpg.Connection, None]:
    """Yield a connection in autocommit, for handlers whose write is one statement: it saves
    the BEGIN and COMMIT round trips on the hottest path (report ingest)."""
    db: Database = state.db
    async with db.acquire() as conn:
        yield conn


DEPENDENCIES = {
    "conn": Provide(provide_transaction),
    "autocommit_conn": Provide(provide_connection),
}

# How handlers ask for the request's transaction: ``conn: Transaction``.
Transaction = NamedDependency[asyncpg.Connection]
# How single-statement handlers ask for a connection: ``autocommit_conn: Autocommit``.
Autocommit = NamedDependency[asyncpg.Connection]


async def decode_json_body(request: Request[Any, Any, Any], body_type: type[T]) -> T:
    """Decode the body strictly ("5" is not 5, unknown fields are errors, nested paths are
    named in the error); the route declares ``body_type`` for OpenAPI via REQUEST_BODY_OPT."""
    try:
        decoded: T = msgspec.json.decode(await request.body(), type=body_type)
    except UnicodeDecodeError as exc:  # msgspec lets invalid UTF-8 through as a bare ValueError
        raise msgspec.DecodeError("the request body is not valid UTF-8") from exc
    return decoded
