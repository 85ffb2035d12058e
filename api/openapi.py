"""The OpenAPI 3.1 document, completed with request bodies the handlers decode themselves.

Report bodies are decoded strictly with msgspec from the raw bytes (Litestar's own path
converts leniently and loses the nested field path), so Litestar cannot see them; their
schemas come from msgspec, which also emits the ``kind`` discriminator for tagged unions.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import msgspec
from litestar import Litestar, Request, Router
from litestar.handlers import HTTPRouteHandler
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme

from api.middleware.auth import PUBLIC_OPT
from api.openapi_30 import openapi_30
from api.openapi_answers import REF_TEMPLATE, document_answers
from api.openapi_examples import add_examples
from api.openapi_tuples import drop_empty_union_branches
from api.reference.router import other_reference, reference_router

REQUEST_BODY_OPT = "request_body"
# For bodies that are not JSON (photo uploads): the OpenAPI ``content`` object, given as is.
REQUEST_CONTENT_OPT = "request_content"
# For answers that are not JSON (photo and video downloads): status code -> the OpenAPI
# response fields (``content``, ``headers``) that replace what Litestar inferred.
RESPONSE_CONTENT_OPT = "response_content"
# A body that is a file's bytes (photos, videos, tus appends, Parquet and Stata exports).
BINARY_SCHEMA: dict[str, Any] = {"type": "string", "format": "binary"}


def openapi_document(app: Litestar) -> dict[str, Any]:
    return _document(app)


@cache
def _document(app: Litestar) -> dict[str, Any]:
    document = app.openapi_schema.to_schema()
    drop_empty_union_branches(document)
    document_answers(document)
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
