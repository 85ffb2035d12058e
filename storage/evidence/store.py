"""Where sealed originals live: beside the sanitised copies, never mixed with them.

A sealed blob is an age file (the ciphertext of the bytes as uploaded); its key is 32 random
lowercase hex digits (age encryption is randomised, so there is nothing to address by content).
A seal is written to a private scratch file first (``scratch_dir``), then handed to
``put_file``: the filesystem store renames it into place (fsynced, so after a crash a key holds
the whole blob or nothing), the S3 store uploads it (multipart for large files) and removes the
scratch file. Keys are validated before they become a path or an object name.

Two stores, as for photos: ``FilesystemSealedStore`` under ``data_dir/sealed`` and
``S3SealedStore`` under ``PLAINSIGHT_S3_SEALED_PREFIX``; ``open_sealed_store`` picks the one
that matches ``PLAINSIGHT_BLOB_STORE``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import shutil
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

import obstore

from schemas.settings import Settings
from storage.durable import fsync_directory
from storage.errors import NotFound
from storage.s3 import configured_bucket, open_s3_bucket

_KEY = re.compile(r"[0-9a-f]{32}")
_FAN_OUT = re.compile(r"[0-9a-f]{2}")
SUFFIX = ".age"
CONTENT_TYPE = "application/octet-stream"
MULTIPART_FROM = 16 * 1024 * 1024  # a photo is one PUT; a video is uploaded in parts
COPY_CHUNK = 1024 * 1024


def new_key() -> str:
    return secrets.token_hex(16)


def check_key(key: str) -> str:
    if not isinstance(key, str) or _KEY.fullmatch(key) is None:
        raise ValueError("a sealed blob key must be 32 lowercase hexadecimal digits")
    return key


def _key_of_name(name: str) -> str | None:
    if not name.endswith(SUFFIX):
        return None
    key = name[: -len(SUFFIX)]
    return key if _KEY.fullmatch(key) else None


class SealedStore(Protocol):
    @property
    def scratch_dir(self) -> Path:
        """A private local directory for seals being written (created on demand)."""
        ...

    async def put_file(self, key: str, path: Path) -> None:
        """Store the finished seal at ``path`` (a file in ``scratch_dir``) under ``key``;
        the scratch file is gone afterwards."""
        ...

    async def copy_to(self, key: str, destination: Path) -> int:
        """Write the sealed blob to ``destination``, streamed; return its size.
        Raises ``NotFound`` when there is none."""
        ...

    async def delete(self, key: str) -> None:
        """Remove the blob; a missing blob is not an error."""
        ...

    def entries(self) -> AsyncIterator[tuple[str, datetime]]:
        """Every stored key with the time it was written (for the orphan sweep)."""
        ...

    async def sweep_scratch(self, older_than: timedelta) -> int:
        """Remove scratch files older than ``older_than`` (seals a crash interrupted)."""
        ...

    async def close(self) -> None: ...


def _make_directory(path: Path) -> None:
    """``mkdir -p`` with mode 0o700, fsyncing the parent of each directory it creates."""
    if path.is_dir():
        return
    _make_directory(path.parent)
    try:
        path.mkdir(mode=0o700)
    except FileExistsError:
        return
    fsync_directory(path.parent)


def _sweep_directory(directory: Path, older_than: timedelta) -> int:
    if older_than < timedelta(0):
        raise ValueError("older_than must not be negative")
    cutoff = time.time() - older_than.total_seconds()
    removed = 0
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return 0
    for entry in entries:
        try:
            if not entry.is_file(follow_symlinks=False):
                continue
            if entry.stat(follow_symlinks=False).st_mtime >= cutoff:
                continue
            os.unlink(entry.path)
        except FileNotFoundError:
            continue
        removed += 1
    return removed


class FilesystemSealedStore:
    """Sealed blobs at ``root/K[:2]/K.age`` (mode 0o600); scratch files in ``root/tmp``, on
    the same filesystem so that storing one is a rename."""

    def __init__(self, root: Path) -> None:
        self._root = Path(root)

    @property
    def root(self) -> Path:
        return self._root

    @property
    def scratch_dir(self) -> Path:
        return self._root / "tmp"

    def path_for(self, key: str) -> Path:
        check_key(key)
        return self._root / key[:2] / f"{key}{SUFFIX}"

    async def put_file(self, key: str, path: Path) -> None:
        await asyncio.to_thread(self._put_file, key, path)

    def _put_file(self, key: str, path: Path) -> None:
        target = self.path_for(key)
        try:
            _make_directory(target.parent)
            os.chmod(path, 0o600)
            os.replace(path, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            raise
        fsync_directory(target.parent)

    async def copy_to(self, key: str, destination: Path) -> int:
        source = self.path_for(key)
        try:
            await asyncio.to_thread(shutil.copyfile, source, destination)
        except FileNotFoundError:
            raise NotFound(f"no sealed original {key}") from None
        stat = await asyncio.to_thread(destination.stat)
        return stat.st_size

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._delete, self.path_for(key))

    @staticmethod
    def _delete(path: Path) -> None:
        try:
            path.unlink()
        except FileNotFoundError:
            return
        fsync_directory(path.parent)  # a purged original must stay purged after a crash

    async def entries(self) -> AsyncIterator[tuple[str, datetime]]:
        for item in await asyncio.to_thread(self._entries):
            yield item

    def _entries(self) -> list[tuple[str, datetime]]:
        found: list[tuple[str, datetime]] = []
        try:
            tops = [e for e in os.scandir(self._root) if _FAN_OUT.fullmatch(e.name)]
        except FileNotFoundError:
            return found
        for top in tops:
            try:
                names = list(os.scandir(top.path))
            except FileNotFoundError:
                continue
            for entry in names:
                key = _key_of_name(entry.name)
                if key is None or key[:2] != top.name or not entry.is_file(follow_symlinks=False):
                    continue
                try:
                    modified = entry.stat(follow_symlinks=False).st_mtime
                except FileNotFoundError:
                    continue
                found.append((key, datetime.fromtimestamp(modified, UTC)))
        return found

    async def sweep_scratch(self, older_than: timedelta) -> int:
        return await asyncio.to_thread(_sweep_directory, self.scratch_dir, older_than)

    async def close(self) -> None:
        """Nothing to release."""


class S3SealedStore:
    """Sealed blobs as objects ``prefix + K[:2] + "/" + K + ".age"``; a seal is written to a
    local scratch file first (``scratch``, under the data directory) and then uploaded: one
    PUT for a photo, a multipart upload for larger files (a crash mid-way leaves an incomplete
    multipart upload, which S3 never shows as an object; a bucket lifecycle rule to abort
    incomplete uploads after a day cleans those)."""

    def __init__(
        self,
        bucket: str,
        *,
        prefix: str,
        scratch: Path,
        region: str = "us-east-1",
        endpoint: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
    ) -> None:
        stripped = prefix.strip("/")
        if not stripped or ".." in stripped.split("/") or "//" in stripped:
            raise ValueError(f"invalid S3 prefix for sealed originals {prefix!r}")
        self._prefix = f"{stripped}/"
        self._scratch = scratch
        self._store = open_s3_bucket(
            bucket,
            region=region,
            endpoint=endpoint,
            access_key_id=access_key_id,
            secret_access_key=secret_access_key,
            timeout="120s",
            retry_timeout=timedelta(seconds=60),
        )

    @property
    def prefix(self) -> str:
        return self._prefix

    @property
    def scratch_dir(self) -> Path:
        return self._scratch

    def object_name(self, key: str) -> str:
        check_key(key)
        return f"{self._prefix}{key[:2]}/{key}{SUFFIX}"

    async def put_file(self, key: str, path: Path) -> None:
        name = self.object_name(key)
        try:
            size = (await asyncio.to_thread(path.stat)).st_size
            await obstore.put_async(
                self._store,
                name,
                path,
                attributes={"Content-Type": CONTENT_TYPE},
                use_multipart=size >= MULTIPART_FROM,
            )
        finally:
            await asyncio.to_thread(path.unlink, True)

    async def copy_to(self, key: str, destination: Path) -> int:
        try:
            result = await obstore.get_async(self._store, self.object_name(key))
        except FileNotFoundError:
            raise NotFound(f"no sealed original {key}") from None
        size = 0
        with destination.open("wb") as out:
            async for chunk in result.stream(min_chunk_size=COPY_CHUNK):
                data = memoryview(chunk)
                await asyncio.to_thread(out.write, data)
                size += len(data)
        return size

    async def delete(self, key: str) -> None:
        await obstore.delete_async(self._store, self.object_name(key))

    async def entries(self) -> AsyncIterator[tuple[str, datetime]]:
        async for chunk in obstore.list(self._store, self._prefix, chunk_size=1000):
            for meta in chunk:
                name = meta["path"]
                if not name.startswith(self._prefix):
                    continue
                fan_out, _, file_name = name[len(self._prefix) :].partition("/")
                key = _key_of_name(file_name)
                if key is not None and key[:2] == fan_out:
                    yield key, meta["last_modified"]

    async def sweep_scratch(self, older_than: timedelta) -> int:
        return await asyncio.to_thread(_sweep_directory, self._scratch, older_than)

    async def close(self) -> None:
        """Nothing to release."""


def open_sealed_store(settings: Settings) -> FilesystemSealedStore | S3SealedStore:
    """The store matching the photos' one: ``data_dir/sealed``, or the S3 bucket under
    ``s3_sealed_prefix`` (scratch files in ``data_dir/sealed-scratch``). Opened whether or not
    sealing is on: originals sealed earlier must still be purged and exported."""
    if settings.blob_store == "filesystem":
        return FilesystemSealedStore(settings.data_path / "sealed")
    return S3SealedStore(
        configured_bucket(settings),
        prefix=settings.s3_sealed_prefix,
        scratch=settings.data_path / "sealed-scratch",
        region=settings.s3_region,
        endpoint=settings.s3_endpoint,
    )
