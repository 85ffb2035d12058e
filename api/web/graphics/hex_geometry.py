"""H3 cells as polygons in an SVG viewport: boundaries from h3, an equirectangular projection,
and a fit to the viewport.

Equirectangular with longitudes scaled by cos(mean latitude) keeps shapes and distances true
to within a few percent over the city- or region-sized extents of the statistics; nothing is
fetched, so no map service learns what a researcher looks at. The arithmetic is done on all
corners at once with numpy: a map may have thousands of cells.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import chain

import h3
import numpy as np
import numpy.typing as npt

MIN_LONGITUDE_SCALE = 1e-3
"""cos(latitude) floor, so cells at a pole still project to a finite width."""

Floats = npt.NDArray[np.float64]


def _wrapped(degrees: Floats) -> Floats:
    """Longitude differences brought into [-180, 180)."""
    return (degrees + 180.0) % 360.0 - 180.0


def project_cells(
    cells: Sequence[str],
    *,
    left: float,
    top: float,
    width: float,
    height: float,
    min_radius: float,
) -> list[list[float]]:
    """Each cell's boundary as flat [x0, y0, x1, y1, …] inside the box (left, top, width,
    height), in the order of ``cells``, the whole set scaled uniformly and centred in the box.

    The longitude scale is cos of the mean latitude of all the cells' corners. Longitudes are
    unwrapped around the first corner of the first cell, so a set crossing the antimeridian
    stays in one piece. A cell that would be drawn smaller than ``min_radius`` (centre to
    corner) is enlarged about its centre to that size, so far-apart areas remain visible; near
    the box's edge it may then reach up to ``min_radius`` beyond the box.
    """
    if not cells:
        return []
    boundaries = [h3.cell_to_boundary(cell) for cell in cells]
    sizes = np.fromiter((len(boundary) for boundary in boundaries), dtype=np.int64)
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    corners = np.fromiter(
        chain.from_iterable(chain.from_iterable(boundaries)), dtype=np.float64
    ).reshape(-1, 2)
    latitudes, longitudes = corners[:, 0], corners[:, 1]

    # Unwrap within each cell around its first corner, then each cell around the first cell.
    first = np.repeat(longitudes[starts], sizes)
    longitudes = longitudes[0] + _wrapped(first - longitudes[0]) + _wrapped(longitudes - first)
    x_scale = max(math.cos(math.radians(float(latitudes.mean()))), MIN_LONGITUDE_SCALE)
    xs, ys = longitudes * x_scale, -latitudes

    span_x, span_y = float(np.ptp(xs)), float(np.ptp(ys))
    scale = min(width / span_x, height / span_y)
    xs = (xs - xs.min()) * scale + left + (width - span_x * scale) / 2
    ys = (ys - ys.min()) * scale + top + (height - span_y * scale) / 2

    centre_xs = np.repeat(np.add.reduceat(xs, starts) / sizes, sizes)
    centre_ys = np.repeat(np.add.reduceat(ys, starts) / sizes, sizes)
    radii = np.maximum.reduceat(np.hypot(xs - centre_xs, ys - centre_ys), starts)
    grow = np.repeat(np.maximum(min_radius / radii, 1.0), sizes)
    xs = centre_xs + (xs - centre_xs) * grow
    ys = centre_ys + (ys - centre_ys) * grow

    flat: list[float] = np.column_stack((xs, ys)).ravel().tolist()
    ends = (starts + sizes) * 2
    return [
        flat[start * 2 : end] for start, end in zip(starts.tolist(), ends.tolist(), strict=True)
    ]
