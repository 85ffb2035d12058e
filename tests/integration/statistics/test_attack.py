"""The attack of issue 13 against the researcher tier, re-run through the API: one incident is
planted in a quiet H3 res-6 area among busy ones, then every request of the family that the
test can enumerate is made before and after (all groupings, area resolutions 5-7, both
statuses and units, date windows inside October and across its ends). Nothing published may
change, and the windows, subtractions and one-day queries of the issue must show nothing.

The busy data is laid out by hand so that every kept group is known (k = 11): three busy
res-7 areas, one in each of three res-6 children of a res-5 area P; the plant goes into a
fourth child of P. In each busy area and in each of two October week pieces (1-5 October, the
end of ISO week 40; 13-19 October, ISO week 42) there are

    ICE, masked all, observer report   12 incidents   kept as they are
    CBP, masked none, officer note     11 incidents   kept as they are
    HSI, masked some, observer report   3 incidents   kept with the next two, as the area's
    ICE, masked some, observer report   4 incidents     11 (ISO week grid) or 22 (month grid)
    CBP, masked all, observer report    4 incidents

so nothing in P is left over for the plant to join at res 6 or res 5.
"""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import h3
import pytest

from schemas.auth import Role
from tests.support.helpers import Api, bearer, observer_report

K = 11
P = h3.cell_to_parent(h3.latlng_to_cell(40.7191, -74.0017, 7), 5)
CHILDREN = sorted(h3.cell_to_children(P, 6))
BUSY = [h3.cell_to_center_child(area, 7) for area in CHILDREN[:3]]
QUIET = CHILDREN[3]
PLANT_DAY = datetime(2025, 10, 5, 14, 0, tzinfo=UTC)  # a Sunday: the end of ISO week 40
PIECES = [datetime(2025, 10, 1, 0, 30, tzinfo=UTC), datetime(2025, 10, 13, 0, 30, tzinfo=UTC)]
NOT_IDENTIFIED = {"verbal": "no", "badge_shown": "no", "insignia_visible": "no"}
IDENTIFIED = {"verbal": "yes", "badge_shown": "no", "insignia_visible": "no"}
# (agency, masked, kind, incidents per busy area and week piece)
LAYOUT = [
    ("ICE", "all", "observer_report", 12),
    ("CBP", "none", "officer_note", 11),
    ("HSI", "some", "observer_report", 3),
    ("ICE", "some", "observer_report", 4),
    ("CBP", "all", "observer_report", 4),
]
DIMENSIONS = ("month", "week", "area", "agency", "masked", "kind")
WINDOWS = [
    {},
    {"from": "2025-10-05", "to": "2025-10-31"},
    {"from": "2025-10-06", "to": "2025-10-31"},
    {"from": "2025-10-01", "to": "2025-10-10"},
    {"from": "2025-10-11", "to": "2025-10-31"},
    {"from": "2025-10-05", "to": "2025-10-05"},
    {"from": "2025-09-29", "to": "2025-10-05"},
    {"from": "2025-09-15", "to": "2025-11-15"},
]
STATS = "/v1/stats/identification"


def report(
    area: str, when: datetime, agency: str, masked: str, kind: str, answers: dict[str, str]
) -> dict[str, Any]:
    lat, lon = h3.cell_to_latlng(h3.cell_to_center_child(area, 9))
    body = observer_report(
        location={"lat": lat, "lon": lon},
        occurred_at=when.isoformat(),
        agents={"masked": masked, "agencies_claimed": [agency], "agencies_suspected": []},
        identification={**answers, "asked": "no", "response_when_asked": None},
    )
    if kind == "officer_note":
        body["kind"] = "officer_note"
        body["officer"] = {
            "command": "Precinct 7",
            "agents_identified_to_officers": "no",
            "prior_notification": "no",
            "officers_injured": 0,
            "incident_reference": "2025-000123",
        }
    return body


