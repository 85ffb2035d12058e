"""Photos: upload to one's own report, read, and near-duplicate hints for moderators."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import asyncpg
from litestar import Request, Response, get, post
from litestar.datastructures import State
from litestar.openapi import ResponseSpec
from litestar.params import FromPath, QueryParameter
from litestar.response import Stream
from litestar.response.base import ASGIResponse

from api.dependencies import Transaction
from api.media_ingest import ingest_upload, spool_directory
from api.middleware.auth import ROLES_OPT, STAFF
from api.openapi import BINARY_SCHEMA, REQUEST_CONTENT_OPT, RESPONSE_CONTENT_OPT
from api.problems import problem_response, problem_specs
from api.routes.conditional import not_modified
from api.routes.photo_upload import (
    FILE_FIELD,
    MULTIPART_TYPE,
    RAW_TYPES,
    discard_upload,
    read_upload,
)
from api.routes.reports import OWNERS, READERS
from schemas.auth import Principal
from schemas.photos import PhotoView, SimilarPhotos
from schemas.settings import Settings
from storage.audit import reads as audit_reads
from storage.db.pool import Database
from storage.photos import store as photos
from storage.photos.blobs import BlobStore

# One documented body: multipart/form-data, whose `file` part may be any accepted type. The
# raw bodies (the file's bytes with its own media type) are accepted too and said in the
# operation's description, not listed as more request bodies: a body with several media types
# makes openapi-python-client 0.29 write a module that does not import (its issue #1451), and
# openapi-generator uses only the first one listed.
UPLOAD_CONTENT = {
    MULTIPART_TYPE: {
        "schema": {
            "type": "object",
            "properties": {FILE_FIELD: BINARY_SCHEMA},
            "required": [FILE_FIELD],
        },
        "encoding": {FILE_FIELD: {"contentType": ", ".join(sorted(RAW_TYPES))}},
    },
}
# What a download is: the sanitised photo (always re-encoded as JPEG) or the remuxed video.
DOWNLOAD_CONTENT = {
    media_type: {"schema": BINARY_SCHEMA}
    for media_type in ("image/jpeg", "video/mp4", "video/webm")
}
DOWNLOAD_ANSWERS = {
    200: {"content": DOWNLOAD_CONTENT},
    206: {
        "content": DOWNLOAD_CONTENT,
        "headers": {
            "Content-Range": {
                "description": "The range sent, as bytes first-last/size",
                "required": True,
                "schema": {"type": "string"},
            }
        },
    },
}
# Sanitised photos never change (their address is their hash), but they are evidence in
# reports that may be withdrawn: shared caches must not keep them, browsers only briefly.
PHOTO_CACHE_CONTROL = "private, max-age=300"
SimilarLimit = Annotated[int, QueryParameter(ge=1, le=100, description="At most this many")]


@post(
    "/v1/reports/{report_id:uuid}/photos",
    opt={ROLES_OPT: OWNERS, REQUEST_CONTENT_OPT: UPLOAD_CONTENT},
    tags=["photos"],
    summary="Attach a photo or video to one's own report (sanitised before it is stored)",
    status_code=201,
    # The size limit (max_photo_bytes, for videos too) is a setting: the handler enforces it
    # while streaming; larger files go through the resumable uploads.
    request_max_body_size=None,
    responses={
        200: ResponseSpec(
            PhotoView,
            generate_examples=False,
            description="The same photo again: the original answer",
        ),
        **problem_specs(400, 401, 403, 404, 409, 413, 415, 422, 503),
    },
)
async def upload_photo(
    request: Request[Principal, str, State], report_id: FromPath[uuid.UUID]
) -> Response[PhotoView]:
    """201 with the stored photo or video; 200 with the same body when the same bytes are sent
    to the same report again. The body is multipart/form-data with a `file` part, or the file's
    raw bytes with its own Content-Type (image/jpeg, image/png, image/webp, image/heic,
    image/heif, video/mp4, video/quicktime, video/webm); either way the format is read from
    the bytes. Videos are spooled to a file, never held in memory; a file over the
    single-request limit is 413 (use /v1/uploads)."""
    state = request.app.state
    settings: Settings = state.settings
    db: Database = state.db
    async with db.acquire() as conn:
        # Checked before reading the body: a stranger's upload is refused before it costs.
        await photos.upload_target(conn, request.user, report_id)
    original = await read_upload(request, settings.max_photo_bytes, spool_directory(settings))
    try:
        stored = await ingest_upload(state, request.user, report_id, original)
    finally:
        discard_upload(original)  # not in a thread: this also runs when cancelled
        del original
    return Response(stored.view, status_code=201 if stored.created else 200)


@get(
    "/v1/photos/{photo_id:uuid}",
    opt={ROLES_OPT: READERS, RESPONSE_CONTENT_OPT: DOWNLOAD_ANSWERS},
    tags=["photos"],
    summary="The sanitised image or video (the report's owner, moderators, admins)",
    media_type="image/jpeg",
    responses={
        **problem_specs(401, 403, 404, 416),
        206: ResponseSpec(
            None,
            description="The one byte range asked for with Range: bytes=... (Content-Range)",
        ),
        304: ResponseSpec(None, description="Not modified (If-None-Match matched the ETag)"),
    },
)
async def get_photo(
    request: Request[Principal, str, State], conn: Transaction, photo_id: FromPath[uuid.UUID]
) -> Response[Any]:
    """A photo as ``image/jpeg``; a video as ``video/mp4`` or ``video/webm``, streamed. A single
    ``Range: bytes=`` range is answered with 206 (players seek with them)."""
    return await photo_response(request, conn, photo_id, cache_control=PHOTO_CACHE_CONTROL)


async def photo_response(
    request: Request[Principal, Any, State],
    conn: asyncpg.Connection,
    photo_id: uuid.UUID,
    *,
    cache_control: str,
) -> Response[Any]:
    """The sanitised bytes (or 304, or one range of them) for a reader allowed to see them,
    audited as ``photo.read``: the one way a photo or video leaves the service (the API and
    the console). Photos are sent whole from memory; videos and ranges are streamed."""
    view = await photos.photo_for_reader(conn, request.user, photo_id)
    etag = f'"{view.sha256}"'
    headers = {
        "ETag": etag,
        "Cache-Control": cache_control,
        "X-Content-Type-Options": "nosniff",
        "Accept-Ranges": "bytes",
    }
    media_type = view.content_type
    if not_modified(request.headers.get("if-none-match"), etag):
        await audit_reads.photo_read(
            conn, request.user, photo_id, view.report_id, not_modified=True
        )
        return Response(b"", status_code=304, headers=headers, media_type=media_type)
    wanted = request.headers.get("range")
    if_range = request.headers.get("if-range")
    if if_range is not None and if_range.strip() != etag:
        wanted = None  # the client's copy is of other bytes: send the whole
    try:
        byte_range = parse_range(wanted, view.bytes)
    except UnsatisfiableRange:
        return problem_response(
            416,
            "range_not_satisfiable",
            f"the range is outside the {view.bytes} bytes stored",
            field="Range",
            headers={**headers, "Content-Range": f"bytes */{view.bytes}"},
        )
    blobs: BlobStore = request.app.state.blobs
    if byte_range is None and not view.content_type.startswith("video/"):
        data = await blobs.get(view.sha256, view.content_type)
        # After the blob is fetched: audited transactions queue behind this one until it
        # commits.
        await audit_reads.photo_read(
            conn, request.user, photo_id, view.report_id, not_modified=False
        )
        return Response(data, headers=headers, media_type=media_type)
    start, end = byte_range or (0, view.bytes)
    chunks = await blobs.stream(view.sha256, view.content_type, start=start, end=end)
    await audit_reads.photo_read(conn, request.user, photo_id, view.report_id, not_modified=False)
    headers["Content-Length"] = str(end - start)
    if byte_range is None:
        return MediaStream(chunks, headers=headers, media_type=media_type)
    headers["Content-Range"] = f"bytes {start}-{end - 1}/{view.bytes}"
    return MediaStream(chunks, status_code=206, headers=headers, media_type=media_type)


class MediaStream(Stream):
    """A streamed body whose own media type wins over the route's (``Stream`` prefers the
    route's ``image/jpeg``; a video is ``video/mp4`` or ``video/webm``)."""

    def to_asgi_response(self, *args: Any, **kwargs: Any) -> ASGIResponse:
        kwargs["media_type"] = self.media_type
        return super().to_asgi_response(*args, **kwargs)


