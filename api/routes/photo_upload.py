"""Reading a photo upload: a raw image body or a ``multipart/form-data`` ``file`` field.

The size limit is enforced from ``Content-Length`` before anything is read and again on every
chunk while streaming, so an oversized upload never sits in memory whole. The declared type only
decides how the body is framed; the image format itself is sniffed from the bytes later.
"""

from __future__ import annotations

from typing import Any

import multipart  # type: ignore[import-untyped]
from litestar import Request

from api.errors import InvalidInput
from storage.photos.formats import UndecodableImage, UnsupportedFormat

RAW_IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/webp", "image/heic", "image/heif"})
MULTIPART_TYPE = "multipart/form-data"
FILE_FIELD = "file"
# Room for the multipart boundaries and part headers around a file of the maximum size.
MULTIPART_OVERHEAD = 64 * 1024
# A photo upload needs one part; a few more (a caption a client adds) are ignored, not refused.
MAX_PARTS = 32


def too_large(limit: int) -> InvalidInput:
    return InvalidInput(
        "$", f"the photo is larger than {limit} bytes", status=413, code="payload_too_large"
    )


async def read_photo_upload(request: Request[Any, Any, Any], limit: int) -> bytes:
    media_type, options = multipart.parse_options_header(request.headers.get("content-type", ""))
    media_type = media_type.lower()
    if media_type in RAW_IMAGE_TYPES:
        data = await _read_raw(request, limit)
    elif media_type == MULTIPART_TYPE:
        data = await _read_multipart(request, limit, options.get("boundary", ""))
    else:
        shown = media_type or "none"
        raise UnsupportedFormat(
            f"Content-Type {shown} is not accepted: send image/jpeg, image/png, image/webp, "
            "image/heic or image/heif, or multipart/form-data with a `file` field"
        )
    if not data:
        raise UndecodableImage("the upload is empty")
    return data


def _check_declared_length(request: Request[Any, Any, Any], limit: int) -> None:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large(limit)


async def _read_raw(request: Request[Any, Any, Any], limit: int) -> bytes:
    _check_declared_length(request, limit)
    chunks: list[bytes] = []
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > limit:
            raise too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


async def _read_multipart(request: Request[Any, Any, Any], limit: int, boundary: str) -> bytes:
    if not boundary:
        raise InvalidInput(
            "Content-Type",
            "multipart/form-data needs a boundary",
            status=400,
            code="malformed_multipart",
        )
    _check_declared_length(request, limit + MULTIPART_OVERHEAD)
    file_chunks: list[bytes] = []
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
                        file_chunks.append(event)
    except multipart.ParserLimitReached as exc:
        raise too_large(limit) from exc
    except multipart.MultipartError as exc:
        raise InvalidInput(
            "$", f"the multipart body is malformed: {exc}", status=400, code="malformed_multipart"
        ) from exc
    if not found:
        raise InvalidInput(FILE_FIELD, "the multipart body has no `file` field")
    data = b"".join(file_chunks)
    if len(data) > limit:
        raise too_large(limit)
    return data
