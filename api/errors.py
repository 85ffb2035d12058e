"""Every exception becomes problem+json; internals never reach the client."""

from __future__ import annotations

import logging
import re
import traceback
from collections.abc import Callable
from typing import Any

import asyncpg
import msgspec
from litestar import Request, Response
from litestar.exceptions import (
    HTTPException,
    MethodNotAllowedException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
    ValidationException,
)
from litestar.types import ExceptionHandlersMap

from api.path_parameters import malformed_path_parameter
from api.problems import Problem, problem_response
from schemas.constraints import in_words
from storage.db.cursors import InvalidCursor
from storage.errors import DomainError, RateLimited

log = logging.getLogger(__name__)

RETRY_AFTER_S = "5"
_MSGSPEC_PATH = re.compile(r" - at `(\$[^`]*)`$")
# A cross-field rule names its field first ("`occurred_at` is in the future"); msgspec names an
# unknown or missing field inside the message and points at the object that holds it.
_LEADING_FIELD = re.compile(r"^`([A-Za-z0-9_.]+)`")
_OBJECT_FIELD = re.compile(r"^Object (?:contains unknown|missing required) field `([^`]+)`$")


def field_of_validation_error(message: str) -> tuple[str, str]:
    """Split msgspec's "Expected `int` - at `$.agents.count`" into (``$.agents.count``, text),
    pointing at the field itself for unknown and missing fields and cross-field rules."""
    message = in_words(message)
    path = "$"
    match = _MSGSPEC_PATH.search(message)
    if match is not None:
        path = match[1]
        message = message[: match.start()]
    named = _OBJECT_FIELD.match(message) or _LEADING_FIELD.match(message)
    if named is not None:
        path = f"{path}.{named[1]}"
    return path, message


class InvalidInput(Exception):
    """A request part (query parameter, header, body field) that fails validation."""

    def __init__(
        self, field: str, detail: str, *, status: int = 422, code: str = "validation_failed"
    ) -> None:
        super().__init__(detail)
        self.field = field
        self.detail = detail
        self.status = status
        self.code = code


def _validation_error(_: Request[Any, Any, Any], exc: msgspec.ValidationError) -> Response[Problem]:
    field, detail = field_of_validation_error(str(exc))
    return problem_response(422, "validation_failed", detail, field=field)


def _decode_error(_: Request[Any, Any, Any], exc: msgspec.DecodeError) -> Response[Problem]:
    return problem_response(400, "malformed_json", "the request body is not valid JSON")


def _invalid_input(_: Request[Any, Any, Any], exc: InvalidInput) -> Response[Problem]:
    return problem_response(exc.status, exc.code, exc.detail, field=exc.field)


def _invalid_cursor(_: Request[Any, Any, Any], exc: InvalidCursor) -> Response[Problem]:
    return problem_response(422, "validation_failed", str(exc), field="cursor")


def _domain_error(_: Request[Any, Any, Any], exc: DomainError) -> Response[Problem]:
    status = exc.status
    headers = {"Retry-After": RETRY_AFTER_S} if status == 503 else None
    if status == 401:
        headers = {"WWW-Authenticate": "Bearer"}
    if isinstance(exc, RateLimited):
        headers = {"Retry-After": str(exc.retry_after_s)}
    return problem_response(status, exc.code, exc.detail, headers=headers)


def _litestar_validation(_: Request[Any, Any, Any], exc: ValidationException) -> Response[Problem]:
    extra = exc.extra if isinstance(exc.extra, list) else []
    first = extra[0] if extra and isinstance(extra[0], dict) else {}
    field = str(first.get("key") or "$")
    detail = str(first.get("message") or "invalid request")
    # A query or path parameter with a bad value: the same 422 as a bad body field, so clients
    # handle one kind of validation error.
    return problem_response(422, "validation_failed", detail, field=field)


