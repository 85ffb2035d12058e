"""The explorer's table pages and the filters its links carry."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

import pytest
from litestar.datastructures import MultiDict

from api.stats_request import StatsParameters
from api.web.routes.statistics import download_query, filter_text, page_link, page_number
from schemas.stats import Dimension, StatusScope, Unit
from storage.statistics.query import StatsQuery


@pytest.mark.parametrize(
    ("raw", "pages", "expected"),
    [
        (None, 3, 1),
        ("2", 3, 2),
        ("3", 3, 3),
        ("4", 3, 3),  # a stale link after the table shrank: its last page
        ("0", 3, 1),
        ("-1", 3, 1),
        ("two", 3, 1),
        ("٣", 3, 1),  # an Arabic-Indic digit is a digit to str.isdigit, not a page
        ("9" * 40, 3, 1),
        ("1", 1, 1),
    ],
)
def test_a_page_number_is_always_a_page(raw: str | None, pages: int, expected: int) -> None:
    assert page_number(raw, pages) == expected


def test_ticked_boxes_become_the_apis_comma_list_and_long_values_are_cut() -> None:
    query = MultiDict([("group_by", "month"), ("group_by", "area"), ("from", "x" * 5000)])
    text = filter_text(query)
    assert text["group_by"] == "month,area"
    assert len(text["from"]) == 200
    assert text["to"] == text["unit"] == ""


def test_download_links_carry_the_checked_filters() -> None:
    params = StatsParameters(
        date_from=date(2025, 3, 2),
        date_to=None,
        group_by="month, area",
        area_resolution=None,
        status=StatusScope.VERIFIED,
        unit=Unit.REPORT,
    )
    query = StatsQuery(
        group_by=(Dimension.MONTH, Dimension.AREA),
        date_from=date(2025, 3, 2),
        date_to=None,
        area_resolution=7,
        status=StatusScope.VERIFIED,
        unit=Unit.REPORT,
        time_zone=ZoneInfo("UTC"),
    )
    assert download_query(params, query) == (
        "from=2025-03-02&group_by=month%2Carea&area_resolution=7&status=verified&unit=report"
    )


def test_a_page_link_keeps_the_filters_entered() -> None:
    filters = {"from": "2025-01-01", "to": "", "group_by": "month,area", "unit": "report"}
    assert page_link(filters, 2) == (
        "/statistics?from=2025-01-01&group_by=month%2Carea&unit=report&page=2"
    )
