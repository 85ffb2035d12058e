"""Plain SQL for photos, and the write order that keeps blobs and rows consistent.

Upload: under a transaction-scoped advisory lock on the blob's key, write the blob (idempotent),
then insert the row, then commit. A crash between the two leaves an orphan blob (removed by
``plainsight gc``), never a row without its blob.
Deletion (withdrawal): delete the rows and commit; then, under the same lock, delete each blob
no row refers to any more. A crash in between leaves orphans for ``gc`` again.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import cast, get_args

import asyncpg
import h3
import msgspec
from uuid_utils.compat import uuid7

from schemas.auth import Principal
from schemas.photos import PhotoContentType, PhotoView, Provenance, SimilarPhoto
from storage.db import locks
from storage.errors import Conflict, NotFound
from storage.photos.blobs import BlobStore
from storage.photos.pipeline import ProcessedPhoto
from storage.photos.video import ProcessedVideo
from storage.reports.store import can_read_all

# Near-duplicates: within this many differing bits on both 64-bit hashes.
SIMILAR_MAX_DISTANCE = 8
_LOCK_NAMESPACE = locks.PHOTO_BLOBS

SELECT_REPORT_FOR_UPLOAD = """
select occurred_at, h3_cell, status, owner_id from reports where id = $1
"""
# In the upload's transaction: the row lock orders the upload after (or before) a concurrent
# withdrawal, and makes the per-report photo count exact under concurrent uploads.
LOCK_REPORT_FOR_UPLOAD = SELECT_REPORT_FOR_UPLOAD.strip() + " for update"
SELECT_REPLAY = """
select id, report_id, sha256, width, height, bytes, phash, provenance, content_type, duration_ms
from photos where report_id = $1 and upload_digest = $2
"""
# A row stored before uploads had digests (migration 0020), holding the same sanitised bytes
# and the same provenance: the same answer, so the upload is taken as its replay.
SELECT_LEGACY_TWIN = """
select id, report_id, sha256, width, height, bytes, phash, provenance, content_type, duration_ms
from photos
where report_id = $1 and sha256 = $2 and upload_digest is null and provenance = $3::jsonb
order by created_at, id limit 1
"""
ADOPT_DIGEST = "update photos set upload_digest = $2 where id = $1"
COUNT_FOR_REPORT = "select count(*) from photos where report_id = $1"
INSERT_PHOTO = """
insert into photos (
    id, report_id, sha256, width, height, bytes, phash, dhash, provenance, upload_digest,
    content_type, duration_ms
)
values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
"""
LOCK_KEY = "select pg_advisory_xact_lock($1, hashtext($2))"
TRY_LOCK_KEY = "select pg_try_advisory_xact_lock($1, hashtext($2))"
SELECT_PHOTO = """
select p.id, p.report_id, p.sha256, p.width, p.height, p.bytes, p.phash, p.provenance,
       p.content_type, p.duration_ms, r.owner_id
