"""Retention (README "Retention"): after PLAINSIGHT_RETENTION_DAYS from receipt, H3 cells are
coarsened to resolution 7 (column and stored content) with incidents and statistics unchanged;
free text and photos of rejected (that long ago) and withdrawn reports are purged.

The clock is the test's: ages are set on the rows relative to ``NOW``, which is handed to the
run. Expected values are worked out here with the ``h3`` library, not with the code under test.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

import asyncpg
import h3
import msgspec
import pytest
from litestar import Litestar

from api.app import apply_migrations
from api.tasks.retention import background_retention
from schemas.auth import Principal, Role
from schemas.report import decode_report, minimise
from schemas.settings import Settings, SettingsError, load_settings
from schemas.stats import Dimension, StatusScope, Unit
from storage.accounts import store as accounts
from storage.db.pool import SingleConnectionDatabase, connect
from storage.photos.blobs import BlobStore
from storage.reports import store as reports
from storage.reports.receipts import ReceiptSigner
from storage.reports.retention import RETENTION_LOCK, RetentionSummary, run_retention
from storage.statistics.published import TableCache, identification_table
from storage.statistics.query import StatsQuery
from tests.support.cli import cli_environment, run_cli
from tests.support.cube_check import actual_cube, check_cube
from tests.support.helpers import Api, bearer, fold_now, observer_report, officer_note
from tests.support.photo_api import blob_path, unique_jpeg, uploaded

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)  # the clock handed to retention
OLD = NOW - timedelta(days=31)  # past the default 30 days
RECENT = NOW - timedelta(days=29)
T0 = datetime(2025, 3, 10, 15, 0, tzinfo=UTC)  # when the events happened
ORIGIN = h3.latlng_to_cell(40.7191, -74.0017, 9)
NEAR = sorted(h3.grid_ring(ORIGIN, 1))[0]  # one step: groups with ORIGIN
FAR = h3.latlng_to_cell(40.80, -73.95, 9)  # another incident
ELSEWHERE = h3.latlng_to_cell(40.65, -73.90, 9)
NOT_IDENTIFIED = {"verbal": "no", "badge_shown": "no", "insignia_visible": "no"}


def at(cell: str, minutes: float = 0, *, officer: bool = False) -> dict[str, Any]:
    lat, lon = h3.cell_to_latlng(cell)
    make = officer_note if officer else observer_report
    return make(
        location={"lat": lat, "lon": lon, "accuracy_m": 10, "description": "by the bodega"},
        occurred_at=(T0 + timedelta(minutes=minutes)).isoformat(),
        identification=NOT_IDENTIFIED,
    )


async def submit(api: Api, token: str, body: dict[str, Any]) -> uuid.UUID:
    response = await api.submit(token, body)
    assert response.status_code == 201, response.text
    return uuid.UUID(response.json()["id"])


async def review(api: Api, token: str, report_id: uuid.UUID, status: str) -> dict[str, Any]:
    body: dict[str, Any] = {"status": status}
    if status != "verified":
        body["reason"] = "implausible"
    response = await api.client.post(
        f"/v1/reports/{report_id}/review", json=body, headers=bearer(token)
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def received(api: Api, report_id: uuid.UUID, when: datetime) -> None:
    await api.conn.execute("update reports set received_at = $2 where id = $1", report_id, when)


async def rejected_at(api: Api, report_id: uuid.UUID, when: datetime) -> None:
    await api.conn.execute("update reports set reviewed_at = $2 where id = $1", report_id, when)


async def state(api: Api, report_id: uuid.UUID) -> asyncpg.Record:
    row = await api.conn.fetchrow(
        "select h3_cell, content, incident_id, payload_sha256 from reports where id = $1",
        report_id,
    )
    assert row is not None
    return row


def content_of(row: asyncpg.Record) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(row["content"])
    return value


async def tables(conn: asyncpg.Connection) -> list[Any]:
    """Statistics by area (res 7 and 5), both units and scopes, threshold 1."""
    result = []
    for resolution in (7, 5):
        for unit in Unit:
            for status in StatusScope:
                query = StatsQuery(
                    group_by=(Dimension.AREA,), date_from=None, date_to=None,
                    area_resolution=resolution, status=status, unit=unit,
                    time_zone=ZoneInfo("UTC"),
                )  # fmt: skip
                table = await identification_table(conn, query, 1, cache=TableCache())
                result.append(msgspec.to_builtins(table.rows))
    return result


async def retain(
    conn: asyncpg.Connection, blobs: BlobStore, *, now: datetime = NOW, **kwargs: Any
) -> RetentionSummary:
    return await run_retention(conn, blobs, now=now, days=30, **kwargs)


@pytest.fixture
def blobs(app: Litestar) -> BlobStore:
    store: BlobStore = app.state.blobs
    return store


async def test_old_cells_are_coarsened_keeping_incidents_and_statistics(
    api: Api, blobs: BlobStore
) -> None:
    device = await api.device_token()
    officer = await api.account_token(Role.officer)
    body_a = at(ORIGIN)
    old_a = await submit(api, device, body_a)
    old_b = await submit(api, officer, at(NEAR, 10, officer=True))
    recent = await submit(api, device, at(NEAR, 20))  # same incident, 29 days old
    far = await submit(api, device, at(FAR))
    for report_id, when in ((old_a, OLD), (old_b, OLD), (recent, RECENT), (far, OLD)):
        await received(api, report_id, when)
    before = {r: await state(api, r) for r in (old_a, old_b, recent, far)}
    assert before[old_a]["incident_id"] == before[old_b]["incident_id"]
    assert before[recent]["incident_id"] == before[old_a]["incident_id"]
    await check_cube(api.conn, "UTC")
    cube_before = await actual_cube(api.conn)
    tables_before = await tables(api.conn)

    summary = await retain(api.conn, blobs)

    assert summary == RetentionSummary(reports_coarsened=3)
    for report_id, fine in ((old_a, ORIGIN), (old_b, NEAR), (far, FAR)):
        row = await state(api, report_id)
        coarse = h3.cell_to_parent(fine, 7)
        assert row["h3_cell"] == h3.str_to_int(coarse)
        assert content_of(row)["location"]["h3_cell"] == coarse
        # Everything else in the content is as received.
        expected = content_of(before[report_id])
        expected["location"]["h3_cell"] = coarse
        assert content_of(row) == expected
        assert row["incident_id"] == before[report_id]["incident_id"]
        # The hash of what was received goes with the fine cell (test_retention_hashes.py).
        assert row["payload_sha256"] != before[report_id]["payload_sha256"]
    kept = await state(api, recent)
    assert kept["h3_cell"] == h3.str_to_int(NEAR)
    assert content_of(kept)["location"]["h3_cell"] == NEAR
    assert kept["incident_id"] == before[recent]["incident_id"]
    # No fine cell left in what the fold remembers of the old incidents either, once the
    # folder has taken the coarsened reports in (serve's loop: within a second).
    assert (await fold_now(api.conn)).reports == 3
    folded = await api.conn.fetch(
        "select h3_cell from stats_folded where incident_id = any($1::bigint[])",
        [before[old_a]["incident_id"], before[far]["incident_id"]],
    )
    assert folded
    assert all(h3.get_resolution(h3.int_to_str(r["h3_cell"])) == 7 for r in folded)
    # The owner sees the coarsened cell.
    response = await api.client.get(f"/v1/reports/{old_a}", headers=bearer(device))
    assert response.status_code == 200, response.text
    assert response.json()["location"]["h3_cell"] == h3.cell_to_parent(ORIGIN, 7)

    # A re-send of the original report is still recognised (without a receipt: the reporter
    # holds it), and a photo can still be attached to the coarsened report.
    replay = await api.submit(device, body_a)
    assert replay.status_code == 200, replay.text
    assert replay.json()["id"] == str(old_a)
    assert replay.json()["receipt"] is None
    photo = await uploaded(api, device, str(old_a), unique_jpeg())
    assert photo["report_id"] == str(old_a)

    await check_cube(api.conn, "UTC")
    assert await actual_cube(api.conn) == cube_before
    assert await tables(api.conn) == tables_before

    # Idempotent: a second run finds nothing to do.
    assert await retain(api.conn, blobs) == RetentionSummary()
    audited = await api.conn.fetch(
        "select actor_id, details from audit_log where action = 'retention.run' order by id"
    )
    assert [json.loads(r["details"])["reports_coarsened"] for r in audited[-2:]] == [3, 0]
    assert audited[-1]["actor_id"] is None

    # Removing a member later does not re-run grouping on coarse cells: the incident stays.
    response = await api.client.delete(f"/v1/reports/{recent}", headers=bearer(device))
    assert response.status_code == 204, response.text
    assert (await state(api, old_a))["incident_id"] == before[old_a]["incident_id"]
    assert (await state(api, old_b))["incident_id"] == before[old_a]["incident_id"]
    await check_cube(api.conn, "UTC")


async def test_rejected_and_withdrawn_lose_free_text_and_photos(
    api: Api, blobs: BlobStore, settings: Settings
) -> None:
    device = await api.device_token()
    officer = await api.account_token(Role.officer)
    moderator = await api.account_token(Role.moderator)
    rejected_old = await submit(api, officer, at(ELSEWHERE, officer=True))
    rejected_recent = await submit(api, device, at(ELSEWHERE, 600))
    pending_old = await submit(api, device, at(FAR))
    verified_old = await submit(api, device, at(FAR, 5))
    withdrawn = await submit(api, device, at(ORIGIN))
    shared = unique_jpeg()
    photo_rejected = await uploaded(api, officer, str(rejected_old), unique_jpeg())
    photo_shared_rejected = await uploaded(api, officer, str(rejected_old), shared)
    photo_shared_pending = await uploaded(api, device, str(pending_old), shared)
    photo_recent = await uploaded(api, device, str(rejected_recent), unique_jpeg())
    photo_verified = await uploaded(api, device, str(verified_old), unique_jpeg())
    photo_withdrawn = await uploaded(api, device, str(pending_old), unique_jpeg())
    await review(api, moderator, rejected_old, "rejected")
    await review(api, moderator, rejected_recent, "rejected")
    await review(api, moderator, verified_old, "verified")
    response = await api.client.delete(f"/v1/reports/{withdrawn}", headers=bearer(device))
    assert response.status_code == 204, response.text
    # A photo row a withdrawal left behind (as an older version did): moved onto it here.
    await api.conn.execute(
        "update photos set report_id = $1 where id = $2",
        withdrawn,
        uuid.UUID(photo_withdrawn["id"]),
    )
    for report_id in (rejected_old, pending_old, verified_old, withdrawn):
        await received(api, report_id, OLD)
    await received(api, rejected_recent, RECENT)
    await rejected_at(api, rejected_old, OLD)
    await rejected_at(api, rejected_recent, RECENT)
    narrative = observer_report()["narrative"]

    summary = await retain(api.conn, blobs)

    # Coarsened: the four old reports that still have a cell (withdrawn has none).
    # Narratives: rejected_old only. Photos: its two, and the withdrawn one. Blobs: the
    # shared one is still referenced by pending_old.
    assert summary == RetentionSummary(
        reports_coarsened=3, narratives_purged=1, photos_purged=3, blobs_deleted=2
    )
    purged = content_of(await state(api, rejected_old))
    assert purged["narrative"] is None
    assert purged["location"]["description"] is None
    assert purged["officer"]["incident_reference"] is None
    assert purged["officer"]["command"] == "Precinct 7"  # not free text: kept
    assert purged["agents"]["masked"] == "all"
    for report_id in (rejected_recent, pending_old, verified_old):
        content = content_of(await state(api, report_id))
        assert content["narrative"] == narrative
        assert content["location"]["description"] == "by the bodega"
    everyone = [rejected_old, rejected_recent, pending_old, verified_old, withdrawn]
    rows = await api.conn.fetch("select id from photos where report_id = any($1)", everyone)
    photo_rows = {str(r["id"]) for r in rows}
    assert photo_rows == {
        photo_shared_pending["id"],
        photo_recent["id"],
        photo_verified["id"],
    }
    for gone in (photo_rejected, photo_withdrawn):
        assert not blob_path(settings, gone["sha256"]).exists()
    for kept in (photo_shared_pending, photo_recent, photo_verified):
        assert blob_path(settings, kept["sha256"]).exists()
    assert photo_shared_rejected["sha256"] == photo_shared_pending["sha256"]

    assert await retain(api.conn, blobs) == RetentionSummary()

    # A moderator may still reinstate the purged, coarsened report: it counts again, in an
    # incident of its own (no grouping on a coarse cell), without its free text and photos.
    result = await review(api, moderator, rejected_old, "verified")
    assert result["incident_id"] is not None
    others = await api.conn.fetchval(
        "select count(*) from reports where incident_id = $1 and id <> $2",
        result["incident_id"],
        rejected_old,
    )
    assert others == 0
    await check_cube(api.conn, "UTC")


async def test_an_interrupted_run_leaves_a_consistent_state_and_a_rerun_finishes(
    api: Api, blobs: BlobStore
) -> None:
    device = await api.device_token()
    ids = [await submit(api, device, at(ORIGIN, 200 * i)) for i in range(5)]
    for report_id in ids:
        await received(api, report_id, OLD)
    incidents = {r: (await state(api, r))["incident_id"] for r in ids}
    batches: list[int] = []

    class Interrupted(Exception):
        pass

    def stop_after_two(step: str, count: int) -> None:
        batches.append(count)
        if len(batches) == 2:
            raise Interrupted

    with pytest.raises(Interrupted):
        await retain(api.conn, blobs, batch_size=1, progress=stop_after_two)
    coarse = h3.str_to_int(h3.cell_to_parent(ORIGIN, 7))
    rows = [await state(api, r) for r in ids]
    # Each report is either done (column and content) or untouched.
    assert sum(r["h3_cell"] == coarse for r in rows) == 2
    for row in rows:
        assert content_of(row)["location"]["h3_cell"] == h3.int_to_str(row["h3_cell"])
    # The lock was released: a re-run does the rest.
    assert await retain(api.conn, blobs) == RetentionSummary(reports_coarsened=3)
    for report_id in ids:
        row = await state(api, report_id)
        assert row["h3_cell"] == coarse
        assert row["incident_id"] == incidents[report_id]
    await check_cube(api.conn, "UTC")


async def test_reports_younger_than_the_setting_are_left_alone(api: Api, blobs: BlobStore) -> None:
    device = await api.device_token()
    report_id = await submit(api, device, at(ORIGIN))
    await received(api, report_id, OLD)
    # 31 days old, but a 60-day setting keeps it; the clock is ours.
    assert await run_retention(api.conn, blobs, now=NOW, days=60) == RetentionSummary()
    assert (await state(api, report_id))["h3_cell"] == h3.str_to_int(ORIGIN)
    later = NOW + timedelta(days=30)
    assert await run_retention(api.conn, blobs, now=later, days=60) == RetentionSummary(
        reports_coarsened=1
    )


async def test_serve_runs_retention_in_the_background_one_replica_at_a_time(
    api: Api, blobs: BlobStore, database_url: str
) -> None:
    device = await api.device_token()
    report_id = await submit(api, device, at(ORIGIN))
    await received(api, report_id, OLD)
    coarse = h3.str_to_int(h3.cell_to_parent(ORIGIN, 7))
    db = SingleConnectionDatabase(api.conn)
    # Another replica holds the run's lock: this one skips its rounds.
    other = await connect(database_url)
    try:
        await other.execute("select pg_advisory_lock($1)", RETENTION_LOCK)
        async with background_retention(db, blobs, 30, interval_s=0.02, clock=lambda: NOW):
            await asyncio.sleep(0.2)
        assert (await state(api, report_id))["h3_cell"] == h3.str_to_int(ORIGIN)
    finally:
        await other.close()
    async with background_retention(db, blobs, 30, interval_s=0.02, clock=lambda: NOW):
        for _ in range(100):
            await asyncio.sleep(0.02)
            async with db.acquire() as conn:
                cell = await conn.fetchval("select h3_cell from reports where id = $1", report_id)
            if cell == coarse:
                break
    assert cell == coarse
    # Audited once: the rounds that changed nothing are not.
    async with db.acquire() as conn:
        audited = await conn.fetch("select details from audit_log where action = 'retention.run'")
    assert [json.loads(r["details"])["reports_coarsened"] for r in audited] == [1]


@pytest.mark.parametrize("value", ["0", "-3", "3651", "thirty", "1.5"])
def test_bad_retention_days_are_refused_naming_the_variable(value: str) -> None:
    with pytest.raises(SettingsError, match="PLAINSIGHT_RETENTION_DAYS"):
        load_settings({"PLAINSIGHT_RETENTION_DAYS": value})


def test_retention_days_default_and_override() -> None:
    assert load_settings({}).retention_days == 30
    assert load_settings({"PLAINSIGHT_RETENTION_DAYS": "90"}).retention_days == 90


@pytest.mark.slow
async def test_cli_runs_retention_reports_counts_and_skips_when_busy(
    fresh_database: object, tmp_path: Path
) -> None:
    make = cast(Callable[[], Awaitable[str]], fresh_database)
    dsn = await make()
    await apply_migrations(dsn)
    conn = await connect(dsn)
    try:
        device_id, _ = await accounts.create_device(conn)
        principal = Principal(id=device_id, role=Role.observer)
        signer = ReceiptSigner(os.urandom(32))
        for minutes in (0, 300):
            content = minimise(decode_report(msgspec.json.encode(at(ORIGIN, minutes))))
            await reports.submit_report(conn, principal=principal, content=content, signer=signer)
        await conn.execute("update reports set received_at = now() - interval '31 days'")
    finally:
        await conn.close()
    data_path = tmp_path / "data"
    data_path.mkdir()
    env = cli_environment(data_path, dsn)

    dry = await run_cli("retention", "run", "--dry-run", env=env)
    assert dry.returncode == 0, dry.stderr
    assert "dry run: would coarsen 2 reports" in dry.stdout

    done = await run_cli("retention", "run", "--batch-size", "1", env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        "plainsight: retention (30 days): coarsened 2 reports to H3 res 7, "
        "0 narratives purged, 0 photos purged, 0 blobs deleted"
    )
    assert "retention" in done.stderr  # the progress bar
    # The run folded: nothing pending, no fine cell in what the statistics remember.
    conn = await connect(dsn)
    try:
        assert (
            await conn.fetchval("select count(*) from reports where fold_pending_since is not null")
            == 0
        )
        cells = [r["h3_cell"] for r in await conn.fetch("select h3_cell from stats_folded")]
        assert cells
        assert all(h3.get_resolution(h3.int_to_str(cell)) == 7 for cell in cells)
    finally:
        await conn.close()

    again = await run_cli("retention", "run", env=env)
    assert again.returncode == 0, again.stderr
    assert "coarsened 0 reports" in again.stdout

    bad = await run_cli("retention", "run", env={**env, "PLAINSIGHT_RETENTION_DAYS": "0"})
    assert bad.returncode == 2
    assert "PLAINSIGHT_RETENTION_DAYS" in bad.stderr

    holder = await connect(dsn)
    try:
        await holder.execute("select pg_advisory_lock($1)", RETENTION_LOCK)
        busy = await run_cli("retention", "run", env=env)
    finally:
        await holder.close()
    assert busy.returncode == 1
    assert "another retention run is in progress" in busy.stderr

    conn = await connect(dsn)
    try:
        cells = await conn.fetch("select h3_cell from reports")
        actions = await conn.fetch(
            "select details from audit_log where action = 'retention.run' order by id"
        )
    finally:
        await conn.close()
    assert {r["h3_cell"] for r in cells} == {h3.str_to_int(h3.cell_to_parent(ORIGIN, 7))}
    # Two real runs audited; the dry run, the refused and the busy ones are not.
    assert [json.loads(r["details"])["reports_coarsened"] for r in actions] == [2, 0]
