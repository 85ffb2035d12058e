"""The answers of every operation, completed where Litestar's inference falls short: problem
responses the service sends but no handler declares (429, 422, 500, 503), header schemas, and
empty bodies. Generators drop or mistype what is missing here (README, "Generating a client")."""

from __future__ import annotations

from typing import Any, Final

from api.middleware.rate_limit import rule_for
from api.problems import PROBLEM_MEDIA_TYPE, TITLES

REF_TEMPLATE = "#/components/schemas/{name}"


def document_answers(document: dict[str, Any]) -> None:
    """Complete every operation's documented answers, in place."""
    _document_rate_limits(document)
    _document_malformed_path_parameters(document)
    _document_empty_answers(document)
    _document_validation_errors(document)
    _document_header_schemas(document)
    _document_server_errors(document)


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
