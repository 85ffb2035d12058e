"""Research downloads as files: Parquet, Stata and GeoJSON, one module per format.

CSV and JSON stream from api.stats_export; these formats are written whole (a
binary file has its footer or map at the end), in a worker thread, before the download starts,
so a failure is an error response and not a truncated file. Each carries the same methods
as the CSV's leading `#` lines and the JSON's `meta`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

from schemas.stats import Dimension, Methods, StatsRow
from storage.statistics.formats.geojson import geojson_bytes
from storage.statistics.formats.parquet import parquet_bytes
from storage.statistics.formats.stata import dta_bytes

Writer = Callable[[Methods, Sequence[Dimension], Sequence[StatsRow]], bytes]


class FileFormat(NamedTuple):
    extension: str
    media_type: str
    write: Writer
    needs_area: bool = False
    """Only for groupings that include `area` (one feature per area cell)."""


FILE_FORMATS: dict[str, FileFormat] = {
    "parquet": FileFormat("parquet", "application/vnd.apache.parquet", parquet_bytes),
    "dta": FileFormat("dta", "application/x-stata-dta", dta_bytes),
    "geojson": FileFormat("geojson", "application/geo+json", geojson_bytes, needs_area=True),
}
