"""``plainsight restore``: an archive into an empty data directory (the embedded PostgreSQL
made there) or an empty database (DATABASE_URL), all or nothing.

The whole archive is first read into a staging directory inside the data directory (the same
filesystem, so moving the files into place is a rename) and checked against its manifest:
every checksum and mode, every member, nothing extra, a known format, a migration this code
knows. Only then is the database restored, in one transaction (the embedded server is made
inside the staging directory too), migrated and given the service's role; the files move into
place last. A failure before that leaves the target as it was: the staging directory (and a
data directory the restore made) is removed."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from pyrage import x25519

from schemas.settings import Settings
from storage.backup import s3_objects
from storage.backup.archive import ArchiveError, read_archive
from storage.backup.manifest import (
    DATA_PREFIX,
    DUMP_NAME,
    S3_OBJECTS_NAME,
    Manifest,
    ManifestError,
    S3Object,
    check_members,
    decode,
)
from storage.backup.pgtools import restore_database
from storage.db.embedded import EmbeddedPostgres
from storage.db.migrations import load_migrations
from storage.db.pool import connect
from storage.durable import fsync_directory

DATA_ITEMS: Final = ("postgres", "keys", "photos", "sealed", "audit-checkpoints")
"""What makes a data directory one in use: a restore never writes over any of them."""
SHOWN: Final = 3
SELECT_RELATIONS = """
select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
where n.nspname = current_schema() and c.relkind in ('r', 'p', 'v', 'm', 'S', 'f')
order by c.relname
"""

SELECT_MAY_CREATE_ROLE = (
    "select rolsuper or rolcreaterole from pg_roles where rolname = current_user"
)

Prepare = Callable[[str, Path], Awaitable[None]]
"""Migrations and the service's role, given the restored database and the staged data dir."""


class TargetNotEmpty(Exception):
    """The data directory or the database already holds data."""


class RestoreIncomplete(Exception):
    """The database was restored, but what follows failed: say what the operator must undo."""


class MissingObjects(Exception):
    def __init__(self, bucket: str, missing: list[str], total: int) -> None:
        super().__init__(
            f"{len(missing)} of the archive's {total} S3 objects are missing from bucket "
            f"{bucket} (first: {missing[0]}); nothing was restored"
        )
        self.missing = missing


@dataclass(frozen=True, slots=True)
class RestoreProgress:
    advance: Callable[[int], object]
    """Bytes done in the current stage."""
    stage: Callable[[str, int | None], object]
    """A new stage (its name, its total of bytes if known)."""


@dataclass(frozen=True, slots=True)
class RestoreSummary:
    manifest: Manifest
    files: int
    s3_objects: int | None


def existing_data(data_dir: Path) -> str | None:
    """What the data directory already holds that a restore would write over, or None."""
    for name in DATA_ITEMS:
        path = data_dir / name
        if path.is_symlink() or path.is_file() or (path.is_dir() and any(path.iterdir())):
            return f"{path} exists and is not empty"
    return None


async def existing_tables(dsn: str) -> str | None:
    conn = await connect(dsn)
    try:
        names = [row["relname"] for row in await conn.fetch(SELECT_RELATIONS)]
        schema = await conn.fetchval("select current_schema()")
    finally:
        await conn.close()
    if not names:
        return None
    shown = ", ".join(names[:SHOWN]) + (", ..." if len(names) > SHOWN else "")
    return f"the database's schema {schema} already has {len(names)} tables ({shown})"


async def check_target(settings: Settings) -> None:
    problem = existing_data(settings.data_path)
    if problem is None and settings.database_url is not None:
        problem = await existing_tables(settings.database_url)
    if problem is not None:
        raise TargetNotEmpty(f"{problem}: a restore needs an empty target")
    if settings.database_url is not None and settings.service_database_url is None:
        # Checked before anything is restored: the service's role is made after the dump.
        conn = await connect(settings.database_url)
        try:
            may = await conn.fetchval(SELECT_MAY_CREATE_ROLE)
        finally:
            await conn.close()
        if not may:
            raise TargetNotEmpty(
                "the DATABASE_URL user may not create the service's role (it needs "
                "CREATEROLE): grant it, or create a role and set PLAINSIGHT_SERVICE_DATABASE_URL"
            )


