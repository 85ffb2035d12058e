"""Resumable uploads with the tus 1.0 protocol (core, creation, termination, checksum,
expiration): https://tus.io/protocols/resumable-upload

- ``OPTIONS /v1/uploads``: what the server supports (no token needed).
- ``POST /v1/reports/{report_id}/uploads`` or ``POST /v1/uploads`` with ``report_id`` in
  ``Upload-Metadata``: create an upload of ``Upload-Length`` bytes for one's own report;
  201 with ``Location: /v1/uploads/{upload_id}``.
- ``HEAD /v1/uploads/{upload_id}``: the offset (bytes durably stored) to resume from.
- ``PATCH /v1/uploads/{upload_id}``: append bytes at ``Upload-Offset``; the PATCH that makes the
  upload complete processes it as ``POST /v1/reports/{id}/photos`` would (api.media_ingest)
  and names the stored photo in ``Plainsight-Photo-Id``.
- ``DELETE /v1/uploads/{upload_id}``: abandon the upload and its bytes.

An upload belongs to the device (or account) that created it and to one report of its own;
anyone else gets 404. ``filename``/``filetype`` metadata (sent by every tus client) is ignored
and never stored; only ``report_id`` is read. Every response carries ``Tus-Resumable`` (the
``before_send`` hook ``tus_response_headers``, so refusals by authentication carry it too).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Final

from litestar import Request, Response, delete, head, patch, post, route
from litestar.datastructures import MutableScopeHeaders, ResponseHeader, State
from litestar.params import FromPath, HeaderParameter
from litestar.types import Message, Scope
from uuid_utils.compat import uuid7

from api.errors import InvalidInput
from api.media_ingest import UploadedOriginal, ingest_upload
from api.middleware.auth import PUBLIC_OPT, ROLES_OPT
from api.openapi import BINARY_SCHEMA, REQUEST_CONTENT_OPT
from api.problems import problem_specs
from api.routes.reports import OWNERS
from schemas.auth import Principal
from schemas.settings import Settings
from storage.db.pool import Database
from storage.errors import DomainError, Unavailable
from storage.photos import store as photos
from storage.photos.formats import PhotoRejected, is_video
from storage.uploads import store as uploads
from storage.uploads.area import TemporaryArea
from storage.uploads.headers import (
    CHECKSUM_ALGORITHMS,
    OFFSET_CONTENT_TYPE,
    TUS_EXTENSIONS,
    TUS_VERSION,
    HeaderError,
    http_date,
    metadata_report_id,
    non_negative,
    parse_checksum,
    parse_metadata,
)

log = logging.getLogger(__name__)

TUS_OPT: Final = "tus"
PHOTO_ID_HEADER: Final = "Plainsight-Photo-Id"
UPLOADS_PATH: Final = "/v1/uploads"
# A PATCH holds its upload this long past each checkpoint; a new PATCH waits it out (409) if
# the holder vanished without a trace (a crashed process).
LEASE_SECONDS: Final = 60.0
# A PATCH whose client sends nothing for this long ends as if the connection dropped: what was
# received is kept, and the lease is free for the client's next attempt.
READ_TIMEOUT_SECONDS: Final = 20.0

TusResumable = Annotated[
    str | None,
    HeaderParameter(name="Tus-Resumable", description="Must be 1.0.0 (else 412)", required=False),
]
UploadOffsetHeader = Annotated[
    str | None,
    HeaderParameter(
        name="Upload-Offset",
        description="The offset the body starts at: the upload's current offset (else 409)",
        required=False,
    ),
]
UploadChecksumHeader = Annotated[
    str | None,
    HeaderParameter(
        name="Upload-Checksum",
        description="`sha256 <base64 digest>` of this request's body (else 460)",
        required=False,
    ),
]
UploadLengthHeader = Annotated[
    str | None,
    HeaderParameter(
        name="Upload-Length",
        description="The upload's size in bytes, at most Tus-Max-Size (else 413)",
        required=False,
    ),
]
UploadMetadataHeader = Annotated[
    str | None,
    HeaderParameter(
        name="Upload-Metadata",
        description="tus metadata; only `report_id` is read (for POST /v1/uploads). "
        "`filename`, `filetype` and any other key are ignored and never stored",
        required=False,
    ),
]

_RESUMABLE = ResponseHeader(
    name="Tus-Resumable", value=TUS_VERSION, description="The protocol version, on every answer"
)


def _documented(name: str, description: str) -> ResponseHeader:
    return ResponseHeader(name=name, documentation_only=True, description=description)


_OFFSET = _documented("Upload-Offset", "Bytes of the upload durably stored")
_EXPIRES = _documented("Upload-Expires", "When the unfinished upload expires (HTTP date)")
_PHOTO = _documented(
    PHOTO_ID_HEADER, "The stored photo's id (GET /v1/photos/{id}), once the upload is complete"
)


# --- headers on every tus answer -------------------------------------------------------------


async def tus_response_headers(message: Message, scope: Scope) -> None:
    """``before_send`` hook: ``Tus-Resumable`` on every answer of a tus route (problems and
    authentication refusals too), ``Tus-Version`` with a 412."""
    if message["type"] != "http.response.start":
        return
    handler = scope.get("route_handler")
    if handler is None or not handler.opt.get(TUS_OPT):
        return
    headers = MutableScopeHeaders.from_message(message)
    headers["Tus-Resumable"] = TUS_VERSION
    if message["status"] == 412:
        headers["Tus-Version"] = TUS_VERSION


def _require_tus(request: Request[Any, Any, Any]) -> None:
    version = request.headers.get("tus-resumable")
    if version != TUS_VERSION:
        shown = "missing" if version is None else f"{version!r}"
        raise InvalidInput(
            "Tus-Resumable",
            f"Tus-Resumable is {shown}; this server speaks tus {TUS_VERSION}",
            status=412,
            code="tus_version_unsupported",
        )


def _header(call: Any, *args: Any) -> Any:
    try:
        return call(*args)
    except HeaderError as exc:
        raise InvalidInput(exc.header, exc.detail, status=exc.status, code=exc.code) from exc


def _area(state: State) -> TemporaryArea:
    area: TemporaryArea = state.uploads
    return area


# --- OPTIONS ---------------------------------------------------------------------------------


@route(
    UPLOADS_PATH,
    http_method="OPTIONS",
    opt={PUBLIC_OPT: True, TUS_OPT: True},
    tags=["uploads"],
    summary="What the tus server supports (versions, extensions, size limit, checksums)",
    status_code=204,
    response_headers=[
        _RESUMABLE,
        _documented("Tus-Version", "1.0.0"),
        _documented("Tus-Extension", TUS_EXTENSIONS),
        _documented("Tus-Max-Size", "The largest Upload-Length accepted"),
        _documented("Tus-Checksum-Algorithm", CHECKSUM_ALGORITHMS),
    ],
)
async def tus_options(request: Request[Any, Any, State]) -> Response[None]:
    settings: Settings = request.app.state.settings
    return Response(
        None,
        status_code=204,
        headers={
            "Tus-Version": TUS_VERSION,
            "Tus-Extension": TUS_EXTENSIONS,
            "Tus-Max-Size": str(settings.max_upload_bytes),
            "Tus-Checksum-Algorithm": CHECKSUM_ALGORITHMS,
        },
    )


# --- creation --------------------------------------------------------------------------------

_CREATION: dict[str, Any] = {
    "opt": {ROLES_OPT: OWNERS, TUS_OPT: True},
    "tags": ["uploads"],
    "status_code": 201,
    "response_headers": [
        _RESUMABLE,
        _documented("Location", "The upload's address, /v1/uploads/{upload_id}"),
        _EXPIRES,
    ],
    "responses": problem_specs(400, 401, 403, 404, 409, 412, 413, 422, 429),
}


@post(
    "/v1/reports/{report_id:uuid}/uploads",
    summary="Start a resumable (tus) upload of a photo or video to one's own report",
    **_CREATION,
)
async def create_report_upload(
    request: Request[Principal, str, State],
    report_id: FromPath[uuid.UUID],
    tus_resumable: TusResumable = None,
    upload_length: UploadLengthHeader = None,
    upload_metadata: UploadMetadataHeader = None,
) -> Response[None]:
    return await _create(request, report_id)


@post(
    UPLOADS_PATH,
    summary="Start a resumable (tus) upload; the report is the `report_id` metadata",
    **_CREATION,
)
async def create_upload(
    request: Request[Principal, str, State],
    tus_resumable: TusResumable = None,
    upload_length: UploadLengthHeader = None,
    upload_metadata: UploadMetadataHeader = None,
) -> Response[None]:
    return await _create(request, None)


async def _create(
    request: Request[Principal, str, State], path_report: uuid.UUID | None
) -> Response[None]:
    _require_tus(request)
    state = request.app.state
    settings: Settings = state.settings
    if request.headers.get("upload-defer-length") is not None:
        raise InvalidInput(
            "Upload-Defer-Length",
            "a deferred length is not supported: send Upload-Length",
            status=400,
            code="invalid_header",
        )
    length: int = _header(non_negative, "Upload-Length", request.headers.get("upload-length"))
    if length == 0:
        raise InvalidInput("Upload-Length", "an upload must have at least one byte")
    if length > settings.max_upload_bytes:
        raise InvalidInput(
            "Upload-Length",
            f"the upload is larger than Tus-Max-Size ({settings.max_upload_bytes} bytes)",
            status=413,
            code="payload_too_large",
        )
    metadata = _header(parse_metadata, request.headers.get("upload-metadata"))
    named: uuid.UUID | None = _header(metadata_report_id, metadata)
    if path_report is not None and named is not None and named != path_report:
        raise InvalidInput(
            "Upload-Metadata", "the report_id metadata names another report than the path"
        )
    report_id = path_report or named
    if report_id is None:
        raise InvalidInput("Upload-Metadata", "name the report: `report_id` in Upload-Metadata")
    db: Database = state.db
    principal = request.user
    async with db.acquire() as conn:
        await photos.upload_target(conn, principal, report_id)
        # Refused before any byte is sent, rather than after the last (store_photo checks again).
        stored = await conn.fetchval(photos.COUNT_FOR_REPORT, report_id)
        if stored >= settings.photos_per_report:
            raise photos.PhotoLimitReached(
                f"a report can have at most {settings.photos_per_report} photos"
            )
        in_flight = await uploads.in_flight(conn, principal.id)
    if in_flight >= settings.uploads_in_flight:
        raise uploads.TooManyUploads(
            f"this device already has {in_flight} unfinished uploads (at most "
            f"{settings.uploads_in_flight}): finish or delete one first, or wait for it to expire"
        )
    area = _area(state)
    upload_id = uuid.UUID(str(uuid7()))
    multipart = await area.start(upload_id)
    try:
        async with db.transaction() as conn:
            await photos.upload_target(conn, principal, report_id)
            expires_at = await uploads.create_upload(
                conn,
                upload_id=upload_id,
                report_id=report_id,
                owner_id=principal.id,
                length=length,
                store=area.kind,
                s3_upload_id=multipart,
                expiry=timedelta(hours=settings.upload_expiry_hours),
                max_in_flight=settings.uploads_in_flight,
            )
    except BaseException:
        await area.delete(_placeholder(upload_id, report_id, principal.id, length, area, multipart))
        raise
    return Response(
        None,
        status_code=201,
        headers={
            "Location": f"{UPLOADS_PATH}/{upload_id}",
            "Upload-Expires": http_date(expires_at),
        },
    )


def _placeholder(
    upload_id: uuid.UUID,
    report_id: uuid.UUID,
    owner_id: uuid.UUID,
    length: int,
    area: TemporaryArea,
    multipart: str | None,
) -> uploads.Upload:
    """The upload as it would have been stored, for removing its bytes when its row was not."""
    return uploads.Upload(
        id=upload_id,
        report_id=report_id,
        owner_id=owner_id,
        length=length,
        offset=0,
        store=area.kind,
        s3_upload_id=multipart,
        s3_parts=(),
        photo_id=None,
        expires_at=datetime.now(UTC),
    )


# --- HEAD ------------------------------------------------------------------------------------


def _progress_headers(upload: uploads.Upload, offset: int | None = None) -> dict[str, str]:
    headers = {
        "Upload-Offset": str(upload.offset if offset is None else offset),
        "Upload-Expires": http_date(upload.expires_at),
        "Cache-Control": "no-store",
    }
    if upload.photo_id is not None:
        headers[PHOTO_ID_HEADER] = str(upload.photo_id)
    return headers


@head(
    f"{UPLOADS_PATH}/{{upload_id:uuid}}",
    opt={ROLES_OPT: OWNERS, TUS_OPT: True},
    tags=["uploads"],
    summary="How many bytes of the upload are stored (resume from Upload-Offset)",
    status_code=200,
    response_headers=[
        _RESUMABLE,
        _OFFSET,
        _documented("Upload-Length", "The upload's size"),
        _EXPIRES,
        _PHOTO,
    ],
    responses=problem_specs(401, 403, 404, 410, 412),
)
async def upload_offset(
    request: Request[Principal, str, State],
    upload_id: FromPath[uuid.UUID],
    tus_resumable: TusResumable = None,
) -> Response[None]:
    _require_tus(request)
    db: Database = request.app.state.db
    async with db.acquire() as conn:
        upload = await uploads.upload_for_owner(
            conn, upload_id, request.user.id, allow_expired=False
        )
    headers = _progress_headers(upload)
    headers["Upload-Length"] = str(upload.length)
    return Response(None, status_code=200, headers=headers)


# --- PATCH -----------------------------------------------------------------------------------


class PhotoTooLarge(PhotoRejected):
    """A complete upload that is not a video and larger than a photo may be (413)."""

    code = "payload_too_large"
    status = 413


# Enough of the file's start for the video sniffing (ISO BMFF ftyp, EBML).
VIDEO_HEAD_BYTES: Final = 64


def _check_photo_size(path: Any, length: int, limit: int) -> None:
    """Photos are processed in memory: a file larger than PLAINSIGHT_MAX_PHOTO_BYTES that is
    not a video is refused before it is read whole."""
    if length <= limit:
        return
    with path.open("rb") as file:
        head = file.read(VIDEO_HEAD_BYTES)
    if not is_video(head):
        raise PhotoTooLarge(f"the photo is larger than {limit} bytes")


class ChecksumMismatch(DomainError):
    code = "checksum_mismatch"
    status = 460


_APPEND: dict[str, Any] = {
    "opt": {
        ROLES_OPT: OWNERS,
        TUS_OPT: True,
        REQUEST_CONTENT_OPT: {OFFSET_CONTENT_TYPE: {"schema": BINARY_SCHEMA}},
    },
    "tags": ["uploads"],
    "status_code": 204,
    # The upload's own length bounds the body: checked while streaming.
    "request_max_body_size": None,
    "response_headers": [_RESUMABLE, _OFFSET, _EXPIRES, _PHOTO],
}


@patch(
    f"{UPLOADS_PATH}/{{upload_id:uuid}}",
    summary="Append bytes at Upload-Offset; the last PATCH stores the photo or video",
    responses=problem_specs(400, 401, 403, 404, 409, 410, 412, 413, 415, 422, 460, 503),
    **_APPEND,
)
async def append_to_upload(
    request: Request[Principal, str, State],
    upload_id: FromPath[uuid.UUID],
    tus_resumable: TusResumable = None,
    upload_offset: UploadOffsetHeader = None,
    upload_checksum: UploadChecksumHeader = None,
) -> Response[None]:
    return await _append(request, upload_id)


MethodOverride = Annotated[
    str | None,
    HeaderParameter(name="X-HTTP-Method-Override", description="Must be PATCH", required=False),
]


@post(
    f"{UPLOADS_PATH}/{{upload_id:uuid}}",
    summary="PATCH for clients that cannot send one: POST with X-HTTP-Method-Override: PATCH",
    responses=problem_specs(400, 401, 403, 404, 405, 409, 410, 412, 413, 415, 422, 460, 503),
    **_APPEND,
)
async def append_by_override(
    request: Request[Principal, str, State],
    upload_id: FromPath[uuid.UUID],
    tus_resumable: TusResumable = None,
    upload_offset: UploadOffsetHeader = None,
    upload_checksum: UploadChecksumHeader = None,
    method_override: MethodOverride = None,
) -> Response[None]:
    """tus-java-client (under tus-android-client) falls back to this where its HTTP stack
    refuses PATCH."""
    if (request.headers.get("x-http-method-override") or "").upper() != "PATCH":
        raise InvalidInput(
            "X-HTTP-Method-Override",
            "POST to an upload is a PATCH sent with X-HTTP-Method-Override: PATCH",
            status=405,
            code="method_not_allowed",
        )
    return await _append(request, upload_id)


async def _append(request: Request[Principal, str, State], upload_id: uuid.UUID) -> Response[None]:
    _require_tus(request)
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != OFFSET_CONTENT_TYPE:
        raise InvalidInput(
            "Content-Type",
            f"a PATCH body must be sent as {OFFSET_CONTENT_TYPE}",
            status=415,
            code="unsupported_media_type",
        )
    offset: int = _header(non_negative, "Upload-Offset", request.headers.get("upload-offset"))
    checksum = _header(parse_checksum, request.headers.get("upload-checksum"))
    declared = request.headers.get("content-length")
    state = request.app.state
    db: Database = state.db
    token = uuid.uuid4()
    async with db.acquire() as conn:
        upload = await uploads.take_lease(
            conn, upload_id, request.user.id, offset=offset, token=token, seconds=LEASE_SECONDS
        )
    completed = False
    try:
        if declared is not None and declared.isdigit() and offset + int(declared) > upload.length:
            raise InvalidInput(
                "Content-Length",
                f"the body would take the upload past its Upload-Length ({upload.length})",
                status=413,
                code="payload_too_large",
            )
        if upload.photo_id is not None:  # completed before; its answer was lost
            return Response(None, status_code=204, headers=_progress_headers(upload))
        new_offset = await _receive(request, _area(state), upload, token, checksum)
        if new_offset < upload.length:
            return Response(None, status_code=204, headers=_progress_headers(upload, new_offset))
        finished = replace(upload, offset=new_offset)
        try:
            photo_id = await _complete(request, finished, token)
        except Unavailable as exc:
            # The bytes are stored, so re-sending this PATCH is a 409 (the offset moved on):
            # say how to have them processed instead.
            reason = exc.detail.removesuffix("; try again shortly")
            raise type(exc)(
                f"{reason}. All {new_offset} bytes are stored: after Retry-After, send an "
                f"empty PATCH at Upload-Offset {new_offset} to process them"
            ) from exc
        completed = True
        return Response(
            None,
            status_code=204,
            headers={**_progress_headers(finished), PHOTO_ID_HEADER: str(photo_id)},
        )
    finally:
        if not completed:
            async with db.acquire() as conn:
                await uploads.release(conn, upload_id, token)


async def _receive(
    request: Request[Principal, str, State],
    area: TemporaryArea,
    upload: uploads.Upload,
    token: uuid.UUID,
    checksum: Any,
) -> int:
    """Stream the body into the upload; return the new durable offset. A dropped connection
    (or a client silent for READ_TIMEOUT_SECONDS) keeps what was received unless the PATCH
    carried a checksum, which a part of the body cannot match."""
    db: Database = request.app.state.db
    remaining = upload.length - upload.offset
    hasher = hashlib.sha256() if checksum is not None else None
    writer = await area.writer(upload)
    try:
        ended = False
        while not ended:
            message: Any
            try:
                message = await asyncio.wait_for(request.receive(), READ_TIMEOUT_SECONDS)
            except TimeoutError:
                message = {"type": "http.disconnect"}
            if message["type"] == "http.disconnect":
                if hasher is not None:
                    return upload.offset
                return await _checkpoint(db, writer, upload, token, final=True)
            body = bytes(message.get("body", b""))
            ended = not message.get("more_body", False)
            if not body:
                continue
            if writer.written + len(body) > remaining:
                raise InvalidInput(
                    "$",
                    f"the body takes the upload past its Upload-Length ({upload.length})",
                    status=413,
                    code="payload_too_large",
                )
            if hasher is not None:
                hasher.update(body)
            if await writer.write(body) and hasher is None:
                await _checkpoint(db, writer, upload, token, final=False)
        if hasher is not None and hasher.digest() != checksum.digest:
            raise ChecksumMismatch(
                "the body does not match Upload-Checksum: nothing of it was kept"
            )
        return await _checkpoint(db, writer, upload, token, final=True)
    finally:
        await writer.close()


async def _checkpoint(
    db: Database, writer: Any, upload: uploads.Upload, token: uuid.UUID, *, final: bool
) -> int:
    offset, parts = await writer.flush(final=final)
    async with db.acquire() as conn:
        held = await uploads.checkpoint(
            conn,
            upload.id,
            token,
            offset=offset,
            parts=parts,
            lease_seconds=LEASE_SECONDS,
            release=final and offset < upload.length,
        )
    if not held:
        raise uploads.UploadBusy("the upload was taken over by another request")
    return int(offset)


async def _complete(
    request: Request[Principal, str, State], upload: uploads.Upload, token: uuid.UUID
) -> uuid.UUID:
    """Process the complete upload as a photo upload; its bytes are deleted afterwards (and
    the upload itself when the photo is refused)."""
    state = request.app.state
    db: Database = state.db
    area = _area(state)
    try:
        async with area.assemble(upload) as path:
            settings: Settings = state.settings
            await asyncio.to_thread(
                _check_photo_size, path, upload.length, settings.max_photo_bytes
            )
            stored = await ingest_upload(
                state, request.user, upload.report_id, UploadedOriginal(path=path)
            )
    except PhotoRejected:
        await area.delete(upload)
        async with db.acquire() as conn:
            await uploads.delete_upload(conn, upload.id)
        raise
    await area.delete(upload)
    async with db.acquire() as conn:
        await uploads.mark_completed(conn, upload.id, token, stored.view.id)
    return stored.view.id


# --- DELETE ----------------------------------------------------------------------------------


@delete(
    f"{UPLOADS_PATH}/{{upload_id:uuid}}",
    opt={ROLES_OPT: OWNERS, TUS_OPT: True},
    tags=["uploads"],
    summary="Abandon the upload and delete its bytes (a stored photo stays)",
    status_code=204,
    response_headers=[_RESUMABLE],
    responses=problem_specs(401, 403, 404, 409, 412),
)
async def terminate_upload(
    request: Request[Principal, str, State],
    upload_id: FromPath[uuid.UUID],
    tus_resumable: TusResumable = None,
) -> None:
    _require_tus(request)
    state = request.app.state
    db: Database = state.db
    async with db.acquire() as conn:
        upload = await uploads.upload_for_owner(
            conn, upload_id, request.user.id, allow_expired=True
        )
        if not await uploads.delete_unless_busy(conn, upload_id):
            raise uploads.UploadBusy(
                "a request is writing to this upload; try again when it has finished"
            )
    await _area(state).delete(upload)


ROUTES = [
    tus_options,
    create_report_upload,
    create_upload,
    upload_offset,
    append_to_upload,
    append_by_override,
    terminate_upload,
]
