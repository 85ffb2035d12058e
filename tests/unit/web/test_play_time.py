"""A video's running time on the moderation pages, as a clock shows it."""

from __future__ import annotations

import pytest

from api.web.moderation.media import play_time


@pytest.mark.parametrize(
    ("duration_ms", "shown"),
    [
        (1, "0:01"),  # any length at all is at least a second
        (499, "0:01"),
        (1499, "0:01"),
        (1500, "0:02"),
        (2000, "0:02"),
        (59_499, "0:59"),
        (59_500, "1:00"),
        (61_000, "1:01"),
        (600_000, "10:00"),
        (3_599_000, "59:59"),
        (3_600_000, "1:00:00"),
        (3_723_000, "1:02:03"),
        (36_000_000, "10:00:00"),
    ],
)
def test_a_duration_reads_as_a_clock(duration_ms: int, shown: str) -> None:
    assert play_time(duration_ms) == shown


def test_an_unknown_duration_says_so() -> None:
    assert play_time(None) == "?:??"
