"""``plainsight import --status verified|unverified``: records vetted elsewhere skip the review
queue, count in the verified statistics when verified, and the import is audited with the
importing account as the one who vouched for them. Without ``--status`` they wait in the queue
as before."""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import h3
import httpx
import pytest

from schemas.auth import Role
from schemas.codes import ReportStatus
from storage.accounts import store as accounts
from storage.db.pool import connect
from storage.incidents import folder
from storage.incidents.grouping import GroupingRule
from storage.reports.bulk_import import import_reports
from tests.support.cli import cli_environment, run_cli
from tests.support.cube_check import check_cube
from tests.support.helpers import PASSWORD, bearer, observer_report

AREA = h3.latlng_to_cell(40.7191, -74.0017, 7)
MARCH = datetime(2025, 3, 2, 6, 0, tzinfo=UTC)
RULE = GroupingRule(2, timedelta(minutes=90))
STEWARD = "steward@example.org"


def report(slot: int) -> dict[str, Any]:
    """A report of its own incident: slots are three hours apart, beyond the window."""
    lat, lon = h3.cell_to_latlng(h3.cell_to_center_child(AREA, 9))
    return observer_report(
        location={"lat": lat, "lon": lon},
        occurred_at=(MARCH + timedelta(hours=3 * slot)).isoformat(),
    )


