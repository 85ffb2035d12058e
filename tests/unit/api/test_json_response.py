"""The lean request body reader and JSON response of the hot path (api/json_response.py)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest
from litestar import Litestar, Request, Response, post

from api.dependencies import decode_json_body
from api.errors import EXCEPTION_HANDLERS
from api.json_response import JSONResponse, read_body
from schemas.codes import ReportKind, ReportStatus
from schemas.receipts import Receipt, ReportCreated

LIMIT = 64


class Item(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: str
    count: int


def created() -> ReportCreated:
    report_id = uuid.UUID("01890a5d-ac96-774b-bcce-b302099a8057")
    client_id = uuid.UUID("6f1c1d7e-1e38-4a57-9a52-5b7d6f0e4c11")
    at = datetime(2025, 11, 12, 19, 30, 0, 123456, tzinfo=UTC)
    return ReportCreated(
        id=report_id,
        client_id=client_id,
        kind=ReportKind.OBSERVER_REPORT,
        status=ReportStatus.PENDING,
        received_at=at,
        receipt=Receipt(
            report_id=report_id,
            client_id=client_id,
            payload_sha256="ab" * 32,
            received_at=at,
            signature="c2lnbmF0dXJl",
            key_id="k" * 43,
        ),
    )


@post("/lean", status_code=201)
async def lean(request: Request[Any, Any, Any]) -> Response[ReportCreated]:
    await read_body(request)
    return JSONResponse(created(), status_code=201)


@post("/lean-headers", status_code=201)
async def lean_headers(request: Request[Any, Any, Any]) -> Response[ReportCreated]:
    return JSONResponse(created(), status_code=200, headers={"ETag": '"v1"'})


@post("/litestar", status_code=201)
async def litestar_response(request: Request[Any, Any, Any]) -> Response[ReportCreated]:
    return Response(created(), status_code=201)


@post("/echo", status_code=201)
async def echo(request: Request[Any, Any, Any]) -> Response[Item]:
    item: Item = await decode_json_body(request, Item)
    return JSONResponse(item, status_code=201)


@post("/length", status_code=200)
async def length(request: Request[Any, Any, Any]) -> Response[dict[str, int]]:
    return JSONResponse({"length": len(await read_body(request))})


APP = Litestar(
    route_handlers=[lean, lean_headers, litestar_response, echo, length],
    exception_handlers=EXCEPTION_HANDLERS,
    request_max_body_size=LIMIT,
    openapi_config=None,
    logging_config=None,
)


def scope(path: str, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "server": ("test", 80),
        "client": ("127.0.0.1", 1),
    }


async def call(
    path: str, messages: list[dict[str, Any]], headers: list[tuple[bytes, bytes]] | None = None
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """Run one request through the app, the body arriving as ``messages``."""
    pending = list(messages)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return pending.pop(0) if pending else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await APP(scope(path, headers or []), receive, send)  # type: ignore[arg-type]
    start = sent[0]
    assert start["type"] == "http.response.start"
    body = b"".join(m.get("body", b"") for m in sent[1:])
    return start["status"], list(start["headers"]), body


def one(body: bytes) -> list[dict[str, Any]]:
    return [{"type": "http.request", "body": body, "more_body": False}]


def chunks(*parts: bytes) -> list[dict[str, Any]]:
    return [
        {"type": "http.request", "body": part, "more_body": i < len(parts) - 1}
        for i, part in enumerate(parts)
    ]


async def test_lean_response_equals_litestars_byte_for_byte() -> None:
    lean_answer = await call("/lean", one(b""))
    litestar_answer = await call("/litestar", one(b""))
    assert lean_answer == litestar_answer
    status, headers, body = lean_answer
    assert status == 201
    assert headers == [
        (b"content-type", b"application/json"),
        (b"content-length", b"%d" % len(body)),
    ]
    assert msgspec.json.decode(body, type=ReportCreated) == created()


async def test_lean_response_keeps_its_status_and_extra_headers() -> None:
    status, headers, body = await call("/lean-headers", one(b""))
    assert status == 200
    assert headers[0] == (b"etag", b'"v1"')
    assert (b"content-type", b"application/json") in headers
    assert (b"content-length", str(len(body)).encode()) in headers


async def test_body_in_several_messages_is_joined() -> None:
    status, _, body = await call("/echo", chunks(b'{"name":', b' "a",', b' "count": 2}'))
    assert status == 201
    assert msgspec.json.decode(body) == {"name": "a", "count": 2}


async def test_empty_body_reads_as_empty() -> None:
    status, _, body = await call("/length", [{"type": "http.request"}])
    assert (status, msgspec.json.decode(body)) == (200, {"length": 0})


async def test_body_at_the_limit_is_read() -> None:
    status, _, body = await call("/length", chunks(b"x" * (LIMIT - 1), b"x"))
    assert (status, msgspec.json.decode(body)) == (200, {"length": LIMIT})


@pytest.mark.parametrize(
    ("messages", "headers"),
    [
        (one(b"x" * (LIMIT + 1)), []),
        (chunks(b"x" * LIMIT, b"x"), []),
        # Announced too large: refused before the body is read.
        ([], [(b"content-length", str(LIMIT + 1).encode())]),
    ],
    ids=["one-message", "chunked", "content-length"],
)
async def test_body_over_the_limit_is_413_problem(
    messages: list[dict[str, Any]], headers: list[tuple[bytes, bytes]]
) -> None:
    status, response_headers, body = await call("/length", messages, headers)
    assert status == 413
    assert (b"content-type", b"application/problem+json") in response_headers
    assert msgspec.json.decode(body)["code"] == "payload_too_large"


async def test_disconnect_mid_body_is_not_answered_as_a_body() -> None:
    status, _, body = await call("/length", [*chunks(b"x", b"y")[:1], {"type": "http.disconnect"}])
    assert status == 500
    assert msgspec.json.decode(body)["code"] == "internal_error"


async def test_bad_json_is_400_problem() -> None:
    status, headers, body = await call("/echo", one(b'{"name": '))
    assert status == 400
    assert (b"content-type", b"application/problem+json") in headers
    assert msgspec.json.decode(body)["code"] == "malformed_json"


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b'{"name": "a", "count": "2"}', "$.count"),
        (b'{"name": "a"}', "$.count"),
        (b'{"name": "a", "count": 2, "extra": 1}', "$.extra"),
    ],
)
async def test_invalid_body_is_422_problem_naming_the_field(raw: bytes, field: str) -> None:
    status, headers, body = await call("/echo", one(raw))
    assert status == 422
    assert (b"content-type", b"application/problem+json") in headers
    problem = msgspec.json.decode(body)
    assert problem["code"] == "validation_failed"
    assert problem["field"] == field
