"""The statistics explorer (GET /statistics) and its downloads (GET /statistics/export.<fmt>).

Both answer through the API's own code: the parameters are checked by api.stats_request, the
table is read and its reading audited by the same call as GET /v1/stats/identification, and a
download is the very response of GET /v1/exports/identification.<fmt> (api.stats_export), so
the console and the API cannot disagree. A bad filter shows the page again with the error
beside the field (422) rather than an error page.
"""

from __future__ import annotations

import functools
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlencode

from litestar import Request, get
from litestar.datastructures import MultiDict, State
from litestar.handlers import HTTPRouteHandler
from litestar.response import Stream, Template
from markupsafe import Markup

from api.errors import InvalidInput
from api.middleware.auth import CONSOLE_OPT, ROLES_OPT
from api.routes.stats import ANALYSTS
from api.stats_export import EXTENSIONS, export_download, methods, needs_area
from api.stats_request import StatsParameters, parameters_from_query, queried_statistics
from api.web.graphics.hex_map import CellRate, MapText, render_hex_map
from api.web.graphics.numbers import format_count, format_interval, format_percent
from api.web.graphics.rate_chart import ChartText, RatePoint, render_rate_chart
from api.web.graphics.wording import RateWording
from api.web.i18n import Translator, request_language
from api.web.statistics_figures import figures_by
from api.web.templating import render
from schemas.auth import Principal
from schemas.settings import Settings
from schemas.stats import Dimension, StatsRow
from storage.statistics.formats.methods import methods_lines
from storage.statistics.published import Table
from storage.statistics.query import StatsQuery

EXPLORER: Final = "/statistics"
TEMPLATE: Final = "statistics/explorer.html"
OPT: Final = {CONSOLE_OPT: True, ROLES_OPT: ANALYSTS}
FILTERS: Final = ("from", "to", "group_by", "area_resolution", "status", "unit")
MAX_FILTER_CHARS: Final = 200
"""Longer than any valid value: a filter is echoed back into the form, never at any length."""
PAGE_ROWS: Final = 200
"""Table rows per page; a table grouped finely has thousands of cells (all in the downloads)."""
GRAPHICS_KEPT: Final = 64
"""Rendered charts and maps kept, by dataset version and language (see ``graphics``)."""
DIMENSION_LABELS: Final = {
    # Codebook fields whose values the table shows by their labels.
    Dimension.AGENCY: "agents.agencies_claimed",
    Dimension.MASKED: "agents.masked",
    Dimension.KIND: "kind",
}


def dimension_name(t: Translator, dimension: Dimension) -> str:
    """A grouping's name: the codebook's field label for masking and kind, else the console's
    word (the codebook's agency fields are "agencies claimed/suspected", not "agency")."""
    if dimension in (Dimension.MASKED, Dimension.KIND):
        return t.label(DIMENSION_LABELS[dimension])
    return t(f"statistics.dimension_{dimension.value}")


def filter_text(query: MultiDict[str]) -> dict[str, str]:
    """The filters as the form sent them: ticked group_by boxes (or the API's comma list)
    joined by commas, every value cut to a length no valid one reaches."""
    text = {name: str(query.get(name) or "")[:MAX_FILTER_CHARS] for name in FILTERS}
    text["group_by"] = ",".join(str(v) for v in query.getall("group_by", []))[:MAX_FILTER_CHARS]
    return text


def download_query(params: StatsParameters, query: StatsQuery) -> str:
    """The checked filters as a query string, for the download links."""
    pairs = [
        ("from", None if params.date_from is None else params.date_from.isoformat()),
        ("to", None if params.date_to is None else params.date_to.isoformat()),
        ("group_by", ",".join(d.value for d in query.group_by) or None),
        ("area_resolution", str(query.area_resolution)),
        ("status", query.status.value),
        ("unit", query.unit.value),
    ]
    return urlencode([(name, value) for name, value in pairs if value is not None])


