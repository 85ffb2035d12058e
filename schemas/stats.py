"""Identification statistics: query vocabulary, rows and the methods published with them."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Final

import msgspec
from msgspec import UNSET, UnsetType


class Dimension(StrEnum):
    MONTH = "month"
    WEEK = "week"
    AREA = "area"
    AGENCY = "agency"
    MASKED = "masked"
    KIND = "kind"


class Unit(StrEnum):
    INCIDENT = "incident"
    REPORT = "report"


class StatusScope(StrEnum):
    ALL = "all"
    """Every counted report: not withdrawn, not rejected."""
    VERIFIED = "verified"
    """Only reports a moderator verified."""


# Every date a statistics request may name: reports start in 2000 (schemas.report), and a bound
# keeps snapping outward to whole weeks or months inside the calendar Python can represent.
EARLIEST_DAY: Final = date(2000, 1, 1)
LATEST_DAY: Final = date(2100, 12, 31)
MIN_AREA_RESOLUTION: Final = 5
MAX_AREA_RESOLUTION: Final = 7

DEFINITIONS: Final = {
    "not_identified": "a report whose verbal, badge_shown and insignia_visible are all 'no'",
    "identified": "a report where any of verbal, badge_shown, insignia_visible is 'yes'",
    "unclear": "any other report",
    "incident": (
        "reports whose H3 res-9 cells are within {distance} grid steps and whose times differ "
        "by at most {window} minutes, transitively; withdrawn and rejected reports never count"
    ),
    "incident_status": "the plurality of its reports' classifications; a tie is unclear",
    "incident_time_area_kind": "those of the incident's earliest report",
    "incident_agency": (
        "the agency most often claimed in its reports, else most often suspected, else "
        "'unknown'; ties go to the first code in byte order"
    ),
    "incident_masked": (
        "the most often reported of all/some/none (ties towards more masking), else 'unknown'"
    ),
    "rate_not_identified": (
        "not_identified / (not_identified + identified); unclear is left out of the rate"
    ),
    "interval": "Wilson score interval, 95%",
    "suppression": (
        "within each month (each ISO week, cut at month ends, for tables by week), incidents "
        "are grouped by res-7 area, agency, masked and kind; a group of at least the threshold "
        "is kept; smaller groups are merged step by step (kind, then masked, then agency "
        "dropped; then the area at res 6, then res 5) and kept once they reach the threshold; "
        "what is left is counted in no table. A table counts only groups kept at least as "
        "finely as it is grouped, so every cell is at least the threshold, cells below it are "
        "absent, and no combination of tables says anything about the incidents left out"
    ),
    "period": (
        "from and to are moved outward to whole ISO weeks (tables by week) or whole months "
        "(all others); from/to in the metadata are the period answered"
    ),
    "time_buckets": "month as YYYY-MM and ISO week as YYYY-Www, in the time zone stated",
}


class StatsRow(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One cell; only the grouped dimensions are present. Cells below the threshold are never
    listed, so ``suppressed`` is always false (kept for readers of earlier exports)."""

    month: str | UnsetType = UNSET
    week: str | UnsetType = UNSET
    area: str | UnsetType = UNSET
    agency: str | UnsetType = UNSET
    masked: str | UnsetType = UNSET
    kind: str | UnsetType = UNSET
    total: int | None
    not_identified: int | None
    identified: int | None
    unclear: int | None
    rate_not_identified: float | None
    ci_low: float | None
    ci_high: float | None
    suppressed: bool


class StatsFilters(msgspec.Struct, frozen=True, kw_only=True, rename={"from_": "from"}):
    from_: date | None
    to: date | None
    group_by: list[Dimension]
    area_resolution: int
    status: StatusScope
    unit: Unit


class Statistics(msgspec.Struct, frozen=True, kw_only=True, rename={"from_": "from"}):
    dataset_version: str
    """Changes whenever the published table would: cite it with the figures."""
    generated_at: datetime
    unit: Unit
    suppression_threshold: int
    from_: date | None
    to: date | None
    """The period answered, inclusive: the request's moved outward to whole weeks or months
    (null: unbounded)."""
    snapped: bool
    """Whether the period answered differs from the one asked for."""
    rows: list[StatsRow]


class GroupingMethod(msgspec.Struct, frozen=True, kw_only=True):
    grid_distance: int
    window_minutes: int


class Methods(msgspec.Struct, frozen=True, kw_only=True, rename={"from_": "from"}):
    """How a table was made: published with every export."""

    dataset_version: str
    generated_at: datetime
    tier: str
    filters: StatsFilters
    """As requested; ``from``, ``to`` and ``snapped`` give the period answered."""
    from_: date | None
    to: date | None
    snapped: bool
    time_zone: str
    suppression_threshold: int
    publication_delay_days: int | None
    """Only incidents at least this old are counted; null: no delay (researcher tier)."""
    grouping: GroupingMethod
    definitions: dict[str, str]


class StatisticsExport(msgspec.Struct, frozen=True, kw_only=True):
    meta: Methods
    rows: list[StatsRow]
