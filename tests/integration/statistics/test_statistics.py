"""Identification statistics over HTTP: counts, rates and intervals worked out by hand,
suppression checked as an attacker would, the public tier's delay and coarseness, exports,
and who may ask.

Each incident below is one report (or a few close together) placed in a chosen H3 res-7 area
on a chosen day, three hours apart from the next, so the incidents follow by hand from the
contract's rule.
"""

from __future__ import annotations

import csv
import io
import itertools
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import h3
import httpx
import msgspec
import pytest

from api.app import create_app
from api.tasks.photo_workers import PhotoWorkers
from schemas.auth import Role
from schemas.settings import Settings
from storage.db.pool import SingleConnectionDatabase
from tests.support.assertions import assert_problem
from tests.support.helpers import Api, bearer, observer_report
from tests.support.live_server import live_server

# Three res-7 areas in different cities; reports go to a res-9 cell inside each.
AREA_X = h3.latlng_to_cell(40.7191, -74.0017, 7)
AREA_Y = h3.latlng_to_cell(34.0522, -118.2437, 7)
AREA_Z = h3.latlng_to_cell(41.8781, -87.6298, 7)
MARCH = datetime(2025, 3, 2, 6, 0, tzinfo=UTC)
APRIL = datetime(2025, 4, 3, 6, 0, tzinfo=UTC)
NOT_IDENTIFIED = {"verbal": "no", "badge_shown": "no", "insignia_visible": "no"}
IDENTIFIED = {"verbal": "yes", "badge_shown": "yes", "insignia_visible": "no"}
UNCLEAR = {"verbal": "unclear", "badge_shown": "no", "insignia_visible": "no"}
STATS = "/v1/stats/identification"


def body(area: str, when: datetime, answers: dict[str, str], **overrides: Any) -> dict[str, Any]:
    lat, lon = h3.cell_to_latlng(h3.cell_to_center_child(area, 9))
    return observer_report(
        location={"lat": lat, "lon": lon},
        occurred_at=when.isoformat(),
        identification={**answers, "asked": "no", "response_when_asked": None},
        **overrides,
    )


class Reporter:
    """Submits incidents three hours apart, so no two of them group."""

    def __init__(self, api: Api, token: str) -> None:
        self.api = api
        self.token = token
        self.slot = 0

    async def incidents(
        self, area: str, start: datetime, answers: Sequence[dict[str, str]], **overrides: Any
    ) -> list[str]:
        ids = []
        for item in answers:
            when = start + timedelta(hours=3 * self.slot)
            self.slot += 1
            response = await self.api.submit(self.token, body(area, when, item, **overrides))
            assert response.status_code == 201, response.text
            ids.append(response.json()["id"])
        return ids


@pytest.fixture
async def reporter(api: Api) -> Reporter:
    return Reporter(api, await api.device_token())


@pytest.fixture
async def new_york_api(
    settings: Settings, conn: asyncpg.Connection, photo_workers: PhotoWorkers
) -> AsyncIterator[Api]:
    """A second app on the same transaction, configured for America/New_York."""
    app = create_app(
        msgspec.structs.replace(settings, timezone="America/New_York"),
        database=SingleConnectionDatabase(conn),
        photo_workers=photo_workers,
    )
    async with (
        live_server(app) as base_url,
        httpx.AsyncClient(base_url=base_url, timeout=10.0) as client,
    ):
        yield Api(client, conn)


@pytest.fixture
async def researcher(api: Api) -> dict[str, str]:
    return bearer(await api.account_token(Role.researcher))


