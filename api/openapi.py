"""The OpenAPI 3.1 document, completed with request bodies the handlers decode themselves.

Report bodies are decoded strictly with msgspec from the raw bytes (Litestar's own path
converts leniently and loses the nested field path), so Litestar cannot see them; their
schemas come from msgspec, which also emits the ``kind`` discriminator for tagged unions.
"""

from __future__ import annotations

from functools import cache
from typing import Any, Final

import msgspec
from litestar import Litestar, Request, Router
from litestar.handlers import HTTPRouteHandler
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme

from api.middleware.auth import PUBLIC_OPT
from api.middleware.rate_limit import rule_for
from api.openapi_30 import openapi_30
from api.openapi_examples import add_examples
from api.openapi_tuples import drop_empty_union_branches
from api.problems import PROBLEM_MEDIA_TYPE, TITLES
from api.reference.router import other_reference, reference_router

REQUEST_BODY_OPT = "request_body"
# For bodies that are not JSON (photo uploads): the OpenAPI ``content`` object, given as is.
REQUEST_CONTENT_OPT = "request_content"
# For answers that are not JSON (photo and video downloads): status code -> the OpenAPI
# response fields (``content``, ``headers``) that replace what Litestar inferred.
RESPONSE_CONTENT_OPT = "response_content"
REF_TEMPLATE = "#/components/schemas/{name}"
# A body that is a file's bytes (photos, videos, tus appends, Parquet and Stata exports).
BINARY_SCHEMA: dict[str, Any] = {"type": "string", "format": "binary"}


def openapi_document(app: Litestar) -> dict[str, Any]:
    return _document(app)


@cache
def _document(app: Litestar) -> dict[str, Any]:
    document = app.openapi_schema.to_schema()
    drop_empty_union_branches(document)
    _document_rate_limits(document)
    _document_malformed_path_parameters(document)
    _document_empty_answers(document)
    _document_validation_errors(document)
    _document_header_schemas(document)
    _document_server_errors(document)
    for path, method, content in _declared(app, REQUEST_CONTENT_OPT):
        document["paths"][path][method]["requestBody"] = {"required": True, "content": content}
    for path, method, answers in _declared(app, RESPONSE_CONTENT_OPT):
        for status, fields in answers.items():
            document["paths"][path][method]["responses"][str(status)].update(fields)
    bodies = _declared(app, REQUEST_BODY_OPT)
    if not bodies:
        add_examples(document)
        return document
    types = [body_type for _, _, body_type in bodies]
    refs, components = msgspec.json.schema_components(types, ref_template=REF_TEMPLATE)
    document.setdefault("components", {}).setdefault("schemas", {}).update(components)
    for (path, method, _), ref in zip(bodies, refs, strict=True):
        operation = document["paths"][path][method]
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": ref}},
        }
    add_examples(document)  # last: examples for every body and response, as documented
    return document


