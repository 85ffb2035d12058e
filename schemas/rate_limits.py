"""Rate-limit values as operators write them: ``COUNT/PERIOD`` ("60/hour", "5/10m") or ``off``."""

from __future__ import annotations

import re

import msgspec

_UNITS = {
    "s": 1,
    "second": 1,
    "m": 60,
    "minute": 60,
    "h": 3600,
    "hour": 3600,
    "d": 86400,
    "day": 86400,
}
_RATE = re.compile(r"^(\d+)/(\d*)(s|second|m|minute|h|hour|d|day)$")
MAX_COUNT = 1_000_000
# The address key rotates every UTC day and every bucket starts afresh with it, so a longer
# period could never be enforced.
MAX_PERIOD_S = 86400


class Rate(msgspec.Struct, frozen=True):
    """``count`` requests per ``period_s`` seconds, all of them allowed at once (burst = count)."""

    count: int
    period_s: float

    @property
    def interval_s(self) -> float:
        """GCRA's emission interval: the sustained spacing between requests."""
        return self.period_s / self.count


def parse_rate(text: str) -> Rate | None:
    """``None`` for ``off``; ValueError (with an example of the format) for anything invalid."""
    value = text.strip().lower()
    if value == "off":
        return None
    match = _RATE.match(value)
    if match is None:
        raise ValueError(f"expected COUNT/PERIOD such as 60/minute or 5/10m, or off; got {text!r}")
    count, multiple, unit = int(match[1]), int(match[2] or 1), match[3]
    period_s = multiple * _UNITS[unit]
    if not 1 <= count <= MAX_COUNT:
        raise ValueError(f"the count must be between 1 and {MAX_COUNT}; got {text!r}")
    if not 1 <= period_s <= MAX_PERIOD_S:
        raise ValueError(f"the period must be between 1 second and 1 day; got {text!r}")
    return Rate(count, float(period_s))


# The Settings fields holding a rate, by the name of the rule each one sets.
RATE_SETTINGS = (
    "rate_limit_devices",
    "rate_limit_sessions",
    "rate_limit_public_reads",
    "rate_limit_writes",
    "rate_limit_photos",
    "rate_limit_reads",
    "rate_limit_failed_auth",
    "rate_limit_credential_checks",
)
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
