"""Where the bytes of unfinished resumable uploads wait: a temporary area beside the blob store.

Two areas, matching the blob stores:

- ``FilesystemArea``: one private file per upload, ``data_dir/uploads/<id>.part``. A PATCH
  truncates the file to the stored offset (dropping bytes of a request that never reached its
  checkpoint), appends, and fsyncs before each checkpoint: the offset in the row never counts a
  byte that is not on disk.
- ``S3Area``: one S3 multipart upload per tus upload, object ``uploads/<id>``. S3 parts must be
  at least 5 MiB (except the last), so bytes are buffered in memory until a part is full; what
  is left at the end of a PATCH (less than a part) goes to a tail object ``uploads/<id>.tail``,
  read back by the next PATCH. The row keeps the multipart upload id and every part's ETag.
  boto3 (the obstore client has no multipart API with a persisted upload id) runs in worker
  threads.

On completion ``assemble`` yields a local file of the whole upload for processing; ``delete``
removes everything an upload left.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Protocol

from storage.durable import fsync_directory
from storage.s3 import configured_bucket
from storage.uploads.store import S3Part, StoreKind, Upload

if TYPE_CHECKING:
    from schemas.settings import Settings

PART_SIZE: Final = 5 * 1024 * 1024
"""S3's smallest part but the last (5 MiB)."""
WRITE_BATCH: Final = 1024 * 1024
"""The filesystem writer hands bytes to its thread in batches of this size."""
PART_SUFFIX: Final = ".part"
ASSEMBLED_SUFFIX: Final = ".whole"
S3_PREFIX: Final = "uploads/"


class Progress(Protocol):
    """What a writer has made durable: the new offset, and the S3 parts."""

    @property
    def offset(self) -> int: ...

    @property
    def parts(self) -> tuple[S3Part, ...]: ...


class Writer(Protocol):
    """One PATCH's bytes, appended at the upload's stored offset."""

    @property
    def written(self) -> int:
        """Bytes appended by this writer (durable or not)."""
        ...

    async def write(self, chunk: bytes) -> bool:
        """Append ``chunk``; True when a checkpoint is worth taking now (a part was
        uploaded, or enough bytes were written since the last one)."""
        ...

    async def flush(self, *, final: bool) -> tuple[int, tuple[S3Part, ...]]:
        """Make what was appended durable and return (offset, parts). ``final``: the PATCH
        ends here, so S3 keeps the bytes short of a part in the tail object."""
        ...

    async def close(self) -> None: ...


class TemporaryArea(Protocol):
    kind: StoreKind

    async def start(self, upload_id: uuid.UUID) -> str | None:
        """Prepare a new upload; the S3 multipart upload id (None on the filesystem)."""
        ...

    async def writer(self, upload: Upload) -> Writer: ...

    def assemble(self, upload: Upload) -> contextlib.AbstractAsyncContextManager[Path]:
        """A local file of the complete upload, removed on exit."""
        ...

    async def delete(self, upload: Upload) -> None:
        """Remove the upload's bytes (and abort its S3 multipart upload); idempotent."""
        ...

    async def sweep_orphans(self, older_than: timedelta, known: set[uuid.UUID]) -> int:
        """Remove bytes of uploads that have no row (``known`` holds every id that has
        one among those found) and are older than ``older_than``; return how many."""
        ...

    async def list_ids(self) -> list[uuid.UUID]:
        """Ids of uploads that have bytes here."""
        ...


def _id_of_name(name: str, suffix: str) -> uuid.UUID | None:
    if not name.endswith(suffix):
        return None
    try:
        return uuid.UUID(name[: -len(suffix)])
    except ValueError:
        return None


# --- filesystem -------------------------------------------------------------------------------


