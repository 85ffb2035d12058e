"""Reading a single-request upload: a raw image or video body, or a ``multipart/form-data``
``file`` field.

The size limit is enforced from ``Content-Length`` before anything is read and again on every
chunk while streaming, so an oversized upload never sits in memory whole; a larger file belongs
in a resumable upload (``/v1/uploads``), which the 413 says. The declared type only decides how
the body is framed: what the bytes are is sniffed from them. A photo is kept in memory; bytes
that start like a video container are spooled to a private file under the data directory
instead (the caller removes it), so a video never sits in memory whole.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any, BinaryIO

import multipart  # type: ignore[import-untyped]
from litestar import Request

from api.errors import InvalidInput
from api.media_ingest import UploadedOriginal
from storage.photos.formats import UndecodableImage, UnsupportedFormat, is_video

RAW_IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/webp", "image/heic", "image/heif"})
RAW_VIDEO_TYPES = frozenset({"video/mp4", "video/quicktime", "video/webm"})
RAW_TYPES = RAW_IMAGE_TYPES | RAW_VIDEO_TYPES
RESUMABLE_UPLOADS = "/v1/uploads"
# Enough of the start of a file to tell a video container (ftyp box, EBML magic) from a photo.
SNIFF_BYTES = 64
# Spooled writes are batched into blocks this large, each written in a worker thread.
SPOOL_BLOCK = 1024 * 1024
MULTIPART_TYPE = "multipart/form-data"
FILE_FIELD = "file"
# Room for the multipart boundaries and part headers around a file of the maximum size.
MULTIPART_OVERHEAD = 64 * 1024
# A photo upload needs one part; a few more (a caption a client adds) are ignored, not refused.
MAX_PARTS = 32


def too_large(limit: int) -> InvalidInput:
    return InvalidInput(
        "$",
        f"the upload is larger than {limit} bytes, the limit of a single request: send a "
        f"larger file (a video) as a resumable upload at {RESUMABLE_UPLOADS}",
        status=413,
        code="payload_too_large",
    )


class _Sink:
    """Where the body's bytes go: memory, until its first bytes show a video container; then
    a private file in ``spool_dir``, written in blocks from a worker thread."""

    def __init__(self, spool_dir: Path) -> None:
        self._spool_dir = spool_dir
        self._chunks: list[bytes] = []
        self._pending = 0
        self._decided = False
        self._file: BinaryIO | None = None
        self.path: Path | None = None
        self.size = 0

    async def write(self, chunk: bytes) -> None:
        if not chunk:
            return
        self._chunks.append(chunk)
        self._pending += len(chunk)
        self.size += len(chunk)
        if not self._decided and self.size >= SNIFF_BYTES:
            await self._decide()
        if self._file is not None and self._pending >= SPOOL_BLOCK:
            await self._flush()

    async def _decide(self) -> None:
        self._decided = True
        if is_video(b"".join(self._chunks)[:SNIFF_BYTES]):
            self._file, self.path = await asyncio.to_thread(self._open)

    def _open(self) -> tuple[BinaryIO, Path]:
        self._spool_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=self._spool_dir, prefix="upload-", suffix=".part")
        os.fchmod(fd, 0o600)
        return os.fdopen(fd, "wb"), Path(name)

    async def _flush(self) -> None:
        if self._file is None or not self._chunks:
            return
        block = b"".join(self._chunks)
        self._chunks.clear()
        self._pending = 0
        await asyncio.to_thread(self._file.write, block)

    async def finish(self) -> UploadedOriginal:
        if not self._decided:
            await self._decide()
        if self._file is None:
            return UploadedOriginal(data=b"".join(self._chunks))
        await self._flush()
        await asyncio.to_thread(self._file.close)
        return UploadedOriginal(path=self.path)

    def discard(self) -> None:
        """Remove the spooled file, if any (on a refusal or failure)."""
        self._chunks.clear()
        if self._file is not None:
            self._file.close()
        if self.path is not None:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()


async def read_upload(
    request: Request[Any, Any, Any], limit: int, spool_dir: Path
) -> UploadedOriginal:
    """The uploaded file: in memory (a photo) or in a new file under ``spool_dir`` (a video),
    which the caller must remove (``discard_upload``)."""
    media_type, options = multipart.parse_options_header(request.headers.get("content-type", ""))
    media_type = media_type.lower()
    sink = _Sink(spool_dir)
    try:
        if media_type in RAW_TYPES:
            await _read_raw(request, limit, sink)
        elif media_type == MULTIPART_TYPE:
            await _read_multipart(request, limit, options.get("boundary", ""), sink)
        else:
            shown = media_type or "none"
            raise UnsupportedFormat(
                f"Content-Type {shown} is not accepted: send image/jpeg, image/png, image/webp, "
                "image/heic, image/heif, video/mp4, video/quicktime or video/webm, or "
                "multipart/form-data with a `file` field"
            )
        if sink.size == 0:
            raise UndecodableImage("the upload is empty")
        return await sink.finish()
    except BaseException:
        sink.discard()  # not in a thread: this also runs when the request was cancelled
        raise


def discard_upload(original: UploadedOriginal) -> None:
    """Remove the spooled file of ``read_upload``, if it made one."""
    if original.path is not None:
        with contextlib.suppress(FileNotFoundError):
            original.path.unlink()


def _check_declared_length(request: Request[Any, Any, Any], limit: int) -> None:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large(limit)


async def _read_raw(request: Request[Any, Any, Any], limit: int, sink: _Sink) -> None:
    _check_declared_length(request, limit)
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > limit:
            raise too_large(limit)
        await sink.write(chunk)


async def _read_multipart(
    request: Request[Any, Any, Any], limit: int, boundary: str, sink: _Sink
) -> None:
    if not boundary:
        raise InvalidInput(
            "Content-Type",
            "multipart/form-data needs a boundary",
            status=400,
            code="malformed_multipart",
        )
    _check_declared_length(request, limit + MULTIPART_OVERHEAD)
    found = False
    in_file = False
    received = 0
    try:
        parser = multipart.PushMultipartParser(boundary, max_segment_size=limit + 1, strict=True)
        parts = 0
        with parser:
            async for chunk in request.stream():
                received += len(chunk)
                if received > limit + MULTIPART_OVERHEAD:
                    raise too_large(limit)
                for event in parser.parse(chunk):
                    if isinstance(event, multipart.MultipartSegment):
                        parts += 1
                        if parts > MAX_PARTS:
                            raise InvalidInput(
                                "$",
                                f"more than {MAX_PARTS} form fields",
                                status=400,
                                code="malformed_multipart",
                            )
                        in_file = event.name == FILE_FIELD and not found
                        found = found or in_file
                    elif event is None:
                        in_file = False
                    elif in_file:
                        await sink.write(event)
    except multipart.ParserLimitReached as exc:
        raise too_large(limit) from exc
    except multipart.MultipartError as exc:
        raise InvalidInput(
            "$", f"the multipart body is malformed: {exc}", status=400, code="malformed_multipart"
        ) from exc
    if not found:
        raise InvalidInput(FILE_FIELD, "the multipart body has no `file` field")
    if sink.size > limit:
        raise too_large(limit)
