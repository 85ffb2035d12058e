"""The statistics explorer over HTTP: its table is the API's table for the same filters, its
downloads are the API's exports, bad filters come back beside their field, every reading is
audited as the API's, and only analysts may open it.

Expected figures come from the API (GET /v1/stats/identification and the export routes, with a
bearer token) and, for the fixture's own cells, from counting the reports submitted below.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from html.parser import HTMLParser
from typing import Any

import httpx
import pyarrow.parquet as pq
import pytest

from schemas.auth import Role
from tests.integration.statistics.test_statistics import (
    APRIL,
    AREA_X,
    AREA_Y,
    AREA_Z,
    IDENTIFIED,
    MARCH,
    NOT_IDENTIFIED,
    UNCLEAR,
    body,
)
from tests.support.console import console_client
from tests.support.helpers import Api, bearer, fold_now

pytestmark = pytest.mark.asyncio(loop_scope="session")

PAGE = "/statistics"
STATS = "/v1/stats/identification"
EXPORT = "/v1/exports/identification"
COUNTS = ("total", "not_identified", "identified", "unclear")
DIMENSIONS = ("month", "week", "area", "agency", "masked", "kind")
Pairs = list[tuple[str, str | int | float | bool | None]]
"""Query parameters as httpx takes them, a name repeated as a form repeats it."""
ISO_INSTANT = re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z")


# --- the data --------------------------------------------------------------------------------


@pytest.fixture
async def recorded(api: Api) -> None:
    """Cells above the threshold (11) in March and April, one below it, and one April
    incident of three reports (so counting reports differs from counting incidents)."""
    token = await api.device_token()
    slot = 0

    async def incidents(
        area: str, start: datetime, answers: Sequence[dict[str, str]], **overrides: Any
    ) -> datetime:
        nonlocal slot
        first = start
        for number, item in enumerate(answers):
            when = start + timedelta(hours=3 * (slot + number))
            first = first if number else when
            response = await api.submit(token, body(area, when, item, **overrides), fold=False)
            assert response.status_code == 201, response.text
        slot += len(answers)
        return first

    await incidents(AREA_X, MARCH, [NOT_IDENTIFIED] * 8 + [IDENTIFIED] * 3 + [UNCLEAR])
    await incidents(AREA_Z, MARCH, [IDENTIFIED] * 12)
    await incidents(
        AREA_Z,
        MARCH,
        [NOT_IDENTIFIED] * 12,
        agents={"masked": "some", "agencies_claimed": ["USMS"], "agencies_suspected": ["USMS"]},
    )
    await incidents(AREA_Y, MARCH, [NOT_IDENTIFIED] * 2)
    shared = await incidents(AREA_X, APRIL, [NOT_IDENTIFIED] * 6 + [IDENTIFIED] * 6)
    for _ in range(2):  # two more accounts of April's first incident, same place and time
        response = await api.submit(token, body(AREA_X, shared, NOT_IDENTIFIED), fold=False)
        assert response.status_code == 201, response.text
    await fold_now(api.conn)


@pytest.fixture
async def researcher(api: Api) -> dict[str, str]:
    return bearer(await api.account_token(Role.researcher))


# --- reading the page ------------------------------------------------------------------------


class TableReader(HTMLParser):
    """The explorer's result table as rows of cells: each cell's text and its data-value."""

    def __init__(self) -> None:
        super().__init__()
        self.columns: list[str] = []
        self.rows: list[list[tuple[str, str | None]]] = []
        self._in_table = False
        self._cell: list[str] | None = None
        self._value: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "table" and attributes.get("id") == "statistics-table":
            self._in_table = True
        elif not self._in_table:
            return
        elif tag == "th" and attributes.get("data-column"):
            self.columns.append(str(attributes["data-column"]))
        elif tag == "tr":
            self.rows.append([])
        elif tag == "td":
            self._cell, self._value = [], attributes.get("data-value")

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._in_table = False
        elif tag == "td" and self._cell is not None:
            self.rows[-1].append(("".join(self._cell).strip(), self._value))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def page_table(html: str) -> list[dict[str, str]]:
    """Each row as column → text, a dimension as its data-value (the key the API gives)."""
    reader = TableReader()
    reader.feed(html)
    rows = []
    for cells in (row for row in reader.rows if row):
        assert len(cells) == len(reader.columns), (reader.columns, cells)
        rows.append(
            {
                column: (str(value) if column in DIMENSIONS else text)
                for column, (text, value) in zip(reader.columns, cells, strict=True)
            }
        )
    return rows


def percent(value: float | None) -> str:
    return "\u2014" if value is None else f"{value * 100:.1f}%"


def as_shown(row: dict[str, Any], dims: Sequence[str]) -> dict[str, str]:
    """An API row as the page must show it: keys as given, counts with thousands grouped,
    the rate and its interval as percentages to one decimal."""
    shown = {dim: str(row[dim]) for dim in dims}
    shown.update({column: f"{row[column]:,}" for column in COUNTS})
    shown["rate_not_identified"] = percent(row["rate_not_identified"])
    shown["interval"] = (
        "\u2014"
        if row["ci_low"] is None
        else f"{row['ci_low'] * 100:.1f}\u2013{row['ci_high'] * 100:.1f}%"
    )
    return shown


def console_params(params: dict[str, str]) -> Pairs:
    """The filters as the form sends them: one group_by per ticked box."""
    pairs: Pairs = [(name, value) for name, value in params.items() if name != "group_by"]
    pairs += [("group_by", dim) for dim in params.get("group_by", "").split(",") if dim]
    return pairs


async def api_stats(api: Api, headers: dict[str, str], params: dict[str, str]) -> dict[str, Any]:
    response = await api.client.get(STATS, params=params, headers=headers)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def audit_mark(api: Api) -> int:
    mark: int = await api.conn.fetchval("select coalesce(max(id), 0) from audit_log")
    return mark


async def audited_since(api: Api, mark: int) -> list[tuple[str, dict[str, Any]]]:
    """Readings of statistics on record since ``mark`` (signing in is on record too)."""
    entries = await api.conn.fetch(
        "select action, details from audit_log where id > $1"
        " and action in ('stats.queried', 'export.downloaded') order by id",
        mark,
    )
    return [(entry["action"], json.loads(entry["details"])) for entry in entries]


# --- the table is the API's ------------------------------------------------------------------

FILTERS = [
    {},
    {"group_by": "month"},
    {"group_by": "month,area"},
    {"group_by": "week"},
    {"group_by": "area,agency,masked,kind", "from": "2025-03-01", "to": "2025-03-31"},
    {"group_by": "month", "from": "2025-04-01"},
    {"group_by": "month", "to": "2025-03-15"},
    {"group_by": "area", "area_resolution": "5"},
    {"group_by": "month", "status": "verified"},
    {"group_by": "month", "unit": "report"},
]


@pytest.mark.usefixtures("recorded")
async def test_the_table_is_the_apis_for_every_filter(api: Api, researcher: dict[str, str]) -> None:
    shown_by_filter = []
    async with console_client(api, Role.researcher) as client:
        for params in FILTERS:
            page = await client.get(PAGE, params=console_params(params))
            assert page.status_code == 200, page.text
            expected = await api_stats(api, researcher, params)
            dims = [d for d in params.get("group_by", "").split(",") if d]
            shown = page_table(page.text)
            assert shown == [as_shown(row, dims) for row in expected["rows"]], params
            assert f"Dataset version {expected['dataset_version']}" in page.text
            shown_by_filter.append(shown)
    by_month, from_april, to_mid_march, verified, reports = (
        shown_by_filter[1],
        shown_by_filter[5],
        shown_by_filter[6],
        shown_by_filter[8],
        shown_by_filter[9],
    )
    # Each filter changes the table: counted from the fixture by hand.
    assert [(r["month"], r["total"]) for r in by_month] == [("2025-03", "36"), ("2025-04", "12")]
    assert [r["month"] for r in from_april] == ["2025-04"]
    assert [r["month"] for r in to_mid_march] == ["2025-03"]
    assert verified == []
    assert [(r["month"], r["total"]) for r in reports] == [("2025-03", "36"), ("2025-04", "14")]
    # Area Y (two incidents) is below the threshold: never a row, whatever the grouping.
    assert AREA_Y not in {r["area"] for r in shown_by_filter[2]}
    assert {r["area"] for r in shown_by_filter[2]} == {AREA_X, AREA_Z}
    assert len(shown_by_filter[7]) < len(shown_by_filter[2])


@pytest.mark.usefixtures("recorded")
async def test_the_page_states_the_period_the_threshold_and_the_methods(api: Api) -> None:
    async with console_client(api, Role.researcher) as client:
        page = await client.get(
            PAGE, params=[("from", "2025-03-10"), ("to", "2025-04-20"), ("group_by", "month")]
        )
    assert page.status_code == 200, page.text
    text = page.text
    assert "Period answered: 2025-03-01 to 2025-04-30 (UTC)." in text
    assert 'id="snapped-note"' in text
    assert "whole months" in text
    assert "Cells with fewer than 11 incidents are not listed" in text
    assert "Wilson" in text
    assert "time zone UTC" in text
    # The methods exactly as the downloads state them, line by line.
    assert "filters.group_by: month" in text
    assert "suppression_threshold: 11" in text
    # Labels from the codebook: the masking's and the kind's values, not their codes.
    grouped = await client_page(api, [("group_by", "masked"), ("group_by", "kind")])
    assert '<td data-value="some">Some masked</td>' in grouped
    assert '<td data-value="observer_report">Observer report</td>' in grouped


async def client_page(api: Api, params: Pairs) -> str:
    async with console_client(api, Role.researcher) as client:
        page = await client.get(PAGE, params=params)
        assert page.status_code == 200, page.text
        return page.text


@pytest.mark.usefixtures("recorded")
async def test_a_chart_by_time_and_a_map_by_area_as_inline_svg(api: Api) -> None:
    both = await client_page(api, [("group_by", "month"), ("group_by", "area")])
    assert both.count("<svg") == 2
    assert 'class="ps-chart ps-rate-chart"' in both
    assert 'class="ps-chart ps-hex-map"' in both
    assert "ps-band" in both  # the interval band
    assert both.count('class="ps-cell ') == 2  # areas X and Z; Y is not drawn
    assert "style=" not in both
    assert "<script>" not in both.replace('<script src="/static/', "")
    assert "Each period sums the listed cells" in both
    only_time = await client_page(api, [("group_by", "week")])
    assert "ps-rate-chart" in only_time
    assert "ps-hex-map" not in only_time
    assert "sums the listed cells" not in only_time  # one cell per week: the table's own
    only_area = await client_page(api, [("group_by", "area"), ("group_by", "agency")])
    assert "ps-hex-map" in only_area
    assert "ps-rate-chart" not in only_area
    nothing = await client_page(api, [])
    assert "<svg" not in nothing


# --- the downloads are the API's -------------------------------------------------------------


def download_links(html: str) -> dict[str, str]:
    links = re.findall(r'<a class="button" id="download-(\w+)" href="([^"]+)"', html)
    return {extension: href.replace("&amp;", "&") for extension, href in links}


def same_but_the_time(console: bytes, api: bytes) -> bool:
    """Equal bytes once the one instant each file carries (the methods' generated_at) is the
    same."""
    ours, theirs = set(ISO_INSTANT.findall(console)), set(ISO_INSTANT.findall(api))
    assert len(ours) == len(theirs) == 1, (ours, theirs)
    return console.replace(ours.pop(), theirs.pop()) == api


@pytest.mark.usefixtures("recorded")
async def test_every_download_is_the_apis_export(api: Api, researcher: dict[str, str]) -> None:
    params = {"group_by": "month,area", "from": "2025-03-01", "to": "2025-04-30"}
    async with console_client(api, Role.researcher) as client:
        page = await client.get(PAGE, params=console_params(params))
        links = download_links(page.text)
        assert set(links) == {"csv", "json", "parquet", "dta", "geojson"}
        for extension, href in links.items():
            ours = await client.get(href)
            theirs = await api.client.get(
                f"{EXPORT}.{extension}", params=params, headers=researcher
            )
            assert ours.status_code == theirs.status_code == 200, (extension, ours.text)
            assert ours.headers["content-type"] == theirs.headers["content-type"]
            disposition = ours.headers["content-disposition"]
            assert disposition == theirs.headers["content-disposition"]
            assert disposition.startswith("attachment; filename=")
            if extension == "parquet":
                # Arrow keeps a copy of the schema, methods and all, base64-encoded in the
                # footer: compare what a reader gets.
                assert parquet_without_time(ours.content) == parquet_without_time(theirs.content)
            else:
                assert same_but_the_time(ours.content, theirs.content), extension
            if extension == "csv":
                assert csv_rows(ours.text) == csv_rows(theirs.text)
                assert len(csv_rows(ours.text)) == 4  # X and Z in March, X in April, header
            if extension in ("json", "geojson"):
                ours_json, theirs_json = ours.json(), theirs.json()
                del ours_json["meta"]["generated_at"], theirs_json["meta"]["generated_at"]
                assert ours_json == theirs_json


def parquet_without_time(content: bytes) -> tuple[object, ...]:
    table = pq.read_table(io.BytesIO(content))
    metadata = dict(table.schema.metadata)
    methods = json.loads(metadata.pop(b"plainsight.methods"))
    del methods["generated_at"]
    return table.to_pylist(), table.schema.remove_metadata(), metadata, methods


def csv_rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO("".join(
        line for line in text.splitlines(keepends=True) if not line.startswith("#")
    ))))  # fmt: skip


@pytest.mark.usefixtures("recorded")
async def test_the_download_links_carry_the_filters_and_geojson_only_with_area(
    api: Api,
) -> None:
    html = await client_page(
        api, [("group_by", "month"), ("status", "all"), ("unit", "report"), ("to", "2025-04-30")]
    )
    links = download_links(html)
    assert set(links) == {"csv", "json", "parquet", "dta"}
    assert links["csv"] == (
        "/statistics/export.csv?to=2025-04-30&group_by=month&area_resolution=7"
        "&status=all&unit=report"
    )


async def test_a_geojson_without_area_is_the_apis_refusal_as_a_page(
    api: Api, researcher: dict[str, str]
) -> None:
    mark = await audit_mark(api)
    async with console_client(api, Role.researcher) as client:
        page = await client.get("/statistics/export.geojson", params={"group_by": "month"})
    theirs = await api.client.get(
        f"{EXPORT}.geojson", params={"group_by": "month"}, headers=researcher
    )
    assert page.status_code == theirs.status_code == 422
    assert page.headers["content-type"].startswith("text/html")
    assert "<code>group_by</code>" in page.text
    assert theirs.json()["detail"] in page.text
    assert await audited_since(api, mark) == []  # refused before anything was read


async def test_a_download_with_a_bad_filter_is_an_error_page(api: Api) -> None:
    async with console_client(api, Role.researcher) as client:
        page = await client.get("/statistics/export.csv", params={"area_resolution": "9"})
    assert page.status_code == 422
    assert "<code>area_resolution</code>" in page.text


# --- bad filters -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ([("from", "2025-04-02"), ("to", "2025-04-01")], "from"),
        ([("group_by", "city")], "group_by"),
        ([("group_by", "month"), ("group_by", "month")], "group_by"),
        ([("area_resolution", "9")], "area_resolution"),
        ([("area_resolution", "six")], "area_resolution"),
        ([("status", "bogus")], "status"),
        ([("unit", "people")], "unit"),
        ([("from", "2025-02-30")], "from"),
        ([("to", "March")], "to"),
        ([("to", "1999-12-31")], "to"),
    ],
)
async def test_a_bad_filter_shows_the_form_again_with_the_error_at_its_field(
    api: Api, researcher: dict[str, str], params: Pairs, field: str
) -> None:
    mark = await audit_mark(api)
    async with console_client(api, Role.researcher) as client:
        page = await client.get(PAGE, params=params)
    assert page.status_code == 422
    assert page.headers["content-type"].startswith("text/html")
    assert f'<p class="error" id="error-{field}" role="alert">' in page.text
    assert f'aria-describedby="error-{field}"' in page.text
    assert page.text.count('class="error"') == 1
    assert 'id="statistics-filters"' in page.text
    assert 'id="statistics-table"' not in page.text
    # The API refuses the same filters, naming the same field.
    api_params = dict(params)
    api_params["group_by"] = ",".join(str(value) for name, value in params if name == "group_by")
    if not api_params["group_by"]:
        del api_params["group_by"]
    refused = await api.client.get(STATS, params=api_params, headers=researcher)
    assert (refused.status_code, refused.json()["field"]) == (422, field)
    assert await audited_since(api, mark) == [], "a refused query reads nothing"


async def test_the_form_keeps_what_was_entered(api: Api) -> None:
    async with console_client(api, Role.researcher) as client:
        page = await client.get(
            PAGE,
            params=[("from", "2025-03-01"), ("to", "2025-01-01"), ("group_by", "area"),
                    ("area_resolution", "6"), ("status", "verified"), ("unit", "report")],
        )  # fmt: skip
    assert page.status_code == 422
    html = page.text
    assert 'name="from" value="2025-03-01"' in html
    assert 'name="to" value="2025-01-01"' in html
    assert re.search(r'id="group-by-area"[^>]*checked', html)
    assert not re.search(r'id="group-by-month"[^>]*checked', html)
    assert '<option value="6" selected>' in html
    assert '<option value="verified" selected>' in html
    assert '<option value="report" selected>' in html


# --- audit and access ------------------------------------------------------------------------


@pytest.mark.usefixtures("recorded")
async def test_the_page_and_a_download_are_audited_as_the_apis(api: Api) -> None:
    mark = await audit_mark(api)
    async with console_client(api, Role.researcher) as client:
        params: Pairs = [("from", "2025-03-15"), ("group_by", "month"), ("group_by", "area")]
        page = await client.get(PAGE, params=params)
        assert page.status_code == 200
        download = await client.get(download_links(page.text)["csv"])
        assert download.status_code == 200
    reads = await audited_since(api, mark)
    assert [action for action, _ in reads] == ["stats.queried", "export.downloaded"]
    for _, details in reads:
        assert details["filters"]["group_by"] == ["month", "area"]
        assert details["filters"]["from"] == "2025-03-15"
        assert details["answered"] == {"from": "2025-03-01", "to": None}
        assert "rows" not in json.dumps(details)
    assert reads[1][1]["format"] == "csv"
    actor = await api.conn.fetchval(
        "select actor_role from audit_log where id > $1 and action = 'stats.queried'", mark
    )
    assert actor == "researcher"


@pytest.mark.parametrize("role", [Role.researcher, Role.moderator, Role.admin])
async def test_analysts_may_use_the_page_and_the_downloads(api: Api, role: Role) -> None:
    async with console_client(api, role) as client:
        page = await client.get(PAGE)
        assert page.status_code == 200, page.text
        assert 'id="apply-filters"' in page.text
        download = await client.get("/statistics/export.json")
        assert download.status_code == 200
        assert download.json()["rows"] == []


async def test_an_officer_gets_a_refusal_page(api: Api) -> None:
    async with console_client(api, Role.officer) as client:
        for path in (PAGE, "/statistics/export.csv"):
            page = await client.get(path)
            assert page.status_code == 403, path
            assert page.headers["content-type"].startswith("text/html")
            assert "Your role may not open this page." in page.text


async def test_without_a_session_the_page_sends_to_sign_in(api: Api) -> None:
    async with httpx.AsyncClient(base_url=str(api.client.base_url)) as client:
        page = await client.get(PAGE, params={"group_by": "month"})
        assert page.status_code == 303
        assert page.headers["location"] == "/sign-in?next=/statistics"
        download = await client.get("/statistics/export.csv")
        assert download.status_code == 303


async def test_a_bearer_token_does_not_open_the_page(api: Api, researcher: dict[str, str]) -> None:
    page = await api.client.get(PAGE, headers=researcher)
    assert page.status_code == 303  # the console reads the session cookie only


@pytest.mark.usefixtures("recorded")
async def test_the_page_in_spanish(api: Api) -> None:
    html = await client_page(api, [("lang", "es"), ("group_by", "month"), ("group_by", "masked")])
    assert '<html lang="es">' in html
    assert "Explorador de estadísticas" in html
    assert "Tasa de no identificación" in html
    assert "Algunos enmascarados" in html  # the codebook's Spanish label of "some"
    assert '<label for="group-by-masked">Enmascarados</label>' in html
