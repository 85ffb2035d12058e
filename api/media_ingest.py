"""The one path every upload takes, from the uploaded bytes to a stored photo.

``POST /v1/reports/{id}/photos`` reads its body into an ``UploadedOriginal`` and calls
``ingest_upload``; so does the completion of a resumable upload. The steps, in order: check the
report (the caller owns it, it is not withdrawn); the keyed digest of the uploaded bytes; a
replay (same report, same digest) is answered with the stored photo at once; otherwise process
the original (sniffed from its first bytes: a photo, or a video container) in a worker, then in
one transaction lock the report, write the blob and insert the row (where a concurrent replay is
caught again). A photo goes to the worker as bytes; a video as a path, its sanitised copy comes
back as a file in the spool directory, streamed into the blob store and then removed.

The digest is an HMAC keyed with a secret derived from the receipt key, never a plain hash:
neither the original bytes nor a plain hash of them are stored or logged.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from litestar.datastructures import State

from api.tasks.photo_workers import PhotoWorkers
from schemas.auth import Principal
from schemas.settings import Settings
from storage.db.pool import Database
from storage.evidence.sealer import EvidenceSealer
from storage.photos import store as photos
from storage.photos.blobs import BlobStore
from storage.photos.formats import is_video
from storage.photos.pipeline import ProcessedPhoto
from storage.photos.store import StoredPhoto
from storage.photos.video import ProcessedVideo
from storage.reports.receipts import ReceiptSigner

DIGEST_PURPOSE = "upload digest"
# What waits in the spool: an upload spooled to a file (``upload-*.part``, here and in
# api/routes/photo_upload.py) and a sanitised video before it is in the blob store
# (``video-*.mp4`` / ``video-*.webm``, storage/photos/video.py). A crash leaves them behind.
SPOOL_PATTERNS = ("upload-*.part", "video-*.mp4", "video-*.webm")
_CHUNK = 1024 * 1024
_SNIFF_BYTES = 64


@dataclass(frozen=True, slots=True)
class UploadedOriginal:
    """The bytes as uploaded: in memory (a small single-request photo) or in a local file
    (a tus upload, a video). Never stored as such."""

    data: bytes | None = None
    path: Path | None = None


def spool_directory(settings: Settings) -> Path:
    """Where uploads and sanitised videos wait, private to the service, on local disk."""
    return settings.data_path / "spool"


def sweep_spool(settings: Settings, older_than: timedelta) -> int:
    """Delete the spool's files (``SPOOL_PATTERNS``) last written more than ``older_than``
    ago, left by a process that died; younger ones may belong to an upload in progress.
    Returns how many were deleted."""
    spool = spool_directory(settings)
    if not spool.is_dir():
        return 0
    cutoff = time.time() - older_than.total_seconds()
    deleted = 0
    for pattern in SPOOL_PATTERNS:
        for path in spool.glob(pattern):
            try:
                if not path.is_file() or path.stat().st_mtime >= cutoff:
                    continue
                path.unlink()
            except FileNotFoundError:
                continue  # finished (or swept) meanwhile
            deleted += 1
    return deleted


def _head(original: UploadedOriginal) -> bytes:
    if original.data is not None:
        return original.data[:_SNIFF_BYTES]
    if original.path is not None:
        with original.path.open("rb") as file:
            return file.read(_SNIFF_BYTES)
    raise ValueError("an UploadedOriginal needs data or a path")


def _spool(data: bytes, directory: Path) -> Path:
    """``data`` in a new private file in ``directory`` (a video handed over in memory)."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=directory, prefix="upload-", suffix=".part")
    with os.fdopen(fd, "wb") as file:
        file.write(data)
    return Path(name)


async def _process(
    state: State, original: UploadedOriginal, *, occurred_at: datetime, report_cell: str
) -> ProcessedPhoto | ProcessedVideo:
    """The worker pipeline for a photo or a video, told apart by their first bytes."""
    settings: Settings = state.settings
    workers: PhotoWorkers = state.photo_workers
    if not is_video(await asyncio.to_thread(_head, original)):
        data = await _original_bytes(original)
        try:
            return await workers.process(data, occurred_at=occurred_at, report_cell=report_cell)
        finally:
            del data  # the original bytes (metadata and all) are not kept a moment longer
    spool = spool_directory(settings)
    src = original.path
    if src is None:
        src = await asyncio.to_thread(_spool, original.data or b"", spool)
    try:
        await asyncio.to_thread(spool.mkdir, 0o700, True, True)
        return await workers.process_video(
            src, spool, occurred_at=occurred_at, report_cell=report_cell
        )
    finally:
        if original.path is None:
            src.unlink(missing_ok=True)


async def _original_bytes(original: UploadedOriginal) -> bytes:
    if original.data is not None:
        return original.data
    if original.path is not None:
        return await asyncio.to_thread(original.path.read_bytes)
    raise ValueError("an UploadedOriginal needs data or a path")


def upload_digest_key(signer: ReceiptSigner) -> bytes:
    # Derived from the root seed, not the signing key: a photo re-sent after `keys rotate`
    # must still match the digest stored before it (a replay, not a second copy).
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
    processed: ProcessedPhoto | ProcessedVideo | None = None
    try:
        processed = await _process(state, original, occurred_at=occurred_at, report_cell=cell)
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
    finally:
        if isinstance(processed, ProcessedVideo):
            processed.video.path.unlink(missing_ok=True)  # in the blob store now, or refused
    if evidence is not None and sealed is not None and not stored.created:
        await evidence.discard(sealed)  # a concurrent replay: the first upload's seal stands
    return stored
