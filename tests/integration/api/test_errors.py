"""Every error is RFC 9457 problem+json with a stable ``code`` and leaks nothing.

The 500/503 cases register extra failing routes on the test's app instance; everything else
goes through the real routes.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import asyncpg
import msgspec
import pytest
from litestar import Litestar, Request, get
from litestar.exceptions import (
    HTTPException,
    MethodNotAllowedException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
    ValidationException,
)

from api.dependencies import Transaction
from api.errors import EXCEPTION_HANDLERS, InvalidInput, answered_status
from api.middleware.auth import PUBLIC_OPT
from schemas.auth import Role
from storage.db.cursors import InvalidCursor
from storage.errors import (
    Conflict,
    Forbidden,
    Gone,
    NotFound,
    RateLimited,
    Unauthenticated,
    Unavailable,
)
from tests.support.assertions import assert_problem
from tests.support.helpers import Api, bearer, observer_report

SECRET = "secret123"
INTERNAL = "internal-detail-hunter2"


@get("/test-only/boom", opt={PUBLIC_OPT: True}, include_in_schema=False)
async def boom() -> None:
    raise RuntimeError(f"{INTERNAL} at /srv/plainsight/api/app.py line 42")


@get("/test-only/bad-sql", opt={PUBLIC_OPT: True}, include_in_schema=False)
async def bad_sql(conn: Transaction) -> None:
    await conn.execute(f"select * from {INTERNAL.replace('-', '_')}")  # noqa: S608


@get("/test-only/database-down", opt={PUBLIC_OPT: True}, include_in_schema=False)
async def database_down() -> None:
    raise asyncpg.exceptions.CannotConnectNowError(f"{INTERNAL}: the database system is starting")


@get("/test-only/echo-request", opt={PUBLIC_OPT: True}, include_in_schema=False)
async def echo_request(request: Request[Any, Any, Any]) -> None:
    raise ValueError(f"bad query {request.url}")


@pytest.fixture
def failing_api(app: Litestar, api: Api) -> Api:
    for handler in (boom, bad_sql, database_down, echo_request):
        app.register(handler)
    return api


# --- problem+json shape --------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/nope", "/v1/nope", "/v1/reports/x/y/z", "/v2/reports"])
async def test_unknown_route_is_404_problem(api: Api, path: str) -> None:
    problem = assert_problem(await api.client.get(path), 404)
    assert problem["code"] == "not_found"
    assert problem["title"]
    assert problem["type"]


async def test_unknown_route_with_token_is_still_404(api: Api) -> None:
    token = await api.device_token()
    assert_problem(await api.client.get("/v1/nope", headers=bearer(token)), 404)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", f"/v1/reports/{uuid.uuid4()}"),
        ("PATCH", "/v1/reports"),
        ("GET", "/v1/devices"),
        ("GET", "/v1/sessions"),
        ("POST", "/healthz"),
        ("DELETE", "/v1/codebook"),
    ],
)
async def test_wrong_method_is_405_problem_with_allow(api: Api, method: str, path: str) -> None:
    token = await api.device_token()
    response = await api.client.request(method, path, headers=bearer(token))
    problem = assert_problem(response, 405)
    assert problem["code"] == "method_not_allowed"
    assert "allow" in response.headers
    assert method not in response.headers["allow"].replace(",", " ").split()


async def test_401_has_code_and_bearer_challenge(api: Api) -> None:
    response = await api.client.get("/v1/reports")
    problem = assert_problem(response, 401)
    assert problem["code"] == "unauthenticated"
    assert response.headers["www-authenticate"].lower().startswith("bearer")


async def test_403_has_code(api: Api) -> None:
    token = await api.account_token(Role.researcher)
    problem = assert_problem(await api.client.get("/v1/reports", headers=bearer(token)), 403)
    assert problem["code"] == "forbidden"


async def test_422_lists_the_field_error(api: Api) -> None:
    token = await api.device_token()
    response = await api.submit(token, observer_report(agents={"masked": "maybe"}))
    problem = assert_problem(response, 422, field="$.agents.masked")
    assert problem["errors"] == [{"field": "$.agents.masked", "message": problem["detail"]}]


# --- nothing leaks -------------------------------------------------------------------------


async def test_unhandled_exception_is_500_without_internals(failing_api: Api) -> None:
    response = await failing_api.client.get("/test-only/boom")
    problem = assert_problem(response, 500)
    assert problem["code"] == "internal_error"
    for leak in (INTERNAL, "RuntimeError", "Traceback", "/srv/", ".py"):
        assert leak not in response.text


async def test_database_error_is_500_without_sql(failing_api: Api) -> None:
    response = await failing_api.client.get("/test-only/bad-sql")
    problem = assert_problem(response, 500)
    assert problem["code"] == "internal_error"
    for leak in ("internal_detail_hunter2", "select", "relation", "asyncpg"):
        assert leak not in response.text.lower()
    # The failed request rolled back its own work only; the next one still works.
    assert (await failing_api.client.get("/healthz")).status_code == 200
    assert (await failing_api.client.post("/v1/devices")).status_code == 201


async def test_database_unavailable_is_503_with_retry_after(failing_api: Api) -> None:
    response = await failing_api.client.get("/test-only/database-down")
    problem = assert_problem(response, 503)
    assert INTERNAL not in response.text
    assert int(response.headers["retry-after"]) > 0
    assert problem["code"]


async def test_500_does_not_echo_the_url(failing_api: Api) -> None:
    response = await failing_api.client.get("/test-only/echo-request", params={"token": SECRET})
    assert_problem(response, 500)
    assert SECRET not in response.text


async def test_500_log_names_where_but_not_the_values(failing_api: Api) -> None:
    """The log of a 500 says which exception was raised where, but not its message: messages
    carry request values (here the URL with its query string, elsewhere a crafted cursor)."""
    handler, root = _Collect(), logging.getLogger()
    root.addHandler(handler)
    try:
        response = await failing_api.client.get(
            "/test-only/echo-request", params={"lat": "40.7191", "token": SECRET}
        )
    finally:
        root.removeHandler(handler)
    assert_problem(response, 500)
    logged = [r for r in handler.records if r.name == "api.errors"]
    assert len(logged) == 1
    record = logged[0]
    text = f"{record.getMessage()} {vars(record)}"
    if record.exc_info:
        text += logging.Formatter().formatException(record.exc_info)
    assert "40.7191" not in text, text
    assert SECRET not in text, text
    assert record.error == "ValueError"  # type: ignore[attr-defined]
    assert any("in echo_request" in line for line in record.trace)  # type: ignore[attr-defined]


def _answered_by_handler(app: Litestar, exc: Exception) -> int:
    """The status the app's own exception handler gives ``exc`` (looked up by the MRO, as
    Litestar does)."""
    handler = next(
        EXCEPTION_HANDLERS[cls] for cls in type(exc).__mro__ if cls in EXCEPTION_HANDLERS
    )
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/x",
        "headers": [],
        "query_string": b"",
        "app": app,
        "litestar_app": app,
        "state": {},
    }
    response = handler(Request(scope), exc)  # type: ignore[arg-type]
    status = response.status_code
    assert status is not None
    return status


@pytest.mark.parametrize(
    "exc",
    [
        msgspec.ValidationError("Expected `int` - at `$.x`"),
        msgspec.DecodeError("truncated"),
        InvalidInput("$.kind", "no", status=403, code="kind_not_allowed"),
        InvalidInput("from", "bad"),
        InvalidCursor("bad"),
        *(cls("detail") for cls in (NotFound, Conflict, Gone, Unauthenticated, Forbidden)),
        Unavailable("busy"),
        RateLimited(7),
        ValidationException(),
        NotAuthorizedException(),
        PermissionDeniedException(),
        NotFoundException(),
        MethodNotAllowedException(),
        HTTPException(status_code=413),
        HTTPException(status_code=502),
        RuntimeError("boom"),
        asyncpg.exceptions.CannotConnectNowError("starting"),
        TimeoutError(),
    ],
    ids=lambda exc: type(exc).__name__,
)
async def test_metrics_count_the_status_the_handler_answers(app: Litestar, exc: Exception) -> None:
    """The metrics middleware counts a raised answer by answered_status (it cannot see the
    response, sent outside it); that must be what the handler answers."""
    assert answered_status(exc) == _answered_by_handler(app, exc)


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/no/such/route"),
        ("GET", "/v1/reports"),
        ("PUT", "/v1/reports"),
        ("GET", f"/v1/reports/{uuid.uuid4()}"),
        ("GET", "/v1/codebook?lang=xx"),
        ("GET", "/v1/reports?limit=0"),
        ("GET", "/v1/reports?cursor=zzz"),
        ("GET", "/v1/reports?status=nope"),
        ("POST", "/v1/sessions"),
    ],
)
async def test_query_strings_never_appear_in_error_bodies(api: Api, method: str, path: str) -> None:
    separator = "&" if "?" in path else "?"
    url = f"{path}{separator}token={SECRET}&email=alice%40example.org"
    headers = bearer(await api.account_token(Role.moderator)) if "limit" in path else {}
    response = await api.client.request(method, url, headers=headers)
    assert response.status_code >= 400, response.text
    assert_problem(response, response.status_code)
    assert SECRET not in response.text
    assert "alice" not in response.text
    for value in response.headers.values():
        assert SECRET not in value


async def test_rejected_password_is_not_echoed(api: Api) -> None:
    admin = await api.account_token(Role.admin)
    response = await api.client.post(
        "/v1/accounts",
        json={"email": "short@example.org", "role": "officer", "password": "hunter2"},
        headers=bearer(admin),
    )
    assert_problem(response, 422, field="$.password")
    assert "hunter2" not in response.text


async def test_failed_login_does_not_echo_credentials(api: Api) -> None:
    response = await api.client.post(
        "/v1/sessions", json={"email": "alice@example.org", "password": "hunter2hunter2"}
    )
    assert_problem(response, 401)
    assert "alice" not in response.text
    assert "hunter2" not in response.text


async def test_bad_token_is_not_echoed(api: Api) -> None:
    response = await api.client.get("/v1/reports", headers=bearer(f"psd_{SECRET}"))
    assert_problem(response, 401)
    assert SECRET not in response.text