from photos p join reports r on r.id = p.report_id
where p.id = $1
"""
SELECT_FOR_REPORT = """
select id, report_id, sha256, width, height, bytes, phash, provenance, content_type, duration_ms
from photos where report_id = $1 order by created_at, id
"""
DELETE_FOR_REPORT = "delete from photos where report_id = $1 returning sha256"
IS_REFERENCED = "select exists (select 1 from photos where sha256 = $1)"
SELECT_SIMILAR = """
select id, report_id, phash_distance, dhash_distance
from (
    select o.id, o.report_id, o.created_at,
           bit_count((o.phash # p.phash)::bit(64)) as phash_distance,
           bit_count((o.dhash # p.dhash)::bit(64)) as dhash_distance
    from photos p join photos o on o.id <> p.id
    where p.id = $1
) as candidates
where phash_distance <= $2 and dhash_distance <= $2
order by phash_distance + dhash_distance, created_at, id
limit $3
"""


class PhotoLimitReached(Conflict):
    code = "photo_limit"


@dataclass(frozen=True, slots=True)
class StoredPhoto:
    view: PhotoView
    created: bool


def hash_to_int(hex16: str) -> int:
    """16 hex digits as a signed 64-bit integer (the bigint columns)."""
    value = int(hex16, 16)
    return value - (1 << 64) if value >= 1 << 63 else value


def int_to_hash(value: int) -> str:
    return f"{value & 0xFFFFFFFFFFFFFFFF:016x}"


async def upload_target(
    conn: asyncpg.Connection, principal: Principal, report_id: uuid.UUID, *, lock: bool = False
) -> tuple[datetime, str]:
    """The report's ``occurred_at`` and H3 cell, if the caller owns it and it is not withdrawn;
    ``lock``: also lock the report row until the caller's transaction ends."""
    row = await conn.fetchrow(
        LOCK_REPORT_FOR_UPLOAD if lock else SELECT_REPORT_FOR_UPLOAD, report_id
    )
    if row is None or row["owner_id"] != principal.id or row["status"] == "withdrawn":
        raise NotFound("no such report")
    return row["occurred_at"], h3.int_to_str(row["h3_cell"])


async def replayed_photo(
    conn: asyncpg.Connection, report_id: uuid.UUID, upload_digest: str
) -> PhotoView | None:
    """The photo stored for the same uploaded bytes (same digest) on this report, if any."""
    row = await conn.fetchrow(SELECT_REPLAY, report_id, upload_digest)
    return None if row is None else _view(row)


async def store_photo(
    conn: asyncpg.Connection,
    blobs: BlobStore,
    *,
    report_id: uuid.UUID,
    photo: ProcessedPhoto | ProcessedVideo,
    upload_digest: str,
    max_photos: int,
) -> StoredPhoto:
    """Write the blob, then the row, inside the caller's transaction (see module docstring).

    ``upload_digest`` (the keyed hash of the uploaded bytes) decides replays: the same digest
    on the same report is the stored answer (``created`` False). Other uploads whose sanitised
    bytes are equal get rows of their own, with their own provenance, sharing the blob.
    A video's blob is streamed from its file (``BlobStore.put_video``)."""
    media = photo.video if isinstance(photo, ProcessedVideo) else photo.image
    content_type = _content_type(
        photo.video.content_type if isinstance(photo, ProcessedVideo) else "image/jpeg"
    )
    duration_ms = photo.video.duration_ms if isinstance(photo, ProcessedVideo) else None
    await conn.execute(LOCK_KEY, _LOCK_NAMESPACE, media.sha256)
    existing = await replayed_photo(conn, report_id, upload_digest)
    if existing is not None:
        return StoredPhoto(existing, created=False)
    provenance = msgspec.json.encode(photo.provenance).decode()
    twin = await conn.fetchrow(SELECT_LEGACY_TWIN, report_id, media.sha256, provenance)
    if twin is not None:
        await conn.execute(ADOPT_DIGEST, twin["id"], upload_digest)
        return StoredPhoto(_view(twin), created=False)
    if await conn.fetchval(COUNT_FOR_REPORT, report_id) >= max_photos:
        raise PhotoLimitReached(f"a report can have at most {max_photos} photos")
    if isinstance(photo, ProcessedVideo):
        await blobs.put_video(photo.video)
    else:
        await blobs.put(photo.image)
    photo_id = uuid7()
    await conn.execute(
        INSERT_PHOTO,
        photo_id,
        report_id,
        media.sha256,
        media.width,
        media.height,
        media.size,
        hash_to_int(photo.phash),
        hash_to_int(photo.dhash),
        provenance,
        upload_digest,
        content_type,
        duration_ms,
    )
    view = PhotoView(
        id=photo_id,
        report_id=report_id,
        content_type=content_type,
        width=media.width,
        height=media.height,
        bytes=media.size,
        sha256=media.sha256,
        phash=photo.phash,
        provenance=photo.provenance,
        duration_ms=duration_ms,
    )
    return StoredPhoto(view, created=True)


async def photo_for_reader(
    conn: asyncpg.Connection, principal: Principal, photo_id: uuid.UUID
) -> PhotoView:
    """The photo if the caller owns its report or is a moderator or admin; else 404."""
    row = await conn.fetchrow(SELECT_PHOTO, photo_id)
    if row is None or not (can_read_all(principal) or row["owner_id"] == principal.id):
        raise NotFound("no such photo")
    return _view(row)


async def photos_of_report(conn: asyncpg.Connection, report_id: uuid.UUID) -> list[PhotoView]:
    """A report's photos in upload order (their descriptions; the bytes are read, and
    audited, one by one through ``photo_for_reader``)."""
    return [_view(row) for row in await conn.fetch(SELECT_FOR_REPORT, report_id)]


async def similar_photos(
    conn: asyncpg.Connection, photo_id: uuid.UUID, *, limit: int
) -> list[SimilarPhoto]:
    if await conn.fetchval("select 1 from photos where id = $1", photo_id) is None:
        raise NotFound("no such photo")
    rows = await conn.fetch(SELECT_SIMILAR, photo_id, SIMILAR_MAX_DISTANCE, limit)
    return [
        SimilarPhoto(
            id=row["id"],
            report_id=row["report_id"],
            phash_distance=row["phash_distance"],
            dhash_distance=row["dhash_distance"],
        )
        for row in rows
    ]


async def delete_report_photos(conn: asyncpg.Connection, report_id: uuid.UUID) -> list[str]:
    """Delete the rows (in the caller's transaction); return the blob keys to release after
    commit with ``release_blobs``."""
    rows = await conn.fetch(DELETE_FOR_REPORT, report_id)
    return sorted({row["sha256"] for row in rows})


async def release_blobs(conn: asyncpg.Connection, blobs: BlobStore, keys: list[str]) -> int:
    """Delete each blob no photo row refers to any more; return how many were deleted."""
    deleted = 0
    for key in keys:
        async with conn.transaction():
            await conn.execute(LOCK_KEY, _LOCK_NAMESPACE, key)
            if not await conn.fetchval(IS_REFERENCED, key):
                await blobs.delete(key)
                deleted += 1
    return deleted


async def collect_garbage(
    conn: asyncpg.Connection,
    blobs: BlobStore,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[int, int]:
    """Delete every blob no photo row refers to. Returns (blobs checked, blobs deleted).

    A blob being uploaded right now is protected: its upload holds the key's lock until its
    row is committed, and this skips keys whose lock it cannot take.
    """
    checked = deleted = 0
    async for key in blobs.keys():
        checked += 1
        async with conn.transaction():
            locked = await conn.fetchval(TRY_LOCK_KEY, _LOCK_NAMESPACE, key)
            if locked and not await conn.fetchval(IS_REFERENCED, key):
                await blobs.delete(key)
                deleted += 1
        if progress is not None:
            progress(checked, deleted)
    return checked, deleted


def _content_type(value: str) -> PhotoContentType:
    if value not in get_args(PhotoContentType):
        raise ValueError(f"no stored media of type {value!r}")
    return cast(PhotoContentType, value)


def _view(row: asyncpg.Record) -> PhotoView:
    return PhotoView(
        id=row["id"],
        report_id=row["report_id"],
        content_type=row["content_type"],
        width=row["width"],
        height=row["height"],
        bytes=row["bytes"],
        sha256=row["sha256"],
        phash=int_to_hash(row["phash"]),
        provenance=msgspec.json.decode(row["provenance"], type=Provenance),
        duration_ms=row["duration_ms"],
    )
