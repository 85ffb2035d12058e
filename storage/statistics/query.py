"""What a statistics request asks for, once its parameters are checked, and the period it is
answered for: whole weeks or months (see ``snapped``)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from schemas.stats import Dimension, StatsFilters, StatusScope, Unit

Period = Literal["month", "week"]


@dataclass(frozen=True, slots=True)
class StatsQuery:
    group_by: tuple[Dimension, ...]
    date_from: date | None
    date_to: date | None
    """Inclusive, like ``date_from``; both are local days in ``time_zone``."""
    area_resolution: int
    status: StatusScope
    unit: Unit
    time_zone: ZoneInfo
    before_day: date | None = None
    """Public tier: only count local days before this one (the publication delay)."""

    @property
    def period(self) -> Period:
        """The time unit the answer is built from: ISO weeks when grouped by week, else months
        (also when no time dimension is grouped)."""
        return "week" if Dimension.WEEK in self.group_by else "month"

    @property
    def filters(self) -> StatsFilters:
        return StatsFilters(
            from_=self.date_from,
            to=self.date_to,
            group_by=list(self.group_by),
            area_resolution=self.area_resolution,
            status=self.status,
            unit=self.unit,
        )


def period_start(day: date, period: Period) -> date:
    if period == "month":
        return day.replace(day=1)
    return day - timedelta(days=day.weekday())


def period_end(day: date, period: Period) -> date:
    """The last day of the week or month holding ``day``."""
    if period == "month":
        return (day.replace(day=1) + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    return period_start(day, period) + timedelta(days=6)


def snapped(query: StatsQuery) -> StatsQuery:
    """The query for whole periods: ``from`` back to the start of its week or month, ``to``
    on to the end of its own. A request never sees a partial period, so two requests cannot
    differ by a few days (one incident's day) and both be answered.

    The public tier's delay then ends the period at the last whole period before
    ``before_day``; what is left of ``before_day`` is dropped."""
    unit = query.period
    start = None if query.date_from is None else period_start(query.date_from, unit)
    end = None if query.date_to is None else period_end(query.date_to, unit)
    if query.before_day is not None:
        last_whole = period_start(query.before_day, unit) - timedelta(days=1)
        end = last_whole if end is None else min(end, last_whole)
    return dataclasses.replace(query, date_from=start, date_to=end, before_day=None)
