"""Blob storage for sanitised photos and videos behind one small protocol.

Only ``SanitisedImage`` and ``SanitisedVideo`` can be put: an unsanitised byte cannot reach a
store by mistake. Keys are the sha256 of the stored bytes (content-addressed), so a put is
idempotent. A blob's name ends with its type's suffix (``.jpg``, ``.mp4``, ``.webm``): photos
stored before videos existed keep their names. Videos are written and read streamed, never
whole in memory.

Two stores: ``FilesystemBlobStore`` (a local directory) and ``S3BlobStore`` (AWS S3 or an
S3-compatible server, through obstore); ``open_blob_store`` picks the configured one. Keys are
validated everywhere (64 lowercase hex digits), so no key can name a path outside the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Protocol

import obstore

from schemas.settings import Settings
from storage.durable import fsync_directory
from storage.errors import NotFound
from storage.photos.sanitise import SanitisedImage
from storage.photos.video import SanitisedVideo
from storage.s3 import configured_bucket, open_s3_bucket

if TYPE_CHECKING:
    from obstore import GetOptions, GetResult

IMAGE_TYPE = "image/jpeg"


class BlobStore(Protocol):
    async def put(self, image: SanitisedImage) -> str:
        """Store ``image.data`` under ``image.sha256`` (durably) and return the key."""
        ...

    async def put_video(self, video: SanitisedVideo) -> str:
        """Store the file ``video.path`` (streamed, durably) under ``video.sha256``; return
        the key. The file itself is left where it is (the caller removes it)."""
        ...

    async def get(self, key: str, content_type: str | None = None) -> bytes:
        """The stored bytes (a photo: small); raises ``storage.errors.NotFound`` when there
        are none. ``content_type`` None: whichever type the key is stored as (a photo's
        name is tried first)."""
        ...

    async def stream(
        self,
        key: str,
        content_type: str | None = None,
        *,
        start: int = 0,
        end: int | None = None,
    ) -> AsyncIterator[bytes]:
        """The stored bytes ``start`` to ``end`` (exclusive; None: to the end) in chunks.
        The blob is opened before this returns, so a missing one raises ``NotFound`` here,
        not while iterating. ``content_type`` None: whichever type the key is stored as."""
        ...

    async def delete(self, key: str) -> None:
        """Remove the blob (whatever its type); a missing blob is not an error."""
        ...

    async def exists(self, key: str) -> bool:
        """Whether the key is stored, whatever its type."""
        ...

    def keys(self) -> AsyncIterator[str]:
        """Every stored key (for garbage collection), in no particular order."""
        ...

    async def sweep_temporary(self, older_than: timedelta) -> int:
        """Remove leftovers of writes that never finished, older than ``older_than``; return
        how many (0 for stores whose writes are atomic requests)."""
        ...

    async def close(self) -> None: ...


# --- keys -------------------------------------------------------------------------------------

_KEY = re.compile(r"[0-9a-f]{64}")
_FAN_OUT = re.compile(r"[0-9a-f]{2}")
SUFFIXES = {IMAGE_TYPE: ".jpg", "video/mp4": ".mp4", "video/webm": ".webm"}
_STREAM_CHUNK = 512 * 1024
_COPY_CHUNK = 1024 * 1024
# S3 multipart parts for videos: above S3's 5 MiB minimum, few enough parts for 10 GB.
_MULTIPART_CHUNK = 16 * 1024 * 1024


def _suffix(content_type: str) -> str:
    try:
        return SUFFIXES[content_type]
    except KeyError:
        raise ValueError(f"no blobs of type {content_type!r}") from None


def check_key(key: str) -> str:
    """``key`` itself if it is 64 lowercase hex digits (a sha256); ValueError otherwise.

    Every key is checked before it becomes part of a path or an object name, so no key can
    escape the store (``../``, separators, NUL, uppercase twins of a real key...)."""
    if not isinstance(key, str) or _KEY.fullmatch(key) is None:
        raise ValueError("a blob key must be 64 lowercase hexadecimal digits")
    return key


def _verified_key(image: SanitisedImage) -> str:
    """The image's key, after checking that it really is the sha256 of the bytes (defence in
    depth: a key that lies about its content would break content addressing)."""
    key = check_key(image.sha256)
    if hashlib.sha256(image.data).hexdigest() != key:
        raise ValueError("the image's sha256 does not match its bytes")
    return key


def _key_of_name(name: str) -> str | None:
    """The key in a blob's file name ``<key>.jpg`` (or ``.mp4``, ``.webm``); None for any
    other name."""
    key, dot, suffix = name.partition(".")
    if not dot or f".{suffix}" not in SUFFIXES.values():
        return None
    return key if _KEY.fullmatch(key) else None


def _check_range(start: int, end: int | None) -> None:
    if start < 0 or (end is not None and end < start):
        raise ValueError("a blob range needs 0 <= start <= end")


def _copy_hashing(src: Path, dst: BinaryIO | None) -> tuple[str, int]:
    """Read ``src`` chunk by chunk (copying it into ``dst`` if given); the sha256 and length
    of what was read."""
    digest = hashlib.sha256()
    size = 0
    with src.open("rb") as file:
        while chunk := file.read(_COPY_CHUNK):
            digest.update(chunk)
            if dst is not None:
                dst.write(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _check_video(video: SanitisedVideo) -> str:
    """The video's key, after checking its type names a video blob."""
    if video.content_type == IMAGE_TYPE:
        raise ValueError("a video blob must have a video type")
    _suffix(video.content_type)
    return check_key(video.sha256)


