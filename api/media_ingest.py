"""The one path every upload takes, from the uploaded bytes to a stored photo.

``POST /v1/reports/{id}/photos`` reads its body into an ``UploadedOriginal`` and calls
``ingest_upload``; so does the completion of a resumable upload. The steps, in order: check the
report (the caller owns it, it is not withdrawn); the keyed digest of the uploaded bytes; a
replay (same report, same digest) is answered with the stored photo at once; otherwise process
the original in a worker, then in one transaction lock the report, write the blob and insert
the row (where a concurrent replay is caught again).

The digest is an HMAC keyed with a secret derived from the receipt key, never a plain hash:
neither the original bytes nor a plain hash of them are stored or logged.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import uuid
from dataclasses import dataclass
from pathlib import Path

from litestar.datastructures import State

from api.tasks.photo_workers import PhotoWorkers
from schemas.auth import Principal
from schemas.settings import Settings
from storage.db.pool import Database
from storage.evidence.sealer import EvidenceSealer
from storage.photos import store as photos
from storage.photos.blobs import BlobStore
from storage.photos.store import StoredPhoto
from storage.reports.receipts import ReceiptSigner

DIGEST_PURPOSE = "upload digest"
_CHUNK = 1024 * 1024


@dataclass(frozen=True, slots=True)
class UploadedOriginal:
    """The bytes as uploaded: in memory (a small single-request photo) or in a local file
    (a tus upload, a video). Never stored as such."""

    data: bytes | None = None
    path: Path | None = None


async def _original_bytes(original: UploadedOriginal) -> bytes:
    if original.data is not None:
        return original.data
    if original.path is not None:
        return await asyncio.to_thread(original.path.read_bytes)
    raise ValueError("an UploadedOriginal needs data or a path")


def upload_digest_key(signer: ReceiptSigner) -> bytes:
    return signer.derive_key(DIGEST_PURPOSE)


def _digest_file(key: bytes, path: Path) -> str:
    mac = hmac.new(key, digestmod=hashlib.sha256)
    with path.open("rb") as file:
        while chunk := file.read(_CHUNK):
            mac.update(chunk)
    return mac.hexdigest()


async def upload_digest(key: bytes, original: UploadedOriginal) -> str:
    """HMAC-SHA256 of the uploaded bytes under ``key`` (``upload_digest_key``), hex."""
    if original.data is not None:
        if len(original.data) < _CHUNK:
            return hmac.new(key, original.data, hashlib.sha256).hexdigest()
        return await asyncio.to_thread(
            lambda: hmac.new(key, original.data or b"", hashlib.sha256).hexdigest()
        )
    if original.path is not None:
        return await asyncio.to_thread(_digest_file, key, original.path)
    raise ValueError("an UploadedOriginal needs data or a path")


async def ingest_upload(
    state: State, principal: Principal, report_id: uuid.UUID, original: UploadedOriginal
) -> StoredPhoto:
    """Process and store one upload to ``report_id``; ``StoredPhoto.created`` is False when
    the same photo was already stored for the report (the caller answers 200, not 201)."""
    settings: Settings = state.settings
    db: Database = state.db
    digest = await upload_digest(upload_digest_key(state.signer), original)
    async with db.acquire() as conn:
        occurred_at, cell = await photos.upload_target(conn, principal, report_id)
        replay = await photos.replayed_photo(conn, report_id, digest)
    if replay is not None:
        return StoredPhoto(replay, created=False)
    # Sealed after the replay check, before any processing of the original's bytes.
    evidence: EvidenceSealer | None = state.evidence
    sealed = None if evidence is None else await evidence.seal(original)
    try:
        data = await _original_bytes(original)
        workers: PhotoWorkers = state.photo_workers
        processed = await workers.process(data, occurred_at=occurred_at, report_cell=cell)
        del data  # the original bytes (metadata and all) are not kept a moment longer
        blobs: BlobStore = state.blobs
        async with db.transaction() as conn:
            # Still there, still theirs, and locked: a withdrawal or another upload waits for us.
            await photos.upload_target(conn, principal, report_id, lock=True)
            stored = await photos.store_photo(
                conn,
                blobs,
                report_id=report_id,
                photo=processed,
                upload_digest=digest,
                max_photos=settings.photos_per_report,
            )
            # The sealed original's record, in the row's transaction (a created photo only).
            if evidence is not None and sealed is not None and stored.created:
                await evidence.record(conn, stored.view.id, sealed)
    except BaseException:
        if evidence is not None and sealed is not None:
            await evidence.discard(sealed)  # refused or failed: no row will refer to it
        raise
    if evidence is not None and sealed is not None and not stored.created:
        await evidence.discard(sealed)  # a concurrent replay: the first upload's seal stands
    return stored