async def submit_busy_areas(api: Api) -> list[str]:
    observer = await api.device_token()
    officer = await api.token(Role.officer)
    ids = []
    for area in BUSY:
        for start in PIECES:
            # Two hours apart in one area, so no two incidents group (window: 90 minutes).
            slot = 0
            for agency, masked, kind, count in LAYOUT:
                for n in range(count):
                    when = start + timedelta(hours=2 * slot)
                    slot += 1
                    answers = NOT_IDENTIFIED if n % 3 else IDENTIFIED
                    token = officer if kind == "officer_note" else observer
                    body = report(area, when, agency, masked, kind, answers)
                    created = await api.submit(token, body)
                    assert created.status_code == 201, created.text
                    ids.append(created.json()["id"])
    return ids


async def verify(api: Api, ids: list[str]) -> None:
    """As a review does: the status, and the reports marked for the folder."""
    await api.conn.execute(
        "update reports set status = 'verified', fold_pending_since = now()"
        " where id = any($1::uuid[])",
        [uuid.UUID(i) for i in ids],
    )


def requests() -> list[dict[str, str]]:
    """Every grouping (each subset of the dimensions), area resolution, status, unit and
    window."""
    found = []
    for size in range(len(DIMENSIONS) + 1):
        for grouping in itertools.combinations(DIMENSIONS, size):
            resolutions = ["5", "6", "7"] if "area" in grouping else [None]
            for resolution, status, unit, window in itertools.product(
                resolutions, ("all", "verified"), ("incident", "report"), WINDOWS
            ):
                params = {"group_by": ",".join(grouping), "status": status, "unit": unit}
                if resolution is not None:
                    params["area_resolution"] = resolution
                found.append({**params, **window})
    return found


async def published(api: Api, headers: dict[str, str], params: dict[str, str]) -> dict[str, Any]:
    response = await api.client.get(STATS, params=params, headers=headers)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    del result["generated_at"]
    return result


async def everything(api: Api, headers: dict[str, str]) -> dict[str, dict[str, Any]]:
    answers = {}
    for params in requests():
        answers[repr(sorted(params.items()))] = await published(api, headers, params)
    return answers


@pytest.mark.slow
async def test_a_planted_incident_in_a_quiet_area_changes_no_published_number(
    api: Api,
) -> None:
    await verify(api, await submit_busy_areas(api))
    researcher = bearer(await api.account_token(Role.researcher))
    before = await everything(api, researcher)

    planter = await api.device_token()
    body = report(QUIET, PLANT_DAY, "ICE", "all", "observer_report", NOT_IDENTIFIED)
    planted = await api.submit(planter, body)
    assert planted.status_code == 201, planted.text
    await verify(api, [planted.json()["id"]])  # and the moderators believed it
    after = await everything(api, researcher)

    # (a) Presence: every response, dataset version included, is the same as without it.
    changed = [key for key in before if before[key] != after[key]]
    assert changed == []
    # Nothing below the threshold is ever listed, and the plant's areas never appear.
    plant_areas = {h3.cell_to_parent(h3.cell_to_center_child(QUIET, 9), r) for r in (6, 7)}
    for result in after.values():
        for row in result["rows"]:
            assert row["total"] >= K
            assert row.get("area") not in plant_areas
    # The comparison is not vacuous: the busy areas are published.
    asked = {"group_by": "month,area", "status": "all", "unit": "incident", "area_resolution": "7"}
    month_area = after[repr(sorted(asked.items()))]
    assert {(row["area"], row["total"]) for row in month_area["rows"]} == {
        (area, 68) for area in BUSY
    }


def _rows(result: dict[str, Any], *keys: str) -> dict[tuple[str, ...], int]:
    return {tuple(row[k] for k in keys): row["total"] for row in result["rows"]}