async def stats(api: Api, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    response = await api.client.get(STATS, params=params, headers=headers)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def by_key(rows: list[dict[str, Any]], *dims: str) -> dict[tuple[str, ...], dict[str, Any]]:
    return {tuple(row[d] for d in dims): row for row in rows}


# --- counts, rates, intervals ---------------------------------------------------------------


async def test_counts_rate_and_wilson_interval_of_one_cell(
    api: Api, reporter: Reporter, researcher: dict[str, str]
) -> None:
    answers = [NOT_IDENTIFIED] * 8 + [IDENTIFIED] * 3 + [UNCLEAR]
    await reporter.incidents(AREA_X, MARCH, answers)
    result = await stats(api, researcher, group_by="month,area")
    assert result["unit"] == "incident"
    assert result["suppression_threshold"] == 11
    # 8 of 11 decided: p = 0.72727; Wilson 95% (z = 1.96): centre (p + z²/2n) / (1 + z²/n)
    # = 0.66844, half-width z·sqrt(p(1-p)/n + z²/4n²) / (1 + z²/n) = 0.23406.
    assert result["rows"] == [
        {
            "month": "2025-03",
            "area": AREA_X,
            "total": 12,
            "not_identified": 8,
            "identified": 3,
            "unclear": 1,
            "rate_not_identified": 0.7273,
            "ci_low": 0.4344,
            "ci_high": 0.9025,
            "suppressed": False,
        }
    ]


async def test_incidents_are_counted_once_and_reports_on_request(
    api: Api, reporter: Reporter, researcher: dict[str, str]
) -> None:
    await reporter.incidents(AREA_X, MARCH, [IDENTIFIED] * 11)
    # Three more reports of the first incident (same place, minutes later): still 11 incidents.
    for minutes in (5, 10, 15):
        extra = body(AREA_X, MARCH + timedelta(minutes=minutes), NOT_IDENTIFIED)
        assert (await api.submit(reporter.token, extra)).status_code == 201
    incidents = await stats(api, researcher)
    # First incident: 1 identified + 3 not identified -> not identified (plurality).
    assert incidents["rows"][0]["total"] == 11
    assert incidents["rows"][0]["not_identified"] == 1
    reports = await stats(api, researcher, unit="report")
    assert reports["unit"] == "report"
    assert (reports["rows"][0]["total"], reports["rows"][0]["not_identified"]) == (14, 3)


async def test_every_dimension_and_row_keys(
    api: Api, reporter: Reporter, researcher: dict[str, str]
) -> None:
    agents = {"masked": "some", "agencies_claimed": ["CBP"], "agencies_suspected": []}
    monday = datetime(2025, 3, 3, 6, 0, tzinfo=UTC)
    await reporter.incidents(AREA_X, monday, [NOT_IDENTIFIED] * 11, agents=agents)
    result = await stats(
        api, researcher, group_by="month,week,area,agency,masked,kind", area_resolution=6
    )
    week = monday.isocalendar()
    (row,) = result["rows"]
    # 11 incidents three hours apart from Monday 3 March 06:00: all in ISO week 10.
    assert {k: row[k] for k in ("month", "week", "area", "agency", "masked", "kind")} == {
        "month": "2025-03",
        "week": f"{week.year}-W{week.week:02d}",
        "area": h3.cell_to_parent(AREA_X, 6),
        "agency": "CBP",
        "masked": "some",
        "kind": "observer_report",
    }
    assert week.week == 10


async def test_area_at_resolution_five_is_the_h3_parent(
    api: Api, reporter: Reporter, researcher: dict[str, str]
) -> None:
    await reporter.incidents(AREA_X, MARCH, [UNCLEAR] * 11)
    result = await stats(api, researcher, group_by="area", area_resolution=5)
    assert [row["area"] for row in result["rows"]] == [h3.cell_to_parent(AREA_X, 5)]
    assert result["rows"][0]["rate_not_identified"] is None  # nothing decided
    assert result["rows"][0]["ci_low"] is None


async def test_from_and_to_are_inclusive_days(
    api: Api, reporter: Reporter, researcher: dict[str, str]
) -> None:
    # 11 incidents in March (2 March 06:00 .. 3 March 12:00 UTC), 11 in April.
    await reporter.incidents(AREA_X, MARCH, [IDENTIFIED] * 11)
    reporter.slot = 0
    await reporter.incidents(AREA_X, APRIL, [IDENTIFIED] * 11)
    both = await stats(api, researcher, group_by="month")
    assert [(r["month"], r["total"]) for r in both["rows"]] == [("2025-03", 11), ("2025-04", 11)]
    march = await stats(api, researcher, group_by="month", to="2025-03-03")
    assert [(r["month"], r["total"]) for r in march["rows"]] == [("2025-03", 11)]
    # 2 March only: 06:00 .. 21:00 is six incidents: below the threshold.
    one_day = await stats(api, researcher, **{"from": "2025-03-02", "to": "2025-03-02"})
    assert one_day["rows"] == [_suppressed({})]
    empty = await stats(api, researcher, **{"from": "2025-05-01"})
    assert empty["rows"] == []


async def test_month_buckets_follow_the_configured_time_zone(
    api: Api, new_york_api: Api, reporter: Reporter
) -> None:
    # Eleven incidents far apart (rings 3 steps apart) at 1 April 02:00 UTC, which is still
    # 31 March in New York (UTC-4 in April).
    centre = h3.cell_to_center_child(AREA_X, 9)
    when = datetime(2025, 4, 1, 2, 0, tzinfo=UTC)
    for k in range(11):
        lat, lon = h3.cell_to_latlng(sorted(h3.grid_ring(centre, 3 * k))[0])
        report = observer_report(location={"lat": lat, "lon": lon}, occurred_at=when.isoformat())
        assert (await api.submit(reporter.token, report)).status_code == 201
    headers = bearer(await api.account_token(Role.researcher))
    utc = await stats(api, headers, group_by="month")
    new_york = await stats(new_york_api, headers, group_by="month")
    assert [(r["month"], r["total"]) for r in utc["rows"]] == [("2025-04", 11)]
    assert [(r["month"], r["total"]) for r in new_york["rows"]] == [("2025-03", 11)]
    # A day filter is a local day too: 31 March in New York holds them, in UTC it does not.
    day = {"from": "2025-03-31", "to": "2025-03-31"}
    assert (await stats(new_york_api, headers, **day))["rows"][0]["total"] == 11
    assert (await stats(api, headers, **day))["rows"] == []


async def test_withdrawn_reports_drop_out(
    api: Api, reporter: Reporter, researcher: dict[str, str]
) -> None:
    ids = await reporter.incidents(AREA_X, MARCH, [NOT_IDENTIFIED] * 12)
    before = await stats(api, researcher)
    response = await api.client.delete(f"/v1/reports/{ids[0]}", headers=bearer(reporter.token))
    assert response.status_code == 204
    after = await stats(api, researcher)
    assert (before["rows"][0]["total"], after["rows"][0]["total"]) == (12, 11)
    assert before["dataset_version"] != after["dataset_version"]


async def test_status_verified_counts_only_verified_reports(
    api: Api, reporter: Reporter, researcher: dict[str, str]
) -> None:
    ids = await reporter.incidents(AREA_X, MARCH, [IDENTIFIED] * 13)
    # Verified as a review does: the status, and the report marked for the folder.
    verified = [uuid.UUID(i) for i in ids[:11]]
    await api.conn.execute(
        "update reports set status = 'verified', fold_pending_since = now() where id = any($1)",
        verified,
    )
    assert (await stats(api, researcher))["rows"][0]["total"] == 13
    assert (await stats(api, researcher, status="verified"))["rows"][0]["total"] == 11


# --- disclosure control -------------------------------------------------------------------


def _suppressed(keys: dict[str, str]) -> dict[str, Any]:
    return {
        **keys,
        "total": None,
        "not_identified": None,
        "identified": None,
        "unclear": None,
        "rate_not_identified": None,
        "ci_low": None,
        "ci_high": None,
        "suppressed": True,
    }


async def test_small_cells_and_their_complement_are_suppressed(
    api: Api, reporter: Reporter, researcher: dict[str, str]
) -> None:
    # X 12, Z 13, Y 3 incidents. Y is below 11. The grand total (28) is published, so hiding
    # Y alone would give Y = 28 - 12 - 13: the smallest other cell (X, 12) is hidden too.
    await reporter.incidents(AREA_X, MARCH, [NOT_IDENTIFIED] * 12)
    await reporter.incidents(AREA_Z, MARCH, [IDENTIFIED] * 13)
    await reporter.incidents(AREA_Y, MARCH, [UNCLEAR] * 3)
    rows = by_key((await stats(api, researcher, group_by="area"))["rows"], "area")
    assert rows[(AREA_Y,)] == _suppressed({"area": AREA_Y})
    assert rows[(AREA_X,)] == _suppressed({"area": AREA_X})
    assert rows[(AREA_Z,)]["total"] == 13
    grand = (await stats(api, researcher))["rows"]
    assert [row["total"] for row in grand] == [28]


Key = tuple[tuple[str, ...], tuple[str, ...]]  # (grouping, values)


def attack(tables: dict[tuple[str, ...], list[dict[str, Any]]]) -> dict[Key, int]:
    """Everything an attacker can work out from the published tables by subtraction and
    addition, repeated until nothing new comes out: a hidden cell is recovered when a known
    coarser total has it as its only unknown part, or when all its finer parts are known."""
    known: dict[Key, int] = {}
    cells: dict[tuple[str, ...], list[tuple[str, ...]]] = {}
    for grouping, rows in tables.items():
        cells[grouping] = [tuple(row[d] for d in grouping) for row in rows]
        for row, key in zip(rows, cells[grouping], strict=True):
            if not row["suppressed"]:
                known[(grouping, key)] = row["total"]
    changed = True
    while changed:
        changed = False
        for fine, coarse in itertools.permutations(tables, 2):
            if not set(coarse) < set(fine):
                continue
            positions = [fine.index(d) for d in coarse]
            for coarse_key in cells[coarse]:
                parts = [k for k in cells[fine] if tuple(k[p] for p in positions) == coarse_key]
                unknown = [k for k in parts if (fine, k) not in known]
                whole = known.get((coarse, coarse_key))
                if whole is not None and len(unknown) == 1:
                    rest = sum(known[(fine, k)] for k in parts if k != unknown[0])
                    known[(fine, unknown[0])] = whole - rest
                    changed = True
                elif whole is None and not unknown:
                    known[(coarse, coarse_key)] = sum(known[(fine, k)] for k in parts)
                    changed = True
    return known


async def test_an_attacker_cannot_recover_a_small_cell(
    api: Api, reporter: Reporter, researcher: dict[str, str]
) -> None:
    """Query every grouping of month x area x masked and work out whatever subtraction gives:
    no count below the threshold may come out. (The three areas lie in different cities, so
    their coarser resolutions group exactly as they do and add nothing to learn.)"""
    plan = [
        (AREA_X, MARCH, "all", 9),
        (AREA_X, MARCH, "none", 4),
        (AREA_X, MARCH, "some", 15),
        (AREA_X, APRIL, "all", 12),
        (AREA_X, APRIL, "none", 13),
        (AREA_Z, MARCH, "all", 14),
        (AREA_Z, MARCH, "none", 16),
        (AREA_Z, APRIL, "none", 2),
        (AREA_Z, APRIL, "all", 11),
        (AREA_Y, APRIL, "some", 13),
        (AREA_Y, APRIL, "all", 17),
        (AREA_Y, MARCH, "some", 12),
    ]
    for area, month_start, masked, count in plan:
        agents = {"masked": masked}
        await reporter.incidents(area, month_start, [NOT_IDENTIFIED] * count, agents=agents)
    dims = ("month", "area", "masked")
    tables: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for size in range(len(dims) + 1):
        for grouping in itertools.combinations(dims, size):
            result = await stats(api, researcher, group_by=",".join(grouping))
            tables[grouping] = result["rows"]
    finest = tables[dims]
    # The plan has small cells (9, 4 and 2 incidents): suppression must have happened.
    assert sum(row["suppressed"] for row in finest) >= 3
    months = {MARCH: "2025-03", APRIL: "2025-04"}
    truth: dict[tuple[str, ...], int] = {
        (months[start], area, masked): count for area, start, masked, count in plan
    }
    known = attack(tables)
    leaked = {key: value for (grouping, key), value in known.items() if grouping == dims}
    for key, value in leaked.items():
        assert value == truth[key]  # the attack is sound: it only learns true counts
    assert {key for key, value in leaked.items() if value < 11} == set()


# --- the public tier ----------------------------------------------------------------------
# Live public queries are gone (410): the public gets monthly releases (test_releases.py).


# --- exports ------------------------------------------------------------------------------


async def test_csv_export_leads_with_the_methods(
    api: Api, reporter: Reporter, researcher: dict[str, str]
) -> None:
    await reporter.incidents(AREA_X, MARCH, [NOT_IDENTIFIED] * 8 + [IDENTIFIED] * 3 + [UNCLEAR])
    params = {"group_by": "month,area", "from": "2025-01-01", "to": "2025-12-31"}
    response = await api.client.get(
        "/v1/exports/identification.csv", params=params, headers=researcher
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    lines = response.text.splitlines()
    methods = [line for line in lines if line.startswith("#")]
    data = [line for line in lines if not line.startswith("#")]
    assert lines[: len(methods)] == methods  # all methods lines come first
    text = "\n".join(methods)
    for needle in (
        "suppression_threshold: 11",
        "time_zone: UTC",
        "filters.from: 2025-01-01",
        "filters.group_by: month,area",
        "grouping.window_minutes: 90",
        "definitions.interval",
        "dataset_version: ",
    ):
        assert needle in text, needle
    table = list(csv.DictReader(io.StringIO("\n".join(data))))
    assert table == [
        {
            "month": "2025-03",
            "area": AREA_X,
            "total": "12",
            "not_identified": "8",
            "identified": "3",
            "unclear": "1",
            "rate_not_identified": "0.7273",
            "ci_low": "0.4344",
            "ci_high": "0.9025",
            "suppressed": "false",
        }
    ]


async def test_json_export_has_meta_beside_the_same_rows(
    api: Api, reporter: Reporter, researcher: dict[str, str]
) -> None:
    await reporter.incidents(AREA_X, MARCH, [NOT_IDENTIFIED] * 12)
    await reporter.incidents(AREA_Y, MARCH, [NOT_IDENTIFIED] * 2)
    params = {"group_by": "area"}
    response = await api.client.get(
        "/v1/exports/identification.json", params=params, headers=researcher
    )
    assert response.status_code == 200, response.text
    export = response.json()
    live = await stats(api, researcher, **params)
    assert export["rows"] == live["rows"]
    assert export["meta"]["dataset_version"] == live["dataset_version"]
    assert export["meta"]["filters"]["group_by"] == ["area"]
    assert export["meta"]["suppression_threshold"] == 11


async def test_dataset_version_is_stable_until_the_data_changes(
    api: Api, reporter: Reporter, researcher: dict[str, str]
) -> None:
    await reporter.incidents(AREA_X, MARCH, [NOT_IDENTIFIED] * 12)
    first = await stats(api, researcher, group_by="month")
    second = await stats(api, researcher, group_by="month")
    assert first["dataset_version"] == second["dataset_version"]
    assert first["generated_at"] <= second["generated_at"]
    await reporter.incidents(AREA_X, MARCH, [IDENTIFIED])
    third = await stats(api, researcher, group_by="month")
    assert third["dataset_version"] != first["dataset_version"]


# --- access and bad input ------------------------------------------------------------------

RESEARCH_PATHS = [STATS, "/v1/exports/identification.csv", "/v1/exports/identification.json"]


@pytest.mark.parametrize("path", RESEARCH_PATHS)
async def test_anonymous_callers_get_401(api: Api, path: str) -> None:
    assert assert_problem(await api.client.get(path), 401)["code"] == "unauthenticated"


@pytest.mark.parametrize("path", RESEARCH_PATHS)
@pytest.mark.parametrize("role", [Role.observer, Role.officer])
async def test_reporters_get_403(api: Api, path: str, role: Role) -> None:
    response = await api.client.get(path, headers=bearer(await api.token(role)))
    assert assert_problem(response, 403)["code"] == "forbidden"


@pytest.mark.parametrize("path", RESEARCH_PATHS)
@pytest.mark.parametrize("role", [Role.researcher, Role.moderator, Role.admin])
async def test_analysts_may_read(api: Api, path: str, role: Role) -> None:
    response = await api.client.get(path, headers=bearer(await api.token(role)))
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2025-03-02", "to": "2025-03-01"}, "from"),
        ({"from": "March"}, "from"),
        ({"to": "2025-02-30"}, "to"),
        ({"group_by": "city"}, "group_by"),
        ({"group_by": "month,month"}, "group_by"),
        ({"area_resolution": "4"}, "area_resolution"),
        ({"area_resolution": "8"}, "area_resolution"),
        ({"area_resolution": "six"}, "area_resolution"),
        ({"status": "pending"}, "status"),
        ({"unit": "people"}, "unit"),
    ],
)
@pytest.mark.parametrize("path", RESEARCH_PATHS)
async def test_bad_parameters_are_422_naming_the_parameter(
    api: Api, researcher: dict[str, str], path: str, params: dict[str, str], field: str
) -> None:
    response = await api.client.get(path, params=params, headers=researcher)
    assert assert_problem(response, 422, field=field)["code"] == "validation_failed"


