"""Apache Parquet: typed columns, the methods as the file's key-value metadata."""

from __future__ import annotations

import io
from collections.abc import Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from schemas.stats import Dimension, Methods, StatsRow
from storage.statistics.formats.columns import (
    COLUMN_LABELS,
    COUNT_COLUMNS,
    RATE_COLUMNS,
    column_names,
    records,
)
from storage.statistics.formats.methods import methods_json

METHODS_KEY = b"plainsight.methods"
"""Schema (and so file footer) metadata: the JSON export's `meta` object."""
DATASET_VERSION_KEY = b"plainsight.dataset_version"


def _type(name: str) -> pa.DataType:
    if name in COUNT_COLUMNS:
        return pa.int64()
    if name in RATE_COLUMNS:
        return pa.float64()
    if name == "suppressed":
        return pa.bool_()
    return pa.string()


def parquet_bytes(meta: Methods, group_by: Sequence[Dimension], rows: Sequence[StatsRow]) -> bytes:
    names = column_names(group_by)
    schema = pa.schema(
        [
            # Nullable: a suppressed cell has no counts.
            pa.field(name, _type(name), metadata={b"description": COLUMN_LABELS[name].encode()})
            for name in names
        ],
        metadata={METHODS_KEY: methods_json(meta), DATASET_VERSION_KEY: meta.dataset_version},
    )
    table = pa.Table.from_pylist(records(group_by, rows), schema=schema)
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()
