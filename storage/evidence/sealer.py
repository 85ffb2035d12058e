"""Sealing originals: the bytes as uploaded, encrypted to the organisation's age keys.

With ``PLAINSIGHT_EVIDENCE_RECIPIENTS`` set, the upload path (api/media_ingest.py) calls
``EvidenceSealer.seal`` before any processing and ``record`` inside the transaction that stores
the photo row. The seal is streamed (pyrage's ``encrypt_io`` reads 8 KiB at a time, so a 1 GB
video never sits in memory), and the sha256 and size of the original are computed from the same
pass. The server holds only public keys: it can write sealed originals, never read them.

Write order, as for sanitised blobs: the sealed blob first, its row in the upload's transaction.
A crash (or a refused upload) in between leaves a sealed blob without a row: an orphan, which
``discard`` removes at once where it can and ``plainsight gc`` (``sweep_orphans``) once it is an
hour old. Deleting a photo row deletes its sealed row (``on delete cascade``), whose trigger
queues the blob in ``sealed_purges``; ``purge_queued`` deletes the queued blobs after the commit
(the withdrawal and retention call it; ``gc`` too, for whatever a crash left queued).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import os
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Protocol

import asyncpg
import pyrage
from pyrage import x25519

from schemas.evidence import recipients_fingerprint
from schemas.settings import Settings
from storage.evidence.store import SealedStore, _make_directory, check_key, new_key

ORPHAN_AGE = timedelta(hours=1)
PURGE_BATCH = 500

INSERT_SEALED = """
insert into sealed_originals (photo_id, blob_key, original_sha256, original_bytes, sealed_bytes,
                              uploaded_at, recipients_fingerprint, recipient_count)
