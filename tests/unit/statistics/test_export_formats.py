"""The file writers on rows the HTTP tests cannot easily produce: suppressed cells with no
counts, no rows at all, a code the codebook lacks, pentagons; each read back by an
independent reader."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import h3
import msgspec
import pyarrow.parquet as pq
import pyreadstat
import pytest

from schemas.stats import (
    DEFINITIONS,
    Dimension,
    Methods,
    StatsRow,
)
from storage.statistics.formats import FILE_FORMATS
from storage.statistics.formats.geojson import cell_polygon
from storage.statistics.formats.stata_notes import add_notes

AREA = "872a10725ffffff"
GROUP_BY = (Dimension.AREA, Dimension.AGENCY)


def methods(group_by: tuple[Dimension, ...] = GROUP_BY) -> Methods:
    # Converted from plain values, so a period the methods may also state ("from", "to",
    # "snapped") is filled in where Methods has it and ignored where it does not.
    return msgspec.convert(
        {
            "dataset_version": "v42",
            "generated_at": datetime(2025, 5, 1, tzinfo=UTC),
            "tier": "researcher",
            "filters": {
                "from": None,
                "to": None,
                "group_by": [d.value for d in group_by],
                "area_resolution": 7,
                "status": "all",
                "unit": "report",
            },
            "from": None,
            "to": None,
            "snapped": False,
            "time_zone": "América/Bogotá",  # not a real zone: a non-ASCII note
            "suppression_threshold": 11,
            "publication_delay_days": None,
            "grouping": {"grid_distance": 2, "window_minutes": 90},
            "definitions": dict(DEFINITIONS),
        },
        Methods,
    )


PUBLISHED = StatsRow(
    area=AREA,
    agency="USMS",
    total=12,
    not_identified=3,
    identified=8,
    unclear=1,
    rate_not_identified=0.2727,
    ci_low=0.0975,
    ci_high=0.5658,
    suppressed=False,
)
SUPPRESSED = StatsRow(
    area=AREA,
    agency="ICE",
    total=None,
    not_identified=None,
    identified=None,
    unclear=None,
    rate_not_identified=None,
    ci_low=None,
    ci_high=None,
    suppressed=True,
)
PUBLISHED_VALUES = [AREA, "USMS", 12, 3, 8, 1, 0.2727, 0.0975, 0.5658, False]
SUPPRESSED_VALUES = [AREA, "ICE", None, None, None, None, None, None, None, True]
NAMES = [
    "area",
    "agency",
    "total",
    "not_identified",
    "identified",
    "unclear",
    "rate_not_identified",
    "ci_low",
    "ci_high",
    "suppressed",
]


def expected(*values: list[Any]) -> list[dict[str, Any]]:
    return [dict(zip(NAMES, row, strict=True)) for row in values]


def read_dta(content: bytes, tmp_path: Path) -> tuple[list[dict[str, Any]], Any]:
    path = tmp_path / "t.dta"
    path.write_bytes(content)
    data, meta = pyreadstat.read_dta(str(path), output_format="dict")
    names = list(data)
    count = len(data[names[0]])
    return [{n: data[n][i] for n in names} for i in range(count)], meta


@pytest.mark.parametrize("rows", [[PUBLISHED, SUPPRESSED], []])
def test_parquet_keeps_nulls_of_suppressed_cells(rows: list[StatsRow]) -> None:
    content = FILE_FORMATS["parquet"].write(methods(), GROUP_BY, rows)
    table = pq.read_table(io.BytesIO(content))
    assert table.column_names == NAMES
    want = expected(PUBLISHED_VALUES, SUPPRESSED_VALUES) if rows else []
    assert table.to_pylist() == want
    meta = json.loads(table.schema.metadata[b"plainsight.methods"])
    assert meta["time_zone"] == "América/Bogotá"
    assert meta["filters"]["unit"] == "report"


@pytest.mark.parametrize("rows", [[PUBLISHED, SUPPRESSED], []])
def test_stata_keeps_nulls_as_missing_and_labels_codes(
    rows: list[StatsRow], tmp_path: Path
) -> None:
    content = FILE_FORMATS["dta"].write(methods(), GROUP_BY, rows)
    records, meta = read_dta(content, tmp_path)
    assert list(meta.column_names) == NAMES
    agency = meta.variable_value_labels["agency"]
    assert agency[1] == "ICE"  # the codebook's first agency
    assert "U.S. Marshals" in agency.values()
    decoded = [
        {**r, "agency": agency[r["agency"]], "suppressed": r["suppressed"] == 1} for r in records
    ]
    want = expected([*PUBLISHED_VALUES[:1], "U.S. Marshals", *PUBLISHED_VALUES[2:]])
    want += expected([SUPPRESSED_VALUES[0], "ICE", *SUPPRESSED_VALUES[2:]])
    assert decoded == (want if rows else [])
    assert meta.file_label == "Plainsight identification reports, dataset v42"
    assert "time_zone: América/Bogotá" in meta.notes
    assert "dataset_version: v42" in meta.notes


def test_stata_labels_a_code_the_codebook_lacks_with_its_own_text(tmp_path: Path) -> None:
    legacy = StatsRow(**{**_fields(PUBLISHED), "agency": "CIA"})
    content = FILE_FORMATS["dta"].write(methods(), GROUP_BY, [PUBLISHED, legacy])
    records, meta = read_dta(content, tmp_path)
    labels = meta.variable_value_labels["agency"]
    assert [labels[r["agency"]] for r in records] == ["U.S. Marshals", "CIA"]
    assert len(set(labels.values())) == len(labels)


def test_stata_notes_need_a_format_118_file() -> None:
    with pytest.raises(ValueError, match="118"):
        add_notes(b"<stata_dta><header><release>117</release>", ["x"])


def test_geojson_writes_null_counts_and_no_features_for_no_rows() -> None:
    document = json.loads(FILE_FORMATS["geojson"].write(methods(), GROUP_BY, [SUPPRESSED]))
    assert [f["properties"] for f in document["features"]] == expected(SUPPRESSED_VALUES)
    empty = json.loads(FILE_FORMATS["geojson"].write(methods(), GROUP_BY, []))
    assert empty["type"] == "FeatureCollection"
    assert empty["features"] == []
    assert empty["meta"]["dataset_version"] == "v42"


def test_geojson_refuses_a_grouping_without_area() -> None:
    with pytest.raises(ValueError, match="area"):
        FILE_FORMATS["geojson"].write(methods((Dimension.AGENCY,)), (Dimension.AGENCY,), [])


def test_a_pentagon_is_a_closed_ring_of_six_positions() -> None:
    pentagon = next(iter(h3.get_pentagons(6)))
    [ring] = cell_polygon(pentagon)["coordinates"]
    assert len(ring) == 6
    assert ring[0] == ring[-1]
    lat, lng = h3.cell_to_boundary(pentagon)[0]
    assert ring[0] == [lng, lat]


def test_a_cell_across_an_icosahedron_edge_keeps_its_extra_corners() -> None:
    # At the odd resolutions a pentagon's edges cross icosahedron faces: ten corners.
    pentagon = next(iter(h3.get_pentagons(7)))
    [ring] = cell_polygon(pentagon)["coordinates"]
    assert len(ring) == 11
    assert ring[0] == ring[-1]


def _fields(row: StatsRow) -> dict[str, Any]:
    return {name: getattr(row, name) for name in row.__struct_fields__}
