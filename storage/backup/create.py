"""``plainsight backup``: one archive of everything a restore needs, taken while retention
waits (its advisory lock is held from before the dump until the last photo is read, so no
purge removes a file the dump still refers to; a photo stored after the dump is an orphan
that ``plainsight gc`` removes after a restore).

Members: the ``pg_dump -Fc`` of the database; ``data/keys`` (receipt keys, the service role's
password) and ``data/audit-checkpoints`` whole, modes kept; the filesystem store's photos and
sealed originals (their ``tmp`` scratch excluded), or the list of the S3 objects instead; and
the manifest. Transient state (upload spool, resumable upload parts, the embedded server's own
files) is left out: the dump is the database."""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pyrage import x25519

from schemas.settings import Settings
from storage.backup import s3_objects
from storage.backup.archive import ArchiveError, ArchiveWriter
from storage.backup.manifest import (
    DATA_PREFIX,
    DUMP_NAME,
    FORMAT_VERSION,
    S3_OBJECTS_NAME,
    Manifest,
    encode,
)
from storage.backup.pgtools import dump_database
from storage.db import locks
from storage.db.pool import connect

ALWAYS: tuple[str, ...] = ("keys", "audit-checkpoints")
FILESYSTEM_STORES: tuple[str, ...] = ("photos", "sealed")
SCRATCH = "tmp"  # the stores' temporary files, at the top of each


@dataclass(frozen=True, slots=True)
class BackupSummary:
    path: Path
    bytes: int
    files: int
    vanished: list[str]
    """Files listed but deleted before they were read (withdrawn or collected meanwhile)."""
    s3_objects: int | None
    migration: int
    receipt_key: str


def data_files(data_dir: Path, blob_store: str) -> list[tuple[str, Path]]:
    """(member name, path) of every regular file of the data directory a backup holds."""
    tops = ALWAYS + (FILESYSTEM_STORES if blob_store == "filesystem" else ())
    found: list[tuple[str, Path]] = []
    for top in tops:
        root = data_dir / top
        if not root.is_dir():
            continue
        for directory, subdirectories, names in os.walk(root):
            here = Path(directory)
            if here == root and top in FILESYSTEM_STORES and SCRATCH in subdirectories:
                subdirectories.remove(SCRATCH)
            for name in names:
                path = here / name
                if path.is_file() and not path.is_symlink():
                    found.append((f"{DATA_PREFIX}{path.relative_to(data_dir).as_posix()}", path))
    return sorted(found)


async def create_backup(
    settings: Settings,
    dsn: str,
    out: Path,
    recipients: list[x25519.Recipient],
    *,
    version: str,
    progress: Callable[[int], object],
    total: Callable[[int], object],
) -> BackupSummary:
    if await asyncio.to_thread(out.exists):
        raise ArchiveError(f"{out} exists; a backup never overwrites a file")
    if not await asyncio.to_thread(out.parent.is_dir):
        raise ArchiveError(f"{out.parent} is not a directory")
    conn = await connect(dsn)
    try:
        if await conn.fetchval("select to_regclass('schema_migrations')") is None:
            raise ArchiveError("the database has no Plainsight tables: nothing to back up")
        await conn.execute("select pg_advisory_lock($1)", locks.RETENTION)
        migration: int = await conn.fetchval("select max(version) from schema_migrations") or 0
        with tempfile.TemporaryDirectory(dir=out.parent, prefix=".plainsight-backup-") as scratch:
            dump = Path(scratch) / DUMP_NAME
            await asyncio.to_thread(dump_database, dsn, dump)
            files = data_files(settings.data_path, settings.blob_store)
            objects = (
                await s3_objects.list_objects(settings) if settings.blob_store == "s3" else None
            )
            listing = None if objects is None else s3_objects.encode(objects)
            total(
                dump.stat().st_size
                + sum(path.stat().st_size for _, path in files)
                + (len(listing) if listing is not None else 0)
            )
            receipt_key: Literal["setting", "data_dir"] = (
                "setting" if settings.receipt_key is not None else "data_dir"
            )

            vanished: list[str] = []

            def write() -> int:
                with ArchiveWriter(out, recipients, progress) as archive:
                    archive.add_file(DUMP_NAME, dump, 0o600)
                    if listing is not None:
                        archive.add_bytes(S3_OBJECTS_NAME, listing)
                    for name, path in files:
                        try:
                            archive.add_file(name, path)
                        except FileNotFoundError:
                            # Deleted since it was listed: a withdrawal (which deletes its
                            # photos at once) or gc. Not worth failing the night's backup.
                            vanished.append(name)
                    manifest = Manifest(
                        format_version=FORMAT_VERSION,
                        plainsight_version=version,
                        migration=migration,
                        created_at=datetime.now(UTC),
                        blob_store=settings.blob_store,
                        receipt_key=receipt_key,
                        members=archive.members,
                    )
                    archive.finish(encode(manifest))
                return out.stat().st_size

            size = await asyncio.to_thread(write)
    finally:
        await conn.close()  # also releases retention's lock
    return BackupSummary(
        path=out,
        bytes=size,
        files=len(files) - len(vanished),
        vanished=vanished,
        s3_objects=None if objects is None else len(objects),
        migration=migration,
        receipt_key=receipt_key,
    )
