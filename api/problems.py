"""RFC 9457 problem+json responses with a stable machine-readable ``code``."""

from __future__ import annotations

import msgspec
from litestar import Response
from litestar.openapi import ResponseSpec

PROBLEM_MEDIA_TYPE = "application/problem+json"


class FieldError(msgspec.Struct, frozen=True, kw_only=True):
    field: str
    message: str


class Problem(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    type: str
    title: str
    status: int
    detail: str
    code: str
    field: str | None = None
    errors: list[FieldError] | None = None


TITLES = {
    400: "Bad request",
    401: "Authentication required",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    410: "Gone",
    412: "Precondition failed",
    413: "Payload too large",
    415: "Unsupported media type",
    416: "Range not satisfiable",
    422: "Invalid input",
    429: "Too many requests",
    460: "Checksum mismatch",
    500: "Internal server error",
    503: "Service unavailable",
}


def problem_response(
    status: int,
    code: str,
    detail: str,
    *,
    field: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response[Problem]:
    problem = Problem(
        type=f"/problems/{code}",
        title=TITLES.get(status, "Error"),
        status=status,
        detail=detail,
        code=code,
        field=field,
        errors=None if field is None else [FieldError(field=field, message=detail)],
    )
    return Response(problem, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def problem_specs(*statuses: int) -> dict[int, ResponseSpec]:
    """OpenAPI entries for the problem+json answers a route can give."""
    return {
        status: ResponseSpec(
            data_container=Problem,
            generate_examples=False,
            description=TITLES.get(status, "Error"),
            media_type=PROBLEM_MEDIA_TYPE,
        )
        for status in statuses
    }
