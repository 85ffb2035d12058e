"""How long the statistics explorer's SVG graphics take to render on the server.

    python -m tests.benchmarks.svg_render [--cells 2000] [--periods 260] [--rounds 30]

Renders a hex map of ``--cells`` res-7 areas (a disk of cells around Manhattan, one in ten with
no rate) and a rate chart of ``--periods`` ISO weeks, ``--rounds`` times each after one warm-up,
and prints the median and fastest wall time and the median CPU time of each. Target: the
2,000-cell map well under 50 ms.
Nothing is asserted: timings depend on the machine; this is a figure to read, not a test.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable
from datetime import date, timedelta

import h3
from markupsafe import Markup

from api.web.graphics.hex_map import CellRate, MapText, render_hex_map
from api.web.graphics.rate_chart import ChartText, RatePoint, render_rate_chart
from api.web.graphics.wording import RateWording

WORDING = RateWording(
    rate="Not identified",
    interval="95% interval",
    total="Incidents",
    no_rate="No identified or not-identified answers",
)


def _figure(rng: random.Random) -> tuple[float, float, float]:
    rate = rng.random()
    return rate, max(0.0, rate - rng.uniform(0, 0.2)), min(1.0, rate + rng.uniform(0, 0.2))


def map_cells(count: int, rng: random.Random) -> list[CellRate]:
    centre = h3.latlng_to_cell(40.7128, -74.0060, 7)
    radius = 0
    while 3 * radius * (radius + 1) + 1 < count:
        radius += 1
    chosen = sorted(h3.grid_disk(centre, radius))[:count]
    cells = []
    for cell in chosen:
        if rng.random() < 0.1:
            cells.append(CellRate(cell, None, None, None, rng.randint(11, 30)))
        else:
            rate, low, high = _figure(rng)
            cells.append(CellRate(cell, rate, low, high, rng.randint(11, 500)))
    return cells


def chart_points(count: int, rng: random.Random) -> list[RatePoint]:
    monday = date.fromisocalendar(2021, 1, 1)
    points = []
    for step in range(count):
        year, week, _ = (monday + timedelta(weeks=step)).isocalendar()
        rate, low, high = _figure(rng)
        points.append(RatePoint(f"{year}-W{week:02d}", rate, low, high, rng.randint(11, 500)))
    return points


def timed(render: Callable[[], Markup], rounds: int) -> tuple[float, float, float, int]:
    """Median and fastest wall time, median CPU time (ms; CPU time is what a busy machine
    does not inflate), and the size of the output."""
    size = len(render())
    wall, cpu = [], []
    for _ in range(rounds):
        started, started_cpu = time.perf_counter(), time.process_time()
        render()
        wall.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
    return statistics.median(wall), min(wall), statistics.median(cpu), size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=2000)
    parser.add_argument("--periods", type=int, default=260)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    rng = random.Random(14)
    cells = map_cells(args.cells, rng)
    points = chart_points(args.periods, rng)
    map_text = MapText(
        title="Not identified, by area",
        description="Each hexagon is an area listed by the statistics.",
        legend_title="Not identified, share of answers",
        absent_note="Areas not drawn: no incidents, or fewer than 11 incidents (withheld)",
        empty="No area is listed for these filters.",
        wording=WORDING,
    )
    chart_text = ChartText(
        title="Not identified, by week",
        description="The rate with its 95% interval.",
        x_axis="Week",
        y_axis="Not identified",
        empty="No week has a rate for these filters.",
        wording=WORDING,
    )
    for name, render in (
        (f"hex map, {len(cells)} cells", lambda: render_hex_map(cells, map_text)),
        (f"rate chart, {len(points)} weeks", lambda: render_rate_chart(points, chart_text)),
    ):
        median, fastest, cpu, size = timed(render, args.rounds)
        print(
            f"{name}: median {median:.1f} ms, fastest {fastest:.1f} ms, "
            f"median CPU {cpu:.1f} ms, {size / 1024:.0f} KiB"
        )


if __name__ == "__main__":
    main()