def _problem_answer(status: int, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    """A documented problem+json answer (its examples are added by api.openapi_examples)."""
    answer: dict[str, Any] = {"description": TITLES[status]}
    if headers:
        answer["headers"] = headers
    answer["content"] = {
        PROBLEM_MEDIA_TYPE: {"schema": {"$ref": REF_TEMPLATE.format(name="Problem")}}
    }
    return answer


def _retry_after(description: str) -> dict[str, Any]:
    return {
        "Retry-After": {
            "description": description,
            "required": True,
            "schema": {"type": "integer", "minimum": 0},
        }
    }


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(path, method, operation) for every operation with responses."""
    return [
        (path, method, operation)
        for path, operations in document.get("paths", {}).items()
        for method, operation in operations.items()
        if isinstance(operation, dict) and "responses" in operation
    ]


# Operations that answer without the database (liveness, the static codebook and tus
# discovery, a route that is gone): every other one answers 503 when PostgreSQL is out of reach.
_WITHOUT_DATABASE: Final = frozenset(
    {
        ("/healthz", "get"),
        ("/v1/codebook", "get"),
        ("/v1/uploads", "options"),
        ("/v1/public/stats/identification", "get"),
    }
)


def _document_server_errors(document: dict[str, Any]) -> None:
    """Every operation can answer 500 ``internal_error`` (api.errors catches what was not
    foreseen), and 503 ``database_unavailable`` with Retry-After when it needs PostgreSQL, so
    generated clients parse them into Problem rather than failing on an undocumented status."""
    for path, method, operation in _operations(document):
        responses = operation["responses"]
        responses.setdefault("500", _problem_answer(500))
        if (path, method) not in _WITHOUT_DATABASE:
            responses.setdefault("503", _problem_answer(503))
        if "503" in responses:  # every 503 the service sends says when to retry (api.errors)
            retry = _retry_after("Whole seconds to wait before retrying")
            responses["503"].setdefault("headers", {}).update(retry)


def _document_rate_limits(document: dict[str, Any]) -> None:
    """Every operation the rate limiter counts can answer 429 (``PLAINSIGHT_RATE_LIMITS``)
    with Retry-After. An operation that declares a 429 of its own has another cause as well
    (``too_many_uploads``: waiting does not help, finishing an upload does), sent without it."""
    for path, method, operation in _operations(document):
        if rule_for(method.upper(), path, public=False) is None:
            continue
        responses = operation["responses"]
        if "429" not in responses:
            retry = _retry_after("Whole seconds until a retry can succeed")
            responses["429"] = _problem_answer(429, retry)
            continue
        retry = _retry_after("Whole seconds until a retry can succeed; sent with rate_limited")
        retry["Retry-After"]["required"] = False
        responses["429"].setdefault("headers", {}).update(retry)


def _document_malformed_path_parameters(document: dict[str, Any]) -> None:
    """An operation with a UUID or a number in its path answers 422 naming the parameter when
    it does not parse (api.path_parameters)."""
    for _, _, operation in _operations(document):
        if any(
            parameter.get("in") == "path" and _parsed(parameter.get("schema", {}))
            for parameter in operation.get("parameters", [])
        ):
            operation["responses"].setdefault("422", _problem_answer(422))


def _document_empty_answers(document: dict[str, Any]) -> None:
    """A handler that returns ``Response[None]`` (the tus routes: their answers are headers)
    sends no body; Litestar would document a JSON ``null``."""
    empty = {"application/json": {"schema": {"type": "null"}}}
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            if not isinstance(operation, dict):
                continue
            for response in operation.get("responses", {}).values():
                if response.get("content") == empty:
                    del response["content"]


def _document_validation_errors(document: dict[str, Any]) -> None:
    """Litestar documents a 400 with its own JSON body (whose ``extra`` is a three-type list
    generators cannot model) for every handler with parameters; this app answers Litestar's
    ValidationException with a 422 problem (api.errors), documented instead."""
    for _, _, operation in _operations(document):
        responses = operation["responses"]
        if _is_litestar_exception(responses.get("400", {})):
            del responses["400"]
            responses.setdefault("422", _problem_answer(422))


def _is_litestar_exception(response: dict[str, Any]) -> bool:
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    return set(schema.get("properties", {})) == {"status_code", "detail", "extra"}


# Response headers declared for documentation only carry no schema in Litestar's output (a
# header object needs one: generators log an error per header); all are strings but these.
_HEADER_SCHEMAS: dict[str, dict[str, Any]] = {
    "Upload-Offset": {"type": "integer", "minimum": 0},
    "Upload-Length": {"type": "integer", "minimum": 0},
    "Tus-Max-Size": {"type": "integer", "minimum": 0},
    "Plainsight-Photo-Id": {"type": "string", "format": "uuid"},
}


def _document_header_schemas(document: dict[str, Any]) -> None:
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            if not isinstance(operation, dict):
                continue
            for response in operation.get("responses", {}).values():
                for name, header in response.get("headers", {}).items():
                    if "schema" not in header and "content" not in header:
                        header["schema"] = dict(_HEADER_SCHEMAS.get(name, {"type": "string"}))


def _parsed(schema: dict[str, Any]) -> bool:
    return schema.get("format") == "uuid" or schema.get("type") == "integer"


def _declared(app: Litestar, key: str) -> list[tuple[str, str, Any]]:
    found = []
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            if not isinstance(handler, HTTPRouteHandler):
                continue
            declared = handler.opt.get(key)
            if declared is None:
                continue
            for method in sorted(handler.http_methods):
                found.append((route.path_format, method.lower(), declared))
    return found


class CompletedJsonRender(JsonRenderPlugin):
    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        return self.render_json(request, openapi_document(request.app))


class OpenAPI30JsonRender(JsonRenderPlugin):
    """The same document as OpenAPI 3.0.3, for generators that read 3.0 only."""

    def __init__(self) -> None:
        super().__init__(path="/openapi-3.0.json")

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        return self.render_json(request, _document_30(request.app))


@cache
def _document_30(app: Litestar) -> dict[str, Any]:
    return openapi_30(_document(app))


def openapi_config(version: str) -> OpenAPIConfig:
    return OpenAPIConfig(
        title="Plainsight API",
        version=version,
        description=(
            "Field reports of encounters with plainclothes or masked agents, and honest "
            "misidentification statistics. Errors are RFC 9457 problem+json with a stable `code`."
        ),
        # Public like /healthz: without the opt the app-wide role guard answers 403.
        openapi_router=Router(
            path="/schema",
            route_handlers=[reference_router(), other_reference],
            opt={PUBLIC_OPT: True},
            include_in_schema=False,
        ),
        render_plugins=[CompletedJsonRender(), OpenAPI30JsonRender()],
        components=Components(
            security_schemes={
                "BearerToken": SecurityScheme(type="http", scheme="bearer"),
            }
        ),
        use_handler_docstrings=True,
    )
