"""The review queue: pending reports oldest first, with what a moderator triages them by.

Each item carries its photos' provenance signals, photos of other reports that are near
duplicates (within ``SIMILAR_MAX_DISTANCE`` bits on both perceptual hashes), and the other
reports of its incident with their source and status. Every report shown is audited.
"""

from __future__ import annotations

import uuid
from collections import defaultdict

import asyncpg
import msgspec

from schemas.auth import Principal
from schemas.codes import ReportStatus
from schemas.moderation import IncidentMember, QueueItem, QueuePage, QueuePhoto, source_of
from schemas.photos import Provenance, SimilarPhoto
from schemas.report import ReportView
from storage.audit.reads import reports_read
from storage.db.cursors import decode_cursor, encode_cursor
from storage.photos.store import SIMILAR_MAX_DISTANCE

SELECT_PENDING = """
select content || jsonb_build_object('id', id, 'client_id', client_id, 'status', status,
                                     'received_at', received_at, 'device_id', device_id)
       as view,
       id, kind, incident_id, received_at
from reports
where status = 'pending' and content is not null
  and ($1::timestamptz is null or (received_at, id) > ($1, $2::uuid))
order by received_at, id
limit $3
"""
# Each photo of the page with up to $3 near duplicates among other reports' photos: a scan of
# the photos table per photo, as GET /v1/photos/{id}/similar does.
SELECT_PHOTOS = """
select p.report_id, p.id, p.provenance,
       hint.id as hint_id, hint.report_id as hint_report,
       hint.phash_distance, hint.dhash_distance
from photos p
left join lateral (
    select * from (
        select o.id, o.report_id, o.created_at,
               bit_count((o.phash # p.phash)::bit(64)) as phash_distance,
               bit_count((o.dhash # p.dhash)::bit(64)) as dhash_distance
        from photos o where o.report_id <> p.report_id
    ) as candidates
    where phash_distance <= $2 and dhash_distance <= $2
    order by phash_distance + dhash_distance, created_at, id
    limit $3
) as hint on true
where p.report_id = any($1::uuid[])
order by p.report_id, p.created_at, p.id, hint.phash_distance + hint.dhash_distance,
         hint.created_at, hint.id
"""
SELECT_INCIDENT_MEMBERS = """
select incident_id, id, kind, status from reports
where incident_id = any($1::bigint[])
order by received_at, id
"""
HINTS_PER_PHOTO = 5


async def review_queue(
    conn: asyncpg.Connection, principal: Principal, *, limit: int, cursor: str | None
) -> QueuePage:
    after = decode_cursor(cursor) if cursor is not None else (None, None)
    rows = await conn.fetch(SELECT_PENDING, after[0], after[1], limit + 1)
    page = rows[:limit]
    ids = [row["id"] for row in page]
    photos = await _photos(conn, ids)
    members = await _members(conn, [row["incident_id"] for row in page if row["incident_id"]])
    items = [
        QueueItem(
            report=msgspec.json.decode(row["view"], type=ReportView),
            source=source_of(row["kind"]),
            incident_id=row["incident_id"],
            photos=photos.get(row["id"], []),
            same_incident=[m for m in members.get(row["incident_id"], []) if m.id != row["id"]],
        )
        for row in page
    ]
    next_cursor = None
    if len(rows) > limit:
        next_cursor = encode_cursor(page[-1]["received_at"], page[-1]["id"])
    # One `report.read` per report shown, as reading it alone records (last: see audit).
    await reports_read(conn, principal, ids, via="moderation_queue")
    return QueuePage(items=items, next_cursor=next_cursor)


async def _photos(
    conn: asyncpg.Connection, report_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[QueuePhoto]]:
    rows = await conn.fetch(SELECT_PHOTOS, report_ids, SIMILAR_MAX_DISTANCE, HINTS_PER_PHOTO)
    provenance: dict[uuid.UUID, tuple[uuid.UUID, Provenance]] = {}
    hints: dict[uuid.UUID, list[SimilarPhoto]] = defaultdict(list)
    for row in rows:
        if row["id"] not in provenance:
            decoded = msgspec.json.decode(row["provenance"], type=Provenance)
            provenance[row["id"]] = (row["report_id"], decoded)
        if row["hint_id"] is not None:
            hints[row["id"]].append(
                SimilarPhoto(
                    id=row["hint_id"],
                    report_id=row["hint_report"],
                    phash_distance=row["phash_distance"],
                    dhash_distance=row["dhash_distance"],
                )
            )
    by_report: dict[uuid.UUID, list[QueuePhoto]] = defaultdict(list)
    for photo_id, (report_id, signals) in provenance.items():
        by_report[report_id].append(
            QueuePhoto(id=photo_id, provenance=signals, near_duplicates=hints[photo_id])
        )
    return by_report


async def _members(
    conn: asyncpg.Connection, incident_ids: list[int]
) -> dict[int, list[IncidentMember]]:
    members: dict[int, list[IncidentMember]] = defaultdict(list)
    if not incident_ids:
        return members
    for row in await conn.fetch(SELECT_INCIDENT_MEMBERS, sorted(set(incident_ids))):
        members[row["incident_id"]].append(
            IncidentMember(
                id=row["id"], source=source_of(row["kind"]), status=ReportStatus(row["status"])
            )
        )
    return members