def _wording(t: Translator, unit_word: str) -> RateWording:
    return RateWording(
        rate=t("statistics.not_identified"),
        interval=t("statistics.interval"),
        total=unit_word,
        no_rate=t("statistics.no_rate"),
    )


def rate_chart(
    rows: list[StatsRow], query: StatsQuery, t: Translator, wording: RateWording
) -> Markup | None:
    if Dimension.WEEK in query.group_by:
        period = Dimension.WEEK
    elif Dimension.MONTH in query.group_by:
        period = Dimension.MONTH
    else:
        return None
    series = [
        RatePoint(f.key, f.rate, f.ci_low, f.ci_high, f.total) for f in figures_by(rows, period)
    ]
    period_word = t(f"statistics.period_{period.value}")
    words = ChartText(
        title=t("statistics.chart"),
        description=t("statistics.chart_description", period=period_word),
        x_axis=t("statistics.chart_x"),
        y_axis=t("statistics.chart_y"),
        empty=t("statistics.chart_empty"),
        wording=wording,
    )
    return render_rate_chart(series, words, id_prefix="rate-chart")


def hex_map(
    rows: list[StatsRow], query: StatsQuery, t: Translator, wording: RateWording, absent: str
) -> Markup | None:
    if Dimension.AREA not in query.group_by:
        return None
    cells = [
        CellRate(f.key, f.rate, f.ci_low, f.ci_high, f.total)
        for f in figures_by(rows, Dimension.AREA)
    ]
    words = MapText(
        title=t("statistics.map"),
        description=t("statistics.map_description"),
        legend_title=t("statistics.map_legend"),
        absent_note=absent,
        empty=t("statistics.map_empty"),
        wording=wording,
    )
    return render_hex_map(cells, words, id_prefix="hex-map")


ShownRow = tuple[list[tuple[str, str]], str, str, str, str, str, str]
"""(key, label) of each grouped dimension; total, not identified, identified, unclear, rate
and interval as written."""


def shown_rows(
    rows: Sequence[StatsRow], group_by: Sequence[Dimension], t: Translator
) -> list[ShownRow]:
    """Rows written out once in Python: a template calling a function per cell costs several
    times as much."""
    paths = [DIMENSION_LABELS.get(dimension) for dimension in group_by]
    names = [dimension.value for dimension in group_by]
    label = t.label
    return [
        (
            [
                (key, key if path is None else label(path, key))
                for key, path in zip((getattr(row, name) for name in names), paths, strict=True)
            ],
            format_count(row.total),
            format_count(row.not_identified),
            format_count(row.identified),
            format_count(row.unclear),
            format_percent(row.rate_not_identified),
            format_interval(row.ci_low, row.ci_high),
        )
        for row in rows
    ]


@dataclass(frozen=True, slots=True)
class Graphics:
    chart: Markup | None
    map: Markup | None


class GraphicsCache:
    """Charts and maps already drawn. A dataset version names the published table exactly
    (filters, threshold, time zone and rows), so with the language it names the drawing: a
    reader paging through a table, or coming back to it, is not drawn a thousand hexagons
    again."""

    def __init__(self, capacity: int = GRAPHICS_KEPT) -> None:
        self.capacity = capacity
        self._drawn: OrderedDict[tuple[str, str], Graphics] = OrderedDict()

    def get(self, key: tuple[str, str]) -> Graphics | None:
        drawn = self._drawn.get(key)
        if drawn is not None:
            self._drawn.move_to_end(key)
        return drawn

    def put(self, key: tuple[str, str], drawn: Graphics) -> None:
        self._drawn[key] = drawn
        while len(self._drawn) > self.capacity:
            self._drawn.popitem(last=False)


GRAPHICS = GraphicsCache()


