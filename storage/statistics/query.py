"""What a statistics request asks for, once its parameters are checked."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

from schemas.stats import Dimension, StatsFilters, StatusScope, Unit


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
    def filters(self) -> StatsFilters:
        return StatsFilters(
            from_=self.date_from,
            to=self.date_to,
            group_by=list(self.group_by),
            area_resolution=self.area_resolution,
            status=self.status,
            unit=self.unit,
        )