async def restore_backup(
    settings: Settings,
    archive: Path,
    identities: list[x25519.Identity],
    *,
    prepare: Prepare,
    progress: RestoreProgress,
) -> RestoreSummary:
    if not await asyncio.to_thread(archive.is_file):
        raise ArchiveError(f"{archive} is not a file")
    await check_target(settings)
    data_dir = settings.data_path
    made_data_dir = not data_dir.exists()
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".restore-", dir=data_dir))
    restored_into: str | None = None  # a database outside the staging directory, once restored
    moved: list[Path] = []
    try:
        manifest, objects = await _staged(settings, archive, staging, identities, progress)
        staged_data = staging / DATA_PREFIX.rstrip("/")
        staged_data.mkdir(mode=0o700, exist_ok=True)
        progress.stage("restoring the database", None)
        if settings.database_url is not None:
            await _restore_into(settings.database_url, staging / DUMP_NAME, progress)
            restored_into = settings.database_url
            await prepare(settings.database_url, staged_data)
        else:
            embedded = EmbeddedPostgres(staged_data / "postgres")
            try:
                dsn = await asyncio.to_thread(embedded.start)
                await _restore_into(dsn, staging / DUMP_NAME, progress)
                await prepare(dsn, staged_data)
            finally:
                await asyncio.to_thread(embedded.stop)
        problem = existing_data(data_dir)
        if problem is not None:  # something started on this directory meanwhile
            raise TargetNotEmpty(f"{problem}: it appeared during the restore")
        for item in sorted(staged_data.iterdir()):
            os.replace(item, data_dir / item.name)
            moved.append(data_dir / item.name)
        fsync_directory(data_dir)
    except BaseException as exc:
        for path in moved:  # a failed rename among several: take back the ones done
            shutil.rmtree(path, ignore_errors=True)
        shutil.rmtree(data_dir if made_data_dir else staging, ignore_errors=True)
        if restored_into is not None and isinstance(exc, Exception):
            raise RestoreIncomplete(
                f"the database was restored but what follows failed ({exc}); no file was "
                "restored: drop and create the database again before another restore"
            ) from exc
        raise
    shutil.rmtree(staging, ignore_errors=True)
    files = sum(1 for member in manifest.members if member.name.startswith(DATA_PREFIX))
    return RestoreSummary(manifest, files, None if objects is None else len(objects))


async def _staged(
    settings: Settings,
    archive: Path,
    staging: Path,
    identities: list[x25519.Identity],
    progress: RestoreProgress,
) -> tuple[Manifest, list[S3Object] | None]:
    """Read and check the whole archive into ``staging``; the S3 objects it lists, if any."""
    progress.stage("reading the archive", (await asyncio.to_thread(archive.stat)).st_size)
    raw, found = await asyncio.to_thread(
        read_archive, archive, staging, identities, progress.advance
    )
    manifest = decode(raw)
    check_members(manifest, found)
    known = max((m.version for m in load_migrations()), default=0)
    if manifest.migration > known:
        raise ManifestError(
            f"the archive's database is at migration {manifest.migration}, newer than this "
            f"Plainsight knows ({known}): restore it with Plainsight {manifest.plainsight_version}"
        )
    for member in manifest.members:
        os.chmod(staging / member.name, member.mode)
    objects = None
    if manifest.blob_store != settings.blob_store:
        raise ManifestError(
            f"the archive's photos are in a {manifest.blob_store} store but "
            f"PLAINSIGHT_BLOB_STORE is {settings.blob_store}: set it as it was"
        )
    if manifest.blob_store == "s3":
        try:
            objects = s3_objects.decode((staging / S3_OBJECTS_NAME).read_bytes())
        except ValueError as exc:
            raise ManifestError(f"the archive's {S3_OBJECTS_NAME} is not valid: {exc}") from None
        progress.stage("checking the S3 objects", None)
        missing = await s3_objects.missing_objects(settings, objects)
        if missing:
            raise MissingObjects(str(settings.s3_bucket), missing, len(objects))
    return manifest, objects


async def _restore_into(dsn: str, dump: Path, progress: RestoreProgress) -> None:
    conn = await connect(dsn)
    try:
        version = int(await conn.fetchval("show server_version_num"))
    finally:
        await conn.close()
    await asyncio.to_thread(restore_database, dump, dsn, version, progress.advance)
