"""Public releases: the list, and each month's signed document served as it was stored."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from litestar import Request, Response, get
from litestar.datastructures import State
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath

from api.errors import InvalidInput
from api.middleware.auth import PUBLIC_OPT
from api.problems import problem_specs
from api.routes.conditional import not_modified
from schemas.releases import Release, ReleaseList, ReleaseListItem
from storage.db.pool import Database
from storage.statistics.releases import store

RELEASES_PATH = "/v1/public/releases"
# A version never changes: cache it for a year. The latest version of a month and the list
# change when a correction is published.
IMMUTABLE = "public, max-age=31536000, immutable"
CHANGING = "public, max-age=300"
MONTH = re.compile(r"(\d{4})-(\d{2})")
VERSION = re.compile(r"v([1-9]\d{0,8})")
NOT_MODIFIED = {
    304: ResponseSpec(None, description="Not modified (If-None-Match matched the ETag)")
}


def release_url(month: date, version: int) -> str:
    return f"{RELEASES_PATH}/{month:%Y-%m}/v{version}"


def parse_month(raw: str) -> date:
    match = MONTH.fullmatch(raw)
    if match is not None and 1 <= int(match[2]) <= 12 and int(match[1]) >= 2000:
        return date(int(match[1]), int(match[2]), 1)
    raise InvalidInput("month", "`month` must be a month as YYYY-MM, from 2000-01")


def parse_version(raw: str) -> int:
    match = VERSION.fullmatch(raw)
    if match is None:
        raise InvalidInput("version", "`version` must be v followed by a number from 1, e.g. v2")
    return int(match[1])


@get(
    RELEASES_PATH,
    opt={PUBLIC_OPT: True},
    tags=["statistics"],
    summary="Every public release: each version of each month, newest first",
)
async def list_releases(state: State) -> Response[ReleaseList]:
    db: Database = state.db
    async with db.acquire() as conn:
        rows = await store.listed(conn)
    items = [
        ReleaseListItem(
            month=f"{row.month:%Y-%m}",
            version=row.version,
            published_at=row.published_at,
            url=release_url(row.month, row.version),
        )
        for row in rows
    ]
    return Response(ReleaseList(items=items), headers={"Cache-Control": CHANGING})


async def _serve(
    request: Request[Any, Any, State], month: date, version: int | None
) -> Response[bytes]:
    db: Database = request.app.state.db
    async with db.acquire() as conn:
        stored = await store.document(conn, month, version)
    headers = {"ETag": stored.etag, "Cache-Control": CHANGING if version is None else IMMUTABLE}
    if not_modified(request.headers.get("if-none-match"), stored.etag):
        return Response(b"", status_code=304, headers=headers)
    return Response(stored.document, media_type="application/json", headers=headers)


RELEASE_RESPONSES = {
    200: ResponseSpec(
        Release, generate_examples=False, description="The signed release, as published"
    ),
    **NOT_MODIFIED,
    **problem_specs(404, 422),
}


@get(
    RELEASES_PATH + "/{month:str}",
    opt={PUBLIC_OPT: True},
    tags=["statistics"],
    summary="The latest version of a month's release",
    responses=RELEASE_RESPONSES,
)
async def latest_release(
    request: Request[Any, Any, State], month: FromPath[str]
) -> Response[bytes]:
    return await _serve(request, parse_month(month), None)


@get(
    RELEASES_PATH + "/{month:str}/{version:str}",
    opt={PUBLIC_OPT: True},
    tags=["statistics"],
    summary="One version of a month's release (v1 the first, v2... its corrections)",
    responses=RELEASE_RESPONSES,
)
async def release_version(
    request: Request[Any, Any, State], month: FromPath[str], version: FromPath[str]
) -> Response[bytes]:
    return await _serve(request, parse_month(month), parse_version(version))


ROUTES = [list_releases, latest_release, release_version]
