"""Identification statistics: the researcher tier, its exports, and the retired public query
(the public reads releases: api/routes/releases.py)."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, date, datetime
from typing import Annotated, Any

import anyio.to_thread
import msgspec
from litestar import Request, Response, get
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.openapi.spec import Example, OpenAPIFormat
from litestar.params import FromQuery, QueryParameter
from litestar.response import Stream

from api.errors import InvalidInput
from api.middleware.auth import PUBLIC_OPT, ROLES_OPT
from api.problems import Problem, problem_response, problem_specs
from schemas.auth import Principal, Role
from schemas.settings import Settings
from schemas.stats import (
    DEFINITIONS,
    EARLIEST_DAY,
    LATEST_DAY,
    MAX_AREA_RESOLUTION,
    MIN_AREA_RESOLUTION,
    Dimension,
    GroupingMethod,
    Methods,
    Statistics,
    StatsRow,
    StatusScope,
    Unit,
)
from storage.audit import log as audit
from storage.db.pool import Database
from storage.statistics.formats import FILE_FORMATS
from storage.statistics.formats.methods import methods_lines, plain_value
from storage.statistics.published import Table, identification_table
from storage.statistics.query import StatsQuery

ANALYSTS = frozenset({Role.researcher, Role.moderator, Role.admin})
CSV_COUNT_COLUMNS = (
    "total",
    "not_identified",
    "identified",
    "unclear",
    "rate_not_identified",
    "ci_low",
    "ci_high",
    "suppressed",
)
ROWS_PER_CHUNK = 500

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


class StatsParameters(msgspec.Struct, frozen=True, kw_only=True):
    date_from: date | None
    date_to: date | None
    group_by: str | None
    area_resolution: int | None
    status: StatusScope
    unit: Unit


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
        date_from=_parse_date("from", date_from),
        date_to=_parse_date("to", to),
        group_by=group_by,
        area_resolution=area_resolution,
        status=status,
        unit=unit,
    )


PARAMETERS = {"params": Provide(provide_parameters)}


def _parse_date(name: str, raw: str | None) -> date | None:
    if raw is None or raw == "":
        return None
    try:
        if len(raw) == len("YYYY-MM-DD"):  # fromisoformat also takes 20250301 and weeks
            day = date.fromisoformat(raw)
            if EARLIEST_DAY <= day <= LATEST_DAY:
                return day
    except ValueError:
        pass
    raise InvalidInput(
        name, f"`{name}` must be a calendar date as YYYY-MM-DD from {EARLIEST_DAY} to {LATEST_DAY}"
    )


def parse_group_by(raw: str | None) -> tuple[Dimension, ...]:
    if raw is None or raw.strip() == "":
        return ()
    names = [name.strip() for name in raw.split(",")]
    dimensions = []
    for name in names:
        try:
            dimension = Dimension(name)
        except ValueError:
            choices = ", ".join(d.value for d in Dimension)
            raise InvalidInput(
                "group_by", f"unknown dimension {name!r}; choose from {choices}"
            ) from None
        if dimension in dimensions:
            raise InvalidInput("group_by", f"{name!r} is listed more than once")
        dimensions.append(dimension)
    return tuple(dimensions)


def build_query(params: StatsParameters, settings: Settings) -> StatsQuery:
    if params.date_from and params.date_to and params.date_from > params.date_to:
        raise InvalidInput("from", "`from` is after `to`")
    return StatsQuery(
        group_by=parse_group_by(params.group_by),
        date_from=params.date_from,
        date_to=params.date_to,
        area_resolution=params.area_resolution or MAX_AREA_RESOLUTION,
        status=params.status,
        unit=params.unit,
        time_zone=settings.tz,
    )


async def _table(state: State, query: StatsQuery) -> Table:
    # No request transaction: the fold commits on its own at once (so concurrent statistics
    # requests do not queue behind each other's fold lock), then the counting reads one
    # snapshot (storage.statistics.published.identification_table).
    settings: Settings = state.settings
    db: Database = state.db
    async with db.acquire() as conn:
        return await identification_table(
            conn,
            query,
            settings.suppression_threshold,
            cache=state.stats_tables,
            rule=state.grouping,
        )


def _snapped(table: Table, query: StatsQuery) -> bool:
    return (table.date_from, table.date_to) != (query.date_from, query.date_to)


def _statistics(table: Table, query: StatsQuery, settings: Settings) -> Statistics:
    return Statistics(
        dataset_version=table.dataset_version,
        generated_at=datetime.now(UTC),
        unit=query.unit,
        suppression_threshold=settings.suppression_threshold,
        from_=table.date_from,
        to=table.date_to,
        snapped=_snapped(table, query),
        rows=table.rows,
    )


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
    settings: Settings = state.settings
    query = build_query(params, settings)
    table = await _table(state, query)
    await _record_read(state, request.user, "stats.queried", table, query)
    return _statistics(table, query, settings)


async def _record_read(
    state: State,
    reader: Principal,
    action: str,
    table: Table,
    query: StatsQuery,
    **details: object,
) -> None:
    """Every researcher-tier query and export is audited the same way: what was asked and
    the period answered, never the counts. Committed before the answer goes out (an
    interrupted download is still on record)."""
    db: Database = state.db
    async with db.transaction() as conn:
        await audit.record(
            conn,
            actor=reader,
            action=action,
            details={
                **details,
                "dataset_version": table.dataset_version,
                "filters": msgspec.to_builtins(query.filters),
                "answered": {
                    "from": None if table.date_from is None else table.date_from.isoformat(),
                    "to": None if table.date_to is None else table.date_to.isoformat(),
                },
            },
        )


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


def methods(table: Table, query: StatsQuery, settings: Settings) -> Methods:
    definitions = {
        name: text.format(
            distance=settings.incident_distance, window=settings.incident_window_minutes
        )
        for name, text in DEFINITIONS.items()
    }
    return Methods(
        dataset_version=table.dataset_version,
        generated_at=datetime.now(UTC),
        tier="researcher",
        filters=query.filters,
        from_=table.date_from,
        to=table.date_to,
        snapped=_snapped(table, query),
        time_zone=settings.timezone,
        suppression_threshold=settings.suppression_threshold,
        publication_delay_days=None,
        grouping=GroupingMethod(
            grid_distance=settings.incident_distance,
            window_minutes=settings.incident_window_minutes,
        ),
        definitions=definitions,
    )


def csv_lines(meta: Methods, group_by: Sequence[Dimension], rows: Sequence[StatsRow]) -> list[str]:
    """The methods as leading '#' lines, then a header row and the rows (RFC 4180 quoting)."""
    lines = [f"# {line}" for line in methods_lines(meta)]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([d.value for d in group_by] + list(CSV_COUNT_COLUMNS))
    lines.append(buffer.getvalue().rstrip("\r\n"))
    return lines


async def _csv_chunks(
    meta: Methods, group_by: Sequence[Dimension], rows: Sequence[StatsRow]
) -> AsyncIterator[bytes]:
    yield ("\r\n".join(csv_lines(meta, group_by, rows)) + "\r\n").encode()
    names = [d.value for d in group_by]
    for start in range(0, len(rows), ROWS_PER_CHUNK):
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        for row in rows[start : start + ROWS_PER_CHUNK]:
            values = msgspec.to_builtins(row)
            writer.writerow(
                [values[name] for name in names]
                + [plain_value(values[column]) for column in CSV_COUNT_COLUMNS]
            )
        yield buffer.getvalue().encode()


async def _json_chunks(meta: Methods, rows: Sequence[StatsRow]) -> AsyncIterator[bytes]:
    yield b'{"meta":' + msgspec.json.encode(meta) + b',"rows":['
    for start in range(0, len(rows), ROWS_PER_CHUNK):
        chunk = msgspec.json.encode(rows[start : start + ROWS_PER_CHUNK])[1:-1]
        yield (b"," if start else b"") + chunk
    yield b"]}"


async def _whole(body: bytes) -> AsyncIterator[bytes]:
    yield body


async def _export(
    state: State, reader: Principal, params: StatsParameters, *, extension: str
) -> Stream:
    """The researcher tier's table as a download named after its dataset version."""
    settings: Settings = state.settings
    query = build_query(params, settings)
    file_format = FILE_FORMATS.get(extension)
    if file_format and file_format.needs_area and Dimension.AREA not in query.group_by:
        raise InvalidInput("group_by", f"a .{extension} export needs `area` in `group_by`")
    table = await _table(state, query)
    meta = methods(table, query, settings)
    await _record_read(state, reader, "export.downloaded", table, query, format=extension)
    if file_format:
        # Written whole before the download starts (see storage.statistics.formats).
        body = await anyio.to_thread.run_sync(file_format.write, meta, query.group_by, table.rows)
        chunks, media_type = _whole(body), file_format.media_type
    elif extension == "csv":
        chunks, media_type = _csv_chunks(meta, query.group_by, table.rows), "text/csv"
    else:
        chunks, media_type = _json_chunks(meta, table.rows), "application/json"
    filename = f"plainsight-identification-{table.dataset_version}.{extension}"
    return Stream(
        chunks,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@get(
    "/v1/exports/identification.csv",
    dependencies=PARAMETERS,
    opt={ROLES_OPT: ANALYSTS},
    tags=["statistics"],
    summary="The statistics as CSV, the methods as leading # lines",
    # Litestar appends "; charset=utf-8" to a text/* type (a second one, if it is given here).
    media_type="text/csv",
    responses=problem_specs(401, 403, 422),
)
async def export_csv(
    state: State,
    request: Request[Principal, Any, Any],
    params: NamedDependency[StatsParameters],
) -> Stream:
    return await _export(state, request.user, params, extension="csv")


@get(
    "/v1/exports/identification.json",
    dependencies=PARAMETERS,
    opt={ROLES_OPT: ANALYSTS},
    tags=["statistics"],
    summary="The statistics as JSON: a `meta` object with the methods beside `rows`",
    responses=problem_specs(401, 403, 422),
)
async def export_json(
    state: State,
    request: Request[Principal, Any, Any],
    params: NamedDependency[StatsParameters],
) -> Stream:
    return await _export(state, request.user, params, extension="json")


@get(
    "/v1/exports/identification.parquet",
    dependencies=PARAMETERS,
    opt={ROLES_OPT: ANALYSTS},
    tags=["statistics"],
    summary="The statistics as Parquet, the methods as file key-value metadata",
    media_type=FILE_FORMATS["parquet"].media_type,
    responses=problem_specs(401, 403, 422),
)
async def export_parquet(
    state: State,
    request: Request[Principal, Any, Any],
    params: NamedDependency[StatsParameters],
) -> Stream:
    return await _export(state, request.user, params, extension="parquet")


@get(
    "/v1/exports/identification.dta",
    dependencies=PARAMETERS,
    opt={ROLES_OPT: ANALYSTS},
    tags=["statistics"],
    summary="The statistics as Stata .dta with value labels, the methods as dataset notes",
    media_type=FILE_FORMATS["dta"].media_type,
    responses=problem_specs(401, 403, 422),
)
async def export_dta(
    state: State,
    request: Request[Principal, Any, Any],
    params: NamedDependency[StatsParameters],
) -> Stream:
    return await _export(state, request.user, params, extension="dta")


@get(
    "/v1/exports/identification.geojson",
    dependencies=PARAMETERS,
    opt={ROLES_OPT: ANALYSTS},
    tags=["statistics"],
    summary="Areas as GeoJSON polygons (group_by must include area), the methods as `meta`",
    media_type=FILE_FORMATS["geojson"].media_type,
    responses=problem_specs(401, 403, 422),
)
async def export_geojson(
    state: State,
    request: Request[Principal, Any, Any],
    params: NamedDependency[StatsParameters],
) -> Stream:
    return await _export(state, request.user, params, extension="geojson")


ROUTES = [
    identification_statistics,
    public_identification_statistics,
    export_csv,
    export_json,
    export_parquet,
    export_dta,
    export_geojson,
]
