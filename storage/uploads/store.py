"""Plain SQL for resumable uploads: the rows that say where an upload's bytes are and how
many of them are durably stored. The bytes themselves are never here (storage/uploads/area.py).

Writes to an upload's bytes happen under a lease (a token and an end time in the row): a PATCH
takes it before reading the body, renews it with every durable checkpoint and gives it back at
the end. A second PATCH meanwhile is refused (409), so bytes of two requests never interleave;
a lease whose holder died (a crashed process) simply runs out.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import asyncpg
import msgspec

from storage.db import locks
from storage.errors import Conflict, DomainError, Gone, NotFound

StoreKind = Literal["filesystem", "s3"]


class S3Part(msgspec.Struct, frozen=True):
    n: int
    etag: str
    size: int


_PARTS = msgspec.json.Decoder(list[S3Part])
_ENCODE = msgspec.json.Encoder()


@dataclass(frozen=True, slots=True)
class Upload:
    id: uuid.UUID
    report_id: uuid.UUID
    owner_id: uuid.UUID
    length: int
    offset: int
    store: StoreKind
    s3_upload_id: str | None
    s3_parts: tuple[S3Part, ...]
    photo_id: uuid.UUID | None
    expires_at: datetime

    @property
    def parts_size(self) -> int:
        return sum(part.size for part in self.s3_parts)

    @property
    def complete(self) -> bool:
        return self.offset == self.length


class UploadOffsetMismatch(Conflict):
    code = "upload_offset_mismatch"


class UploadBusy(Conflict):
    code = "upload_busy"


class UploadExpired(Gone):
    code = "upload_expired"


class TooManyUploads(DomainError):
    code = "too_many_uploads"
    status = 429


SELECT_UPLOAD = """
select u.id, u.report_id, u.owner_id, u.length, u."offset", u.store, u.s3_upload_id, u.s3_parts,
       u.photo_id, u.expires_at, u.expires_at <= now() as expired,
       u.lease_until is not null and u.lease_until > now() as leased,
       r.status = 'withdrawn' as withdrawn
from uploads u join reports r on r.id = u.report_id
where u.id = $1
"""
LOCK_OWNER = "select pg_advisory_xact_lock($1, hashtext($2))"
COUNT_IN_FLIGHT = """
select count(*) from uploads where owner_id = $1 and photo_id is null and expires_at > now()
"""
INSERT_UPLOAD = """
insert into uploads (id, report_id, owner_id, length, store, s3_upload_id, expires_at)
values ($1, $2, $3, $4, $5, $6, now() + make_interval(hours => $7))
returning expires_at
"""
TAKE_LEASE = """
update uploads u set lease_token = $3, lease_until = now() + make_interval(secs => $4)
where u.id = $1 and u."offset" = $2 and u.expires_at > now()
  and (u.lease_until is null or u.lease_until <= now())
returning u.id, u.report_id, u.owner_id, u.length, u."offset", u.store, u.s3_upload_id, u.s3_parts,
       u.photo_id, u.expires_at
"""
CHECKPOINT = """
update uploads set "offset" = $3, s3_parts = $4, lease_until = now() + make_interval(secs => $5)
where id = $1 and lease_token = $2
"""
# The last checkpoint of a PATCH that leaves the upload unfinished: the new offset and the
# free lease become visible together, so a client resuming at once is not refused as busy.
CHECKPOINT_AND_RELEASE = """
update uploads set "offset" = $3, s3_parts = $4, lease_token = null, lease_until = null
where id = $1 and lease_token = $2
"""
RELEASE_LEASE = """
update uploads set lease_token = null, lease_until = null where id = $1 and lease_token = $2
"""
MARK_COMPLETED = """
update uploads set photo_id = $3, lease_token = null, lease_until = null
where id = $1 and lease_token = $2
"""
DELETE_UPLOAD = "delete from uploads where id = $1"
SELECT_EXPIRED = """
select u.id, u.report_id, u.owner_id, u.length, u."offset", u.store, u.s3_upload_id, u.s3_parts,
       u.photo_id, u.expires_at
