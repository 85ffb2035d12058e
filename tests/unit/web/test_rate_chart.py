"""The rate chart read back as XML: axes, the band around the line, gaps, empty states,
escaping, and bad input refused."""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET

import pytest

from api.web.graphics.rate_chart import ChartText, RatePoint, render_rate_chart
from api.web.graphics.wording import RateWording
from tests.unit.web.svg_tree import (
    all_text,
    assert_csp_safe,
    elements,
    parse,
    point_pairs,
    title_of,
    view_box,
    with_class,
)

WORDING = RateWording(
    rate="Not identified",
    interval="95% interval",
    total="Incidents",
    no_rate="No identified or not-identified answers",
)
TEXT = ChartText(
    title="Not identified, by month",
    description="The share of incidents whose agents did not identify, with its interval.",
    x_axis="Month",
    y_axis="Not identified",
    empty="No month has a rate for these filters.",
    wording=WORDING,
)
HOSTILE = "<script>alert(1)</script> & \"quoted\" 'single' ]]> <!--"


def point(period: str, rate: float | None, spread: float = 0.1, total: int = 40) -> RatePoint:
    if rate is None:
        return RatePoint(period, None, None, None, total)
    return RatePoint(period, rate, max(0.0, rate - spread), min(1.0, rate + spread), total)


def render(series: list[RatePoint], chart_text: ChartText = TEXT) -> ET.Element:
    markup = render_rate_chart(series, chart_text)
    root = parse(str(markup))
    assert_csp_safe(root)
    return root


def y_of_percent(root: ET.Element) -> tuple[float, float]:
    """(y of 0%, y of 100%) read from the y axis's own tick labels, to check positions
    against the axis a reader sees rather than against the code's arithmetic."""
    ticks = {
        label.text: float(label.get("y", "nan")) for label in with_class(root, "ps-tick-label")
    }
    return ticks["0%"], ticks["100%"]


def y_for(root: ET.Element, proportion: float) -> float:
    zero, hundred = y_of_percent(root)
    return zero + (hundred - zero) * proportion


def marker_positions(root: ET.Element) -> list[tuple[float, float]]:
    return [
        (float(circle.get("cx", "nan")), float(circle.get("cy", "nan")))
        for circle in with_class(root, "ps-point")
    ]


def period_label_xs(root: ET.Element) -> dict[str, float]:
    return {
        label.text or "": float(label.get("x", "nan"))
        for label in with_class(root, "ps-period-label")
    }


MONTHS = [
    point("2025-01", 0.30),
    point("2025-02", 0.35),
    point("2025-03", 0.50, spread=0.2),
    point("2025-04", 0.45),
    point("2025-05", 0.40),
]


def test_well_formed_and_named_for_screen_readers() -> None:
    root = render(MONTHS)
    assert root.get("role") == "img"
    titles = {element.get("id"): element.text for element in elements(root, "title")}
    descs = {element.get("id"): element.text for element in elements(root, "desc")}
    assert titles[root.get("aria-labelledby")] == TEXT.title
    assert descs[root.get("aria-describedby")] == TEXT.description


def test_y_axis_runs_from_0_to_100_percent_with_gridlines() -> None:
    root = render(MONTHS)
    labels = [label.text for label in with_class(root, "ps-tick-label")]
    for percent in ("0%", "20%", "40%", "60%", "80%", "100%"):
        assert percent in labels
    zero, hundred = y_of_percent(root)
    assert hundred < zero  # up is more
    gridline_ys = sorted(
        float(line.get("y1", "nan"))
        for line in with_class(root, "ps-grid") + with_class(root, "ps-axis")
    )
    expected = sorted(zero + (hundred - zero) * step / 5 for step in range(6))
    assert gridline_ys == pytest.approx(expected, abs=0.05)


def test_markers_sit_at_their_rate_on_the_axis() -> None:
    root = render(MONTHS)
    xs = period_label_xs(root)
    expected = [(xs[p.period], y_for(root, p.rate or 0.0)) for p in MONTHS]
    for (x, y), (expected_x, expected_y) in zip(marker_positions(root), expected, strict=True):
        assert x == pytest.approx(expected_x, abs=0.1)
        assert y == pytest.approx(expected_y, abs=0.1)


def test_band_encloses_the_line_from_low_to_high() -> None:
    root = render(MONTHS)
    (band,) = with_class(root, "ps-band")
    (line,) = with_class(root, "ps-line")
    outline = point_pairs(band)
    # The band runs along ci_high left to right, then back along ci_low right to left.
    upper, lower = outline[: len(MONTHS)], outline[len(MONTHS) :][::-1]
    for (x, y), top, bottom, month in zip(point_pairs(line), upper, lower, MONTHS, strict=True):
        assert top[0] == bottom[0] == x
        assert top[1] <= y <= bottom[1]  # SVG y grows downwards
        assert top[1] == pytest.approx(y_for(root, month.ci_high or 0.0), abs=0.1)
        assert bottom[1] == pytest.approx(y_for(root, month.ci_low or 0.0), abs=0.1)


