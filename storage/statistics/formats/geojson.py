"""GeoJSON (RFC 7946) for GIS: one feature per row, its area's H3 cell as a polygon.

The methods are a top-level foreign member `meta` beside `features`, as in the JSON export.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import h3
import msgspec

from schemas.stats import Dimension, Methods, StatsRow
from storage.statistics.formats.columns import records


def cell_polygon(cell: str) -> dict[str, Any]:
    """The cell's boundary as a closed ring of [lng, lat] positions (RFC 7946 order).

    H3 lists the vertices anticlockwise, as RFC 7946 wants an exterior ring. A hexagon has six
    vertices (seven positions once closed), a pentagon five; a cell that crosses an
    icosahedron edge has a few more. A cell across the antimeridian is not split (none is
    in the areas this service covers but the far Aleutians)."""
    ring = [[lng, lat] for lat, lng in h3.cell_to_boundary(cell)]
    ring.append(ring[0])
    return {"type": "Polygon", "coordinates": [ring]}


def geojson_bytes(meta: Methods, group_by: Sequence[Dimension], rows: Sequence[StatsRow]) -> bytes:
    if Dimension.AREA not in group_by:
        raise ValueError("GeoJSON needs `area` among the dimensions")
    features = [
        {"type": "Feature", "geometry": cell_polygon(record["area"]), "properties": record}
        for record in records(group_by, rows)
    ]
    return msgspec.json.encode({"type": "FeatureCollection", "meta": meta, "features": features})