async def test_h3_parent_in_sql_matches_the_h3_library(api: Api) -> None:
    cells = [
        h3.latlng_to_cell(lat, lon, 9)
        for lat, lon in itertools.product((-89.9, -33.9, 0.0, 40.7, 89.9), (-179.9, -74, 0, 151))
    ]
    for resolution in (5, 6, 7):
        got = await api.conn.fetch(
            "select h3_parent(c, $2) as p from unnest($1::bigint[]) as c",
            [h3.str_to_int(c) for c in cells],
            resolution,
        )
        assert [h3.int_to_str(row["p"]) for row in got] == [
            h3.cell_to_parent(c, resolution) for c in cells
        ]


async def test_partial_months_are_counted_from_the_sources_for_areas(
    api: Api, reporter: Reporter, researcher: dict[str, str]
) -> None:
    # March: 2 March 06:00 .. 3 March 12:00; April: 3 April 06:00 .. 4 April 12:00 (UTC).
    await reporter.incidents(AREA_X, MARCH, [IDENTIFIED] * 11)
    reporter.slot = 0
    await reporter.incidents(AREA_X, APRIL, [NOT_IDENTIFIED] * 11)
    # 2 March .. 3 April: all of March, and 3 April 06:00 .. 21:00 (six incidents).
    window = {"from": "2025-03-02", "to": "2025-04-03"}
    by_area = await stats(api, researcher, group_by="area", **window)
    by_area_agency = await stats(api, researcher, group_by="area,agency", **window)
    by_month = await stats(api, researcher, group_by="month,area", **window)
    assert [(r["area"], r["total"]) for r in by_area["rows"]] == [(AREA_X, 17)]
    assert [(r["agency"], r["total"]) for r in by_area_agency["rows"]] == [("ICE", 17)]
    # April (six) is below the threshold; the area's total (17) is published, so March is
    # hidden too: the only cell left to hide, though the March total publishes it (see
    # storage/statistics/disclosure.py on what a single table cannot protect).
    assert [(r["month"], r["suppressed"]) for r in by_month["rows"]] == [
        ("2025-03", True),
        ("2025-04", True),
    ]
