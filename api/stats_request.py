"""A researcher-tier statistics request, shared by the API (api.routes.stats) and the console
(api.web.routes.statistics): its parameters checked one way, the table read by one path, and
every read audited the same way."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import TypeVar

import msgspec
from litestar.datastructures import State

from api.errors import InvalidInput
from schemas.auth import Principal
from schemas.settings import Settings
from schemas.stats import (
    EARLIEST_DAY,
    LATEST_DAY,
    MAX_AREA_RESOLUTION,
    MIN_AREA_RESOLUTION,
    Dimension,
    Statistics,
    StatusScope,
    Unit,
)
from storage.audit import log as audit
from storage.db.pool import Database
from storage.statistics.published import Table, identification_table
from storage.statistics.query import StatsQuery

Choice = TypeVar("Choice", bound=StrEnum)


class StatsParameters(msgspec.Struct, frozen=True, kw_only=True):
    date_from: date | None
    date_to: date | None
    group_by: str | None
    area_resolution: int | None
    status: StatusScope
    unit: Unit


def parse_date(name: str, raw: str | None) -> date | None:
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


def parse_area_resolution(raw: str | None) -> int | None:
    """The API declares this parameter's type and range to the framework (and its schema);
    a form's text is checked here against the same bounds."""
    if raw is None or raw == "":
        return None
    if raw.isascii() and raw.isdigit() and MIN_AREA_RESOLUTION <= int(raw) <= MAX_AREA_RESOLUTION:
        return int(raw)
    raise InvalidInput(
        "area_resolution",
        f"`area_resolution` must be a whole number from {MIN_AREA_RESOLUTION} "
        f"to {MAX_AREA_RESOLUTION}",
    )


def parse_choice(name: str, raw: str | None, choices: type[Choice], default: Choice) -> Choice:
    if raw is None or raw == "":
        return default
    try:
        return choices(raw)
    except ValueError:
        allowed = ", ".join(c.value for c in choices)
        raise InvalidInput(name, f"`{name}` must be one of {allowed}") from None


def parameters_from_query(query: Mapping[str, str]) -> StatsParameters:
    """The statistics parameters from text (a form's query string), every one checked as the
    API checks it, an error naming the parameter as the API does."""
    return StatsParameters(
        date_from=parse_date("from", query.get("from")),
        date_to=parse_date("to", query.get("to")),
        group_by=query.get("group_by"),
        area_resolution=parse_area_resolution(query.get("area_resolution")),
        status=parse_choice("status", query.get("status"), StatusScope, StatusScope.ALL),
        unit=parse_choice("unit", query.get("unit"), Unit, Unit.INCIDENT),
    )


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


async def read_table(state: State, query: StatsQuery) -> Table:
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


def is_snapped(table: Table, query: StatsQuery) -> bool:
    return (table.date_from, table.date_to) != (query.date_from, query.date_to)


def statistics(table: Table, query: StatsQuery, settings: Settings) -> Statistics:
    return Statistics(
        dataset_version=table.dataset_version,
        generated_at=datetime.now(UTC),
        unit=query.unit,
        suppression_threshold=settings.suppression_threshold,
        from_=table.date_from,
        to=table.date_to,
        snapped=is_snapped(table, query),
        rows=table.rows,
    )


QUERIED = "stats.queried"
DOWNLOADED = "export.downloaded"


async def record_read(
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


async def queried_statistics(
    state: State, reader: Principal, params: StatsParameters
) -> tuple[StatsQuery, Table]:
    """The table of a researcher's query, its reading on record: what GET
    /v1/stats/identification and the console's explorer both answer with."""
    query = build_query(params, state.settings)
    table = await read_table(state, query)
    await record_read(state, reader, QUERIED, table, query)
    return query, table
