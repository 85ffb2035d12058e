"""A researcher-tier download: the table of a request written as CSV, JSON, Parquet, Stata or
GeoJSON with its methods, audited. One function makes the response, so the API's export
routes (api.routes.stats) and the console's download links (api.web.routes.statistics) give
the same bytes for the same filters."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Final

import anyio.to_thread
import msgspec
from litestar.datastructures import State
from litestar.response import Stream

from api.errors import InvalidInput
from api.stats_request import (
    DOWNLOADED,
    StatsParameters,
    build_query,
    is_snapped,
    read_table,
    record_read,
)
from schemas.auth import Principal
from schemas.settings import Settings
from schemas.stats import DEFINITIONS, Dimension, GroupingMethod, Methods, StatsRow
from storage.statistics.formats import FILE_FORMATS
from storage.statistics.formats.methods import methods_lines, plain_value
from storage.statistics.published import Table
from storage.statistics.query import StatsQuery

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
STREAMED_MEDIA_TYPES: Final = {"csv": "text/csv", "json": "application/json"}
EXTENSIONS: Final = (*STREAMED_MEDIA_TYPES, *FILE_FORMATS)
"""Every export format: csv, json, parquet, dta, geojson."""


def media_type(extension: str) -> str:
    if extension in FILE_FORMATS:
        return FILE_FORMATS[extension].media_type
    return STREAMED_MEDIA_TYPES[extension]


def needs_area(extension: str) -> bool:
    file_format = FILE_FORMATS.get(extension)
    return file_format is not None and file_format.needs_area


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
        snapped=is_snapped(table, query),
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


async def export_download(
    state: State, reader: Principal, params: StatsParameters, *, extension: str
) -> Stream:
    """The researcher tier's table as a download named after its dataset version."""
    settings: Settings = state.settings
    query = build_query(params, settings)
    if needs_area(extension) and Dimension.AREA not in query.group_by:
        raise InvalidInput("group_by", f"a .{extension} export needs `area` in `group_by`")
    table = await read_table(state, query)
    meta = methods(table, query, settings)
    await record_read(state, reader, DOWNLOADED, table, query, format=extension)
    file_format = FILE_FORMATS.get(extension)
    if file_format:
        # Written whole before the download starts (see storage.statistics.formats).
        body = await anyio.to_thread.run_sync(file_format.write, meta, query.group_by, table.rows)
        chunks = _whole(body)
    elif extension == "csv":
        chunks = _csv_chunks(meta, query.group_by, table.rows)
    else:
        chunks = _json_chunks(meta, table.rows)
    filename = f"plainsight-identification-{table.dataset_version}.{extension}"
    return Stream(
        chunks,
        media_type=media_type(extension),
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