def graphics(
    table: Table, query: StatsQuery, settings: Settings, t: Translator, unit_word: str
) -> Graphics:
    key = (table.dataset_version, t.language)
    drawn = GRAPHICS.get(key)
    if drawn is None:
        wording = _wording(t, unit_word)
        absent = t(
            "statistics.map_absent",
            unit=unit_word.lower(),
            threshold=settings.suppression_threshold,
        )
        drawn = Graphics(
            rate_chart(table.rows, query, t, wording),
            hex_map(table.rows, query, t, wording, absent),
        )
        GRAPHICS.put(key, drawn)
    return drawn


@dataclass(frozen=True, slots=True, kw_only=True)
class Result:
    query: StatsQuery
    table: Table
    shown: list[ShownRow]
    """The rows of this page of the table, as shown."""
    first: int
    page: int
    pages: int
    snapped: bool
    chart: Markup | None
    map: Markup | None
    methods_lines: list[str]
    downloads: list[tuple[str, str]]


def page_number(raw: str | None, pages: int) -> int:
    """The page asked for, within 1..pages; anything else the nearest page (a stale link)."""
    number = int(raw) if raw and raw.isascii() and raw.isdigit() and len(raw) < 9 else 1
    return min(max(number, 1), pages)


def result(
    request: Request[Principal, Any, Any],
    params: StatsParameters,
    query: StatsQuery,
    table: Table,
    settings: Settings,
) -> Result:
    t = Translator(request_language(request))
    unit_word = t(f"statistics.unit_{query.unit.value}")
    drawn = graphics(table, query, settings, t, unit_word)
    pages = max(1, -(-len(table.rows) // PAGE_ROWS))
    page = page_number(request.query_params.get("page"), pages)
    first = (page - 1) * PAGE_ROWS
    meta = methods(table, query, settings)
    link_query = download_query(params, query)
    downloads = [
        (extension, f"{EXPLORER}/export.{extension}?{link_query}")
        for extension in EXTENSIONS
        if not needs_area(extension) or Dimension.AREA in query.group_by
    ]
    return Result(
        query=query,
        table=table,
        shown=shown_rows(table.rows[first : first + PAGE_ROWS], query.group_by, t),
        first=first,
        page=page,
        pages=pages,
        snapped=meta.snapped,
        chart=drawn.chart,
        map=drawn.map,
        methods_lines=methods_lines(meta),
        downloads=downloads,
    )


def page_link(filters: Mapping[str, str], page: int) -> str:
    pairs = [(name, value) for name, value in filters.items() if value]
    return f"{EXPLORER}?{urlencode([*pairs, ('page', str(page))])}"


@get(EXPLORER, opt=OPT, include_in_schema=False)
async def explorer(request: Request[Principal, Any, Any], state: State) -> Template:
    filters = filter_text(request.query_params)
    settings: Settings = state.settings
    context: dict[str, Any] = {
        "filters": filters,
        "ticked": set(filters["group_by"].split(",")),
        "dimensions": list(Dimension),
        "dimension_labels": DIMENSION_LABELS,
        "dimension_name": functools.partial(dimension_name, Translator(request_language(request))),
        "settings": settings,
        "count": format_count,
        "page_link": page_link,
        "error": None,
        "result": None,
    }
    try:
        params = parameters_from_query(filters)
        query, table = await queried_statistics(state, request.user, params)
    except InvalidInput as error:
        context["error"] = error
        return render(request, TEMPLATE, context, status_code=422)
    context["result"] = result(request, params, query, table, settings)
    return render(request, TEMPLATE, context)


def _download_route(extension: str) -> HTTPRouteHandler:
    """GET /statistics/export.<extension>: the API's export with the session's principal."""

    async def download(request: Request[Principal, Any, Any], state: State) -> Stream:
        params = parameters_from_query(filter_text(request.query_params))
        return await export_download(state, request.user, params, extension=extension)

    download.__name__ = download.__qualname__ = f"download_{extension}"
    return get(f"{EXPLORER}/export.{extension}", opt=OPT, include_in_schema=False)(download)


ROUTES = [explorer, *(_download_route(extension) for extension in EXTENSIONS)]