async def test_the_issues_windows_and_subtractions_show_nothing(api: Api) -> None:
    await verify(api, await submit_busy_areas(api))
    planter = await api.device_token()
    body = report(QUIET, PLANT_DAY, "ICE", "all", "observer_report", NOT_IDENTIFIED)
    assert (await api.submit(planter, body)).status_code == 201
    researcher = bearer(await api.account_token(Role.researcher))

    # Oct 5-31 and Oct 6-31 (area at res 6, then by agency) are both answered for October.
    for extra in ({"group_by": "area", "area_resolution": "6"}, {"group_by": "agency"}):
        late = await published(api, researcher, {**extra, "from": "2025-10-05", "to": "2025-10-31"})
        later = await published(
            api, researcher, {**extra, "from": "2025-10-06", "to": "2025-10-31"}
        )
        assert late == later
        assert (late["from"], late["to"], late["snapped"]) == ("2025-10-01", "2025-10-31", True)

    # Area by agency at res 6: only what was kept at the res-7 area x agency level or finer.
    by_agency = await published(
        api, researcher, {"group_by": "area,agency", "area_resolution": "6"}
    )
    assert _rows(by_agency, "area", "agency") == {
        (h3.cell_to_parent(area, 6), agency): total
        for area in BUSY
        for agency, total in (("ICE", 24), ("CBP", 22))
    }

    # Totals minus the other areas, each from October windows that a researcher might try to
    # stitch together (1-10 and 11-31): both are October, and total - areas is 0.
    first_days = {"from": "2025-10-01", "to": "2025-10-10"}
    for window in (first_days, {"from": "2025-10-11", "to": "2025-10-31"}):
        total = await published(api, researcher, window)
        for resolution in ("5", "6", "7"):
            areas = await published(
                api, researcher, {**window, "group_by": "area", "area_resolution": resolution}
            )
            assert sum(_rows(areas, "area").values()) == total["rows"][0]["total"] == 3 * 68
        by_week = await published(api, researcher, {**window, "group_by": "week"})
        assert by_week["snapped"] is True
        # ISO weeks 40 to 44 touch these windows; week 40 is cut at 1 October: its piece
        # 1-5 October holds 34 incidents per busy area, the plant's piece holds the plant.
        assert set(_rows(by_week, "week").values()) <= {3 * 34}

    # One day, finest grouping: answered for October; the plant's res-7 area has no row.
    one_day = {"from": "2025-10-05", "to": "2025-10-05"}
    finest = await published(
        api, researcher, {**one_day, "group_by": "area,agency,masked,kind", "area_resolution": "7"}
    )
    assert finest["snapped"] is True
    assert _rows(finest, "area", "agency", "masked", "kind") == {
        (area, agency, masked, kind): 2 * count
        for area in BUSY
        for agency, masked, kind, count in LAYOUT
        if 2 * count >= K
    }


@pytest.mark.parametrize(
    ("params", "snapped"),
    [
        ({"from": "2025-10-01", "to": "2025-10-31"}, ("2025-10-01", "2025-10-31", False)),
        ({"from": "2025-10-05", "to": "2025-11-02"}, ("2025-10-01", "2025-11-30", True)),
        ({"from": "2025-10-05", "group_by": "week"}, ("2025-09-29", None, True)),
        ({"to": "2025-10-05", "group_by": "month,week"}, (None, "2025-10-05", False)),
        ({"to": "2025-10-06", "group_by": "week,area"}, (None, "2025-10-12", True)),
        ({}, (None, None, False)),
        # The extreme dates a request may name still snap (to days outside that range).
        (
            {"from": "2000-01-01", "to": "2100-12-31", "group_by": "week"},
            ("1999-12-27", "2101-01-02", True),
        ),
        ({"from": "2000-01-01", "to": "2100-12-31"}, ("2000-01-01", "2100-12-31", False)),
    ],
)
async def test_the_response_names_the_period_it_answered(
    api: Api, params: dict[str, str], snapped: tuple[str | None, str | None, bool]
) -> None:
    researcher = bearer(await api.account_token(Role.researcher))
    result = await published(api, researcher, params)
    assert (result["from"], result["to"], result["snapped"]) == snapped
    export = await api.client.get(
        "/v1/exports/identification.json", params=params, headers=researcher
    )
    meta = export.json()["meta"]
    assert (meta["from"], meta["to"], meta["snapped"]) == snapped
