"""The periods of a time series, in the statistics' own labels: months "2025-11" and ISO weeks
"2025-W46".

A period the statistics do not list (no incidents, or fewer than the threshold) is absent, not
zero; the chart must show it as a break in the line, so the run of periods is completed here
before anything is drawn.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

_MONTH = re.compile(r"(\d{4})-(0[1-9]|1[0-2])")
_WEEK = re.compile(r"(\d{4})-W(0[1-9]|[1-4]\d|5[0-3])")


def _month_index(label: str) -> int | None:
    match = _MONTH.fullmatch(label)
    if match is None:
        return None
    return int(match[1]) * 12 + int(match[2]) - 1


def _week_monday(label: str) -> date | None:
    match = _WEEK.fullmatch(label)
    if match is None:
        return None
    try:
        return date.fromisocalendar(int(match[1]), int(match[2]), 1)
    except ValueError:
        # Week 53 exists only in some years.
        return None


def complete_periods(labels: list[str]) -> list[str]:
    """Every period from the first label to the last, in order: the given ones and those
    between them that are missing.

    The labels must all be months or all ISO weeks, strictly increasing; anything else is a
    caller's bug and raises ValueError.
    """
    if not labels:
        return []
    months = [_month_index(label) for label in labels]
    if all(index is not None for index in months):
        month_indexes = [index for index in months if index is not None]
        _check_increasing(labels, month_indexes)
        return [
            f"{index // 12:04d}-{index % 12 + 1:02d}"
            for index in range(month_indexes[0], month_indexes[-1] + 1)
        ]
    mondays = [_week_monday(label) for label in labels]
    if all(monday is not None for monday in mondays):
        week_starts = [monday for monday in mondays if monday is not None]
        _check_increasing(labels, [monday.toordinal() for monday in week_starts])
        count = (week_starts[-1] - week_starts[0]).days // 7 + 1
        return [_week_label(week_starts[0] + timedelta(weeks=step)) for step in range(count)]
    for label, month, monday in zip(labels, months, mondays, strict=True):
        if month is None and monday is None:
            raise ValueError(
                f"period {label!r} is neither a month (2025-11) nor an ISO week (2025-W46)"
            )
    raise ValueError("periods mix months and ISO weeks")


def _week_label(monday: date) -> str:
    year, week, _ = monday.isocalendar()
    return f"{year:04d}-W{week:02d}"


def _check_increasing(labels: list[str], keys: list[int]) -> None:
    for index in range(1, len(keys)):
        if keys[index] <= keys[index - 1]:
            raise ValueError(
                f"periods must be strictly increasing: {labels[index - 1]!r} then {labels[index]!r}"
            )