values ($1, $2, $3, $4, $5, $6, $7, $8)
"""
SELECT_QUEUED = """
select blob_key from sealed_purges order by queued_at, blob_key limit $1 for update skip locked
"""
DELETE_QUEUED = "delete from sealed_purges where blob_key = any($1::text[])"
# A key is an orphan when no row refers to it. Nothing can be locked for a row that does not
# exist yet: the age threshold is what protects a seal whose upload is still being processed.
IS_RECORDED = "select exists (select from sealed_originals where blob_key = $1)"


class Original(Protocol):
    """The bytes as uploaded (api.media_ingest.UploadedOriginal): in memory or in a file."""

    @property
    def data(self) -> bytes | None: ...

    @property
    def path(self) -> Path | None: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class SealedOriginal:
    """A sealed blob written to the store, and what the manifest needs of the original."""

    key: str
    sha256: str
    """Of the original bytes (before encryption)."""
    size: int
    sealed_size: int
    uploaded_at: datetime
    recipients_fingerprint: str
    recipient_count: int


class _HashingReader(io.RawIOBase):
    """Reads through ``source``, hashing and counting what passes (the one read of the
    original that sealing makes)."""

    def __init__(self, source: IO[bytes]) -> None:
        super().__init__()
        self._source = source
        self.digest = hashlib.sha256()
        self.size = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(buffer)
        count = self._source.readinto(view)  # type: ignore[attr-defined]
        if count:
            self.digest.update(view[:count])
            self.size += count
        return int(count or 0)


class EvidenceSealer:
    """Built at start-up when recipients are set (``state.evidence``); None otherwise."""

    def __init__(self, keys: tuple[str, ...], store: SealedStore) -> None:
        if not keys:
            raise ValueError("an EvidenceSealer needs at least one recipient")
        self._recipients = [x25519.Recipient.from_str(key) for key in keys]
        self._fingerprint = recipients_fingerprint(keys)
        self._store = store

    @classmethod
    def from_settings(cls, settings: Settings, store: SealedStore) -> EvidenceSealer | None:
        keys = settings.evidence_keys
        return cls(keys, store) if keys else None

    @property
    def store(self) -> SealedStore:
        return self._store

    @property
    def recipients_fingerprint(self) -> str:
        return self._fingerprint

    async def seal(self, original: Original) -> SealedOriginal:
        """Encrypt the original to every recipient and store the sealed blob."""
        if (original.data is None) == (original.path is None):
            raise ValueError("an original is either bytes in memory or a file, exactly one")
        key = new_key()
        uploaded_at = datetime.now(UTC)
        scratch, sha256, size = await asyncio.to_thread(self._encrypt, original)
        try:
            sealed_size = scratch.stat().st_size
        except BaseException:
            scratch.unlink(missing_ok=True)
            raise
        await self._store.put_file(key, scratch)
        return SealedOriginal(
            key=key,
            sha256=sha256,
            size=size,
            sealed_size=sealed_size,
            uploaded_at=uploaded_at,
            recipients_fingerprint=self._fingerprint,
            recipient_count=len(self._recipients),
        )

    def _encrypt(self, original: Original) -> tuple[Path, str, int]:
        directory = self._store.scratch_dir
        _make_directory(directory)
        fd, name = tempfile.mkstemp(dir=directory, prefix="seal-", suffix=".age")
        scratch = Path(name)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "wb") as out:
                with _opened(original) as source:
                    reader = _HashingReader(source)
                    pyrage.encrypt_io(reader, out, self._recipients)  # type: ignore[arg-type]
                out.flush()
                os.fsync(out.fileno())
        except BaseException:
            scratch.unlink(missing_ok=True)
            raise
        if reader.size == 0:
            scratch.unlink(missing_ok=True)
            raise ValueError("an empty upload has nothing to seal")
        return scratch, reader.digest.hexdigest(), reader.size

    async def record(
        self, conn: asyncpg.Connection, photo_id: uuid.UUID, sealed: SealedOriginal
    ) -> None:
        """Insert the sealed original's row, in the upload's transaction."""
        await conn.execute(
            INSERT_SEALED,
            photo_id,
            check_key(sealed.key),
            sealed.sha256,
            sealed.size,
            sealed.sealed_size,
            sealed.uploaded_at,
            sealed.recipients_fingerprint,
            sealed.recipient_count,
        )

    async def discard(self, sealed: SealedOriginal) -> None:
        """Delete a sealed blob whose upload was refused or replayed (no row will refer to
        it); a failure here only leaves an orphan for ``plainsight gc``."""
        with contextlib.suppress(Exception):
            await self._store.delete(sealed.key)


@contextlib.contextmanager
def _opened(original: Original) -> Iterator[IO[bytes]]:
    if original.data is not None:
        yield io.BytesIO(original.data)
        return
    assert original.path is not None
    with original.path.open("rb") as file:
        yield file


async def purge_queued(conn: asyncpg.Connection, store: SealedStore) -> int:
    """Delete the sealed blobs whose rows were deleted (withdrawal, retention) and forget
    them; returns how many. ``conn`` must not be in a transaction: each batch commits."""
    purged = 0
    while True:
        async with conn.transaction():
            keys = [row["blob_key"] for row in await conn.fetch(SELECT_QUEUED, PURGE_BATCH)]
            for key in keys:
                await store.delete(key)
            if keys:
                await conn.execute(DELETE_QUEUED, keys)
        if len(keys) < PURGE_BATCH:
            return purged + len(keys)
        purged += len(keys)


async def sweep_orphans(
    conn: asyncpg.Connection,
    store: SealedStore,
    *,
    now: datetime,
    older_than: timedelta = ORPHAN_AGE,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[int, int]:
    """Delete sealed blobs that no row refers to and that were written before
    ``now - older_than`` (younger ones may belong to an upload still being processed).
    Returns (blobs checked, orphans deleted)."""
    cutoff = now - older_than
    checked = deleted = 0
    async for key, written in store.entries():
        checked += 1
        if written < cutoff and not await conn.fetchval(IS_RECORDED, key):
            await store.delete(key)
            deleted += 1
        if progress is not None:
            progress(checked, deleted)
    return checked, deleted


@dataclass(frozen=True, slots=True)
class SealedGarbage:
    checked: int
    orphans: int
    purged: int
    scratch: int


async def collect_sealed_garbage(
    conn: asyncpg.Connection,
    store: SealedStore,
    *,
    orphan_age: timedelta = ORPHAN_AGE,
    scratch_age: timedelta = ORPHAN_AGE,
    progress: Callable[[int, int], None] | None = None,
) -> SealedGarbage:
    """``plainsight gc`` for sealed originals: the queued purges a crash left, orphans older
    than ``orphan_age``, and scratch files older than ``scratch_age``."""
    purged = await purge_queued(conn, store)
    checked, orphans = await sweep_orphans(
        conn, store, now=datetime.now(UTC), older_than=orphan_age, progress=progress
    )
    scratch = await store.sweep_scratch(scratch_age)
    return SealedGarbage(checked=checked, orphans=orphans, purged=purged, scratch=scratch)