class FilesystemWriter:
    CHECKPOINT_BYTES: Final = 8 * 1024 * 1024

    def __init__(self, fd: int, offset: int) -> None:
        self._fd = fd
        self._offset = offset
        self._pending = bytearray()
        self._written = 0
        self._since_checkpoint = 0

    @property
    def written(self) -> int:
        return self._written

    async def write(self, chunk: bytes) -> bool:
        self._pending += chunk
        self._written += len(chunk)
        self._since_checkpoint += len(chunk)
        if len(self._pending) >= WRITE_BATCH:
            await self._drain()
        return self._since_checkpoint >= self.CHECKPOINT_BYTES

    async def _drain(self) -> None:
        if self._pending:
            data, self._pending = bytes(self._pending), bytearray()
            await asyncio.to_thread(self._write_all, data)

    def _write_all(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            done = os.write(self._fd, view)
            view = view[done:]

    async def flush(self, *, final: bool) -> tuple[int, tuple[S3Part, ...]]:
        await self._drain()
        await asyncio.to_thread(os.fsync, self._fd)
        self._since_checkpoint = 0
        return self._offset + self._written, ()

    async def close(self) -> None:
        os.close(self._fd)


class FilesystemArea:
    """Uploads as files in ``root`` (``data_dir/uploads``), 0o600 in a 0o700 directory."""

    kind: StoreKind = "filesystem"

    def __init__(self, root: Path) -> None:
        self._root = Path(root)

    @property
    def root(self) -> Path:
        return self._root

    def path_for(self, upload_id: uuid.UUID) -> Path:
        return self._root / f"{uuid.UUID(str(upload_id))}{PART_SUFFIX}"

    async def start(self, upload_id: uuid.UUID) -> str | None:
        await asyncio.to_thread(self._create, self.path_for(upload_id))
        return None

    def _create(self, path: Path) -> None:
        if not self._root.is_dir():
            self._root.mkdir(mode=0o700, parents=True, exist_ok=True)
            fsync_directory(self._root.parent)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
        fsync_directory(self._root)

    async def writer(self, upload: Upload) -> Writer:
        fd = await asyncio.to_thread(self._open_at, self.path_for(upload.id), upload.offset)
        return FilesystemWriter(fd, upload.offset)

    @staticmethod
    def _open_at(path: Path, offset: int) -> int:
        # Bytes past the stored offset belong to a request that never reached its checkpoint:
        # they are not part of the upload (the client sends them again from the offset).
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            os.ftruncate(fd, offset)
            os.lseek(fd, offset, os.SEEK_SET)
        except BaseException:
            os.close(fd)
            raise
        return fd

    @asynccontextmanager
    async def assemble(self, upload: Upload) -> AsyncIterator[Path]:
        # The file is already whole: every byte up to the offset was fsynced at a checkpoint.
        path = self.path_for(upload.id)
        size = await asyncio.to_thread(lambda: path.stat().st_size)
        if size < upload.length:
            raise RuntimeError("the upload's file is shorter than its recorded offset")
        if size > upload.length:
            await asyncio.to_thread(os.truncate, path, upload.length)
        yield path

    async def delete(self, upload: Upload) -> None:
        await asyncio.to_thread(self._remove, self.path_for(upload.id))

    def _remove(self, path: Path) -> None:
        try:
            path.unlink()
        except FileNotFoundError:
            return
        fsync_directory(path.parent)

    async def list_ids(self) -> list[uuid.UUID]:
        return [upload_id for upload_id, _ in await asyncio.to_thread(self._entries)]

    def _entries(self) -> list[tuple[uuid.UUID, float]]:
        try:
            entries = list(os.scandir(self._root))
        except FileNotFoundError:
            return []
        found: list[tuple[uuid.UUID, float]] = []
        for entry in entries:
            upload_id = _id_of_name(entry.name, PART_SUFFIX)
            if upload_id is None or not entry.is_file(follow_symlinks=False):
                continue
            with contextlib.suppress(FileNotFoundError):
                found.append((upload_id, entry.stat(follow_symlinks=False).st_mtime))
        return found

    async def sweep_orphans(self, older_than: timedelta, known: set[uuid.UUID]) -> int:
        cutoff = time.time() - older_than.total_seconds()
        removed = 0
        for upload_id, mtime in await asyncio.to_thread(self._entries):
            if upload_id in known or mtime >= cutoff:
                continue
            await asyncio.to_thread(self._remove, self.path_for(upload_id))
            removed += 1
        return removed


# --- S3 ---------------------------------------------------------------------------------------


class S3Writer:
    def __init__(self, area: S3Area, upload: Upload, tail: bytes) -> None:
        self._area = area
        self._upload = upload
        self._buffer = bytearray(tail)
        self._parts = list(upload.s3_parts)
        self._written = 0
        self._new_part = False

    @property
    def written(self) -> int:
        return self._written

    async def write(self, chunk: bytes) -> bool:
        self._buffer += chunk
        self._written += len(chunk)
        if len(self._buffer) >= PART_SIZE:
            await self._upload_part()
        new, self._new_part = self._new_part, False
        return new

    async def _upload_part(self) -> None:
        data, self._buffer = bytes(self._buffer), bytearray()
        number = len(self._parts) + 1
        etag = await self._area.upload_part(self._upload, number, data)
        self._parts.append(S3Part(number, etag, len(data)))
        self._new_part = True

    def _offset(self) -> int:
        return sum(part.size for part in self._parts) + len(self._buffer)

    async def flush(self, *, final: bool) -> tuple[int, tuple[S3Part, ...]]:
        if final:
            await self._area.put_tail(self._upload, bytes(self._buffer))
            return self._offset(), tuple(self._parts)
        # Only whole parts are durable in the middle of a PATCH.
        return sum(part.size for part in self._parts), tuple(self._parts)

    async def close(self) -> None:
        self._buffer = bytearray()


class S3Area:
    """Uploads as S3 multipart uploads in ``bucket`` under ``uploads/``, through boto3."""

    kind: StoreKind = "s3"

    def __init__(
        self,
        bucket: str,
        *,
        local_root: Path,
        region: str = "us-east-1",
        endpoint: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        prefix: str = S3_PREFIX,
    ) -> None:
        import boto3
        from botocore.config import Config

        self._bucket = bucket
        self._prefix = prefix
        self._local_root = Path(local_root)
        credentials: dict[str, Any] = {}
        if access_key_id is not None and secret_access_key is not None:
            credentials = {
                "aws_access_key_id": access_key_id,
                "aws_secret_access_key": secret_access_key,
            }
        self._client: Any = boto3.client(
            "s3",
            region_name=region,
            endpoint_url=endpoint,
            config=Config(connect_timeout=5, read_timeout=30, retries={"max_attempts": 3}),
            **credentials,
        )

    def object_name(self, upload_id: uuid.UUID) -> str:
        return f"{self._prefix}{uuid.UUID(str(upload_id))}"

    def tail_name(self, upload_id: uuid.UUID) -> str:
        return f"{self.object_name(upload_id)}.tail"

    async def start(self, upload_id: uuid.UUID) -> str | None:
        answer = await asyncio.to_thread(
            self._client.create_multipart_upload,
            Bucket=self._bucket,
            Key=self.object_name(upload_id),
            ContentType="application/octet-stream",
        )
        multipart_id: str = answer["UploadId"]
        return multipart_id

    async def upload_part(self, upload: Upload, number: int, data: bytes) -> str:
        answer = await asyncio.to_thread(
            self._client.upload_part,
            Bucket=self._bucket,
            Key=self.object_name(upload.id),
            UploadId=upload.s3_upload_id,
            PartNumber=number,
            Body=data,
        )
        etag: str = answer["ETag"]
        return etag

    async def put_tail(self, upload: Upload, data: bytes) -> None:
        await asyncio.to_thread(
            self._client.put_object, Bucket=self._bucket, Key=self.tail_name(upload.id), Body=data
        )

    async def _tail(self, upload: Upload) -> bytes:
        expected = upload.offset - upload.parts_size
        if expected == 0:
            return b""
        answer = await asyncio.to_thread(
            self._client.get_object, Bucket=self._bucket, Key=self.tail_name(upload.id)
        )
        data: bytes = await asyncio.to_thread(answer["Body"].read)
        if len(data) < expected:
            raise RuntimeError("the upload's tail object is shorter than its recorded offset")
        # Longer: a PATCH stored its tail but died before recording the offset.
        return data[:expected]

    async def writer(self, upload: Upload) -> Writer:
        return S3Writer(self, upload, await self._tail(upload))

    @asynccontextmanager
    async def assemble(self, upload: Upload) -> AsyncIterator[Path]:
        name = self.object_name(upload.id)
        # Completed by an earlier attempt whose processing failed (a 503): only fetched again.
        if not await self._has_object(name, upload.length):
            parts = list(upload.s3_parts)
            tail = await self._tail(upload)
            if tail or not parts:
                # The last part (any size): the tail, or the whole of a small upload.
                etag = await self.upload_part(upload, len(parts) + 1, tail)
                parts.append(S3Part(len(parts) + 1, etag, len(tail)))
            await asyncio.to_thread(
                self._client.complete_multipart_upload,
                Bucket=self._bucket,
                Key=name,
                UploadId=upload.s3_upload_id,
                MultipartUpload={"Parts": [{"PartNumber": p.n, "ETag": p.etag} for p in parts]},
            )
        await asyncio.to_thread(self._local_root.mkdir, mode=0o700, parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=self._local_root, suffix=ASSEMBLED_SUFFIX)
        path = Path(temporary)
        try:
            with os.fdopen(fd, "wb") as file:
                await asyncio.to_thread(self._client.download_fileobj, self._bucket, name, file)
            size = await asyncio.to_thread(lambda: path.stat().st_size)
            if size != upload.length:
                raise RuntimeError("the assembled upload does not have its recorded length")
            yield path
        finally:
            await asyncio.to_thread(path.unlink, missing_ok=True)

    async def _has_object(self, name: str, size: int) -> bool:
        try:
            answer = await asyncio.to_thread(
                self._client.head_object, Bucket=self._bucket, Key=name
            )
        except self._client.exceptions.ClientError:
            return False
        return bool(answer["ContentLength"] == size)

    async def delete(self, upload: Upload) -> None:
        name = self.object_name(upload.id)
        if upload.s3_upload_id is not None:
            # Completed (or aborted) already: nothing to abort.
            with contextlib.suppress(self._client.exceptions.NoSuchUpload):
                await asyncio.to_thread(
                    self._client.abort_multipart_upload,
                    Bucket=self._bucket,
                    Key=name,
                    UploadId=upload.s3_upload_id,
                )
        for key in (name, self.tail_name(upload.id)):
            await asyncio.to_thread(self._client.delete_object, Bucket=self._bucket, Key=key)

    def _sweep_local(self, cutoff: float) -> int:
        """Local copies of completed uploads left by a process that died while processing."""
        removed = 0
        for path in self._local_root.glob(f"*{ASSEMBLED_SUFFIX}"):
            with contextlib.suppress(FileNotFoundError):
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
        return removed

    async def _multipart_uploads(self) -> list[tuple[uuid.UUID, str, datetime]]:
        found: list[tuple[uuid.UUID, str, datetime]] = []
        paginator = self._client.get_paginator("list_multipart_uploads")
        pages = await asyncio.to_thread(
            lambda: list(paginator.paginate(Bucket=self._bucket, Prefix=self._prefix))
        )
        for page in pages:
            for item in page.get("Uploads", []):
                upload_id = _id_of_name(item["Key"][len(self._prefix) :] + PART_SUFFIX, PART_SUFFIX)
                if upload_id is not None:
                    found.append((upload_id, item["UploadId"], item["Initiated"]))
        return found

    async def list_ids(self) -> list[uuid.UUID]:
        return [upload_id for upload_id, _, _ in await self._multipart_uploads()]

    async def sweep_orphans(self, older_than: timedelta, known: set[uuid.UUID]) -> int:
        cutoff = datetime.now(UTC) - older_than
        removed = await asyncio.to_thread(self._sweep_local, cutoff.timestamp())
        for upload_id, multipart_id, initiated in await self._multipart_uploads():
            if upload_id in known or initiated >= cutoff:
                continue
            name = self.object_name(upload_id)
            with contextlib.suppress(self._client.exceptions.NoSuchUpload):
                await asyncio.to_thread(
                    self._client.abort_multipart_upload,
                    Bucket=self._bucket,
                    Key=name,
                    UploadId=multipart_id,
                )
            await asyncio.to_thread(
                self._client.delete_object, Bucket=self._bucket, Key=self.tail_name(upload_id)
            )
            removed += 1
        return removed


def open_upload_area(settings: Settings) -> TemporaryArea:
    """The temporary area beside the configured blob store."""
    local = settings.data_path / "uploads"
    if settings.blob_store == "filesystem":
        return FilesystemArea(local)
    return S3Area(
        configured_bucket(settings),
        local_root=local,
        region=settings.s3_region,
        endpoint=settings.s3_endpoint,
    )
