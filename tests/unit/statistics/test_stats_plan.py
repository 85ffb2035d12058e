"""Which rollups and period ranges answer a statistics query (worked out by hand from the
calendar: March 2025 starts on a Saturday, ISO week 10 of 2025 starts on Monday 3 March)."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

import pytest

from schemas.stats import Dimension, StatusScope, Unit
from storage.statistics.cube import SOURCE, Piece, plan
from storage.statistics.query import StatsQuery

MONTH_AREA, MONTH_ATTRIBUTES, WEEK_AREA, WEEK_ATTRIBUTES, DAY = 1, 2, 3, 4, 5


def query(
    *group_by: Dimension,
    start: date | None = None,
    end: date | None = None,
    before: date | None = None,
) -> StatsQuery:
    return StatsQuery(
        group_by=group_by,
        date_from=start,
        date_to=end,
        area_resolution=7,
        status=StatusScope.ALL,
        unit=Unit.INCIDENT,
        time_zone=ZoneInfo("UTC"),
        before_day=before,
    )


@pytest.mark.parametrize(
    ("group_by", "rollup"),
    [
        ((), MONTH_ATTRIBUTES),
        ((Dimension.MONTH,), MONTH_ATTRIBUTES),
        ((Dimension.MONTH, Dimension.AREA), MONTH_AREA),
        ((Dimension.AREA,), MONTH_AREA),
        ((Dimension.MONTH, Dimension.AGENCY), MONTH_ATTRIBUTES),
        ((Dimension.AREA, Dimension.KIND), SOURCE),
        ((Dimension.WEEK,), WEEK_ATTRIBUTES),
        ((Dimension.WEEK, Dimension.AREA), WEEK_AREA),
        ((Dimension.WEEK, Dimension.AREA, Dimension.MASKED), SOURCE),
        ((Dimension.MONTH, Dimension.WEEK, Dimension.AREA), SOURCE),
        ((Dimension.MONTH, Dimension.WEEK), DAY),
    ],
)
def test_the_smallest_rollup_with_the_dimensions_asked_for(
    group_by: tuple[Dimension, ...], rollup: int | None
) -> None:
    assert plan(query(*group_by)) == [Piece(rollup, None, None)]


def test_whole_months_come_from_the_month_rollup() -> None:
    got = plan(query(Dimension.MONTH, start=date(2025, 1, 1), end=date(2025, 3, 31)))
    assert got == [Piece(MONTH_ATTRIBUTES, date(2025, 1, 1), date(2025, 4, 1))]


def test_partial_months_at_both_ends_come_from_days() -> None:
    got = plan(query(Dimension.AGENCY, start=date(2025, 1, 15), end=date(2025, 3, 9)))
    assert got == [
        Piece(MONTH_ATTRIBUTES, date(2025, 2, 1), date(2025, 3, 1)),
        Piece(DAY, date(2025, 1, 15), date(2025, 2, 1)),
        Piece(DAY, date(2025, 3, 1), date(2025, 3, 10)),
    ]


def test_partial_months_of_an_area_query_come_from_the_sources() -> None:
    got = plan(query(Dimension.AREA, start=date(2025, 1, 15), end=date(2025, 3, 9)))
    assert got == [
        Piece(MONTH_AREA, date(2025, 2, 1), date(2025, 3, 1)),
        Piece(SOURCE, date(2025, 1, 15), date(2025, 2, 1)),
        Piece(SOURCE, date(2025, 3, 1), date(2025, 3, 10)),
    ]


def test_area_with_attributes_reads_the_sources_for_the_whole_range() -> None:
    got = plan(query(Dimension.AREA, Dimension.MASKED, start=date(2025, 1, 15)))
    assert got == [Piece(SOURCE, date(2025, 1, 15), None)]


def test_a_range_inside_one_month_is_all_days() -> None:
    got = plan(query(start=date(2025, 3, 2), end=date(2025, 3, 30)))
    assert got == [Piece(DAY, date(2025, 3, 2), date(2025, 3, 31))]


def test_open_ends() -> None:
    assert plan(query(start=date(2025, 3, 2))) == [
        Piece(MONTH_ATTRIBUTES, date(2025, 4, 1), None),
        Piece(DAY, date(2025, 3, 2), date(2025, 4, 1)),
    ]
    assert plan(query(end=date(2025, 3, 2))) == [
        Piece(MONTH_ATTRIBUTES, None, date(2025, 3, 1)),
        Piece(DAY, date(2025, 3, 1), date(2025, 3, 3)),
    ]


def test_weeks_start_on_monday() -> None:
    # Sunday 2 March .. Sunday 16 March: the weeks of 3 and 10 March whole, 2 March alone.
    got = plan(query(Dimension.WEEK, start=date(2025, 3, 2), end=date(2025, 3, 16)))
    assert got == [
        Piece(WEEK_ATTRIBUTES, date(2025, 3, 3), date(2025, 3, 17)),
        Piece(DAY, date(2025, 3, 2), date(2025, 3, 3)),
    ]


def test_the_publication_cut_off_ends_the_range() -> None:
    # Public tier: days before 20 March only, even when `to` is later or absent.
    assert plan(query(before=date(2025, 3, 20))) == [
        Piece(MONTH_ATTRIBUTES, None, date(2025, 3, 1)),
        Piece(DAY, date(2025, 3, 1), date(2025, 3, 20)),
    ]
    assert plan(query(end=date(2025, 12, 31), before=date(2025, 4, 1))) == [
        Piece(MONTH_ATTRIBUTES, None, date(2025, 4, 1))
    ]
    assert plan(query(end=date(2025, 2, 27), before=date(2025, 4, 1))) == [
        Piece(MONTH_ATTRIBUTES, None, date(2025, 2, 1)),
        Piece(DAY, date(2025, 2, 1), date(2025, 2, 28)),
    ]
