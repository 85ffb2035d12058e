"""Plain SQL for reports: idempotent ingest, reads with keyset pagination, withdrawal."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
import h3
import msgspec
from uuid_utils.compat import uuid7

from schemas.auth import Principal, Role
from schemas.codes import ReportKind, ReportStatus
from schemas.receipts import Receipt, ReportCreated, receipt_fields
from schemas.report import COARSE_H3_RESOLUTION, ReportContent, ReportIn, ReportView
from storage.db.cursors import decode_cursor, encode_cursor
from storage.errors import Conflict, Gone, NotFound
from storage.incidents import folder
from storage.incidents.grouping import GroupingRule, classify, report_agency
from storage.reports import receipt_keys
from storage.reports.receipts import ReceiptSigner
from storage.reports.retained_content import canonical_content as canonical_content
from storage.reports.retained_content import matches_retained

# The whole of ingest's work in the database: one row appended (fold_pending_since takes its
# default, so the folder groups and counts it). No row: the client_id is taken already.
INSERT_REPORT = """
insert into reports (id, device_id, account_id, client_id, kind, received_at, payload_sha256,
                     receipt_signature, occurred_at, h3_cell, content, identification, masked,
                     agencies_claimed, agencies_suspected, agency, receipt_key_id)
values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
on conflict (owner_id, client_id) do nothing
returning id
"""
SELECT_BY_CLIENT_ID = """
select id, client_id, kind, status, received_at, payload_sha256, receipt_signature,
       receipt_key_id, h3_cell
from reports where owner_id = $1 and client_id = $2
"""
# The view is the stored (already minimised) content plus the server's own fields.
SELECT_ONE = """
select content || jsonb_build_object('id', id, 'client_id', client_id, 'status', status,
                                     'received_at', received_at, 'device_id', device_id)
       as view,
       owner_id, status
from reports where id = $1
"""
SELECT_PAGE = """
select content || jsonb_build_object('id', id, 'client_id', client_id, 'status', status,
                                     'received_at', received_at, 'device_id', device_id)
       as view,
       received_at, id
from reports
where content is not null
  and ($1::uuid is null or owner_id = $1)
  and ($2::text is null or status = $2)
  and ($3::timestamptz is null or (received_at, id) < ($3, $4::uuid))
order by received_at desc, id desc
limit $5
"""
SELECT_OWN = "select owner_id from reports where id = $1"
# The content goes at once; what the statistics counted of the report stays until the
# folder has taken it out of the counts (it purges the rest then; at once if nothing counted).
WITHDRAW = """
update reports
set status = 'withdrawn', withdrawn_at = coalesce(withdrawn_at, now()), content = null,
    fold_pending_since = now(),
    occurred_at = case when counted > 0 then occurred_at end,
    h3_cell = case when counted > 0 then h3_cell end,
    identification = case when counted > 0 then identification end,
    masked = case when counted > 0 then masked end,
    agencies_claimed = case when counted > 0 then agencies_claimed end,
    agencies_suspected = case when counted > 0 then agencies_suspected end,
    agency = case when counted > 0 then agency end
