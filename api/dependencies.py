"""Request-scoped dependencies: a database connection, in a transaction or in autocommit."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any, TypeVar

import asyncpg
import msgspec
from litestar import Request
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide

from api.json_response import read_body
from storage.db.pool import Database

T = TypeVar("T")


async def provide_transaction(state: State) -> AsyncGenerator[asyncpg.Connection, None]:
    """Yield a connection inside a transaction; commit on success, roll back on any error.

    Litestar exits this before sending the response, so a 201 means committed.
    """
    db: Database = state.db
    async with db.transaction() as conn:
        yield conn


DEPENDENCIES = {"conn": Provide(provide_transaction)}

# How handlers ask for the request's transaction: ``conn: Transaction``.
Transaction = NamedDependency[asyncpg.Connection]
_decoders: dict[Any, msgspec.json.Decoder[Any]] = {}


async def decode_json_body(request: Request[Any, Any, Any], body_type: type[T]) -> T:
    """Decode the body strictly ("5" is not 5, unknown fields are errors, nested paths are
    named in the error); the route declares ``body_type`` for OpenAPI via REQUEST_BODY_OPT."""
    try:
        decoder = _decoders.get(body_type)
        if decoder is None:
            decoder = _decoders[body_type] = msgspec.json.Decoder(body_type)
        decoded: T = decoder.decode(await read_body(request))
    except UnicodeDecodeError as exc:  # msgspec lets invalid UTF-8 through as a bare ValueError
        raise msgspec.DecodeError("the request body is not valid UTF-8") from exc
    return decoded
