"""Writing and reading the backup archive: a tar stream, age-encrypted when recipients are
given, never held in memory. Encryption and decryption run in a thread on the other end of a
pipe (pyrage reads from one file object and writes to another), so a photo collection of any
size streams through once.

The writer never overwrites: it writes a private temporary file beside the output, fsyncs it
and links it to the output name (``link`` fails if the name exists), so the archive appears
whole or not at all. The reader checks each member's name and extracts it into a staging
directory while hashing it; nothing is trusted before the manifest has been checked."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import tarfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Final

import pyrage
from pyrage import x25519

from storage.backup.manifest import (
    DATA_PREFIX,
    DUMP_NAME,
    MANIFEST_NAME,
    MAX_MANIFEST_BYTES,
    S3_OBJECTS_NAME,
    Member,
)
from storage.durable import fsync_directory

AGE_MAGIC: Final = b"age-encryption.org/v1\n"
CHUNK: Final = 1024 * 1024
TOP_FILES: Final = (MANIFEST_NAME, DUMP_NAME, S3_OBJECTS_NAME)
DATA_DIRECTORIES: Final = ("keys", "audit-checkpoints", "photos", "sealed")
"""The parts of the data directory an archive may hold (never postgres, spool, uploads)."""

Progress = Callable[[int], object]


class ArchiveError(Exception):
    """The archive cannot be written or read: one line for the operator."""


def check_name(name: str) -> None:
    """Refuse a member name outside the archive's layout (absolute, ``..``, unknown parts)."""
    parts = name.split("/")
    bad = (
        not name
        or name.startswith("/")
        or "\\" in name
        or "\x00" in name
        or any(part in ("", ".", "..") for part in parts)
    )
    if bad:
        raise ArchiveError(f"the archive holds a member with an unsafe name: {name!r}")
    if len(parts) == 1 and name in TOP_FILES:
        return
    if len(parts) >= 3 and f"{parts[0]}/" == DATA_PREFIX and parts[1] in DATA_DIRECTORIES:
        return
    raise ArchiveError(f"the archive holds {name}, which is no part of a Plainsight backup")


class _Reading:
    """A binary reader that hashes, counts and reports what passes through it."""

    def __init__(self, source: IO[bytes], progress: Progress) -> None:
        self._source = source
        self._progress = progress
        self.digest = hashlib.sha256()
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        data = self._source.read(size)
        self.digest.update(data)
        self.count += len(data)
        self._progress(len(data))
        return data