where id = $1
"""

STAFF_READERS = frozenset({Role.moderator, Role.admin})


@dataclass(frozen=True, slots=True)
class Submission:
    created: ReportCreated
    replayed: bool


async def submit_report(
    conn: asyncpg.Connection,
    *,
    principal: Principal,
    content: ReportContent,
    signer: ReceiptSigner,
) -> Submission:
    """Store a minimised report once; a re-send replays the original answer.

    The payload hash covers the minimised content (H3 cell, not coordinates): a hash of raw
    coordinates could be brute-forced back to the reporter's position from the stored cell.
    """
    body = canonical_content(content)
    payload_sha256 = hashlib.sha256(body).hexdigest()
    # Time-ordered ids (UUIDv7) keep primary-key inserts at the right edge of the index; the
    # millisecond they carry is the receipt's received_at, which the reporter sees anyway.
    report_id = uuid7()
    received_at = datetime.now(UTC)
    signature = signer.sign(
        receipt_fields(report_id, content.client_id, payload_sha256, received_at)
    )
    device_id = principal.id if principal.is_device else None
    account_id = None if principal.is_device else principal.id
    cell = h3.str_to_int(content.location.h3_cell)
    stored = await conn.fetchval(
        INSERT_REPORT,
        report_id,
        device_id,
        account_id,
        content.client_id,
        kind_of(content),
        received_at,
        payload_sha256,
        signature,
        content.occurred_at,
        cell,
        body.decode(),
        classify(content.identification),
        content.agents.masked.value,
        list(content.agents.agencies_claimed),
        list(content.agents.agencies_suspected),
        report_agency(content.agents),
        signer.key_id,
    )
    if stored is not None:
        receipt = Receipt(
            report_id=report_id,
            client_id=content.client_id,
            payload_sha256=payload_sha256,
            received_at=received_at,
            signature=signature,
            key_id=signer.key_id,
        )
        created = ReportCreated(
            id=report_id,
            client_id=content.client_id,
            kind=ReportKind(kind_of(content)),
            status=ReportStatus.PENDING,
            received_at=received_at,
            receipt=receipt,
        )
        return Submission(created, replayed=False)
    return await _replay(conn, principal, content, payload_sha256)


async def _replay(
    conn: asyncpg.Connection, principal: Principal, content: ReportContent, payload_sha256: str
) -> Submission:
    row = await conn.fetchrow(SELECT_BY_CLIENT_ID, principal.id, content.client_id)
    if row is None:  # pragma: no cover - reports are never deleted, only purged to a tombstone
        raise Conflict("the report is being stored by a concurrent request; retry")
    if row["status"] == "withdrawn":
        raise Gone("this report was withdrawn by its reporter and cannot be submitted again")
    if row["payload_sha256"] == payload_sha256:
        if row["receipt_signature"] is None:
            # Bulk-imported under this account: there is no receipt to replay.
            raise Conflict("this client_id belongs to an imported report; use a new client_id")
        return Submission(_created(row, await stored_receipt(conn, row)), replayed=True)
    if _retained_match(row, content):
        # The hash and signature of what was received are gone: no receipt can be given again
        # (the reporter holds the original).
        return Submission(_created(row, None), replayed=True)
    raise Conflict(
        "a different report was already submitted with this client_id; "
        "use a new client_id for a new report"
    )


async def stored_receipt(conn: asyncpg.Connection, row: asyncpg.Record) -> Receipt:
    """The receipt as first given, from a row with ``receipt_signature`` and
    ``receipt_key_id``; a receipt stored before key ids existed gets the id of the published
    key its signature verifies with."""
    fields = receipt_fields(row["id"], row["client_id"], row["payload_sha256"], row["received_at"])
    key_id = row["receipt_key_id"]
    if key_id is None:
        keys = await receipt_keys.published(conn)
        key_id = receipt_keys.signed_by(keys, fields, row["receipt_signature"])
        if key_id is None and keys:  # pragma: no cover - a signature no published key made
            key_id = keys[0].key_id
    return Receipt(
        report_id=row["id"],
        client_id=row["client_id"],
        payload_sha256=row["payload_sha256"],
        received_at=row["received_at"],
        signature=row["receipt_signature"],
        key_id=key_id or "",
    )


def _retained_match(row: asyncpg.Record, content: ReportContent) -> bool:
    """Whether retention made the stored report out of ``content``: a stored cell coarser
    than the one received means it rewrote the content and its hash (storage.reports.retention)."""
    cell = row["h3_cell"]
    if cell is None or h3.get_resolution(h3.int_to_str(cell)) > COARSE_H3_RESOLUTION:
        return False
    return matches_retained(row["payload_sha256"], content)


def _created(row: asyncpg.Record, receipt: Receipt | None) -> ReportCreated:
    return ReportCreated(
        id=row["id"],
        client_id=row["client_id"],
        kind=ReportKind(row["kind"]),
        status=ReportStatus.PENDING,
        received_at=row["received_at"],
        receipt=receipt,
    )


def can_read_all(principal: Principal) -> bool:
    return principal.role in STAFF_READERS


async def get_report(
    conn: asyncpg.Connection, principal: Principal, report_id: uuid.UUID
) -> ReportView:
    """The report as submitted (location as its H3 cell)."""
    row = await conn.fetchrow(SELECT_ONE, report_id)
    if row is None or not (can_read_all(principal) or row["owner_id"] == principal.id):
        raise NotFound("no such report")
    if row["status"] == "withdrawn":
        raise Gone("this report was withdrawn by its reporter")
    return _view(row["view"])


async def list_reports(
    conn: asyncpg.Connection,
    principal: Principal,
    *,
    limit: int,
    cursor: str | None,
    status: str | None,
) -> tuple[list[ReportView], str | None]:
    """One page of reports, newest first: all for staff, otherwise the caller's own."""
    after = decode_cursor(cursor) if cursor is not None else (None, None)
    owner = None if can_read_all(principal) else principal.id
    rows = await conn.fetch(SELECT_PAGE, owner, status, after[0], after[1], limit + 1)
    items = [_view(row["view"]) for row in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = encode_cursor(last["received_at"], last["id"])
    return items, next_cursor


async def withdraw_report(
    conn: asyncpg.Connection, principal: Principal, report_id: uuid.UUID, grouping: GroupingRule
) -> None:
    """Purge the content; keep a tombstone so the client_id cannot be re-used (410).

    Runs in the caller's transaction, which folds the report at once (the folder's lock
    first): the report leaves its incident, which is re-evaluated (it may split, or
    disappear), and the statistics' counts.
    """
    await folder.lock(conn)
    row = await conn.fetchrow(SELECT_OWN, report_id)
    if row is None or row["owner_id"] != principal.id:
        # Not the caller's report (or no such report): do not reveal which.
        raise NotFound("no such report")
    await conn.execute(WITHDRAW, report_id)
    await folder.fold_reports(conn, grouping, [report_id])


def _view(view_json: str) -> ReportView:
    # Decoding checks the stored row still matches the schema the API documents.
    view: ReportView = msgspec.json.decode(view_json, type=ReportView)
    return view


def kind_of(report: ReportContent | ReportIn) -> str:
    """The ``kind`` tag of a report Struct (msgspec keeps tags in the class config)."""
    tag = type(report).__struct_config__.tag
    assert isinstance(tag, str)
    return tag