def test_a_period_without_rate_breaks_line_and_band() -> None:
    series = [*MONTHS[:2], point("2025-03", None), *MONTHS[3:]]
    root = render(series)
    lines = [point_pairs(line) for line in with_class(root, "ps-line")]
    bands = with_class(root, "ps-band")
    assert len(lines) == len(bands) == 2
    gap_x = period_label_xs(root)["2025-03"]
    for pairs in lines:
        assert gap_x not in [x for x, _ in pairs]
    for band in bands:
        assert gap_x not in [x for x, _ in point_pairs(band)]
    assert gap_x not in [x for x, _ in marker_positions(root)]
    assert len(marker_positions(root)) == 4


def test_a_period_not_listed_is_a_gap_not_a_zero() -> None:
    # March is absent (withheld or no incidents): it must appear on the axis as a gap.
    series = [point("2025-01", 0.3), point("2025-02", 0.4), point("2025-04", 0.5)]
    root = render(series)
    xs = period_label_xs(root)
    assert list(xs) == ["2025-01", "2025-02", "2025-03", "2025-04"]
    (line,) = with_class(root, "ps-line")
    assert [x for x, _ in point_pairs(line)] == pytest.approx([xs["2025-01"], xs["2025-02"]])
    assert xs["2025-03"] not in [x for x, _ in marker_positions(root)]
    # April stands alone: a marker and an interval bar, no line through it.
    (whisker,) = with_class(root, "ps-whisker")
    assert float(whisker.get("x1", "nan")) == pytest.approx(xs["2025-04"])
    assert float(whisker.get("y1", "nan")) == pytest.approx(y_for(root, 0.6), abs=0.1)
    assert float(whisker.get("y2", "nan")) == pytest.approx(y_for(root, 0.4), abs=0.1)


def test_weeks_across_a_53_week_year_are_completed() -> None:
    # 2020 has an ISO week 53 (it began on a Wednesday in a leap year); 2021 does not.
    root = render([point("2020-W52", 0.3), point("2021-W01", 0.4)])
    assert list(period_label_xs(root)) == ["2020-W52", "2020-W53", "2021-W01"]
    assert with_class(root, "ps-line") == []
    assert len(with_class(root, "ps-whisker")) == 2


def test_rates_of_0_and_100_percent_are_drawn_on_the_axis_ends() -> None:
    series = [
        RatePoint("2025-01", 0.0, 0.0, 0.2, 15),
        RatePoint("2025-02", 1.0, 0.8, 1.0, 15),
    ]
    root = render(series)
    zero, hundred = y_of_percent(root)
    assert [y for _, y in marker_positions(root)] == pytest.approx([zero, hundred])


def test_many_periods_get_slanted_thinned_labels_that_do_not_overlap() -> None:
    weeks = [f"{2021 + i // 52}-W{i % 52 + 1:02d}" for i in range(156)]
    root = render([point(week, 0.4) for week in weeks])
    labels = with_class(root, "ps-period-label")
    assert 10 <= len(labels) < len(weeks)
    assert labels[0].text == "2021-W01"
    assert all((label.get("transform") or "").startswith("rotate(") for label in labels)
    xs = [float(label.get("x", "nan")) for label in labels]
    # Slanted 11px lines need about 15px between them along the axis.
    assert min(b - a for a, b in itertools.pairwise(xs)) >= 15
    assert len(marker_positions(root)) == 156


def test_a_year_of_months_is_labelled_upright() -> None:
    months = [f"2025-{m:02d}" for m in range(1, 13)]
    root = render([point(month, 0.4) for month in months])
    labels = with_class(root, "ps-period-label")
    assert [label.text for label in labels] == months
    assert all(label.get("transform") is None for label in labels)
    xs = [float(label.get("x", "nan")) for label in labels]
    # Seven characters at 11px are under 45px wide, even in a wide font.
    assert min(b - a for a, b in itertools.pairwise(xs)) >= 45


def test_two_years_of_months_are_all_labelled_slanted() -> None:
    months = [f"{2024 + m // 12}-{m % 12 + 1:02d}" for m in range(24)]
    root = render([point(month, 0.4) for month in months])
    labels = with_class(root, "ps-period-label")
    assert [label.text for label in labels] == months
    assert all((label.get("transform") or "").startswith("rotate(") for label in labels)


def test_everything_stays_inside_the_view_box() -> None:
    root = render(MONTHS)
    _, _, width, height = view_box(root)
    pairs = [
        p
        for shape in with_class(root, "ps-band") + with_class(root, "ps-line")
        for p in point_pairs(shape)
    ]
    pairs += marker_positions(root)
    assert all(0 <= x <= width and 0 <= y <= height for x, y in pairs)


def test_marker_tooltips_give_period_rate_interval_and_total() -> None:
    root = render([RatePoint("2025-11", 0.3243, 0.1963, 0.4854, 40), point("2025-12", 0.5)])
    tooltip = title_of(with_class(root, "ps-point")[0])
    assert tooltip == (
        "2025-11 \u2014 Not identified: 32.4% (95% interval: 19.6\u201348.5%) \u2014 Incidents: 40"
    )


