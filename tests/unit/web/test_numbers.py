"""How figures are written: percentages, intervals and counts, and what is refused."""

from __future__ import annotations

import pytest

from api.web.graphics.numbers import format_count, format_interval, format_percent


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.3243, "32.4%"),
        (0.0, "0.0%"),
        (1.0, "100.0%"),
        (0.00049, "0.0%"),
        (0.99951, "100.0%"),
        (-0.0001, "0.0%"),  # no sign on a zero
        (-0.25, "-25.0%"),
        (1, "100.0%"),
    ],
)
def test_percent_with_one_decimal(value: float, expected: str) -> None:
    assert format_percent(value) == expected


def test_percent_options() -> None:
    assert format_percent(0.3243, decimal_mark=",") == "32,4%"
    assert format_percent(0.3243, digits=0) == "32%"
    assert format_percent(0.3243, digits=2) == "32.43%"
    assert format_percent(None) == "\u2014"
    assert format_percent(None, missing="n/a") == "n/a"


def test_interval_with_an_en_dash_and_one_percent_sign() -> None:
    assert format_interval(0.1963, 0.4854) == "19.6\u201348.5%"
    assert format_interval(0.0, 1.0, digits=0) == "0\u2013100%"
    assert format_interval(0.1963, 0.4854, decimal_mark=",") == "19,6\u201348,5%"
    assert format_interval(0.2, 0.2) == "20.0\u201320.0%"
    assert format_interval(None, 0.4) == format_interval(0.1, None) == "\u2014"


def test_count_grouped_by_thousands() -> None:
    assert format_count(0) == "0"
    assert format_count(999) == "999"
    assert format_count(1234567) == "1,234,567"
    assert format_count(1234567, group_separator=".") == "1.234.567"
    assert format_count(1234, group_separator="\u202f") == "1\u202f234"
    assert format_count(None) == "\u2014"


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_a_percent_that_is_not_finite_is_refused(value: float) -> None:
    with pytest.raises(ValueError, match="finite"):
        format_percent(value)
    with pytest.raises(ValueError, match="finite"):
        format_interval(0.1, value)


@pytest.mark.parametrize("value", [True, "0.5", b"1"])
def test_a_percent_that_is_not_a_number_is_refused(value: object) -> None:
    with pytest.raises(TypeError, match="must be a number"):
        format_percent(value)  # type: ignore[arg-type]


def test_an_interval_upside_down_is_refused() -> None:
    with pytest.raises(ValueError, match="above high"):
        format_interval(0.6, 0.4)


@pytest.mark.parametrize("digits", [-1, 7])
def test_digits_out_of_range_are_refused(digits: int) -> None:
    with pytest.raises(ValueError, match="digits"):
        format_percent(0.5, digits=digits)


@pytest.mark.parametrize("value", [1.5, True, "12"])
def test_a_count_that_is_not_an_int_is_refused(value: object) -> None:
    with pytest.raises(TypeError, match="count must be an int"):
        format_count(value)  # type: ignore[arg-type]
