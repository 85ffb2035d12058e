"""How rates, intervals and counts are written on the console's pages and graphics.

One place for it, so the table, the chart and the map never print the same figure two ways.
Each function takes the separators as keywords, so a template can pass its language's.
"""

from __future__ import annotations

import math

EN_DASH = "\u2013"
"""Between the bounds of an interval."""
MISSING = "\u2014"
"""Written where a figure does not exist (a rate with no identified/not-identified answers)."""


def _finite(value: float, name: str) -> float:
    # bool is an int subclass; a True reaching here is a caller's bug, not the figure 1.
    if not isinstance(value, float) and (isinstance(value, bool) or not isinstance(value, int)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return float(value)


def _percent_digits(value: float, digits: int, decimal_mark: str) -> str:
    if not 0 <= digits <= 6:
        raise ValueError(f"digits must be between 0 and 6, got {digits}")
    text = f"{value * 100:.{digits}f}"
    # -0.0001 rounds to "-0.0": a sign on zero is noise, not information.
    if text[0] == "-" and float(text) == 0:
        text = text[1:]
    return text if decimal_mark == "." else text.replace(".", decimal_mark)


def format_percent(
    value: float | None, *, digits: int = 1, decimal_mark: str = ".", missing: str = MISSING
) -> str:
    """A proportion (0.3243) as a percentage ("32.4%"); ``missing`` for None."""
    if value is None:
        return missing
    return _percent_digits(_finite(value, "value"), digits, decimal_mark) + "%"


def format_interval(
    low: float | None,
    high: float | None,
    *,
    digits: int = 1,
    decimal_mark: str = ".",
    missing: str = MISSING,
) -> str:
    """An interval of proportions as "19.6" EN_DASH "48.5%" (one percent sign); ``missing``
    when either bound is None."""
    if low is None or high is None:
        return missing
    low_value, high_value = _finite(low, "low"), _finite(high, "high")
    if low_value > high_value:
        raise ValueError(f"interval low {low_value!r} is above high {high_value!r}")
    return (
        _percent_digits(low_value, digits, decimal_mark)
        + EN_DASH
        + _percent_digits(high_value, digits, decimal_mark)
        + "%"
    )


def format_count(value: int | None, *, group_separator: str = ",", missing: str = MISSING) -> str:
    """A count with thousands grouped ("12,345"); ``missing`` for None."""
    if value is None:
        return missing
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"a count must be an int, got {type(value).__name__}")
    return f"{value:,}".replace(",", group_separator)
