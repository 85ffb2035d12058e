"""Identification statistics over HTTP: counts, rates and intervals worked out by hand,
periods snapped to whole months or weeks, small groups left out (the attack itself is in
test_attack.py), the public tier's delay and coarseness, exports, and who may ask.

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


def far_apart_in_one_res5_area(area: str, count: int) -> list[str]:
    """Res-9 cells at least 3 grid steps apart (never one incident), all inside the res-5
    parent of ``area``, from its centre outwards."""
    parent = h3.cell_to_parent(area, 5)
    centre = h3.cell_to_center_child(parent, 9)
    cells: list[str] = []
    for candidate in itertools.chain.from_iterable(
        sorted(h3.grid_ring(centre, ring)) if ring else [centre] for ring in range(0, 30, 3)
    ):
        if h3.cell_to_parent(candidate, 5) == parent and all(
            h3.grid_distance(candidate, cell) >= 3 for cell in cells
        ):
            cells.append(candidate)
        if len(cells) == count:
            return cells
    raise AssertionError("not enough room in the res-5 area")


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


async def test_periods_snap_outward_to_whole_months_or_weeks(
    api: Api, reporter: Reporter, researcher: dict[str, str]
) -> None:
    # 11 incidents in March (2 March 06:00 .. 3 March 12:00 UTC), 11 in April.
    await reporter.incidents(AREA_X, MARCH, [IDENTIFIED] * 11)
    reporter.slot = 0
    await reporter.incidents(AREA_X, APRIL, [IDENTIFIED] * 11)
    both = await stats(api, researcher, group_by="month")
    assert [(r["month"], r["total"]) for r in both["rows"]] == [("2025-03", 11), ("2025-04", 11)]
    assert (both["from"], both["to"], both["snapped"]) == (None, None, False)
    march = await stats(api, researcher, group_by="month", to="2025-03-03")
    assert [(r["month"], r["total"]) for r in march["rows"]] == [("2025-03", 11)]
    assert (march["from"], march["to"], march["snapped"]) == (None, "2025-03-31", True)
    # 2 March alone holds six incidents, but the answer is for all of March: 11. A request
    # never sees part of a month, so two windows a day apart cannot single out a day.
    one_day = await stats(api, researcher, **{"from": "2025-03-02", "to": "2025-03-02"})
    assert [row["total"] for row in one_day["rows"]] == [11]
    assert (one_day["from"], one_day["to"]) == ("2025-03-01", "2025-03-31")
    # By week, the same day is answered for its ISO week (24 February .. 2 March), cut at the
    # month's start: six incidents on 1-2 March, five in week 10 -- each group below the
    # threshold, so nothing is published.
    weekly = await stats(
        api, researcher, group_by="week", **{"from": "2025-03-02", "to": "2025-03-02"}
    )
    assert (weekly["from"], weekly["to"], weekly["snapped"]) == ("2025-02-24", "2025-03-02", True)
    assert weekly["rows"] == []
    empty = await stats(api, researcher, **{"from": "2025-05-01"})
    assert empty["rows"] == []
    assert (empty["from"], empty["to"], empty["snapped"]) == ("2025-05-01", None, False)


async def test_month_buckets_follow_the_configured_time_zone(
    api: Api, new_york_api: Api, reporter: Reporter
) -> None:
    # Eleven incidents far apart (rings 3 steps apart, in one res-5 area so that they count
    # together) at 1 April 02:00 UTC, which is still 31 March in New York (UTC-4 in April).
    for cell in far_apart_in_one_res5_area(AREA_X, 11):
        lat, lon = h3.cell_to_latlng(cell)
        when = datetime(2025, 4, 1, 2, 0, tzinfo=UTC)
        report = observer_report(location={"lat": lat, "lon": lon}, occurred_at=when.isoformat())
        assert (await api.submit(reporter.token, report)).status_code == 201
    headers = bearer(await api.account_token(Role.researcher))
    utc = await stats(api, headers, group_by="month")
    new_york = await stats(new_york_api, headers, group_by="month")
    assert [(r["month"], r["total"]) for r in utc["rows"]] == [("2025-04", 11)]
    assert [(r["month"], r["total"]) for r in new_york["rows"]] == [("2025-03", 11)]
    # A day filter is a local day too, answered for its month: March in New York holds them,
    # in UTC it does not.
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


async def test_small_cells_are_absent_and_left_out_of_every_total(
    api: Api, reporter: Reporter, researcher: dict[str, str]
) -> None:
    # X 12, Z 13, Y 3 incidents, in three cities. Y is below 11 in its area at every
    # resolution down to res 5: it is left out of every table, the grand total included, so
    # no subtraction finds it (the total is X + Z).
    await reporter.incidents(AREA_X, MARCH, [NOT_IDENTIFIED] * 12)
    await reporter.incidents(AREA_Z, MARCH, [IDENTIFIED] * 13)
    await reporter.incidents(AREA_Y, MARCH, [UNCLEAR] * 3)
    for resolution in (5, 6, 7):
        rows = (await stats(api, researcher, group_by="area", area_resolution=resolution))["rows"]
        assert {row["area"]: row["total"] for row in rows} == {
            h3.cell_to_parent(AREA_X, resolution): 12,
            h3.cell_to_parent(AREA_Z, resolution): 13,
        }
        assert all(row["suppressed"] is False for row in rows)
    grand = (await stats(api, researcher))["rows"]
    assert [row["total"] for row in grand] == [25]


async def test_small_groups_count_where_they_add_up_to_the_threshold(
    api: Api, reporter: Reporter, researcher: dict[str, str]
) -> None:
    # In area X in March: 12 incidents by ICE, 6 by CBP, 5 by HSI. CBP and HSI are each
    # below 11 by agency, but together (11) they make a group of the area: tables by area
    # count all 23, tables by agency only ICE's 12.
    ice = {"agencies_claimed": ["ICE"], "agencies_suspected": []}
    cbp = {"agencies_claimed": ["CBP"], "agencies_suspected": []}
    hsi = {"agencies_claimed": ["HSI"], "agencies_suspected": []}
    await reporter.incidents(AREA_X, MARCH, [NOT_IDENTIFIED] * 12, agents=ice)
    await reporter.incidents(AREA_X, MARCH, [IDENTIFIED] * 6, agents=cbp)
    await reporter.incidents(AREA_X, MARCH, [IDENTIFIED] * 5, agents=hsi)
    by_area = await stats(api, researcher, group_by="area")
    assert [(row["area"], row["total"], row["identified"]) for row in by_area["rows"]] == [
        (AREA_X, 23, 11)
    ]
    by_agency = await stats(api, researcher, group_by="agency")
    assert [(row["agency"], row["total"]) for row in by_agency["rows"]] == [("ICE", 12)]
    by_both = await stats(api, researcher, group_by="area,agency", area_resolution=5)
    assert [(row["area"], row["agency"], row["total"]) for row in by_both["rows"]] == [
        (h3.cell_to_parent(AREA_X, 5), "ICE", 12)
    ]
    assert [row["total"] for row in (await stats(api, researcher))["rows"]] == [23]


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
        "# from: 2025-01-01",
        "# to: 2025-12-31",
        "# snapped: false",
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


async def test_partial_months_are_answered_as_whole_months_for_areas(
    api: Api, reporter: Reporter, researcher: dict[str, str]
) -> None:
    # March: 2 March 06:00 .. 3 March 12:00; April: 3 April 06:00 .. 4 April 12:00 (UTC).
    await reporter.incidents(AREA_X, MARCH, [IDENTIFIED] * 11)
    reporter.slot = 0
    await reporter.incidents(AREA_X, APRIL, [NOT_IDENTIFIED] * 11)
    # 2 March .. 3 April is answered for March and April, whole.
    window = {"from": "2025-03-02", "to": "2025-04-03"}
    by_area = await stats(api, researcher, group_by="area", **window)
    by_area_agency = await stats(api, researcher, group_by="area,agency", **window)
    by_month = await stats(api, researcher, group_by="month,area", **window)
    for result in (by_area, by_area_agency, by_month):
        assert (result["from"], result["to"], result["snapped"]) == (
            "2025-03-01",
            "2025-04-30",
            True,
        )
    assert [(r["area"], r["total"]) for r in by_area["rows"]] == [(AREA_X, 22)]
    assert [(r["agency"], r["total"]) for r in by_area_agency["rows"]] == [("ICE", 22)]
    assert [(r["month"], r["total"]) for r in by_month["rows"]] == [
        ("2025-03", 11),
        ("2025-04", 11),
    ]
