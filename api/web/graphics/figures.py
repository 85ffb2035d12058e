"""The check every graphic makes of a rate it is given: a rate outside its own interval, or a
count below zero, is a caller's bug that a picture would hide, so it is refused loudly."""

from __future__ import annotations


def _proportion(value: float, name: str, where: str) -> None:
    # Floats first: they are nearly all of the calls, and a map makes thousands. bool is an
    # int subclass; True here is a caller's bug, not the figure 1.
    if not isinstance(value, float) and (isinstance(value, bool) or not isinstance(value, int)):
        raise TypeError(f"{where}: {name} must be a number, got {type(value).__name__}")
    # NaN fails both comparisons and infinities the range, so no separate finiteness test.
    if not 0 <= value <= 1:
        raise ValueError(f"{where}: {name} must be a proportion in [0, 1], got {value!r}")


def check_figure(
    rate: float | None, ci_low: float | None, ci_high: float | None, total: int, where: str
) -> None:
    """Raise unless the rate and its interval are both present or both absent, lie in [0, 1]
    with ci_low <= rate <= ci_high, and total is a count (above 0 when there is a rate)."""
    if isinstance(total, bool) or not isinstance(total, int):
        raise TypeError(f"{where}: total must be an int, got {type(total).__name__}")
    if total < 0:
        raise ValueError(f"{where}: total must be >= 0, got {total}")
    if rate is None:
        if ci_low is not None or ci_high is not None:
            raise ValueError(f"{where}: an interval was given without a rate")
        return
    if total == 0:
        raise ValueError(f"{where}: a rate was given for a total of 0")
    if ci_low is None or ci_high is None:
        raise ValueError(f"{where}: a rate was given without its interval")
    _proportion(rate, "rate", where)
    _proportion(ci_low, "ci_low", where)
    _proportion(ci_high, "ci_high", where)
    if not ci_low <= rate <= ci_high:
        raise ValueError(
            f"{where}: the rate {rate!r} lies outside its interval [{ci_low!r}, {ci_high!r}]"
        )