def _http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Problem]:
    if isinstance(exc, NotFoundException):
        # The router's "from ValueError": a route matched but a path parameter did not parse.
        malformed = None
        if isinstance(exc.__cause__, ValueError):
            malformed = malformed_path_parameter(request.app.routes, request.scope["path"])
        if malformed is not None:
            name, expected = malformed
            return problem_response(
                422, "validation_failed", f"`{name}` must be {expected}", field=name
            )
        return problem_response(404, "not_found", "there is nothing at this address")
    if isinstance(exc, MethodNotAllowedException):
        # Litestar's router sets the header as "allow"; accept either spelling.
        allow = {k.lower(): v for k, v in (exc.headers or {}).items()}.get("allow")
        return problem_response(
            405,
            "method_not_allowed",
            f"{request.method} is not allowed here",
            headers={"Allow": allow} if allow else None,
        )
    if isinstance(exc, NotAuthorizedException):
        return problem_response(
            401,
            "unauthenticated",
            exc.detail or "a valid bearer token is required",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if isinstance(exc, PermissionDeniedException):
        return problem_response(403, "forbidden", exc.detail or "your role may not do this")
    if exc.status_code == 413:
        return problem_response(413, "payload_too_large", "the request body is too large")
    if exc.status_code >= 500:
        log.error("http error", extra={"status": exc.status_code})
        return problem_response(exc.status_code, "internal_error", "something went wrong")
    # Litestar's own client errors: keep the status, never echo the raw URL or query string.
    return problem_response(exc.status_code, "bad_request", "the request could not be handled")


def _database_unavailable(_: Request[Any, Any, Any], exc: Exception) -> Response[Problem]:
    log.warning("database unavailable", extra={"error": type(exc).__name__})
    return problem_response(
        503,
        "database_unavailable",
        "the database is not reachable right now; try again shortly",
        headers={"Retry-After": RETRY_AFTER_S},
    )


def _unexpected(_: Request[Any, Any, Any], exc: Exception) -> Response[Problem]:
    if isinstance(exc, DATABASE_UNAVAILABLE):
        return _database_unavailable(_, exc)
    log.error("unhandled exception", extra={"error": type(exc).__name__, "trace": trace(exc)})
    return problem_response(500, "internal_error", "something went wrong on our side")


def trace(exc: BaseException) -> list[str]:
    """Where ``exc`` (and each exception it came from) was raised: types, files, lines and
    functions, never a message or a variable. Messages carry values (a crafted date, a cursor,
    the SQL parameters asyncpg quotes), and values of a request stay out of the log."""
    lines: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        lines.append(type(current).__name__)
        lines.extend(
            f"  {frame.filename}:{frame.lineno} in {frame.name}"
            for frame in traceback.extract_tb(current.__traceback__)
        )
        current = current.__cause__ or current.__context__
    return lines


DATABASE_UNAVAILABLE = (
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.CannotConnectNowError,
    # The server shutting down (or restarting) under a running query, or refusing new sessions.
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.InterfaceError,
    ConnectionError,
    TimeoutError,
)


def answered_status(exc: Exception) -> int:
    """The status the handler below answers ``exc`` with, without building the response (for
    the metrics middleware: an exception raised by middleware is answered outside it)."""
    for cls in type(exc).__mro__:
        status_of = _STATUS_OF.get(cls)
        if status_of is not None:
            return status_of(exc)
    return 500


def _status_of_unexpected(exc: Any) -> int:
    return 503 if isinstance(exc, DATABASE_UNAVAILABLE) else 500


# Keep in step with EXCEPTION_HANDLERS (test_errors.py checks that they agree).
_STATUS_OF: dict[type[BaseException], Callable[[Any], int]] = {
    msgspec.ValidationError: lambda _: 422,
    msgspec.DecodeError: lambda _: 400,
    InvalidInput: lambda exc: int(exc.status),
    InvalidCursor: lambda _: 422,
    DomainError: lambda exc: int(exc.status),
    ValidationException: lambda _: 422,
    HTTPException: lambda exc: int(exc.status_code),
    Exception: _status_of_unexpected,
}

EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    msgspec.ValidationError: _validation_error,
    msgspec.DecodeError: _decode_error,
    InvalidInput: _invalid_input,
    InvalidCursor: _invalid_cursor,
    DomainError: _domain_error,
    ValidationException: _litestar_validation,
    HTTPException: _http_exception,
    Exception: _unexpected,
}
