"""The hex map read back as XML: one hexagon per listed cell where h3 puts it, colours in rate
order, the hatch for no rate, nothing drawn for absent cells, escaping, and bad input refused."""

from __future__ import annotations

import itertools
import math
import random
import xml.etree.ElementTree as ET

import h3
import pytest

from api.web.graphics.hex_map import MAP_HEIGHT, PADDING, CellRate, MapText, render_hex_map
from api.web.graphics.wording import RateWording
from tests.unit.web.svg_tree import (
    all_text,
    assert_csp_safe,
    elements,
    local,
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
NOTE = (
    "Areas not drawn: no incidents, or fewer than 11 incidents (withheld). Their absence says "
    "nothing about whether anything happened there."
)
TEXT = MapText(
    title="Not identified, by area",
    description="Each hexagon is an area listed by the statistics; the table has the same figures.",
    legend_title="Not identified, share of answers",
    absent_note=NOTE,
    empty="No area is listed for these filters.",
    wording=WORDING,
)
HOSTILE = "<script>alert(1)</script> & \"quoted\" 'single' ]]> <!--"
MANHATTAN = h3.latlng_to_cell(40.7831, -73.9712, 7)


def cell_rate(cell: str, rate: float | None, total: int = 40) -> CellRate:
    if rate is None:
        return CellRate(cell, None, None, None, total)
    return CellRate(cell, rate, max(0.0, rate - 0.1), min(1.0, rate + 0.1), total)


def render(
    cells: list[CellRate], map_text: MapText = TEXT, id_prefix: str = "hex-map"
) -> ET.Element:
    root = parse(str(render_hex_map(cells, map_text, id_prefix=id_prefix)))
    assert_csp_safe(root)
    return root


def hexagons(root: ET.Element) -> dict[str, ET.Element]:
    """Drawn cells by the cell id their tooltip starts with."""
    drawn = {title_of(polygon).split(" ")[0]: polygon for polygon in with_class(root, "ps-cell")}
    assert len(drawn) == len(with_class(root, "ps-cell"))
    return drawn


def luminance(fill: str) -> float:
    """WCAG relative luminance of a #rrggbb colour."""
    channels = [int(fill[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def disk(radius: int) -> list[str]:
    return sorted(h3.grid_disk(MANHATTAN, radius))


def test_one_polygon_per_listed_cell_with_h3s_corners() -> None:
    rng = random.Random(7)
    cells = [cell_rate(cell, rng.random()) for cell in disk(3)]
    root = render(cells)
    drawn = hexagons(root)
    assert len(elements(root, "polygon")) == len(cells)
    assert set(drawn) == {item.cell for item in cells}
    for cell, polygon in drawn.items():
        assert len(point_pairs(polygon)) == len(h3.cell_to_boundary(cell))


def test_corners_are_h3s_projected_uniformly_and_centred_in_the_view_box() -> None:
    cells = disk(4)
    root = render([cell_rate(cell, 0.5) for cell in cells])
    drawn = hexagons(root)
    # The projection, computed here from h3 alone: x = longitude * cos(mean latitude of the
    # corners), y = -latitude; the picture must be that, scaled by one factor and shifted.
    corners = {cell: h3.cell_to_boundary(cell) for cell in cells}
    mean_latitude = sum(lat for ring in corners.values() for lat, _ in ring) / sum(
        len(ring) for ring in corners.values()
    )
    squash = math.cos(math.radians(mean_latitude))
    expected = [(lng * squash, -lat) for cell in cells for lat, lng in corners[cell]]
    rendered = [pair for cell in cells for pair in point_pairs(drawn[cell])]
    ex, ey = zip(*expected, strict=True)
    rx, ry = zip(*rendered, strict=True)
    scale_x = (max(rx) - min(rx)) / (max(ex) - min(ex))
    scale_y = (max(ry) - min(ry)) / (max(ey) - min(ey))
    assert scale_x == pytest.approx(scale_y, rel=1e-3)
    for (x, y), (px, py) in zip(rendered, expected, strict=True):
        assert x == pytest.approx(min(rx) + (px - min(ex)) * scale_x, abs=0.15)
        assert y == pytest.approx(min(ry) + (py - min(ey)) * scale_x, abs=0.15)
    # Centred in the map area above the legend, filling it but for the padding on the axis
    # that limits the scale.
    _, _, width, _ = view_box(root)
    left, right = min(rx), width - max(rx)
    top, bottom = min(ry), MAP_HEIGHT - max(ry)
    assert left == pytest.approx(right, abs=0.2)
    assert top == pytest.approx(bottom, abs=0.2)
    assert min(left, top) == pytest.approx(PADDING, abs=0.2)
    legend_title = with_class(root, "ps-legend-title")[0]
    assert max(ry) < float(legend_title.get("y", "nan")) - 12


def test_every_corner_lies_inside_the_view_box() -> None:
    rng = random.Random(11)
    cells = [cell_rate(cell, rng.choice([None, rng.random()])) for cell in disk(6)]
    root = render(cells)
    min_x, min_y, width, height = view_box(root)
    for polygon in with_class(root, "ps-cell"):
        for x, y in point_pairs(polygon):
            assert min_x <= x <= min_x + width
            assert min_y <= y <= min_y + height


def test_a_higher_rate_is_never_lighter() -> None:
    rng = random.Random(3)
    rates = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0, 0.1999, 0.5, 0.95] + [rng.random() for _ in range(40)]
    cells = [cell_rate(cell, rate) for cell, rate in zip(disk(4), rates, strict=False)]
    drawn = hexagons(render(cells))
    by_rate = sorted(cells, key=lambda item: item.rate or 0.0)
    lightness = [luminance(drawn[item.cell].get("fill", "")) for item in by_rate]
    assert all(a >= b for a, b in itertools.pairwise(lightness))
    # Five bins of 20 points each, each holding its lower edge.
    assert len({drawn[item.cell].get("fill") for item in cells}) == 5
    fill = {item.rate: drawn[item.cell].get("fill") for item in cells}
    assert fill[0.0] == fill[0.1999] != fill[0.2]
    assert fill[0.8] == fill[0.95] == fill[1.0] != fill[0.6]


def test_each_bin_has_a_legend_swatch_of_its_colour() -> None:
    cells = [
        cell_rate(cell, rate)
        for cell, rate in zip(disk(1), [0.1, 0.3, 0.5, 0.7, 0.9], strict=False)
    ]
    root = render(cells)
    swatch_fills = [swatch.get("fill") for swatch in with_class(root, "ps-legend-swatch")]
    for polygon in with_class(root, "ps-cell"):
        assert polygon.get("fill") in swatch_fills
    labels = [label.text for label in with_class(root, "ps-legend-label")]
    assert labels[:5] == ["0\u201320%", "20\u201340%", "40\u201360%", "60\u201380%", "80\u2013100%"]
    assert labels[5] == WORDING.no_rate


def test_a_cell_without_rate_is_hatched_with_its_own_legend_entry() -> None:
    cells = [cell_rate(cell, None if index % 3 == 0 else 0.5) for index, cell in enumerate(disk(2))]
    root = render(cells, id_prefix="map-a")
    drawn = hexagons(root)
    patterns = {pattern.get("id", ""): pattern for pattern in elements(root, "pattern")}
    for item in cells:
        fill = drawn[item.cell].get("fill", "")
        if item.rate is None:
            assert fill.startswith("url(#")
            assert fill[5:-1] in patterns
            assert "ps-no-rate" in drawn[item.cell].get("class", "").split()
        else:
            assert fill.startswith("#")
    (hatch_id,) = patterns
    assert hatch_id.startswith("map-a")
    hatch_swatches = [
        s for s in with_class(root, "ps-legend-swatch") if s.get("fill") == f"url(#{hatch_id})"
    ]
    assert len(hatch_swatches) == 1
    assert title_of(drawn[cells[0].cell]) == (
        f"{cells[0].cell} \u2014 No identified or not-identified answers \u2014 Incidents: 40"
    )


def test_absent_cells_are_not_drawn_and_the_note_says_why() -> None:
    everything = disk(3)
    listed = everything[::2]
    absent = set(everything) - set(listed)
    markup = str(render_hex_map([cell_rate(cell, 0.4) for cell in listed], TEXT))
    root = parse(markup)
    assert set(hexagons(root)) == set(listed)
    assert len(elements(root, "polygon")) == len(listed)
    for cell in absent:
        assert cell not in markup
    note = " ".join(line.text or "" for line in with_class(root, "ps-legend-note"))
    assert note == NOTE
    assert len(with_class(root, "ps-legend-note")) >= 2  # wrapped: SVG text does not wrap


def test_tooltip_gives_cell_rate_interval_and_total() -> None:
    root = render([CellRate(MANHATTAN, 0.3243, 0.1963, 0.4854, 1234)])
    (polygon,) = with_class(root, "ps-cell")
    assert title_of(polygon) == (
        f"{MANHATTAN} \u2014 Not identified: 32.4% (95% interval: 19.6\u201348.5%) "
        "\u2014 Incidents: 1,234"
    )
    assert polygon.get("role") == "img"


def test_one_cell_fills_the_map_area() -> None:
    root = render([cell_rate(MANHATTAN, 0.5)])
    (polygon,) = with_class(root, "ps-cell")
    xs, ys = zip(*point_pairs(polygon), strict=True)
    _, _, width, _ = view_box(root)
    assert max(xs) - min(xs) > width / 3 or max(ys) - min(ys) > width / 3


def test_far_apart_cells_are_both_visible() -> None:
    new_york = h3.latlng_to_cell(40.7128, -74.0060, 7)
    los_angeles = h3.latlng_to_cell(34.0522, -118.2437, 7)
    root = render([cell_rate(new_york, 0.3), cell_rate(los_angeles, 0.7)])
    drawn = hexagons(root)
    _, _, width, height = view_box(root)
    for cell, polygon in drawn.items():
        pairs = point_pairs(polygon)
        cx = sum(x for x, _ in pairs) / len(pairs)
        cy = sum(y for _, y in pairs) / len(pairs)
        assert max(math.hypot(x - cx, y - cy) for x, y in pairs) >= 2.4, cell
        assert all(0 <= x <= width and 0 <= y <= height for x, y in pairs)
    # New York is east of Los Angeles, and north.
    ny_x = min(x for x, _ in point_pairs(drawn[new_york]))
    la_x = min(x for x, _ in point_pairs(drawn[los_angeles]))
    assert ny_x > la_x
    assert min(y for _, y in point_pairs(drawn[new_york])) < min(
        y for _, y in point_pairs(drawn[los_angeles])
    )


def test_cells_across_the_antimeridian_stay_together() -> None:
    west_of_it = h3.latlng_to_cell(-17.0, 179.9, 6)
    straddling = h3.latlng_to_cell(-17.0, 180.0, 6)
    east_of_it = h3.latlng_to_cell(-17.0, -179.9, 6)
    corner_longitudes = [lng for _, lng in h3.cell_to_boundary(straddling)]
    assert min(corner_longitudes) < 0 < max(corner_longitudes)  # it does cross
    root = render([cell_rate(c, 0.5) for c in (west_of_it, straddling, east_of_it)])
    drawn = hexagons(root)
    _, _, width, _ = view_box(root)
    centres = {}
    for cell, polygon in drawn.items():
        xs = [x for x, _ in point_pairs(polygon)]
        assert max(xs) - min(xs) < width / 2  # no cell smeared across the world
        centres[cell] = sum(xs) / len(xs)
    # West to east across 180°, as on a globe.
    assert centres[west_of_it] < centres[straddling] < centres[east_of_it]


def test_pentagons_are_drawn_with_all_their_corners() -> None:
    pentagon = h3.get_pentagons(5)[0]
    neighbours = sorted(set(h3.grid_disk(pentagon, 1)) - {pentagon})
    root = render([cell_rate(pentagon, 0.5)] + [cell_rate(cell, 0.1) for cell in neighbours])
    drawn = hexagons(root)
    assert len(point_pairs(drawn[pentagon])) == len(h3.cell_to_boundary(pentagon))


@pytest.mark.parametrize("resolution", [5, 6, 7])
def test_each_offered_resolution_draws(resolution: int) -> None:
    centre = h3.cell_to_parent(MANHATTAN, resolution)
    cells = sorted(h3.grid_disk(centre, 1))
    assert len(hexagons(render([cell_rate(cell, 0.5) for cell in cells]))) == len(cells)


def test_empty_state_draws_nothing_but_keeps_the_note() -> None:
    root = render([])
    assert with_class(root, "ps-cell") == []
    assert elements(root, "polygon") == []
    assert [e.text for e in with_class(root, "ps-empty")] == [TEXT.empty]
    assert " ".join(line.text or "" for line in with_class(root, "ps-legend-note")) == NOTE


def test_named_for_screen_readers() -> None:
    root = render([cell_rate(MANHATTAN, 0.5)])
    titles = {element.get("id"): element.text for element in elements(root, "title")}
    descs = {element.get("id"): element.text for element in elements(root, "desc")}
    assert titles[root.get("aria-labelledby")] == TEXT.title
    assert descs[root.get("aria-describedby")] == TEXT.description
    swatches = with_class(root, "ps-legend-swatch")
    assert swatches
    assert all(s.get("aria-hidden") == "true" for s in swatches)


def test_hostile_words_are_escaped_and_read_back_unchanged() -> None:
    hostile = MapText(
        title=HOSTILE,
        description=HOSTILE,
        legend_title=HOSTILE,
        absent_note=HOSTILE,
        empty=HOSTILE,
        wording=RateWording(rate=HOSTILE, interval=HOSTILE, total=HOSTILE, no_rate=HOSTILE),
    )
    cells = [cell_rate(MANHATTAN, 0.5), cell_rate(sorted(h3.grid_ring(MANHATTAN, 1))[0], None)]
    markup = str(render_hex_map(cells, hostile))
    assert "<script" not in markup
    root = render(cells, hostile)
    assert elements(root, "title")[0].text == HOSTILE
    assert [e.text for e in elements(root, "desc")] == [HOSTILE]
    assert with_class(root, "ps-legend-title")[0].text == HOSTILE
    assert all(HOSTILE in title_of(polygon) for polygon in with_class(root, "ps-cell"))
    assert HOSTILE.replace(" ", "") in all_text(root).replace(" ", "")
    empty = render([], hostile)
    assert [e.text for e in with_class(empty, "ps-empty")] == [HOSTILE]


def test_order_of_input_does_not_change_the_bytes() -> None:
    rng = random.Random(5)
    cells = [cell_rate(cell, rng.choice([None, rng.random()])) for cell in disk(3)]
    shuffled = cells[:]
    rng.shuffle(shuffled)
    assert render_hex_map(shuffled, TEXT) == render_hex_map(cells, TEXT)


def test_two_maps_on_one_page_have_distinct_ids() -> None:
    cells = [cell_rate(MANHATTAN, None)]
    first = render(cells, id_prefix="map-a")
    second = render(cells, id_prefix="map-b")
    ids = [{e.get("id") for e in root.iter()} - {None} for root in (first, second)]
    assert ids[0]
    assert ids[1]
    assert not ids[0] & ids[1]
    for root in (first, second):
        (polygon,) = with_class(root, "ps-cell")
        own = {e.get("id") for e in root.iter() if local(e) == "pattern"}
        assert polygon.get("fill", "")[5:-1] in own


@pytest.mark.parametrize(
    ("cells", "message"),
    [
        ([cell_rate("<script>", 0.5)], "not an H3 cell"),
        ([cell_rate("8f2a1072b59ffff0", 0.5)], "not an H3 cell"),
        ([cell_rate(h3.cell_to_parent(MANHATTAN, 4), 0.5)], "resolution 4"),
        ([cell_rate(h3.cell_to_center_child(MANHATTAN, 8), 0.5)], "resolution 8"),
        ([cell_rate(MANHATTAN, 0.5), cell_rate(h3.cell_to_parent(MANHATTAN, 6), 0.5)], "mix"),
        ([cell_rate(MANHATTAN, 0.5), cell_rate(MANHATTAN, 0.4)], "listed twice"),
        ([CellRate(MANHATTAN, 0.5, 0.6, 0.7, 10)], "outside its interval"),
        ([CellRate(MANHATTAN, -0.1, -0.2, 0.1, 10)], "proportion"),
        ([CellRate(MANHATTAN, 0.5, 0.4, float("inf"), 10)], "proportion"),
        ([CellRate(MANHATTAN, None, 0.4, 0.6, 10)], "without a rate"),
        ([CellRate(MANHATTAN, 0.5, 0.4, 0.6, -3)], "total"),
    ],
)
def test_bad_cells_are_refused(cells: list[CellRate], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        render_hex_map(cells, TEXT)


def test_a_cell_that_is_not_a_string_is_refused() -> None:
    with pytest.raises(ValueError, match="not an H3 cell"):
        render_hex_map([CellRate(0x872A10725FFFFFF, 0.5, 0.4, 0.6, 20)], TEXT)  # type: ignore[arg-type]


@pytest.mark.parametrize("prefix", ["", "9map", "map one", "map#", "<x>"])
def test_a_bad_id_prefix_is_refused(prefix: str) -> None:
    with pytest.raises(ValueError, match="id_prefix"):
        render_hex_map([], TEXT, id_prefix=prefix)