def _check_copied(video: SanitisedVideo, copied: tuple[str, int]) -> None:
    """Defence in depth, as ``_verified_key``: the bytes stored are the ones described."""
    if copied != (video.sha256, video.size):
        raise ValueError("the video's sha256 or size does not match its file")


# --- filesystem -------------------------------------------------------------------------------


def _make_directories(path: Path, *, stop: Path) -> None:
    """``mkdir -p path`` (mode 0o700), fsyncing the parent of every directory it creates so
    the new entries survive a crash; ``stop`` (an ancestor of ``path``) must exist already."""
    if path == stop or path.is_dir():
        return
    _make_directories(path.parent, stop=stop)
    try:
        path.mkdir(mode=0o700)
    except FileExistsError:
        return  # a concurrent writer made it (and fsynced its parent)
    fsync_directory(path.parent)


class FilesystemBlobStore:
    """Content-addressed blobs on a local filesystem: key K lives at
    ``root/K[:2]/K[2:4]/K.jpg`` (two levels of fan-out keep directories small).

    A put writes a private (0o600) temporary file in ``root/tmp``, fsyncs it, renames it into
    place and fsyncs the directory, so after a crash a key holds either nothing or the whole
    blob; ``sweep_temporary`` removes what crashed writers left in ``root/tmp``. All blocking
    I/O runs in a worker thread."""

    def __init__(self, root: Path) -> None:
        self._root = Path(root)
        self._tmp = self._root / "tmp"

    @property
    def root(self) -> Path:
        return self._root

    def path_for(self, key: str, content_type: str = IMAGE_TYPE) -> Path:
        """Where the blob ``key`` of ``content_type`` lives (whether or not it exists)."""
        check_key(key)
        return self._root / key[:2] / key[2:4] / f"{key}{_suffix(content_type)}"

    def _paths(self, key: str) -> list[Path]:
        return [self.path_for(key, content_type) for content_type in SUFFIXES]

    async def put(self, image: SanitisedImage) -> str:
        return await asyncio.to_thread(self._put, image)

    def _put(self, image: SanitisedImage) -> str:
        key = _verified_key(image)

        def write(file: BinaryIO) -> None:
            file.write(image.data)

        self._write(self.path_for(key), write)
        return key

    async def put_video(self, video: SanitisedVideo) -> str:
        return await asyncio.to_thread(self._put_video, video)

    def _put_video(self, video: SanitisedVideo) -> str:
        key = _check_video(video)

        def write(file: BinaryIO) -> None:
            _check_copied(video, _copy_hashing(video.path, file))

        self._write(self.path_for(key, video.content_type), write)
        return key

    def _write(self, path: Path, write: Callable[[BinaryIO], None]) -> None:
        """Write a private temporary file with ``write``, fsync it, rename it to ``path``
        and fsync the directory; nothing when ``path`` exists (content addressing)."""
        if path.is_file():
            return  # content-addressed: the same key holds the same bytes
        self._root.mkdir(mode=0o700, parents=True, exist_ok=True)
        _make_directories(self._tmp, stop=self._root)
        _make_directories(path.parent, stop=self._root)
        fd, temporary = tempfile.mkstemp(dir=self._tmp, prefix="put-", suffix=".tmp")
        try:
            os.fchmod(fd, 0o600)  # mkstemp's default, stated: never widened by anything
            with os.fdopen(fd, "wb") as file:
                write(file)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise
        fsync_directory(path.parent)

    async def get(self, key: str, content_type: str | None = None) -> bytes:
        paths = self._paths(key) if content_type is None else [self.path_for(key, content_type)]
        file = await asyncio.to_thread(self._open_first, paths)
        if file is None:
            raise NotFound(f"no stored photo {key}")
        with file:
            return await asyncio.to_thread(file.read)

    async def stream(
        self,
        key: str,
        content_type: str | None = None,
        *,
        start: int = 0,
        end: int | None = None,
    ) -> AsyncIterator[bytes]:
        _check_range(start, end)
        paths = self._paths(key) if content_type is None else [self.path_for(key, content_type)]
        file = await asyncio.to_thread(self._open_first, paths)
        if file is None:
            raise NotFound(f"no stored photo {key}")
        return self._chunks(file, start, end)

    @staticmethod
    def _open_first(paths: list[Path]) -> BinaryIO | None:
        for path in paths:
            try:
                return path.open("rb")
            except FileNotFoundError:
                continue
        return None

    @staticmethod
    async def _chunks(file: BinaryIO, start: int, end: int | None) -> AsyncIterator[bytes]:
        try:
            if start:
                await asyncio.to_thread(file.seek, start)
            position = start
            while end is None or position < end:
                wanted = _STREAM_CHUNK if end is None else min(_STREAM_CHUNK, end - position)
                chunk = await asyncio.to_thread(file.read, wanted)
                if not chunk:
                    return
                position += len(chunk)
                yield chunk
        finally:
            file.close()

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._delete, self._paths(key))

    @staticmethod
    def _delete(paths: list[Path]) -> None:
        for path in paths:
            try:
                path.unlink()
            except FileNotFoundError:
                continue
            fsync_directory(path.parent)  # a withdrawn photo must stay deleted after a crash

    async def exists(self, key: str) -> bool:
        paths = self._paths(key)
        return await asyncio.to_thread(lambda: any(path.is_file() for path in paths))

    async def keys(self) -> AsyncIterator[str]:
        # One worker-thread call per first-level directory: at most 256 x 256 files apart.
        for top in await asyncio.to_thread(self._fan_out, self._root):
            for key in await asyncio.to_thread(self._keys_under, top):
                yield key

    @staticmethod
    def _fan_out(directory: Path) -> list[Path]:
        """The two-hex-digit subdirectories of ``directory`` (so never ``tmp``)."""
        try:
            entries = list(os.scandir(directory))
        except FileNotFoundError:
            return []
        return sorted(
            Path(entry.path)
            for entry in entries
            if _FAN_OUT.fullmatch(entry.name) and entry.is_dir(follow_symlinks=False)
        )

    @classmethod
    def _keys_under(cls, top: Path) -> list[str]:
        keys: set[str] = set()
        for middle in cls._fan_out(top):
            try:
                entries = list(os.scandir(middle))
            except FileNotFoundError:
                continue  # removed meanwhile
            for entry in entries:
                key = _key_of_name(entry.name)
                # Only a blob where ``path_for`` would look for it is a stored key.
                if (
                    key is not None
                    and key[:2] == top.name
                    and key[2:4] == middle.name
                    and entry.is_file(follow_symlinks=False)
                ):
                    keys.add(key)
        return sorted(keys)

    async def sweep_temporary(self, older_than: timedelta) -> int:
        """Remove temporary files older than ``older_than`` (left by writers that crashed
        between creating and renaming them); returns how many were removed. Pick an age far
        above the time a put takes, or an upload in progress loses its file and fails."""
        if older_than < timedelta(0):
            raise ValueError("older_than must not be negative")
        return await asyncio.to_thread(self._sweep, older_than.total_seconds())

    def _sweep(self, age_seconds: float) -> int:
        cutoff = time.time() - age_seconds
        try:
            entries = list(os.scandir(self._tmp))
        except FileNotFoundError:
            return 0
        removed = 0
        for entry in entries:
            try:
                if not entry.is_file(follow_symlinks=False):
                    continue
                if entry.stat(follow_symlinks=False).st_mtime >= cutoff:
                    continue
                os.unlink(entry.path)
            except FileNotFoundError:
                continue  # renamed into place or removed meanwhile
            removed += 1
        if removed:
            fsync_directory(self._tmp)
        return removed

    async def close(self) -> None:
        """Nothing to release: every operation opens and closes its own files."""