def ndjson(path: Path, lines: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


async def login(client: httpx.AsyncClient, conn: asyncpg.Connection, role: Role) -> dict[str, str]:
    email = f"{role}-{uuid.uuid4().hex[:8]}@example.org"
    await accounts.create_account(conn, email=email, role=role, password=PASSWORD)
    response = await client.post("/v1/sessions", json={"email": email, "password": PASSWORD})
    assert response.status_code == 201, response.text
    return bearer(response.json()["token"])


async def queue_ids(client: httpx.AsyncClient, moderator: dict[str, str]) -> set[str]:
    response = await client.get("/v1/moderation/queue", params={"limit": 100}, headers=moderator)
    assert response.status_code == 200, response.text
    return {item["report"]["id"] for item in response.json()["items"]}


async def march_total(client: httpx.AsyncClient, researcher: dict[str, str], status: str) -> int:
    response = await client.get(
        "/v1/stats/identification",
        params={"from": "2025-03-01", "to": "2025-03-31", "status": status},
        headers=researcher,
    )
    assert response.status_code == 200, response.text
    rows = response.json()["rows"]
    assert len(rows) == 1, rows
    assert not rows[0]["suppressed"], rows
    total: int = rows[0]["total"]
    return total


async def imported_entries(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch(
        "select actor_id, actor_role, subject_type, subject_id, details from audit_log"
        " where action = 'report.imported' order by id"
    )


async def test_verified_and_unverified_imports_skip_the_queue_and_count_as_vetted(
    pooled_client: tuple[httpx.AsyncClient, str], tmp_path: Path
) -> None:
    client, dsn = pooled_client
    conn = await connect(dsn)
    try:
        steward = await accounts.create_account(
            conn, email=STEWARD, role=Role.admin, password=PASSWORD
        )
        moderator = await login(client, conn, Role.moderator)
        researcher = await login(client, conn, Role.researcher)
        env = cli_environment(tmp_path / "data", dsn)
        (tmp_path / "data").mkdir()

        async def cli_import(name: str, slots: range, *status: str) -> str:
            path = ndjson(tmp_path / f"{name}.ndjson", [report(slot) for slot in slots])
            result = await run_cli("import", str(path), "--account", STEWARD, *status, env=env)
            assert result.returncode == 0, result.stderr
            return result.stdout

        verified = await cli_import("verified", range(12), "--status", "verified")
        # The import placed the statistics groups of every family of the service's threshold
        # (the first researcher query after it reads them rather than placing them).
        threshold = int(env.get("PLAINSIGHT_SUPPRESSION_THRESHOLD", "11"))
        for family in folder.families(threshold):
            assert await folder.stale_months(conn, family, None, None) == [], family
        assert "12 reports imported as verified into 12 new incidents" in verified
        assert await queue_ids(client, moderator) == set()
        assert await march_total(client, researcher, "verified") == 12
        unverified = await cli_import("unverified", range(12, 14), "--status", "unverified")
        assert "2 reports imported as unverified" in unverified
        assert await queue_ids(client, moderator) == set()
        pending = await cli_import("pending", range(14, 16))
        assert "2 reports imported as pending" in pending
        waiting = await conn.fetch("select id::text from reports where status = 'pending'")
        assert await queue_ids(client, moderator) == {row["id"] for row in waiting}
        assert len(waiting) == 2
        assert await march_total(client, researcher, "verified") == 12
        assert await march_total(client, researcher, "all") == 16

        # The review record names the importing account, at the import's time.
        rows = await conn.fetch(
            "select status, reviewed_by, reviewed_at, received_at, review_reason, counted"
            " from reports order by occurred_at"
        )
        assert [row["status"] for row in rows] == (
            ["verified"] * 12 + ["unverified"] * 2 + ["pending"] * 2
        )
        for row in rows[:14]:
            assert row["reviewed_by"] == steward.id
            assert row["reviewed_at"] == row["received_at"]
            assert row["review_reason"] is None
        assert [row["counted"] for row in rows] == [2] * 12 + [1] * 4
        assert all(row["reviewed_by"] is None for row in rows[14:])

        # One audit entry per import says it was an import, and with what status.
        entries = await imported_entries(conn)
        assert [
            (e["actor_id"], e["actor_role"], e["subject_type"], e["subject_id"]) for e in entries
        ] == [(steward.id, "admin", "account", str(steward.id))] * 3
        details = [json.loads(e["details"]) for e in entries]
        assert [(d["status"], d["imported"], d["rejected"]) for d in details] == [
            ("verified", 12, 0),
            ("unverified", 2, 0),
            ("pending", 2, 0),
        ]
        first_batch = datetime.fromisoformat(details[0]["received_at"])
        assert rows[0]["received_at"] == first_batch
        await check_cube(conn, "UTC")
    finally:
        await conn.close()


@pytest.mark.parametrize("value", ["pending", "Verified", "rejected", ""])
async def test_a_bad_status_is_one_plain_line_and_imports_nothing(
    empty_database: str, tmp_path: Path, value: str
) -> None:
    from api.app import apply_migrations

    await apply_migrations(empty_database)
    conn = await connect(empty_database)
    try:
        await accounts.create_account(conn, email=STEWARD, role=Role.admin, password=PASSWORD)
        data = tmp_path / "data"
        data.mkdir()
        path = ndjson(tmp_path / "in.ndjson", [report(0)])
        result = await run_cli(
            "import", str(path), "--account", STEWARD, "--status", value,
            env=cli_environment(data, empty_database),
        )  # fmt: skip
        assert result.returncode == 2
        assert result.stderr.splitlines() == [
            f"plainsight: --status must be verified or unverified, not {value!r}"
        ]
        assert result.stdout == ""
        assert await conn.fetchval("select count(*) from reports") == 0
        assert await imported_entries(conn) == []
    finally:
        await conn.close()


async def test_reports_already_present_keep_their_status(
    conn: asyncpg.Connection, tmp_path: Path
) -> None:
    account = await accounts.create_account(
        conn, email=STEWARD, role=Role.moderator, password=PASSWORD
    )
    path = ndjson(tmp_path / "in.ndjson", [report(0), report(1)])

    async def run(status: ReportStatus) -> tuple[int, int]:
        with ThreadPoolExecutor(2) as executor:
            summary = await import_reports(
                conn, path, account_id=account.id, grouping=RULE, time_zone="UTC",
                executor=executor, status=status,
            )  # fmt: skip
        return summary.imported, summary.already_present

    assert await run(ReportStatus.PENDING) == (2, 0)
    # Vetting an import afterwards is a review per report, not a second import.
    assert await run(ReportStatus.VERIFIED) == (0, 2)
    assert await conn.fetchval("select count(*) from reports where status = 'pending'") == 2
    entries = await imported_entries(conn)
    assert [json.loads(e["details"])["status"] for e in entries] == ["pending", "verified"]
    assert [json.loads(e["details"])["already_present"] for e in entries] == [0, 2]
    await check_cube(conn, "UTC")


@pytest.mark.parametrize("status", [ReportStatus.REJECTED, ReportStatus.WITHDRAWN])
async def test_an_import_cannot_store_rejected_or_withdrawn_reports(
    conn: asyncpg.Connection, tmp_path: Path, status: ReportStatus
) -> None:
    account = await accounts.create_account(conn, email=STEWARD, role=Role.admin, password=PASSWORD)
    with ThreadPoolExecutor(1) as executor, pytest.raises(ValueError, match="not " + status):
        await import_reports(
            conn, ndjson(tmp_path / "in.ndjson", [report(0)]), account_id=account.id,
            grouping=RULE, time_zone="UTC", executor=executor, status=status,
        )  # fmt: skip
    assert await conn.fetchval("select count(*) from reports") == 0
