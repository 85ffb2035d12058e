"""The words of a rate's tooltip, passed in translated, and the one sentence built from them
that the chart's points and the map's cells both use."""

from __future__ import annotations

from dataclasses import dataclass

from api.web.graphics.numbers import format_count, format_interval, format_percent


@dataclass(frozen=True, slots=True, kw_only=True)
class RateWording:
    """Translated words for one figure, e.g. English: rate="Not identified",
    interval="95% interval", total="Incidents", no_rate="No identified or not-identified
    answers"."""

    rate: str
    interval: str
    total: str
    no_rate: str
    decimal_mark: str = "."
    group_separator: str = ","


def describe_rate(
    subject: str,
    rate: float | None,
    ci_low: float | None,
    ci_high: float | None,
    total: int,
    wording: RateWording,
) -> str:
    """One line a reader can take alone (unescaped; the caller escapes it), in English:
    "2025-11, Not identified: 32.4% (95% interval: 19.6 to 48.5%), Incidents: 40" with an em
    dash for each comma and an en dash for "to"."""
    count = format_count(total, group_separator=wording.group_separator)
    if rate is None:
        return f"{subject} — {wording.no_rate} — {wording.total}: {count}"
    percent = format_percent(rate, decimal_mark=wording.decimal_mark)
    interval = format_interval(ci_low, ci_high, decimal_mark=wording.decimal_mark)
    return (
        f"{subject} — {wording.rate}: {percent} ({wording.interval}: {interval}) "
        f"— {wording.total}: {count}"
    )