# --- S3 ---------------------------------------------------------------------------------------


class S3BlobStore:
    """Blobs in an S3 bucket (AWS or an S3-compatible server), through obstore.

    Object name: ``prefix + K[:2] + "/" + K + suffix`` (``.jpg``, ``.mp4``, ``.webm``), with
    its content type. A photo's put is one PUT request, which S3 applies atomically; a video's
    is a multipart upload from the file, which S3 makes visible only when it completes. Either
    way nothing partial is ever visible (an aborted multipart upload leaves hidden parts: give
    the bucket a lifecycle rule that aborts incomplete multipart uploads after a day).

    Credentials: ``access_key_id``/``secret_access_key`` when given; otherwise obstore's own
    discovery (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``/``AWS_SESSION_TOKEN``, web
    identity, container or instance roles). obstore also reads other ``AWS_*`` variables (such
    as ``AWS_ENDPOINT``); the arguments given here take precedence over them."""

    def __init__(
        self,
        bucket: str,
        *,
        prefix: str = "photos/",
        region: str = "us-east-1",
        endpoint: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
    ) -> None:
        if not bucket:
            raise ValueError("an S3 bucket name is required")
        if (access_key_id is None) != (secret_access_key is None):
            raise ValueError("give both access_key_id and secret_access_key, or neither")
        stripped = prefix.strip("/")
        if ".." in stripped.split("/") or "//" in stripped:
            raise ValueError(f"invalid S3 prefix {prefix!r}")
        self._bucket = bucket
        self._prefix = f"{stripped}/" if stripped else ""
        # Fail within seconds rather than obstore's default of ten retries over three minutes:
        # an upload waiting on storage holds a worker slot and the reporter's phone.
        self._store = open_s3_bucket(
            bucket,
            region=region,
            endpoint=endpoint,
            access_key_id=access_key_id,
            secret_access_key=secret_access_key,
            timeout="30s",
            retry_timeout=timedelta(seconds=20),
        )

    @property
    def bucket(self) -> str:
        return self._bucket

    @property
    def prefix(self) -> str:
        """The normalised prefix: empty, or ending with exactly one ``/``."""
        return self._prefix

    def object_name(self, key: str, content_type: str = IMAGE_TYPE) -> str:
        """The name of the object that holds ``key`` of ``content_type``."""
        check_key(key)
        return f"{self._prefix}{key[:2]}/{key}{_suffix(content_type)}"

    async def put(self, image: SanitisedImage) -> str:
        key = await asyncio.to_thread(_verified_key, image)
        if await self._has(self.object_name(key)):
            return key  # content-addressed: the same key holds the same bytes
        await obstore.put_async(
            self._store,
            self.object_name(key),
            image.data,
            attributes={"Content-Type": IMAGE_TYPE},
            use_multipart=False,
        )
        return key

    async def put_video(self, video: SanitisedVideo) -> str:
        key = _check_video(video)
        name = self.object_name(key, video.content_type)
        if await self._has(name):
            return key
        # Hashed first (the file is the caller's own, just written), then sent in parts
        # straight from the file: never whole in memory.
        _check_copied(video, await asyncio.to_thread(_copy_hashing, video.path, None))
        await obstore.put_async(
            self._store,
            name,
            video.path,
            attributes={"Content-Type": video.content_type},
            use_multipart=video.size > _MULTIPART_CHUNK,
            chunk_size=_MULTIPART_CHUNK,
            max_concurrency=4,
        )
        return key

    async def get(self, key: str, content_type: str | None = None) -> bytes:
        types = list(SUFFIXES) if content_type is None else [content_type]
        for name in [self.object_name(key, each) for each in types]:
            try:
                result = await obstore.get_async(self._store, name)
                return bytes(await result.bytes_async())
            except FileNotFoundError:
                # obstore maps any 404 here, a missing bucket (NoSuchBucket) included.
                continue
        raise NotFound(f"no stored photo {key}")

    async def stream(
        self,
        key: str,
        content_type: str | None = None,
        *,
        start: int = 0,
        end: int | None = None,
    ) -> AsyncIterator[bytes]:
        _check_range(start, end)
        types = list(SUFFIXES) if content_type is None else [content_type]
        names = [self.object_name(key, each) for each in types]
        if start == end:
            if not any([await self._has(name) for name in names]):
                raise NotFound(f"no stored photo {key}")
            return _nothing()
        options: GetOptions = {}
        if start or end is not None:
            options["range"] = {"offset": start} if end is None else (start, end)
        for name in names:
            try:
                result = await obstore.get_async(self._store, name, options=options)
            except FileNotFoundError:
                continue
            return _result_chunks(result)
        raise NotFound(f"no stored photo {key}")

    async def delete(self, key: str) -> None:
        # S3 answers a DELETE of a missing object with success: nothing to ignore.
        for content_type in SUFFIXES:
            await obstore.delete_async(self._store, self.object_name(key, content_type))

    async def exists(self, key: str) -> bool:
        for content_type in SUFFIXES:
            if await self._has(self.object_name(key, content_type)):
                return True
        return False

    async def _has(self, name: str) -> bool:
        try:
            await obstore.head_async(self._store, name)
        except FileNotFoundError:
            return False
        return True

    async def keys(self) -> AsyncIterator[str]:
        stream = obstore.list(self._store, self._prefix or None, chunk_size=1000)
        async for chunk in stream:
            for meta in chunk:
                key = self._key_of_object(meta["path"])
                if key is not None:
                    yield key

    def _key_of_object(self, name: str) -> str | None:
        if not name.startswith(self._prefix):
            return None
        fan_out, _, file_name = name[len(self._prefix) :].partition("/")
        key = _key_of_name(file_name)
        return key if key is not None and key[:2] == fan_out else None

    async def sweep_temporary(self, older_than: timedelta) -> int:
        """Nothing to sweep: a photo's put is a single request that S3 applies atomically, and
        an incomplete multipart upload of a video is invisible (a bucket lifecycle rule aborts
        it), so a crash leaves no partial object. Always 0."""
        if older_than < timedelta(0):
            raise ValueError("older_than must not be negative")
        return 0

    async def close(self) -> None:
        """Nothing to release: obstore closes its connection pool with the store object."""


async def _nothing() -> AsyncIterator[bytes]:
    return
    yield b""  # pragma: no cover - makes this an async generator


async def _result_chunks(result: GetResult) -> AsyncIterator[bytes]:
    async for chunk in result.stream(min_chunk_size=_STREAM_CHUNK):
        yield bytes(chunk)


def open_blob_store(settings: Settings) -> BlobStore:
    """The configured store: files under ``data_dir/photos``, or the S3 bucket.

    Annotated with both classes rather than ``BlobStore`` so callers (``plainsight gc``) can
    also reach ``sweep_temporary``; both satisfy ``BlobStore``."""
    if settings.blob_store == "filesystem":
        return FilesystemBlobStore(settings.data_path / "photos")
    return S3BlobStore(
        configured_bucket(settings),
        prefix=settings.s3_prefix,
        region=settings.s3_region,
        endpoint=settings.s3_endpoint,
    )
