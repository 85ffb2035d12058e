"""The hot path's request body and JSON response, without Litestar's per-request machinery.

Profiling a loaded server showed ``Request.body()`` (an async generator per request, state
caching) and ``Response.to_asgi_response`` (header merging, a MutableScopeHeaders, serializer
lookup per response) at about 2% of its time each. ``read_body`` reads the ASGI receive messages
directly under the same size limit; ``JSONResponse`` encodes its content once with msgspec and
sends two messages with the headers Litestar would have set (content-type, content-length), so
clients and the OpenAPI document (the route still declares ``Response[T]``) see no difference.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, TypeVar

import msgspec
from litestar import Request, Response
from litestar.exceptions import InternalServerException
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.response.base import ASGIResponse
from litestar.types import Receive, Scope, Send

T = TypeVar("T")

JSON_MEDIA_TYPE = "application/json"
# Litestar's JSON serializer is msgspec with hooks for types msgspec does not know; the
# structs answered here hold only types msgspec encodes natively, byte for byte the same.
_encoder = msgspec.json.Encoder()
_JSON = JSON_MEDIA_TYPE.encode()


async def read_body(request: Request[Any, Any, Any]) -> bytes:
    """The whole request body, at most the route's ``request_max_body_size`` bytes (else 413,
    before reading anything when Content-Length announces more)."""
    limit: float = request.route_handler.resolve_request_max_body_size() or math.inf
    for name, value in request.scope["headers"]:
        if name == b"content-length":
            if value.isdigit() and int(value) > limit:
                raise RequestEntityTooLarge
            break
    receive = request.receive
    message = await receive()
    if message["type"] == "http.request" and not message.get("more_body", False):
        # The usual case: the whole body in one message.
        body: bytes = message.get("body", b"")
        if len(body) > limit:
            raise RequestEntityTooLarge
        return body
    chunks: list[bytes] = []
    size = 0
    while True:
        if message["type"] == "http.disconnect":
            raise InternalServerException("client disconnected prematurely")
        chunk: bytes = message.get("body", b"")  # type: ignore[assignment]
        size += len(chunk)
        if size > limit:
            raise RequestEntityTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)
        message = await receive()


class _EncodedResponse(ASGIResponse):
    """An already encoded JSON body and its status: two ASGI messages, nothing else."""

    def __init__(self, status_code: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
        # ASGIResponse.__init__ builds a header container and checks HEAD and bodiless
        # statuses; this answers POSTs only, with a body.
        self.status_code = status_code
        self.body = body
        self._headers = headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self._headers}
        )
        await send({"type": "http.response.body", "body": self.body, "more_body": False})


class JSONResponse(Response[T]):
    """``JSONResponse(content, status_code=...)`` for a route that answers a POST with JSON.

    Only status, content and extra headers: no cookies, background tasks or type encoders
    (``to_asgi_response`` ignores those Litestar passes: the routes using it declare none).
    """

    __slots__ = ()

    def __init__(
        self, content: T, *, status_code: int = 200, headers: dict[str, str] | None = None
    ) -> None:
        # Response.__init__ normalises cookies, headers and type encoders on every call.
        self.content = content
        self.status_code = status_code
        self.headers = headers or {}
        self.background = None
        self.cookies = []
        self.encoding = "utf-8"
        self.media_type = JSON_MEDIA_TYPE
        self.response_type_encoders = {}

    def to_asgi_response(self, app: Any, request: Request[Any, Any, Any], **_: Any) -> ASGIResponse:
        body = _encoder.encode(self.content)
        headers = _encode(self.headers.items()) if self.headers else []
        headers.append((b"content-type", _JSON))
        headers.append((b"content-length", str(len(body)).encode()))
        return _EncodedResponse(self.status_code or 200, body, headers)


def _encode(headers: Iterable[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    return [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers]