from uploads u
where u.expires_at <= now() and (u.lease_until is null or u.lease_until <= now())
order by u.expires_at limit $1
"""
SELECT_IDS = "select id from uploads where id = any($1::uuid[])"


def _upload(row: asyncpg.Record) -> Upload:
    return Upload(
        id=row["id"],
        report_id=row["report_id"],
        owner_id=row["owner_id"],
        length=row["length"],
        offset=row["offset"],
        store=row["store"],
        s3_upload_id=row["s3_upload_id"],
        s3_parts=tuple(_PARTS.decode(row["s3_parts"])),
        photo_id=row["photo_id"],
        expires_at=row["expires_at"],
    )


def encode_parts(parts: tuple[S3Part, ...]) -> str:
    return _ENCODE.encode(list(parts)).decode()


async def create_upload(
    conn: asyncpg.Connection,
    *,
    upload_id: uuid.UUID,
    report_id: uuid.UUID,
    owner_id: uuid.UUID,
    length: int,
    store: StoreKind,
    s3_upload_id: str | None,
    expiry: timedelta,
    max_in_flight: int,
) -> datetime:
    """Insert the upload (in the caller's transaction) unless its owner already has
    ``max_in_flight`` unfinished ones; returns when it expires."""
    await conn.execute(LOCK_OWNER, locks.UPLOADS, str(owner_id))
    in_flight = await conn.fetchval(COUNT_IN_FLIGHT, owner_id)
    if in_flight >= max_in_flight:
        raise TooManyUploads(
            f"this device already has {in_flight} unfinished uploads (at most {max_in_flight}):"
            " finish or delete one first, or wait for it to expire"
        )
    hours = int(expiry.total_seconds() // 3600)
    expires_at: datetime = await conn.fetchval(
        INSERT_UPLOAD, upload_id, report_id, owner_id, length, store, s3_upload_id, hours
    )
    return expires_at


async def in_flight(conn: asyncpg.Connection, owner_id: uuid.UUID) -> int:
    """Unfinished, unexpired uploads of ``owner_id`` (before a multipart upload is started)."""
    count: int = await conn.fetchval(COUNT_IN_FLIGHT, owner_id)
    return count


async def upload_for_owner(
    conn: asyncpg.Connection, upload_id: uuid.UUID, owner_id: uuid.UUID, *, allow_expired: bool
) -> Upload:
    """The upload, if ``owner_id`` created it and its report is not withdrawn (NotFound
    otherwise, as if it did not exist); UploadExpired unless ``allow_expired``."""
    row = await conn.fetchrow(SELECT_UPLOAD, upload_id)
    if row is None or row["owner_id"] != owner_id or row["withdrawn"]:
        raise NotFound("no such upload")
    if row["expired"] and not allow_expired:
        raise UploadExpired("the upload has expired; start a new one")
    return _upload(row)


async def take_lease(
    conn: asyncpg.Connection,
    upload_id: uuid.UUID,
    owner_id: uuid.UUID,
    *,
    offset: int,
    token: uuid.UUID,
    seconds: float,
) -> Upload:
    """Hold the upload for one PATCH that starts at ``offset``. Refused: 404 (not the
    caller's), 410 (expired), 409 ``upload_offset_mismatch`` (the stored offset differs) and
    409 ``upload_busy`` (another request holds it)."""
    current = await upload_for_owner(conn, upload_id, owner_id, allow_expired=False)
    if current.offset != offset:
        raise UploadOffsetMismatch(
            f"Upload-Offset is {offset} but the upload has {current.offset} bytes: "
            "ask with HEAD and continue from there"
        )
    row = await conn.fetchrow(TAKE_LEASE, upload_id, offset, token, seconds)
    if row is None:
        raise UploadBusy(
            "another request is writing to this upload; try again when it has finished"
        )
    return _upload(row)


async def checkpoint(
    conn: asyncpg.Connection,
    upload_id: uuid.UUID,
    token: uuid.UUID,
    *,
    offset: int,
    parts: tuple[S3Part, ...],
    lease_seconds: float,
    release: bool = False,
) -> bool:
    """Record ``offset`` bytes (and the S3 parts) as durably stored and renew the lease (or
    ``release`` it); False when the lease was lost (ran out and was taken by another
    request)."""
    if release:
        status = await conn.execute(
            CHECKPOINT_AND_RELEASE, upload_id, token, offset, encode_parts(parts)
        )
    else:
        status = await conn.execute(
            CHECKPOINT, upload_id, token, offset, encode_parts(parts), lease_seconds
        )
    return bool(status == "UPDATE 1")


async def release(conn: asyncpg.Connection, upload_id: uuid.UUID, token: uuid.UUID) -> None:
    await conn.execute(RELEASE_LEASE, upload_id, token)


async def mark_completed(
    conn: asyncpg.Connection, upload_id: uuid.UUID, token: uuid.UUID, photo_id: uuid.UUID
) -> None:
    await conn.execute(MARK_COMPLETED, upload_id, token, photo_id)


async def delete_upload(conn: asyncpg.Connection, upload_id: uuid.UUID) -> None:
    await conn.execute(DELETE_UPLOAD, upload_id)


async def expired_uploads(conn: asyncpg.Connection, limit: int = 1000) -> list[Upload]:
    """Expired uploads no request holds, oldest first (for ``plainsight gc``)."""
    return [_upload(row) for row in await conn.fetch(SELECT_EXPIRED, limit)]


async def existing_ids(conn: asyncpg.Connection, ids: list[uuid.UUID]) -> set[uuid.UUID]:
    return {row["id"] for row in await conn.fetch(SELECT_IDS, ids)}


DELETE_UNLESS_BUSY = """
delete from uploads where id = $1 and (lease_until is null or lease_until <= now())
"""


async def delete_unless_busy(conn: asyncpg.Connection, upload_id: uuid.UUID) -> bool:
    """Delete the row unless a request holds the upload; True when deleted."""
    status = await conn.execute(DELETE_UNLESS_BUSY, upload_id)
    return bool(status == "DELETE 1")
