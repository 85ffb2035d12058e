"""Parquet, Stata and GeoJSON exports over HTTP, each read back by an independent reader
(pyarrow, pyreadstat, plain JSON with h3 for the geometry) and compared with the JSON export
of the same request; and what a bad request gets.
"""

from __future__ import annotations

import io
import itertools
import json
from pathlib import Path
from typing import Any

import asyncpg
import h3
import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pyreadstat
import pytest

from schemas.auth import Role
from tests.integration.statistics.test_statistics import (
    AREA_X,
    AREA_Y,
    AREA_Z,
    IDENTIFIED,
    MARCH,
    NOT_IDENTIFIED,
    UNCLEAR,
    Reporter,
)
from tests.support.assertions import assert_problem
from tests.support.helpers import Api, bearer

EXPORT = "/v1/exports/identification"
MEDIA_TYPES = {
    "parquet": "application/vnd.apache.parquet",
    "dta": "application/x-stata-dta",
    "geojson": "application/geo+json",
}
COLUMNS = [
    "total",
    "not_identified",
    "identified",
    "unclear",
    "rate_not_identified",
    "ci_low",
    "ci_high",
    "suppressed",
]


@pytest.fixture
async def reporter(api: Api) -> Reporter:
    return Reporter(api, await api.device_token())


@pytest.fixture
async def researcher(api: Api) -> dict[str, str]:
    return bearer(await api.account_token(Role.researcher))


@pytest.fixture
async def recorded(reporter: Reporter) -> None:
    """Two published areas in March (one with two agencies and maskings) and a small one."""
    await reporter.incidents(AREA_X, MARCH, [NOT_IDENTIFIED] * 8 + [IDENTIFIED] * 3 + [UNCLEAR])
    await reporter.incidents(AREA_Z, MARCH, [IDENTIFIED] * 12)
    await reporter.incidents(
        AREA_Z,
        MARCH,
        [NOT_IDENTIFIED] * 12,
        agents={"masked": "some", "agencies_claimed": ["USMS"], "agencies_suspected": ["USMS"]},
    )
    await reporter.incidents(AREA_Y, MARCH, [NOT_IDENTIFIED] * 2)