class UnsatisfiableRange(Exception):
    """A syntactically valid range that selects no byte of the representation."""


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """One ``bytes=`` range of a ``size``-byte body as (start, end exclusive); None for the
    whole body: no header, another unit, several ranges or a malformed one (RFC 9110 lets a
    server ignore those). Raises ``UnsatisfiableRange`` when it starts past the end."""
    if header is None:
        return None
    unit, _, spec = header.strip().partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    if not dash or not (first.isdigit() or first == "") or not (last.isdigit() or last == ""):
        return None
    if first == "":
        if last == "":
            return None
        suffix = int(last)  # the last ``suffix`` bytes
        if suffix == 0:
            raise UnsatisfiableRange
        return max(0, size - suffix), size
    start = int(first)
    end = size if last == "" else min(int(last) + 1, size)
    if last != "" and int(last) < start:
        return None
    if start >= size:
        raise UnsatisfiableRange
    return start, end


@get(
    "/v1/photos/{photo_id:uuid}/similar",
    opt={ROLES_OPT: STAFF},
    tags=["photos"],
    summary="Other photos within Hamming distance 8 on both perceptual hashes (moderators)",
    responses=problem_specs(401, 403, 404, 422),
)
async def similar_photos(
    conn: Transaction, photo_id: FromPath[uuid.UUID], limit: SimilarLimit = 20
) -> SimilarPhotos:
    return SimilarPhotos(items=await photos.similar_photos(conn, photo_id, limit=limit))


ROUTES = [upload_photo, get_photo, similar_photos]
