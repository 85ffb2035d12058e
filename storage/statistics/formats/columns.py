"""The columns every research download shares, and rows as plain values in that order."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import msgspec

from schemas.stats import Dimension, StatsRow

COUNT_COLUMNS: Final = ("total", "not_identified", "identified", "unclear")
RATE_COLUMNS: Final = ("rate_not_identified", "ci_low", "ci_high")

# Short enough for a Stata variable label (80 characters); the methods hold the definitions.
COLUMN_LABELS: Final = {
    Dimension.MONTH: "Month (YYYY-MM) in the time zone of the methods",
    Dimension.WEEK: "ISO week (YYYY-Www) in the time zone of the methods",
    Dimension.AREA: "Area: H3 cell at the resolution of the methods",
    Dimension.AGENCY: "Agency (codebook: Agency)",
    Dimension.MASKED: "Masking (codebook: Masked)",
    Dimension.KIND: "Report kind (codebook: ReportKind)",
    "total": "Incidents (or reports, see the methods' unit) in the cell",
    "not_identified": "Of which agents did not identify themselves",
    "identified": "Of which agents identified themselves",
    "unclear": "Of which unclear",
    "rate_not_identified": "not_identified / (not_identified + identified)",
    "ci_low": "Lower bound of the Wilson 95% interval of the rate",
    "ci_high": "Upper bound of the Wilson 95% interval of the rate",
    "suppressed": "Counts withheld (below the threshold or to protect another cell)",
}


def column_names(group_by: Sequence[Dimension]) -> list[str]:
    return [d.value for d in group_by] + [*COUNT_COLUMNS, *RATE_COLUMNS, "suppressed"]


def records(group_by: Sequence[Dimension], rows: Sequence[StatsRow]) -> list[dict[str, Any]]:
    """Each row with every column present: a suppressed row's counts and rates are None.

    Rows may one day leave out `suppressed` (when withheld cells are absent): a row that does
    not say so is published."""
    out = []
    for row in rows:
        values = msgspec.to_builtins(row)
        record = {d.value: values.get(d.value) for d in group_by}
        record.update({name: values.get(name) for name in (*COUNT_COLUMNS, *RATE_COLUMNS)})
        record["suppressed"] = bool(values.get("suppressed", False))
        out.append(record)
    return out
