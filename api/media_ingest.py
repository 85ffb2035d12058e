"""The one path every upload takes, from the uploaded bytes to a stored photo.

``POST /v1/reports/{id}/photos`` reads its body into an ``UploadedOriginal`` and calls
``ingest_upload``; so does the completion of a resumable upload. The steps, in order: check the
report (the caller owns it, it is not withdrawn), process the original in a worker, then in one
transaction lock the report, write the blob and insert the row.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from pathlib import Path

from litestar.datastructures import State

from api.tasks.photo_workers import PhotoWorkers
from schemas.auth import Principal
from schemas.settings import Settings
from storage.db.pool import Database
from storage.photos import store as photos
from storage.photos.blobs import BlobStore
from storage.photos.store import StoredPhoto


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


async def ingest_upload(
    state: State, principal: Principal, report_id: uuid.UUID, original: UploadedOriginal
) -> StoredPhoto:
    """Process and store one upload to ``report_id``; ``StoredPhoto.created`` is False when
    the same photo was already stored for the report (the caller answers 200, not 201)."""
    settings: Settings = state.settings
    db: Database = state.db
    async with db.acquire() as conn:
        occurred_at, cell = await photos.upload_target(conn, principal, report_id)
    # SEALING (evidence): seal the original here, before any processing of its bytes (and after
    # the replay check, once there is one).
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
            max_photos=settings.photos_per_report,
        )
        # SEALED RECORD (evidence): write the sealed original's record here, in this
        # transaction, once the row exists (only for a created photo).
    return stored