async def download(
    api: Api, extension: str, headers: dict[str, str], params: dict[str, str]
) -> httpx.Response:
    response = await api.client.get(f"{EXPORT}.{extension}", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response


async def json_export(api: Api, headers: dict[str, str], params: dict[str, str]) -> dict[str, Any]:
    export: dict[str, Any] = (await download(api, "json", headers, params)).json()
    return export


def without_time(meta: dict[str, Any]) -> dict[str, Any]:
    """The methods less `generated_at`, which each download stamps anew."""
    return {key: value for key, value in meta.items() if key != "generated_at"}


def keyed(rows: list[dict[str, Any]], dims: list[str]) -> list[dict[str, Any]]:
    """Rows with every dimension and column present, as a reader returns them."""
    return [{name: row.get(name) for name in [*dims, *COLUMNS]} for row in rows]


# --- Parquet ---------------------------------------------------------------------------------


@pytest.mark.usefixtures("recorded")
async def test_parquet_holds_the_json_rows_and_methods(
    api: Api, researcher: dict[str, str]
) -> None:
    params = {"group_by": "month,area,agency", "from": "2025-03-01", "to": "2025-03-31"}
    response = await download(api, "parquet", researcher, params)
    expected = await json_export(api, researcher, params)

    table = pq.read_table(io.BytesIO(response.content))
    dims = ["month", "area", "agency"]
    assert table.column_names == [*dims, *COLUMNS]
    assert table.to_pylist() == keyed(expected["rows"], dims)
    assert table.schema.field("total").type == pa.int64()
    assert table.schema.field("rate_not_identified").type == pa.float64()
    assert table.schema.field("suppressed").type == pa.bool_()
    # Worked out by hand from the fixture: area X, ICE, 8 + 3 + 1.
    x_ice = [r for r in table.to_pylist() if (r["area"], r["agency"]) == (AREA_X, "ICE")]
    assert [(r["total"], r["not_identified"], r["identified"], r["unclear"]) for r in x_ice] == [
        (12, 8, 3, 1)
    ]
    # The methods travel in the file footer's key-value metadata.
    footer = pq.read_metadata(io.BytesIO(response.content)).metadata
    meta = json.loads(footer[b"plainsight.methods"])
    assert without_time(meta) == without_time(expected["meta"])
    assert footer[b"plainsight.dataset_version"].decode() == expected["meta"]["dataset_version"]


# --- Stata ---------------------------------------------------------------------------------


async def read_dta(content: bytes, tmp_path: Path) -> tuple[dict[str, list[Any]], Any]:
    path = tmp_path / "export.dta"
    path.write_bytes(content)
    data, meta = pyreadstat.read_dta(str(path), output_format="dict")
    return dict(data), meta


@pytest.mark.usefixtures("recorded")
async def test_stata_holds_the_json_rows_with_codebook_value_labels(
    api: Api, researcher: dict[str, str], tmp_path: Path
) -> None:
    params = {"group_by": "area,agency,masked,kind"}
    response = await download(api, "dta", researcher, params)
    expected = await json_export(api, researcher, params)
    data, meta = await read_dta(response.content, tmp_path)

    dims = ["area", "agency", "masked", "kind"]
    assert list(data) == [*dims, *COLUMNS]
    labels = meta.variable_value_labels
    codebook = (await api.client.get("/v1/codebook", params={"lang": "en"})).json()
    by_enum = {f["enum"]: f["values"] for f in codebook["fields"] if f.get("enum")}
    for dim, enum in (("agency", "Agency"), ("masked", "Masked"), ("kind", "ReportKind")):
        # The labels are the codebook's, every value of it, in its order.
        assert list(labels[dim].values()) == [v["label"] for v in by_enum[enum]]
    label_to_value = {
        dim: {v["label"]: v["value"] for v in by_enum[enum]}
        for dim, enum in (("agency", "Agency"), ("masked", "Masked"), ("kind", "ReportKind"))
    }
    rows = []
    for i in range(len(data["area"])):
        row: dict[str, Any] = {}
        for name in [*dims, *COLUMNS]:
            value = data[name][i]
            if name in label_to_value:
                value = label_to_value[name][labels[name][value]]
            if name == "suppressed":
                assert labels["suppressed"][value] in ("yes", "no")
                value = labels["suppressed"][value] == "yes"
            row[name] = value
        rows.append(row)
    assert rows == keyed(expected["rows"], dims)
    assert ("USMS", "some") in {(r["agency"], r["masked"]) for r in rows}
    assert meta.readstat_variable_types["total"] in ("int32", "int16", "int8")

    version = expected["meta"]["dataset_version"]
    assert version in meta.file_label
    notes = "\n".join(meta.notes)
    for line in (
        f"dataset_version: {version}",
        "suppression_threshold: 11",
        "filters.group_by: area,agency,masked,kind",
        "filters.unit: incident",
        "grouping.window_minutes: 90",
        "time_zone: UTC",
    ):
        assert line in meta.notes, (line, notes)
    assert any(note.startswith("definitions.interval: Wilson") for note in meta.notes)
    assert meta.column_names_to_labels["ci_low"].startswith("Lower bound")


# --- GeoJSON -------------------------------------------------------------------------------


def inside(point: tuple[float, float], ring: list[list[float]]) -> bool:
    """Ray casting in the plane of [lng, lat]: enough for cells a few km across."""
    x, y = point
    hit = False
    for (x1, y1), (x2, y2) in itertools.pairwise(ring):
        if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
            hit = not hit
    return hit


def signed_area(ring: list[list[float]]) -> float:
    return sum(x1 * y2 - x2 * y1 for (x1, y1), (x2, y2) in itertools.pairwise(ring)) / 2


@pytest.mark.usefixtures("recorded")
async def test_geojson_has_a_hexagon_per_area_and_the_json_rows(
    api: Api, researcher: dict[str, str]
) -> None:
    params = {"group_by": "area,month"}
    response = await download(api, "geojson", researcher, params)
    expected = await json_export(api, researcher, params)
    document = json.loads(response.content)

    assert document["type"] == "FeatureCollection"
    assert without_time(document["meta"]) == without_time(expected["meta"])
    features = document["features"]
    assert [f["properties"] for f in features] == keyed(expected["rows"], ["area", "month"])
    assert {f["properties"]["area"] for f in features} >= {AREA_X, AREA_Z}
    for feature in features:
        cell = feature["properties"]["area"]
        assert feature["type"] == "Feature"
        assert feature["geometry"]["type"] == "Polygon"
        [ring] = feature["geometry"]["coordinates"]
        assert not h3.is_pentagon(cell)
        assert len(ring) == 7  # six corners, closed
        assert ring[0] == ring[-1]
        lat, lng = h3.cell_to_latlng(cell)
        # [lng, lat]: these cities are at longitude -74..-118 and latitude 34..42.
        assert all(-125 < x < -70 and 30 < y < 45 for x, y in ring)
        assert inside((lng, lat), ring)
        assert signed_area(ring) > 0  # anticlockwise, as RFC 7946 asks of an exterior ring
        corners = {(round(y, 9), round(x, 9)) for x, y in ring}
        assert corners == {(round(a, 9), round(b, 9)) for a, b in h3.cell_to_boundary(cell)}


@pytest.mark.parametrize("group_by", [None, "month", "agency,masked"])
async def test_geojson_needs_area_in_the_grouping(
    api: Api, researcher: dict[str, str], group_by: str | None
) -> None:
    params = {} if group_by is None else {"group_by": group_by}
    response = await api.client.get(f"{EXPORT}.geojson", params=params, headers=researcher)
    problem = assert_problem(response, 422, field="group_by")
    assert "area" in problem["detail"]


# --- every new format: headers, audit, access, bad input --------------------------------------

VALID = {"parquet": "month", "dta": "month", "geojson": "area"}


@pytest.mark.usefixtures("recorded")
@pytest.mark.parametrize("extension", list(MEDIA_TYPES))
async def test_media_type_filename_and_audit(
    api: Api, researcher: dict[str, str], extension: str
) -> None:
    mark = await api.conn.fetchval("select coalesce(max(id), 0) from audit_log")
    params = {"group_by": VALID[extension], "from": "2025-03-01"}
    response = await download(api, extension, researcher, params)
    version = (await json_export(api, researcher, params))["meta"]["dataset_version"]
    assert response.headers["content-type"] == MEDIA_TYPES[extension]
    assert response.headers["content-disposition"] == (
        f'attachment; filename="plainsight-identification-{version}.{extension}"'
    )
    entries = await api.conn.fetch(
        "select action, details from audit_log where id > $1 order by id", mark
    )
    first = entries[0]
    assert first["action"] == "export.downloaded"
    details = json.loads(first["details"])
    assert details["format"] == extension
    assert details["dataset_version"] == version
    assert details["filters"]["group_by"] == [VALID[extension]]
    assert details["filters"]["from"] == "2025-03-01"


async def test_a_refused_geojson_is_not_audited(
    api: Api, conn: asyncpg.Connection, researcher: dict[str, str]
) -> None:
    mark = await conn.fetchval("select coalesce(max(id), 0) from audit_log")
    response = await api.client.get(f"{EXPORT}.geojson", headers=researcher)
    assert_problem(response, 422, field="group_by")
    assert await conn.fetchval("select count(*) from audit_log where id > $1", mark) == 0


@pytest.mark.parametrize("extension", list(MEDIA_TYPES))
async def test_anonymous_callers_get_401(api: Api, extension: str) -> None:
    response = await api.client.get(f"{EXPORT}.{extension}")
    assert assert_problem(response, 401)["code"] == "unauthenticated"


@pytest.mark.parametrize("extension", list(MEDIA_TYPES))
@pytest.mark.parametrize("role", [Role.observer, Role.officer])
async def test_reporters_get_403(api: Api, extension: str, role: Role) -> None:
    response = await api.client.get(
        f"{EXPORT}.{extension}",
        params={"group_by": VALID[extension]},
        headers=bearer(await api.token(role)),
    )
    assert assert_problem(response, 403)["code"] == "forbidden"


@pytest.mark.parametrize("extension", list(MEDIA_TYPES))
@pytest.mark.parametrize("role", [Role.researcher, Role.moderator, Role.admin])
async def test_analysts_may_download_an_empty_table(api: Api, extension: str, role: Role) -> None:
    response = await api.client.get(
        f"{EXPORT}.{extension}",
        params={"group_by": VALID[extension]},
        headers=bearer(await api.token(role)),
    )
    assert response.status_code == 200, response.text
    assert response.content  # a file with a header and no rows, not an empty body


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2025-03-02", "to": "2025-03-01"}, "from"),
        ({"to": "2025-02-30"}, "to"),
        ({"group_by": "area,city"}, "group_by"),
        ({"area_resolution": "8"}, "area_resolution"),
        ({"status": "pending"}, "status"),
        ({"unit": "people"}, "unit"),
    ],
)
@pytest.mark.parametrize("extension", list(MEDIA_TYPES))
async def test_bad_parameters_are_422_naming_the_parameter(
    api: Api, researcher: dict[str, str], extension: str, params: dict[str, str], field: str
) -> None:
    response = await api.client.get(
        f"{EXPORT}.{extension}", params={"group_by": "area", **params}, headers=researcher
    )
    assert assert_problem(response, 422, field=field)["code"] == "validation_failed"


@pytest.mark.parametrize("name", ["identification.xlsx", "identification.sav", "identification"])
async def test_an_unknown_export_is_a_404_problem(
    api: Api, researcher: dict[str, str], name: str
) -> None:
    for headers in (researcher, {}):
        response = await api.client.get(f"/v1/exports/{name}", headers=headers)
        assert assert_problem(response, 404)["code"] == "not_found"
