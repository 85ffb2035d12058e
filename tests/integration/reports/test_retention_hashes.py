"""Retention cannot be undone (issue 11, point 1): once a report is coarsened, nothing stored
confirms its res-9 cell (or its purged free text), and a re-send is still recognised.

The attack is the one the issue describes: put each of the 49 res-9 children of the stored
res-7 cell into the stored content, hash it the way the receipt's ``payload_sha256`` is
defined (SHA-256 of the canonical JSON: keys sorted, no whitespace, UTF-8), and compare with
the stored hash, or verify the stored signature with the published key. Hashes and
signatures are computed here with ``json``/``hashlib``/``cryptography``, not with the
service's code; a control run on the row before retention shows the attack finds the cell.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import h3
import msgspec
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from litestar import Litestar

from schemas.auth import Role
from schemas.report import decode_report, minimise
from storage.incidents.grouping import GroupingRule
from storage.photos.blobs import BlobStore
from storage.reports.bulk_import import import_reports
from storage.reports.retained_content import canonical_content, coarsened, decode_stored
from storage.reports.retention import RetentionSummary, run_retention
from tests.support.cube_check import actual_cube
from tests.support.helpers import Api, bearer, fold_now, observer_report, officer_note

ORIGIN = h3.latlng_to_cell(40.7191, -74.0017, 9)
OTHER_AREA = h3.latlng_to_cell(40.80, -73.95, 9)  # another res-7 parent
NARRATIVE = "Zwei maskierte Männer, «sin placa», nahmen einen Mann mit."  # non-ASCII on purpose
PLACE = "by the bodega"


def later() -> datetime:
    # Retention's clock, past the default 30 days: received_at stays as signed.
    return datetime.now(UTC) + timedelta(days=31)


def report_at(cell: str, *, officer: bool = False, **overrides: Any) -> dict[str, Any]:
    lat, lon = h3.cell_to_latlng(cell)
    make = officer_note if officer else observer_report
    return make(
        location={"lat": lat, "lon": lon, "accuracy_m": 12.5, "description": PLACE},
        narrative=NARRATIVE,
        **overrides,
    )


def canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sha256_of(content: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(content)).hexdigest()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


async def public_key(api: Api) -> Ed25519PublicKey:
    response = await api.client.get("/v1/receipts/public-key")
    assert response.status_code == 200, response.text
    return Ed25519PublicKey.from_public_bytes(b64url_decode(response.json()["public_key"]))


async def stored(conn: asyncpg.Connection, report_id: uuid.UUID) -> asyncpg.Record:
    row = await conn.fetchrow(
        "select id, client_id, h3_cell, content::text as content, payload_sha256,"
        " receipt_signature from reports where id = $1",
        report_id,
    )
    assert row is not None
    return row


def recover_cells(
    row: asyncpg.Record, key: Ed25519PublicKey, received_at: str
) -> tuple[set[str], set[str]]:
    """The res-9 cells under the stored cell's res-7 parent that the stored hash, and the
    stored signature, confirm. ``received_at`` as receipts print it."""
    content = json.loads(row["content"])
    parent = h3.cell_to_parent(content["location"]["h3_cell"], 7)
    by_hash: set[str] = set()
    by_signature: set[str] = set()
    for child in h3.cell_to_children(parent, 9):
        content["location"]["h3_cell"] = child
        digest = sha256_of(content)
        if digest == row["payload_sha256"]:
            by_hash.add(child)
        if row["receipt_signature"] is not None:
            fields = {
                "report_id": str(row["id"]),
                "client_id": str(row["client_id"]),
                "payload_sha256": digest,
                "received_at": received_at,
            }
            try:
                key.verify(b64url_decode(row["receipt_signature"]), canonical(fields))
            except InvalidSignature:
                continue
            by_signature.add(child)
    return by_hash, by_signature


@pytest.fixture
def blobs(app: Litestar) -> BlobStore:
    store: BlobStore = app.state.blobs
    return store


@pytest.mark.parametrize("officer", [False, True], ids=["observer_report", "officer_note"])
async def test_the_fine_cell_cannot_be_recovered_after_retention(
    api: Api, blobs: BlobStore, officer: bool
) -> None:
    token = await (api.account_token(Role.officer) if officer else api.device_token())
    response = await api.submit(token, report_at(ORIGIN, officer=officer))
    assert response.status_code == 201, response.text
    receipt = response.json()["receipt"]
    report_id = uuid.UUID(response.json()["id"])
    key = await public_key(api)
    # Control: on the row as received, the attack finds the cell both ways.
    before = await stored(api.conn, report_id)
    assert (
        before["payload_sha256"]
        == receipt["payload_sha256"]
        == sha256_of(json.loads(before["content"]))
    )
    assert recover_cells(before, key, receipt["received_at"]) == ({ORIGIN}, {ORIGIN})

    summary = await run_retention(api.conn, blobs, now=later(), days=30)

    assert summary.reports_coarsened == 1
    after = await stored(api.conn, report_id)
    content = json.loads(after["content"])
    assert content["location"]["h3_cell"] == h3.cell_to_parent(ORIGIN, 7)
    # The attack: no child of the coarse cell matches the stored hash or signature...
    assert recover_cells(after, key, receipt["received_at"]) == (set(), set())
    # ...because the hash is the same function of the stored (coarsened) content, and there
    # is no stored signature.
    assert after["payload_sha256"] == sha256_of(content)
    assert after["payload_sha256"] != receipt["payload_sha256"]
    assert after["receipt_signature"] is None
    # The reporter's own receipt still verifies (it is theirs, not stored).
    fields = {k: receipt[k] for k in ("report_id", "client_id", "payload_sha256", "received_at")}
    key.verify(b64url_decode(receipt["signature"]), canonical(fields))


async def test_the_folder_takes_the_fine_cell_out_of_a_coarsened_incident(
    api: Api, blobs: BlobStore
) -> None:
    token = await api.device_token()
    response = await api.submit(token, report_at(ORIGIN))
    assert response.status_code == 201, response.text
    report_id = uuid.UUID(response.json()["id"])
    incident = await api.conn.fetchval("select incident_id from reports where id = $1", report_id)
    remembered = "select h3_cell from stats_folded where incident_id = $1 and scope = 'all'"
    assert await api.conn.fetchval(remembered, incident) == h3.str_to_int(ORIGIN)
    cube = await actual_cube(api.conn)

    await run_retention(api.conn, blobs, now=later(), days=30)
    pending = "select fold_pending_since is not null from reports where id = $1"
    assert await api.conn.fetchval(pending, report_id)
    await fold_now(api.conn)

    coarse = h3.str_to_int(h3.cell_to_parent(ORIGIN, 7))
    assert await api.conn.fetchval(remembered, incident) == coarse
    assert await api.conn.fetchval("select incident_id from reports where id = $1", report_id) == (
        incident
    )
    assert await actual_cube(api.conn) == cube  # areas are res-7 parents: no count moved


async def test_a_resend_after_retention_is_recognised(api: Api, blobs: BlobStore) -> None:
    token = await api.device_token()
    body = report_at(ORIGIN)
    first = await api.submit(token, body)
    assert first.status_code == 201, first.text
    report_id = first.json()["id"]
    other = report_at(ORIGIN)
    assert (await api.submit(token, other)).status_code == 201
    assert (await run_retention(api.conn, blobs, now=later(), days=30)).reports_coarsened == 2
    stored_before = await stored(api.conn, uuid.UUID(report_id))

    replay = await api.submit(token, body)

    assert replay.status_code == 200, replay.text
    answer = replay.json()
    assert answer["id"] == report_id
    assert answer["client_id"] == body["client_id"]
    assert answer["received_at"] == first.json()["received_at"]
    # Without the hash of what was received no receipt can be made again: the reporter has it.
    assert answer["receipt"] is None
    assert await stored(api.conn, uuid.UUID(report_id)) == stored_before
    count = "select count(*) from reports where client_id = $1"
    assert await api.conn.fetchval(count, uuid.UUID(body["client_id"])) == 1

    # Different content under the same client_id: still a conflict.
    changed: list[dict[str, Any]] = [
        {**body, "agents": {**body["agents"], "count": 5}},
        {**body, "narrative": "Something else entirely."},
        {**report_at(OTHER_AREA), "client_id": body["client_id"]},
    ]
    for variant in changed:
        response = await api.submit(token, variant)
        assert response.status_code == 409, response.text
        assert response.json()["code"] == "conflict"
    # Another reporter's client_id is not this report.
    response = await api.submit(await api.device_token(), body)
    assert response.status_code == 201, response.text

    # Withdrawn after retention: gone, as before.
    withdrawn = await api.client.delete(f"/v1/reports/{report_id}", headers=bearer(token))
    assert withdrawn.status_code == 204, withdrawn.text
    response = await api.submit(token, body)
    assert response.status_code == 410, response.text


async def test_purged_free_text_is_not_confirmed_by_the_hash_and_a_resend_replays(
    api: Api, blobs: BlobStore
) -> None:
    token = await api.account_token(Role.officer)
    moderator = await api.account_token(Role.moderator)
    body = report_at(ORIGIN, officer=True)
    body["officer"]["incident_reference"] = "2025-0042"
    response = await api.submit(token, body)
    assert response.status_code == 201, response.text
    report_id = uuid.UUID(response.json()["id"])
    review = await api.client.post(
        f"/v1/reports/{report_id}/review",
        json={"status": "rejected", "reason": "implausible"},
        headers=bearer(moderator),
    )
    assert review.status_code == 200, review.text

    summary = await run_retention(api.conn, blobs, now=later(), days=30)

    assert (summary.reports_coarsened, summary.narratives_purged) == (1, 1)
    row = await stored(api.conn, report_id)
    content = json.loads(row["content"])
    assert content["narrative"] is None
    assert content["location"]["description"] is None
    assert content["officer"]["incident_reference"] is None
    assert row["receipt_signature"] is None
    assert row["payload_sha256"] == sha256_of(content)
    # Guessing the purged text back into the content confirms nothing.
    for guess in (
        {"narrative": NARRATIVE},
        {"location": {**content["location"], "description": PLACE}},
        {"officer": {**content["officer"], "incident_reference": "2025-0042"}},
    ):
        assert sha256_of({**content, **guess}) != row["payload_sha256"]
    # The officer re-sends the original: recognised.
    replay = await api.submit(token, body)
    assert replay.status_code == 200, replay.text
    assert replay.json()["id"] == str(report_id)
    assert replay.json()["receipt"] is None
    changed = {**body, "agents": {**body["agents"], "masked": "some"}}
    assert (await api.submit(token, changed)).status_code == 409


async def test_bulk_imported_reports_are_coarsened_the_same_way(
    api: Api, blobs: BlobStore, tmp_path: Path
) -> None:
    email = f"steward-{uuid.uuid4().hex[:8]}@example.org"
    admin_token = await api.account_token(Role.admin, email)
    admin_id = await api.conn.fetchval("select id from accounts where email = $1", email)
    body = report_at(ORIGIN)
    path = tmp_path / "in.ndjson"
    path.write_text(json.dumps(body) + "\n")
    with ThreadPoolExecutor(1) as executor:
        summary = await import_reports(
            api.conn,
            path,
            account_id=admin_id,
            grouping=GroupingRule(2, timedelta(minutes=90)),
            time_zone="UTC",
            executor=executor,
        )
    assert summary.imported == 1
    report_id = await api.conn.fetchval(
        "select id from reports where client_id = $1", uuid.UUID(body["client_id"])
    )
    key = await public_key(api)
    before = await stored(api.conn, report_id)
    assert recover_cells(before, key, "") == ({ORIGIN}, set())  # imported: no signature
    # Before retention an imported report has no receipt to replay.
    response = await api.submit(admin_token, body)
    assert response.status_code == 409, response.text

    assert await run_retention(api.conn, blobs, now=later(), days=30) == RetentionSummary(
        reports_coarsened=1
    )

    after = await stored(api.conn, report_id)
    content = json.loads(after["content"])
    assert content["location"]["h3_cell"] == h3.cell_to_parent(ORIGIN, 7)
    assert recover_cells(after, key, "") == (set(), set())
    assert after["payload_sha256"] == sha256_of(content)
    # Sent again through the API by the importing account: recognised, no receipt.
    replay = await api.submit(admin_token, body)
    assert replay.status_code == 200, replay.text
    assert replay.json()["id"] == str(report_id)
    assert replay.json()["receipt"] is None
    # Imported again: already present, not a conflict.
    with ThreadPoolExecutor(1) as executor:
        again = await import_reports(
            api.conn,
            path,
            account_id=admin_id,
            grouping=GroupingRule(2, timedelta(minutes=90)),
            time_zone="UTC",
            executor=executor,
        )
    assert (again.imported, again.already_present, again.rejected) == (0, 1, 0)


# Each with whether Python's json writes it as msgspec does: it differs only for floats below
# 1e-4, which json writes with an exponent (1e-05) and msgspec without (0.00001).
TRICKY: list[tuple[dict[str, Any], bool]] = [
    ({"location": {"lat": 40.7191, "lon": -74.0017, "accuracy_m": 0}}, True),
    ({"location": {"lat": 40.7191, "lon": -74.0017, "accuracy_m": 0.00001}}, False),
    ({"location": {"lat": 40.7191, "lon": -74.0017, "accuracy_m": 0.30000000000000004}}, True),
    ({"location": {"lat": 40.7191, "lon": -74.0017, "accuracy_m": 49999.99999999999}}, True),
    ({"location": {"lat": -33.8688, "lon": 151.2093}, "narrative": None, "outcome": None}, True),
    ({"narrative": 'tab\tnew line\ncarriage\rquote " backslash \\ slash / <&>'}, True),
    ({"narrative": "\u00e9\u00f1\u00fc \u2028\u2029 \u0085 \U0001f694 \u4e2d\u6587"}, True),
    ({"occurred_at": "2025-03-10T10:59:58.123456-05:00", "occurred_at_uncertainty_min": 15}, True),
]


@pytest.mark.parametrize(
    ("overrides", "as_json_writes_it"), TRICKY, ids=[str(i) for i in range(len(TRICKY))]
)
async def test_the_hash_is_computable_from_the_stored_content(
    conn: asyncpg.Connection, overrides: dict[str, Any], as_json_writes_it: bool
) -> None:
    """Through jsonb and back, the stored text decodes to the same canonical bytes (and a
    plain sorted, compact json.dumps of it reproduces them): the hash of stored content is
    well defined, at ingest (res 9) and after coarsening alike."""
    content = minimise(decode_report(msgspec.json.encode(observer_report(**overrides))))
    for version in (content, coarsened(content)):
        body = canonical_content(version)
        stored_text = await conn.fetchval("select $1::jsonb::text", body.decode())
        assert stored_text != body.decode()  # jsonb orders keys its own way, with spaces
        assert canonical_content(decode_stored(stored_text)) == body
        assert (canonical(json.loads(stored_text)) == body) is as_json_writes_it
