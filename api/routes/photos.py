"""Photos: upload to one's own report, read, and near-duplicate hints for moderators."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import asyncpg
from litestar import Request, Response, get, post
from litestar.datastructures import State
from litestar.openapi import ResponseSpec
from litestar.params import FromPath, QueryParameter

from api.dependencies import Transaction
from api.media_ingest import UploadedOriginal, ingest_upload
from api.middleware.auth import ROLES_OPT, STAFF
from api.openapi import REQUEST_CONTENT_OPT
from api.problems import problem_specs
from api.routes.conditional import not_modified
from api.routes.photo_upload import FILE_FIELD, RAW_IMAGE_TYPES, read_photo_upload
from api.routes.reports import OWNERS, READERS
from schemas.auth import Principal
from schemas.photos import PhotoView, SimilarPhotos
from schemas.settings import Settings
from storage.audit import reads as audit_reads
from storage.db.pool import Database
from storage.photos import store as photos
from storage.photos.blobs import BlobStore

BINARY = {"type": "string", "format": "binary"}
UPLOAD_CONTENT = {
    **{media_type: {"schema": BINARY} for media_type in sorted(RAW_IMAGE_TYPES)},
    "multipart/form-data": {
        "schema": {
            "type": "object",
            "properties": {FILE_FIELD: BINARY},
            "required": [FILE_FIELD],
        }
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
    summary="Attach a photo to one's own report (sanitised before it is stored)",
    status_code=201,
    # The photo size limit is a setting: the handler enforces it while streaming.
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
    """201 with the stored photo; 200 with the same body when the same photo is sent again."""
    state = request.app.state
    settings: Settings = state.settings
    db: Database = state.db
    async with db.acquire() as conn:
        # Checked before reading the body: a stranger's upload is refused before it costs.
        await photos.upload_target(conn, request.user, report_id)
    data = await read_photo_upload(request, settings.max_photo_bytes)
    stored = await ingest_upload(state, request.user, report_id, UploadedOriginal(data=data))
    del data
    return Response(stored.view, status_code=201 if stored.created else 200)


@get(
    "/v1/photos/{photo_id:uuid}",
    opt={ROLES_OPT: READERS},
    tags=["photos"],
    summary="The sanitised image (the report's owner, moderators, admins)",
    media_type="image/jpeg",
    responses={
        **problem_specs(401, 403, 404),
        304: ResponseSpec(None, description="Not modified (If-None-Match matched the ETag)"),
    },
)
async def get_photo(
    request: Request[Principal, str, State], conn: Transaction, photo_id: FromPath[uuid.UUID]
) -> Response[bytes]:
    return await photo_response(request, conn, photo_id, cache_control=PHOTO_CACHE_CONTROL)


async def photo_response(
    request: Request[Principal, Any, State],
    conn: asyncpg.Connection,
    photo_id: uuid.UUID,
    *,
    cache_control: str,
) -> Response[bytes]:
    """The sanitised bytes (or 304) for a reader allowed to see them, audited as
    ``photo.read``: the one way a photo leaves the service (the API and the console)."""
    view = await photos.photo_for_reader(conn, request.user, photo_id)
    etag = f'"{view.sha256}"'
    headers = {
        "ETag": etag,
        "Cache-Control": cache_control,
        "X-Content-Type-Options": "nosniff",
    }
    if not_modified(request.headers.get("if-none-match"), etag):
        await audit_reads.photo_read(
            conn, request.user, photo_id, view.report_id, not_modified=True
        )
        return Response(b"", status_code=304, headers=headers, media_type="image/jpeg")
    blobs: BlobStore = request.app.state.blobs
    data = await blobs.get(view.sha256)
    # After the blob is fetched: audited transactions queue behind this one until it commits.
    await audit_reads.photo_read(conn, request.user, photo_id, view.report_id, not_modified=False)
    return Response(data, headers=headers, media_type="image/jpeg")


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
