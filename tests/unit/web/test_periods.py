"""Completing a run of months or ISO weeks, so absent periods show as gaps."""

from __future__ import annotations

import pytest

from api.web.graphics.periods import complete_periods


def test_months_are_completed_across_a_year_end() -> None:
    assert complete_periods(["2024-11", "2025-02"]) == ["2024-11", "2024-12", "2025-01", "2025-02"]


def test_weeks_are_completed_through_week_53() -> None:
    # 2020 has 53 ISO weeks; 2021 has 52.
    assert complete_periods(["2020-W52", "2021-W02"]) == [
        "2020-W52",
        "2020-W53",
        "2021-W01",
        "2021-W02",
    ]
    assert complete_periods(["2021-W52", "2022-W01"]) == ["2021-W52", "2022-W01"]


def test_a_complete_run_and_nothing_are_unchanged() -> None:
    assert complete_periods(["2025-01", "2025-02"]) == ["2025-01", "2025-02"]
    assert complete_periods(["2025-W07"]) == ["2025-W07"]
    assert complete_periods([]) == []


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (["2025-00"], "neither a month"),
        (["2025-1"], "neither a month"),
        (["2025-01-01"], "neither a month"),
        (["2021-W53"], "neither a month"),
        (["2025-W00"], "neither a month"),
        (["2025-w01"], "neither a month"),
        ([" 2025-01"], "neither a month"),
        (["2025-01", "2025-W02"], "mix months and ISO weeks"),
        (["2025-03", "2025-02"], "strictly increasing"),
        (["2025-W03", "2025-W03"], "strictly increasing"),
    ],
)
def test_bad_labels_are_refused(labels: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        complete_periods(labels)