class ArchiveWriter:
    """``with ArchiveWriter(out, recipients, progress) as archive``: add members, then
    ``finish(manifest_bytes)``. Leaving the block without finishing removes every trace."""

    def __init__(self, out: Path, recipients: list[x25519.Recipient], progress: Progress) -> None:
        self.out = out
        self.members: list[Member] = []
        self._recipients = recipients
        self._progress = progress
        self._temporary = out.with_name(f".{out.name}.{os.getpid()}.partial")
        self._file: IO[bytes] | None = None
        self._sink: IO[bytes] | None = None
        self._tar: tarfile.TarFile | None = None
        self._thread: threading.Thread | None = None
        self._failure: BaseException | None = None
        self._finished = False

    def __enter__(self) -> ArchiveWriter:
        if self.out.exists():
            raise ArchiveError(f"{self.out} exists; a backup never overwrites a file")
        try:
            fd = os.open(self._temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as exc:
            raise ArchiveError(f"cannot write beside {self.out}: {exc.strerror}") from None
        self._file = os.fdopen(fd, "wb")
        if self._recipients:
            read_end, write_end = os.pipe()
            reader = os.fdopen(read_end, "rb")
            self._sink = os.fdopen(write_end, "wb")
            self._thread = threading.Thread(
                target=self._encrypt, args=(reader, self._file), daemon=True
            )
            self._thread.start()
        else:
            self._sink = self._file
        self._tar = tarfile.open(fileobj=self._sink, mode="w|", format=tarfile.PAX_FORMAT)
        return self

    def _encrypt(self, reader: IO[bytes], out: IO[bytes]) -> None:
        try:
            with reader:
                pyrage.encrypt_io(reader, out, self._recipients)  # type: ignore[arg-type]
        except BaseException as exc:  # reported by finish(); the writer sees a broken pipe
            self._failure = exc

    def add_file(self, name: str, path: Path, mode: int | None = None) -> None:
        """``mode``: the permission bits to record (default: the file's own)."""
        check_name(name)
        assert self._tar is not None
        with path.open("rb") as source:
            status = os.fstat(source.fileno())
            info = tarfile.TarInfo(name)
            info.size = status.st_size
            info.mode = status.st_mode & 0o777 if mode is None else mode
            info.mtime = int(status.st_mtime)
            reading = _Reading(source, self._progress)
            try:
                self._tar.addfile(info, reading)
            except OSError as exc:
                raise ArchiveError(f"{path} changed while it was archived: {exc}") from None
        self.members.append(Member(name, info.size, reading.digest.hexdigest(), info.mode))

    def add_bytes(self, name: str, data: bytes, mode: int = 0o600) -> None:
        check_name(name)
        self._add_bytes(name, data, mode)
        self._progress(len(data))
        self.members.append(Member(name, len(data), hashlib.sha256(data).hexdigest(), mode))

    def _add_bytes(self, name: str, data: bytes, mode: int) -> None:
        assert self._tar is not None
        info = tarfile.TarInfo(name)
        info.size = len(data)
        info.mode = mode
        info.mtime = int(time.time())
        self._tar.addfile(info, io.BytesIO(data))

    def finish(self, manifest: bytes) -> None:
        """Add the manifest, end the stream, make the file durable and give it its name."""
        assert self._tar is not None
        assert self._sink is not None
        assert self._file is not None
        self._add_bytes(MANIFEST_NAME, manifest, 0o600)
        self._tar.close()
        if self._thread is not None:
            self._sink.close()
            self._thread.join()
            if self._failure is not None:
                raise ArchiveError(f"encryption failed: {self._failure}")
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        try:
            os.link(self._temporary, self.out)
        except FileExistsError:
            raise ArchiveError(f"{self.out} exists; a backup never overwrites a file") from None
        self._temporary.unlink()
        fsync_directory(self.out.parent)
        self._finished = True

    def __exit__(self, *exc_info: object) -> None:
        if self._finished:
            return
        # Unwind: end the encryption thread (EOF on its pipe), close, remove the partial file.
        for stream in (self._sink, self._file):
            if stream is not None:
                with contextlib.suppress(OSError, ValueError):
                    stream.close()
        if self._thread is not None:
            self._thread.join()
        self._temporary.unlink(missing_ok=True)


def is_encrypted(path: Path) -> bool:
    with path.open("rb") as file:
        return file.read(len(AGE_MAGIC)) == AGE_MAGIC


def read_identities(path: Path) -> list[x25519.Identity]:
    """The age X25519 identities in an identity file (as ``age-keygen`` writes it)."""
    identities = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if line.upper().startswith("AGE-SECRET-KEY-1"):
            try:
                identities.append(x25519.Identity.from_str(line))
            except pyrage.IdentityError:
                raise ValueError(f"{path} holds a malformed age secret key") from None
    if not identities:
        raise ValueError(f"{path} holds no age identity (AGE-SECRET-KEY-1..., from age-keygen)")
    return identities


class _Counting:
    def __init__(self, source: IO[bytes], progress: Progress) -> None:
        self._source = source
        self._progress = progress

    def read(self, size: int = -1) -> bytes:
        data = self._source.read(size)
        self._progress(len(data))
        return data

    def readinto(self, buffer: bytearray | memoryview) -> int:
        count = self._source.readinto(buffer)  # type: ignore[attr-defined]
        self._progress(count or 0)
        return int(count or 0)

    def readable(self) -> bool:
        return True


def read_archive(
    path: Path, staging: Path, identities: list[x25519.Identity], progress: Progress
) -> tuple[bytes, dict[str, Member]]:
    """Extract every member but the manifest into ``staging`` (files 0600, directories 0700)
    and return the manifest's bytes and what was found (size, sha256, mode of each member).
    A damaged, truncated or undecryptable archive raises ArchiveError."""
    encrypted = is_encrypted(path)
    if encrypted and not identities:
        raise ArchiveError("the archive is encrypted: give its age identity with --identity")
    failure: list[BaseException] = []
    with path.open("rb") as raw:
        source: IO[bytes] = _Counting(raw, progress)  # type: ignore[assignment]
        thread = None
        if encrypted:
            read_end, write_end = os.pipe()
            reader = os.fdopen(read_end, "rb")
            writer = os.fdopen(write_end, "wb")

            def decrypt() -> None:
                try:
                    with writer:
                        pyrage.decrypt_io(source, writer, identities)  # type: ignore[arg-type]
                except BaseException as exc:
                    failure.append(exc)

            thread = threading.Thread(target=decrypt, daemon=True)
            thread.start()
            stream: IO[bytes] = reader
        else:
            stream = source
        try:
            manifest, found = _extract(stream, staging)
        except (tarfile.TarError, OSError, EOFError, ArchiveError) as exc:
            problem: BaseException | None = exc
        else:
            problem = None
        finally:
            if thread is not None:
                with contextlib.suppress(OSError):
                    while stream.read(CHUNK):  # what follows the tar's end (padding)
                        pass
                stream.close()
                thread.join()
    if failure:
        raise ArchiveError(
            f"cannot decrypt the archive ({failure[0]}): the wrong identity, or a damaged "
            "or truncated archive"
        )
    if isinstance(problem, ArchiveError):
        raise problem
    if problem is not None:
        raise ArchiveError(f"the archive is damaged or truncated ({problem})")
    return manifest, found


def _extract(stream: IO[bytes], staging: Path) -> tuple[bytes, dict[str, Member]]:
    found: dict[str, Member] = {}
    manifest: bytes | None = None
    with tarfile.open(fileobj=stream, mode="r|") as tar:
        for info in tar:
            name = info.name
            if name in found or (name == MANIFEST_NAME and manifest is not None):
                raise ArchiveError(f"the archive holds {name} twice")
            if info.isdir():
                check_name(f"{name}/x" if name.count("/") == 1 else name)
                continue  # directories are made as needed, 0700
            if not info.isreg():
                raise ArchiveError(f"the archive member {name} is not a regular file")
            check_name(name)
            data = tar.extractfile(info)
            assert data is not None
            if name == MANIFEST_NAME:
                if info.size > MAX_MANIFEST_BYTES:
                    raise ArchiveError("the archive's manifest is implausibly large")
                manifest = data.read()
                continue
            if manifest is not None:
                raise ArchiveError(f"the archive holds {name} after its manifest")
            target = staging / name
            target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            digest = hashlib.sha256()
            size = 0
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as out:
                while chunk := data.read(CHUNK):
                    digest.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
            found[name] = Member(name, size, digest.hexdigest(), info.mode & 0o777)
    if manifest is None:
        raise ArchiveError("the archive has no manifest: it is truncated or not a backup")
    return manifest, found
