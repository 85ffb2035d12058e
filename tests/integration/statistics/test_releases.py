"""Public releases over HTTP: made once a month is past the delay since the receipt of what it
counts, corrected in new versions, signed, cached, and safe against the attacks of issue 13.

Reports are submitted through the API, so the server stamps their receipt time; to put the
first ones weeks in the past (as if received then), the test moves their ``received_at``
back, and the release maker is run with the clock the test chooses.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import h3
import httpx
import msgspec
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from litestar import Litestar

from api.tasks.releases import background_releases
from schemas.auth import Role
from schemas.settings import Settings
from schemas.stats import StatusScope
from storage.db import locks
from storage.db.pool import connect
from storage.incidents.grouping import DEFAULT_GROUPING
from storage.reports.receipts import ReceiptSigner
from storage.statistics.releases.counts import ExactCounts, exact_counts
from storage.statistics.releases.maker import ReleasePolicy, make_releases, month_bounds
from tests.conftest import TEST_RECEIPT_SEED
from tests.support.assertions import assert_problem
from tests.support.cli import cli_environment, run_cli
from tests.support.helpers import Api, bearer, observer_report

NOW = datetime.now(UTC)
# A month that ended weeks ago, whatever day the tests run.
_earlier = NOW - timedelta(days=75)
MONTH = date(_earlier.year, _earlier.month, 1)
MONTH_LABEL = f"{MONTH:%Y-%m}"
FIRST_DAY = datetime(MONTH.year, MONTH.month, 1, 6, tzinfo=UTC)
BUSY = h3.latlng_to_cell(40.7191, -74.0017, 7)  # New York
QUIET = h3.latlng_to_cell(44.9778, -93.2650, 7)  # Minneapolis
NOT_IDENTIFIED = {"verbal": "no", "badge_shown": "no", "insignia_visible": "no"}
IDENTIFIED = {"verbal": "yes", "badge_shown": "no", "insignia_visible": "no"}
RELEASES = "/v1/public/releases"
SIGNER = ReceiptSigner.from_seed(TEST_RECEIPT_SEED)
UTC_ZONE = ZoneInfo("UTC")


def body(area: str, when: datetime, answers: dict[str, str]) -> dict[str, Any]:
    lat, lon = h3.cell_to_latlng(h3.cell_to_center_child(area, 9))
    return observer_report(
        location={"lat": lat, "lon": lon},
        occurred_at=when.isoformat(),
        identification={**answers, "asked": "no", "response_when_asked": None},
    )


class Reporters:
    """Submits incidents three hours apart (so none group) and verifies them as a moderator."""

    def __init__(self, api: Api, device: str, moderator: str) -> None:
        self.api = api
        self.device = device
        self.moderator = moderator
        self.slot = 0

    async def incidents(
        self, area: str, count: int, *, verify: bool = True, device: str | None = None
    ) -> list[str]:
        ids = []
        for index in range(count):
            when = FIRST_DAY + timedelta(hours=3 * self.slot)
            self.slot += 1
            answers = NOT_IDENTIFIED if index % 3 else IDENTIFIED
            response = await self.api.submit(device or self.device, body(area, when, answers))
            assert response.status_code == 201, response.text
            ids.append(response.json()["id"])
        if verify:
            for report_id in ids:
                reviewed = await self.api.client.post(
                    f"/v1/reports/{report_id}/review",
                    json={"status": "verified"},
                    headers=bearer(self.moderator),
                )
                assert reviewed.status_code == 200, reviewed.text
        return ids


@pytest.fixture
async def reporters(api: Api) -> Reporters:
    return Reporters(api, await api.device_token(), await api.account_token(Role.moderator))


async def make(api: Api, settings: Settings, now: datetime, **changes: Any) -> list[int]:
    """Run the maker at ``now``; the versions of MONTH it published. (Every other month
    ended since then is released too, empty.)"""
    policy = dataclasses.replace(ReleasePolicy.from_settings(settings), **changes)
    made = await make_releases(api.conn, policy, SIGNER, DEFAULT_GROUPING, now=now)
    assert made is not None
    return [m.version for m in made if m.month == MONTH]


async def received_days_ago(conn: asyncpg.Connection, ids: Sequence[str], days: int) -> None:
    await conn.execute(
        "update reports set received_at = received_at - make_interval(days => $2)"
        " where id = any($1)",
        [uuid.UUID(i) for i in ids],
        days,
    )


async def fetch(api: Api, path: str, **headers: str) -> httpx.Response:
    return await api.client.get(path, headers=headers)


def areas(release: dict[str, Any]) -> set[str]:
    return {row["area"] for row in release["tables"]["area"]}


async def listed(api: Api) -> list[int]:
    """The versions of MONTH the list shows, in its order."""
    response = await fetch(api, RELEASES)
    assert response.status_code == 200, response.text
    return [item["version"] for item in response.json()["items"] if item["month"] == MONTH_LABEL]


# --- delay and corrections ------------------------------------------------------------------


async def test_a_late_report_goes_into_a_correction_once_its_delay_has_passed(
    api: Api, reporters: Reporters, settings: Settings
) -> None:
    first = await reporters.incidents(BUSY, 6)
    await received_days_ago(api.conn, first, 40)
    # Not before the month has ended and the delay has passed since its end.
    assert await make(api, settings, FIRST_DAY + timedelta(days=33)) == []
    assert await make(api, settings, NOW - timedelta(days=20)) == [1]
    v1 = await fetch(api, f"{RELEASES}/{MONTH_LABEL}/v1")
    assert v1.status_code == 200, v1.text

    # A report about that month, submitted (received) now: backdated, but not published
    # while the delay since its receipt runs, even though the month ended long ago.
    [late] = await reporters.incidents(BUSY, 1)
    received = await api.conn.fetchval(
        "select received_at from reports where id = $1", uuid.UUID(late)
    )
    assert await make(api, settings, received + timedelta(days=6, hours=23)) == []
    assert await listed(api) == [1]

    assert await make(api, settings, received + timedelta(days=7, minutes=1)) == [2]
    assert await listed(api) == [2, 1]
    again = await fetch(api, f"{RELEASES}/{MONTH_LABEL}/v1")
    assert again.content == v1.content
    assert again.headers["etag"] == v1.headers["etag"]
    latest = await fetch(api, f"{RELEASES}/{MONTH_LABEL}")
    v2 = latest.json()
    assert v2["meta"]["version"] == 2
    assert v2["meta"]["corrects_version"] == 1
    assert datetime.fromisoformat(v2["meta"]["received_through"]) >= received
    budget = v2["meta"]["privacy"]["budget"]
    assert budget["release_epsilon"] == settings.release_epsilon
    assert budget["month_epsilon"] == 2 * settings.release_epsilon
    everything = (await fetch(api, RELEASES)).json()["items"]
    assert budget["total_epsilon"] == len(everything) * settings.release_epsilon
    assert v1.json()["meta"]["privacy"]["budget"]["month_epsilon"] == settings.release_epsilon
    # Nothing new: no third version.
    assert await make(api, settings, received + timedelta(days=8)) == []


async def test_a_release_counts_verified_reports_and_says_so(
    api: Api, reporters: Reporters, settings: Settings
) -> None:
    verified = await reporters.incidents(BUSY, 3)
    pending = await reporters.incidents(BUSY, 3, verify=False)
    await received_days_ago(api.conn, verified + pending, 40)
    await make(api, settings, NOW)
    meta = (await fetch(api, f"{RELEASES}/{MONTH_LABEL}")).json()["meta"]
    assert meta["status"] == "verified"
    assert "verified" in meta["methods"]["what_is_counted"]
    assert meta["unit"] == "incident"
    assert meta["area_resolution"] == 6
    assert meta["publication_delay_days"] == settings.publication_delay_days
    # Verifying a pending report changes the counts: a correction follows.
    reviewed = await api.client.post(
        f"/v1/reports/{pending[0]}/review",
        json={"status": "verified"},
        headers=bearer(reporters.moderator),
    )
    assert reviewed.status_code == 200
    assert await make(api, settings, NOW) == [2]


# --- the attacks of issue 13 ----------------------------------------------------------------


async def test_25_backdated_reports_from_one_new_device_make_no_area(
    api: Api, reporters: Reporters, settings: Settings
) -> None:
    background = await reporters.incidents(BUSY, 4)
    await received_days_ago(api.conn, background, 40)
    assert await make(api, settings, NOW) == [1]

    attacker = await api.device_token()
    await reporters.incidents(QUIET, 25, verify=False, device=attacker)
    # Within the delay since their receipt: nothing new, and later unverified: still nothing.
    for when in (NOW + timedelta(days=1), NOW + timedelta(days=8), NOW + timedelta(days=60)):
        assert await make(api, settings, when) == []
    release = (await fetch(api, f"{RELEASES}/{MONTH_LABEL}")).json()
    assert h3.cell_to_parent(QUIET, 6) not in areas(release)
    assert await listed(api) == [1]


async def test_a_single_incident_in_a_quiet_area_is_not_listed(
    api: Api, reporters: Reporters, settings: Settings
) -> None:
    # A large ε lowers the area threshold enough for 24 incidents to be listed for certain;
    # a single incident stays below it whatever the noise (OpenDP's threshold mechanism).
    busy = await reporters.incidents(BUSY, 24)
    planted = await reporters.incidents(QUIET, 1)
    await received_days_ago(api.conn, busy + planted, 40)
    await make(api, settings, NOW, epsilon=10.0)
    release = (await fetch(api, f"{RELEASES}/{MONTH_LABEL}")).json()
    selection = next(m for m in release["meta"]["privacy"]["measurements"] if "threshold" in m)
    assert 1 < selection["threshold"] < 24
    assert areas(release) == {h3.cell_to_parent(BUSY, 6)}


# --- the document ---------------------------------------------------------------------------


def verifies(public_key: str, document: dict[str, Any]) -> bool:
    meta = dict(document["meta"])
    signature = meta.pop("signature")
    message = msgspec.json.encode({**document, "meta": meta}, order="sorted")
    key = Ed25519PublicKey.from_public_bytes(_b64url(public_key))
    try:
        key.verify(_b64url(signature), message)
    except InvalidSignature:
        return False
    return True


def _b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


async def test_the_signature_verifies_with_the_published_key_and_fails_when_altered(
    api: Api, reporters: Reporters, settings: Settings
) -> None:
    ids = await reporters.incidents(BUSY, 5)
    await received_days_ago(api.conn, ids, 40)
    await make(api, settings, NOW)
    document = (await fetch(api, f"{RELEASES}/{MONTH_LABEL}/v1")).json()
    key = (await fetch(api, "/v1/receipts/public-key")).json()
    assert key["algorithm"] == "Ed25519"
    assert document["meta"]["signing_key"] == key["public_key"]
    assert verifies(key["public_key"], document)

    national = dict(document["tables"]["national"][0])
    national["total"] += 1
    altered = {**document, "tables": {**document["tables"], "national": [national]}}
    assert not verifies(key["public_key"], altered)
    other_month = {**document, "meta": {**document["meta"], "month": "2001-01"}}
    assert not verifies(key["public_key"], other_month)


async def test_tables_have_every_known_key_and_rows_shaped_like_the_researchers(
    api: Api, reporters: Reporters, settings: Settings
) -> None:
    ids = await reporters.incidents(BUSY, 5)
    await received_days_ago(api.conn, ids, 40)
    await make(api, settings, NOW)
    tables = (await fetch(api, f"{RELEASES}/{MONTH_LABEL}")).json()["tables"]
    assert set(tables) == {"national", "agency", "area", "masked"}
    assert len(tables["national"]) == 1
    codebook = (await fetch(api, "/v1/codebook")).json()
    fields = {f["path"]: f for f in codebook["fields"]}
    agencies = {v["value"] for v in fields["agents.agencies_claimed"]["values"]}
    masked = {v["value"] for v in fields["agents.masked"]["values"]}
    assert {row["agency"] for row in tables["agency"]} == agencies
    assert {row["masked"] for row in tables["masked"]} == masked
    counts = ("total", "not_identified", "identified", "unclear")
    for row in [r for rows in tables.values() for r in rows]:
        assert set(row) - {"area", "agency", "masked"} == {
            *counts,
            "rate_not_identified",
            "ci_low",
            "ci_high",
        }
        assert all(isinstance(row[c], int) and row[c] >= 0 for c in counts)
        assert row["total"] == row["not_identified"] + row["identified"] + row["unclear"]
        if row["rate_not_identified"] is not None:
            assert 0 <= row["ci_low"] <= row["ci_high"] <= 1


async def test_etag_and_cache_control(api: Api, reporters: Reporters, settings: Settings) -> None:
    ids = await reporters.incidents(BUSY, 3)
    await received_days_ago(api.conn, ids, 40)
    await make(api, settings, NOW)
    for path, immutable in (
        (f"{RELEASES}/{MONTH_LABEL}/v1", True),
        (f"{RELEASES}/{MONTH_LABEL}", False),
    ):
        response = await fetch(api, path)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/json")
        assert ("immutable" in response.headers["cache-control"]) is immutable
        assert "public" in response.headers["cache-control"]
        etag = response.headers["etag"]
        again = await fetch(api, path, **{"If-None-Match": etag})
        assert again.status_code == 304
        assert again.content == b""
        assert again.headers["etag"] == etag
        stale = await fetch(api, path, **{"If-None-Match": '"something-else"'})
        assert stale.status_code == 200


async def test_the_list_links_every_version(
    api: Api, reporters: Reporters, settings: Settings
) -> None:
    assert (await fetch(api, RELEASES)).json() == {"items": []}
    ids = await reporters.incidents(BUSY, 3)
    await received_days_ago(api.conn, ids, 40)
    made = await make_releases(
        api.conn, ReleasePolicy.from_settings(settings), SIGNER, DEFAULT_GROUPING, now=NOW
    )
    assert made is not None
    items = (await fetch(api, RELEASES)).json()["items"]
    # Every ended month from the first one with a verified incident is released, empty or
    # not, newest first.
    assert [item["month"] for item in items] == [f"{m.month:%Y-%m}" for m in reversed(made)]
    assert items[-1]["month"] == MONTH_LABEL
    for item in items:
        assert set(item) == {"month", "version", "published_at", "url"}
        document = await fetch(api, item["url"])
        assert document.status_code == 200
        assert document.json()["meta"]["month"] == item["month"]
        assert document.json()["meta"]["version"] == item["version"]


# --- the old endpoint and bad input ---------------------------------------------------------


async def test_the_live_public_statistics_are_gone(api: Api) -> None:
    response = await api.client.get("/v1/public/stats/identification", params={"group_by": "area"})
    problem = assert_problem(response, 410)
    assert problem["code"] == "gone"
    assert "/v1/public/releases" in problem["detail"]
    assert "/v1/public/releases" in response.headers["link"]


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/2025-13", "month"),
        ("/2025-00", "month"),
        ("/March", "month"),
        ("/2025-3", "month"),
        ("/1999-12", "month"),
        ("/2025-03/2", "version"),
        ("/2025-03/v0", "version"),
        ("/2025-03/v-1", "version"),
        ("/2025-03/v1.5", "version"),
        ("/2025-03/v99999999999", "version"),
        ("/2025-13/v1", "month"),
    ],
)
async def test_bad_months_and_versions_are_422_naming_the_field(
    api: Api, path: str, field: str
) -> None:
    response = await fetch(api, RELEASES + path)
    assert assert_problem(response, 422, field=field)["code"] == "validation_failed"


async def test_unknown_months_and_versions_are_404(
    api: Api, reporters: Reporters, settings: Settings
) -> None:
    assert assert_problem(await fetch(api, f"{RELEASES}/2030-01"), 404)["code"] == "not_found"
    ids = await reporters.incidents(BUSY, 3)
    await received_days_ago(api.conn, ids, 40)
    await make(api, settings, NOW)
    assert (await fetch(api, f"{RELEASES}/{MONTH_LABEL}/v1")).status_code == 200
    missing = await fetch(api, f"{RELEASES}/{MONTH_LABEL}/v2")
    assert assert_problem(missing, 404)["code"] == "not_found"


# --- who makes them -------------------------------------------------------------------------


async def test_the_service_makes_releases_in_the_background(
    api: Api, app: Litestar, reporters: Reporters, settings: Settings
) -> None:
    ids = await reporters.incidents(BUSY, 3)
    await received_days_ago(api.conn, ids, 40)
    # The app's own database: the task runs as the service's role, as in `serve`.
    async with background_releases(
        app.state.db, ReleasePolicy.from_settings(settings), SIGNER, DEFAULT_GROUPING, 0.05
    ):
        async with asyncio.timeout(20):
            while not await listed(api):  # noqa: ASYNC110 - the service's own state, polled
                await asyncio.sleep(0.05)
    assert await listed(api) == [1]


async def test_releases_make_on_the_command_line(
    pooled_client: tuple[httpx.AsyncClient, str], tmp_path: Path
) -> None:
    client, dsn = pooled_client
    device = (await client.post("/v1/devices")).json()["token"]
    for slot in range(3):
        when = FIRST_DAY + timedelta(hours=3 * slot)
        response = await client.post(
            "/v1/reports", json=body(BUSY, when, NOT_IDENTIFIED), headers=bearer(device)
        )
        assert response.status_code == 201, response.text
    conn = await connect(dsn)
    try:
        await conn.execute(
            "update reports set status = 'verified', fold_pending_since = now(),"
            " received_at = received_at - interval '40 days'"
        )
    finally:
        await conn.close()
    env = cli_environment(tmp_path, dsn)
    first = await run_cli("releases", "make", env=env)
    assert first.returncode == 0, first.stderr
    assert f"published {MONTH_LABEL} v1" in first.stdout
    again = await run_cli("releases", "make", env=env)
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == "plainsight: no release is due"
    listing = (await client.get(RELEASES)).json()["items"]
    assert (MONTH_LABEL, 1) in [(item["month"], item["version"]) for item in listing]


async def test_only_one_maker_at_a_time(api: Api, settings: Settings) -> None:
    other = await connect(settings.database_url or "")
    try:
        async with other.transaction():
            await other.execute("select pg_advisory_xact_lock($1)", locks.RELEASES)
            made = await make_releases(
                api.conn,
                ReleasePolicy.from_settings(settings),
                SIGNER,
                DEFAULT_GROUPING,
                wait=False,
            )
    finally:
        await other.close()
    assert made is None


def test_policy_follows_the_settings(settings: Settings) -> None:
    read = ReleasePolicy.from_settings(settings)
    assert read.status is StatusScope.VERIFIED
    assert read.delay == timedelta(days=7)
    assert (read.epsilon, read.delta) == (1.0, 1e-6)


# --- the counts ---------------------------------------------------------------------------


@pytest.mark.parametrize("status", [StatusScope.ALL, StatusScope.VERIFIED])
async def test_exact_counts_follow_the_incident_rules_of_incident_facts(
    api: Api, reporters: Reporters, status: StatusScope
) -> None:
    """The release's counting SQL restates incident_facts_of with a receipt cut-off; with no
    cut-off both must agree on every incident's class, area, agency and masking."""
    await reporters.incidents(BUSY, 5)
    await reporters.incidents(QUIET, 4, verify=False)
    # Reports of one incident that disagree: a close second report in BUSY.
    second = body(BUSY, FIRST_DAY + timedelta(minutes=20), IDENTIFIED)
    second["agents"] = {**second["agents"], "masked": "none", "agencies_claimed": ["CBP"]}
    response = await api.submit(reporters.device, second)
    assert response.status_code == 201, response.text
    start, end = month_bounds(MONTH, UTC_ZONE)
    counts = await exact_counts(api.conn, start, end, NOW + timedelta(days=1), status)
    rows = await api.conn.fetch(
        "select h3_parent(h3_cell, 6) as area, agency, masked, classification, count(*) as n"
        " from incident_facts where scope = $1 and earliest_at >= $2 and earliest_at < $3"
        " group by 1, 2, 3, 4",
        status.value,
        start,
        end,
    )
    expected = ExactCounts()
    for row in rows:
        cls, n = row["classification"], row["n"]
        expected.national[cls] += n
        expected.agency[row["agency"]][cls] += n
        expected.masked[row["masked"]][cls] += n
        expected.area[h3.int_to_str(row["area"])][cls] += n
    assert counts.incidents == expected.incidents > 0
    assert counts.digest() == expected.digest()
    assert counts.tables() == expected.tables()
