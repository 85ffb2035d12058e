"""A small tus 1.0 client for the tests and the benchmark: what tus-js-client, TUSKit and
tus-android-client send, written from the protocol (https://tus.io/protocols/resumable-upload),
not from the server's code. ``drop_patch`` sends part of a PATCH over a raw socket and closes
the connection, as a phone losing its network does."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import Callable, Iterator
from typing import Final
from urllib.parse import urlsplit

import httpx

TUS: Final = {"Tus-Resumable": "1.0.0"}
OFFSET_TYPE: Final = "application/offset+octet-stream"


def metadata(**values: str) -> str:
    return ",".join(
        f"{key} {base64.b64encode(value.encode()).decode()}" for key, value in values.items()
    )


def sha256_checksum(data: bytes) -> str:
    return f"sha256 {base64.b64encode(hashlib.sha256(data).digest()).decode()}"


def auth(token: str | None) -> dict[str, str]:
    return {} if token is None else {"Authorization": f"Bearer {token}"}


async def create(
    client: httpx.AsyncClient,
    token: str | None,
    report_id: str,
    length: int,
    *,
    via_metadata: bool = False,
    extra_metadata: dict[str, str] | None = None,
) -> httpx.Response:
    """POST a creation: to /v1/reports/{id}/uploads, or (``via_metadata``) to /v1/uploads with
    the report in Upload-Metadata; ``filename``/``filetype`` as the clients send them."""
    values = {"filename": "IMG_0001.JPG", "filetype": "image/jpeg", **(extra_metadata or {})}
    if via_metadata:
        values["report_id"] = report_id
        path = "/v1/uploads"
    else:
        path = f"/v1/reports/{report_id}/uploads"
    headers = {
        **TUS,
        **auth(token),
        "Upload-Length": str(length),
        "Upload-Metadata": metadata(**values),
    }
    return await client.post(path, headers=headers)


async def head(client: httpx.AsyncClient, token: str | None, location: str) -> httpx.Response:
    return await client.head(location, headers={**TUS, **auth(token)})


async def offset_of(client: httpx.AsyncClient, token: str | None, location: str) -> int:
    response = await head(client, token, location)
    assert response.status_code == 200, response.text
    return int(response.headers["Upload-Offset"])


async def patch(
    client: httpx.AsyncClient,
    token: str | None,
    location: str,
    offset: int,
    body: bytes,
    *,
    checksum: str | None = None,
    content_type: str = OFFSET_TYPE,
) -> httpx.Response:
    headers = {**TUS, **auth(token), "Upload-Offset": str(offset), "Content-Type": content_type}
    if checksum is not None:
        headers["Upload-Checksum"] = checksum
    return await client.patch(location, headers=headers, content=body)


async def drop_patch(
    base_url: str,
    token: str,
    location: str,
    offset: int,
    body: bytes,
    sent: int,
    *,
    checksum: bool = False,
    linger: float = 0.3,
) -> None:
    """Start a PATCH announcing ``len(body)`` bytes (``checksum``: with the body's
    Upload-Checksum), send only the first ``sent`` of them over a raw TCP connection, then close
    it without waiting for an answer. The connection stays open ``linger`` seconds after the
    last byte, as a phone's does until its network goes: uvicorn hands an application nothing
    of what it had buffered but not yet delivered when it sees the connection close."""
    parts = urlsplit(base_url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    request = (
        f"PATCH {location} HTTP/1.1\r\n"
        f"Host: {parts.netloc}\r\n"
        f"Authorization: Bearer {token}\r\n"
        "Tus-Resumable: 1.0.0\r\n"
        f"Upload-Offset: {offset}\r\n"
        f"Content-Type: {OFFSET_TYPE}\r\n"
        f"Content-Length: {len(body)}\r\n"
        + (f"Upload-Checksum: {sha256_checksum(body)}\r\n" if checksum else "")
        + "\r\n"
    ).encode()
    writer.write(request + body[:sent])
    await writer.drain()
    await asyncio.sleep(linger)
    writer.close()
    await writer.wait_closed()
    del reader


async def wait_for_offset(
    client: httpx.AsyncClient, token: str, location: str, expected: int, wait: float = 10.0
) -> int:
    """Poll HEAD until the upload's offset is ``expected`` (the server finishes a dropped
    PATCH shortly after the connection closed); return the last offset seen."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    offset = await offset_of(client, token, location)
    while offset != expected and loop.time() < deadline:
        await asyncio.sleep(0.02)
        offset = await offset_of(client, token, location)
    return offset


def chunks(data: bytes, size: int) -> Iterator[tuple[int, bytes]]:
    for start in range(0, len(data), size):
        yield start, data[start : start + size]


async def upload_whole(
    client: httpx.AsyncClient, token: str, report_id: str, data: bytes, chunk: int
) -> httpx.Response:
    """An uninterrupted tus upload in ``chunk``-byte PATCHes; the last PATCH's response."""
    created = await create(client, token, report_id, len(data))
    assert created.status_code == 201, created.text
    location = created.headers["Location"]
    response = created
    for start, piece in chunks(data, chunk):
        response = await patch(client, token, location, start, piece)
        assert response.status_code == 204, response.text
    return response


class ResumedUpload:
    """What ``send_with_drops`` did: the last answer, the drops and the bytes kept from them."""

    def __init__(self) -> None:
        self.last: httpx.Response | None = None
        self.drops = 0
        self.kept = 0
        self.busy = 0


async def send_with_drops(
    client: httpx.AsyncClient,
    base_url: str,
    token: str,
    location: str,
    data: bytes | None,
    *,
    chunk: int,
    drop: Callable[[int, int], bool],
    read: Callable[[int, int], bytes] | None = None,
    length: int | None = None,
    linger: float = 0.3,
) -> ResumedUpload:
    """Send the upload at ``location`` as a tus client does: PATCH ``chunk`` bytes at a time
    from HEAD's offset; where ``drop(number, offset)`` says so, cut the connection off in the
    middle of the chunk (``drop_patch``) and resume from HEAD's offset; on 409 (another request
    still holds the upload, or the offset moved) ask HEAD again and go on, as tus clients
    retry a 409. ``read(offset, size)`` reads the source when ``data`` is None."""
    total = len(data) if data is not None else length
    assert total is not None

    def piece_at(offset: int) -> bytes:
        if data is not None:
            return data[offset : offset + chunk]
        assert read is not None
        return read(offset, min(chunk, total - offset))

    result = ResumedUpload()
    offset = 0
    number = 0
    while offset < total:
        number += 1
        piece = piece_at(offset)
        if drop(number, offset):
            sent = len(piece) // 2 + number % 7
            await drop_patch(base_url, token, location, offset, piece, sent, linger=linger)
            seen = await wait_for_offset(client, token, location, offset + sent)
            assert offset <= seen <= offset + sent, (offset, sent, seen)
            result.drops += 1
            result.kept += seen - offset
            offset = seen
            continue
        answer = await patch(client, token, location, offset, piece)
        if answer.status_code == 409:
            result.busy += 1
            assert result.busy < 500, answer.text
            await asyncio.sleep(0.05)
            offset = await offset_of(client, token, location)
            continue
        result.last = answer
        if answer.status_code != 204:
            break
        offset = int(answer.headers["Upload-Offset"])
    return result