def test_decimal_mark_of_the_language_is_used() -> None:
    spanish = RateWording(
        rate="No identificados",
        interval="intervalo del 95 %",
        total="Incidentes",
        no_rate="Sin respuestas",
        decimal_mark=",",
        group_separator=".",
    )
    chart_text = ChartText(
        title="t", description="d", x_axis="Mes", y_axis="r", empty="e", wording=spanish
    )
    root = render([RatePoint("2025-11", 0.3243, 0.1963, 0.4854, 1200)], chart_text)
    tooltip = title_of(with_class(root, "ps-point")[0])
    assert "32,4%" in tooltip
    assert "19,6\u201348,5%" in tooltip
    assert "1.200" in tooltip


@pytest.mark.parametrize("series", [[], [point("2025-01", None), point("2025-03", None)]])
def test_empty_state_when_no_period_has_a_rate(series: list[RatePoint]) -> None:
    root = render(series)
    (message,) = with_class(root, "ps-empty")
    assert message.text == TEXT.empty
    for css in ("ps-band", "ps-line", "ps-point", "ps-whisker"):
        assert with_class(root, css) == []
    assert elements(root, "polygon") == elements(root, "polyline") == []


def test_hostile_words_are_escaped_and_read_back_unchanged() -> None:
    hostile_wording = RateWording(rate=HOSTILE, interval=HOSTILE, total=HOSTILE, no_rate=HOSTILE)
    hostile = ChartText(
        title=HOSTILE,
        description=HOSTILE,
        x_axis=HOSTILE,
        y_axis=HOSTILE,
        empty=HOSTILE,
        wording=hostile_wording,
    )
    markup = str(render_rate_chart(MONTHS, hostile, id_prefix="c1"))
    assert "<script" not in markup
    root = render(MONTHS, hostile)
    assert next(e.text for e in elements(root, "title")) == HOSTILE
    assert [e.text for e in elements(root, "desc")] == [HOSTILE]
    assert [e.text for e in with_class(root, "ps-axis-label")] == [HOSTILE, HOSTILE]
    assert all(title_of(marker).count(HOSTILE) == 3 for marker in with_class(root, "ps-point"))
    empty = render([], hostile)
    assert [e.text for e in with_class(empty, "ps-empty")] == [HOSTILE]
    assert HOSTILE in all_text(empty)


def test_same_input_gives_the_same_bytes() -> None:
    first = render_rate_chart(MONTHS, TEXT)
    assert render_rate_chart(list(MONTHS), TEXT) == first


def test_two_charts_on_one_page_have_distinct_ids() -> None:
    first = parse(str(render_rate_chart(MONTHS, TEXT, id_prefix="chart-a")))
    second = parse(str(render_rate_chart(MONTHS, TEXT, id_prefix="chart-b")))
    ids_first = {e.get("id") for e in first.iter()} - {None}
    ids_second = {e.get("id") for e in second.iter()} - {None}
    assert ids_first
    assert ids_second
    assert not ids_first & ids_second


@pytest.mark.parametrize(
    ("series", "message"),
    [
        ([RatePoint("2025-01", 0.5, 0.6, 0.7, 10)], "outside its interval"),
        ([RatePoint("2025-01", 1.2, 0.6, 1.3, 10)], "proportion"),
        ([RatePoint("2025-01", float("nan"), 0.1, 0.9, 10)], "proportion"),
        ([RatePoint("2025-01", 0.5, None, 0.7, 10)], "without its interval"),
        ([RatePoint("2025-01", None, 0.1, 0.7, 10)], "without a rate"),
        ([RatePoint("2025-01", 0.5, 0.4, 0.6, -1)], "total"),
        ([RatePoint("2025-01", 0.5, 0.4, 0.6, 0)], "total of 0"),
        ([point("2025-02", 0.3), point("2025-01", 0.3)], "strictly increasing"),
        ([point("2025-01", 0.3), point("2025-01", 0.3)], "strictly increasing"),
        ([point("2025-01", 0.3), point("2025-W10", 0.3)], "mix months and ISO weeks"),
        ([point("2025-13", 0.3)], "neither a month"),
        ([point("2021-W53", 0.3)], "neither a month"),
        ([point("<script>", 0.3)], "neither a month"),
        ([point("1900-01", 0.3), point("2025-01", 0.3)], "more than a chart can show"),
    ],
)
def test_bad_series_is_refused(series: list[RatePoint], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        render_rate_chart(series, TEXT)


@pytest.mark.parametrize("total", [True, 3.0])
def test_a_total_that_is_not_a_count_is_refused(total: object) -> None:
    with pytest.raises(TypeError, match="total must be an int"):
        render_rate_chart([RatePoint("2025-01", 0.5, 0.4, 0.6, total)], TEXT)  # type: ignore[arg-type]


@pytest.mark.parametrize("prefix", ["", "1chart", "a b", 'x"y', "a" * 41, "chart)"])
def test_a_bad_id_prefix_is_refused(prefix: str) -> None:
    with pytest.raises(ValueError, match="id_prefix"):
        render_rate_chart(MONTHS, TEXT, id_prefix=prefix)
