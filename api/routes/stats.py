"""Identification statistics: the researcher tier, its exports, and the retired public query
(the public reads releases: api/routes/releases.py)."""

from __future__ import annotations

from typing import Annotated, Any, Final

from litestar import Request, Response, get
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.spec import Example, OpenAPIFormat
from litestar.params import FromQuery, QueryParameter
from litestar.response import Stream

from api.middleware.auth import PUBLIC_OPT, ROLES_OPT
from api.openapi import BINARY_SCHEMA, RESPONSE_CONTENT_OPT
from api.problems import Problem, problem_response, problem_specs
from api.stats_export import EXTENSIONS, export_download, media_type
from api.stats_request import StatsParameters, parse_date, queried_statistics, statistics
from schemas.auth import Principal, Role
from schemas.stats import (
    MAX_AREA_RESOLUTION,
    MIN_AREA_RESOLUTION,
    Statistics,
    StatusScope,
    Unit,
)

ANALYSTS = frozenset({Role.researcher, Role.moderator, Role.admin})

# Dates are parsed here rather than by the framework, so an error names `from`, the
# parameter the client sent, and not the Python name it arrives under.
DateFrom = Annotated[
    str | None,
    QueryParameter(
        name="from",
        format=OpenAPIFormat.DATE,
        description=(
            "First day counted (inclusive, YYYY-MM-DD, 2000-01-01 to 2100-12-31), in the "
            "configured time zone"
        ),
    ),
]
DateTo = Annotated[
    str | None,
    QueryParameter(
        format=OpenAPIFormat.DATE,
        description=(
            "Last day counted (inclusive, YYYY-MM-DD, 2000-01-01 to 2100-12-31), in the "
            "configured time zone"
        ),
    ),
]
GroupBy = Annotated[
    str | None,
    QueryParameter(
        description="Comma list of month, week, area, agency, masked, kind",
        examples=[Example(value="month,area")],
    ),
]
AreaResolution = Annotated[
    int | None,
    QueryParameter(
        ge=MIN_AREA_RESOLUTION,
        le=MAX_AREA_RESOLUTION,
        description="H3 resolution of `area` (5-7; default 7)",
    ),
]


async def provide_parameters(
    date_from: DateFrom = None,
    to: DateTo = None,
    group_by: GroupBy = None,
    area_resolution: AreaResolution = None,
    status: FromQuery[StatusScope] = StatusScope.ALL,
    unit: FromQuery[Unit] = Unit.INCIDENT,
) -> StatsParameters:
    """The query parameters every statistics endpoint shares."""
    return StatsParameters(
        date_from=parse_date("from", date_from),
        date_to=parse_date("to", to),
        group_by=group_by,
        area_resolution=area_resolution,
        status=status,
        unit=unit,
    )


PARAMETERS = {"params": Provide(provide_parameters)}


@get(
    "/v1/stats/identification",
    dependencies=PARAMETERS,
    opt={ROLES_OPT: ANALYSTS},
    tags=["statistics"],
    summary="How often agents did not identify themselves, by month/week/area/agency/...",
    responses=problem_specs(401, 403, 422),
)
async def identification_statistics(
    state: State,
    request: Request[Principal, Any, Any],
    params: NamedDependency[StatsParameters],
) -> Statistics:
    query, table = await queried_statistics(state, request.user, params)
    return statistics(table, query, state.settings)


@get(
    "/v1/public/stats/identification",
    opt={PUBLIC_OPT: True},
    tags=["statistics"],
    summary="Gone: public statistics are monthly releases (GET /v1/public/releases)",
    responses=problem_specs(410),
)
async def public_identification_statistics() -> Response[Problem]:
    # Live public queries let anyone difference tables over shifting windows; the public now
    # gets fixed, noised monthly releases instead.
    return problem_response(
        410,
        "gone",
        "live public statistics were replaced by monthly releases: see /v1/public/releases",
        headers={"Link": '</v1/public/releases>; rel="successor-version"'},
    )


EXPORT_SUMMARIES: Final = {
    "csv": "The statistics as CSV, the methods as leading # lines",
    "json": "The statistics as JSON: a `meta` object with the methods beside `rows`",
    "parquet": "The statistics as Parquet, the methods as file key-value metadata",
    "dta": "The statistics as Stata .dta with value labels, the methods as dataset notes",
    "geojson": "Areas as GeoJSON polygons (group_by must include area), the methods as `meta`",
}


def _export_route(extension: str) -> HTTPRouteHandler:
    """GET /v1/exports/identification.<extension>: the routes differ only in the format."""

    async def export(
        state: State,
        request: Request[Principal, Any, Any],
        params: NamedDependency[StatsParameters],
    ) -> Stream:
        return await export_download(state, request.user, params, extension=extension)

    export.__name__ = export.__qualname__ = f"export_{extension}"
    exported = media_type(extension)
    # Parquet and Stata files are bytes to a client; the text formats keep Litestar's schema.
    binary = not (exported.startswith("text/") or exported.endswith("json"))
    answers = {200: {"content": {exported: {"schema": BINARY_SCHEMA}}}} if binary else {}
    return get(
        f"/v1/exports/identification.{extension}",
        dependencies=PARAMETERS,
        opt={ROLES_OPT: ANALYSTS, RESPONSE_CONTENT_OPT: answers},
        tags=["statistics"],
        summary=EXPORT_SUMMARIES[extension],
        # Litestar appends "; charset=utf-8" to a text/* type (a second one, if it is given
        # here); JSON is declared as the framework's default.
        media_type=None if extension == "json" else exported,
        responses=problem_specs(401, 403, 422),
    )(export)


ROUTES = [
    identification_statistics,
    public_identification_statistics,
    *(_export_route(extension) for extension in EXTENSIONS),
]
