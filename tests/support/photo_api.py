"""Shortcuts for the photo API tests: reports to attach photos to, uploads (raw and multipart),
reads, the expected response shape, where the filesystem blob store keeps a blob, and a check
that the service still works after a hostile request.

Everything goes through HTTP; expectations come from the API contract ("Photos"), not from the
code under test.
"""

from __future__ import annotations

import hashlib
import io
import random
import uuid
from pathlib import Path
from typing import Any, Final

import httpx
from PIL import Image, ImageDraw, ImageFilter

from schemas.settings import Settings
from tests.support import photo_fixtures as fx
from tests.support.helpers import Api, bearer, observer_report

PHOTO_KEYS: Final = frozenset(
    {
        "id",
        "report_id",
        "content_type",
        "width",
        "height",
        "bytes",
        "sha256",
        "phash",
        "provenance",
        "duration_ms",
    }
)
PROVENANCE_KEYS: Final = frozenset(
    {
        "had_metadata",
        "had_gps",
        "c2pa",
        "ai_marker",
        "capture_time_consistent",
        "capture_place_consistent",
    }
)
C2PA_VALUES: Final = frozenset({"absent", "present", "valid", "invalid"})
RAW_TYPES: Final = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
    "HEIF": "image/heic",
}
SUFFIXES: Final = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp", "HEIF": ".heic"}


async def new_report(api: Api, token: str, **overrides: Any) -> str:
    """Submit a valid observer report (with ``overrides``); return its id."""
    response = await api.submit(token, observer_report(**overrides))
    assert response.status_code == 201, response.text
    report_id: str = response.json()["id"]
    return report_id


def photos_path(report_id: str) -> str:
    return f"/v1/reports/{report_id}/photos"


async def upload(
    api: Api,
    token: str | None,
    report_id: str,
    data: bytes,
    content_type: str | None = "image/jpeg",
) -> httpx.Response:
    """POST ``data`` as the raw body with ``content_type`` (None: no Content-Type at all)."""
    headers = bearer(token) if token is not None else {}
    if content_type is not None:
        headers["Content-Type"] = content_type
    return await api.client.post(photos_path(report_id), content=data, headers=headers)


async def upload_multipart(
    api: Api,
    token: str,
    report_id: str,
    data: bytes,
    *,
    field: str = "file",
    filename: str = "photo.jpg",
    part_type: str = "application/octet-stream",
) -> httpx.Response:
    """POST ``data`` as the ``field`` part of a multipart/form-data body."""
    return await api.client.post(
        photos_path(report_id),
        files={field: (filename, data, part_type)},
        headers=bearer(token),
    )


async def uploaded(
    api: Api, token: str, report_id: str, data: bytes, content_type: str = "image/jpeg"
) -> dict[str, Any]:
    """Upload and insist on 201; return the body."""
    response = await upload(api, token, report_id, data, content_type)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def fetch(
    api: Api, token: str | None, photo_id: str, headers: dict[str, str] | None = None
) -> httpx.Response:
    sent = {**(bearer(token) if token is not None else {}), **(headers or {})}
    return await api.client.get(f"/v1/photos/{photo_id}", headers=sent)


async def fetched_bytes(api: Api, token: str, photo_id: str) -> bytes:
    response = await fetch(api, token, photo_id)
    assert response.status_code == 200, response.text
    return response.content


async def similar(
    api: Api, token: str | None, photo_id: str, limit: int | None = None
) -> httpx.Response:
    params = {"limit": str(limit)} if limit is not None else {}
    headers = bearer(token) if token is not None else {}
    return await api.client.get(f"/v1/photos/{photo_id}/similar", params=params, headers=headers)


def assert_photo_view(body: dict[str, Any], report_id: str) -> None:
    """The contract's 201 body, field by field (types and formats)."""
    assert set(body) == PHOTO_KEYS, body
    uuid.UUID(body["id"])
    assert body["report_id"] == report_id
    assert body["content_type"] == "image/jpeg"
    assert body["duration_ms"] is None
    for key in ("width", "height", "bytes"):
        assert isinstance(body[key], int), body
        assert not isinstance(body[key], bool), body
        assert body[key] > 0, body
    assert isinstance(body["sha256"], str)
    assert len(body["sha256"]) == 64
    assert int(body["sha256"], 16) >= 0
    assert body["sha256"] == body["sha256"].lower()
    assert isinstance(body["phash"], str)
    assert len(body["phash"]) == 16
    assert int(body["phash"], 16) >= 0
    provenance = body["provenance"]
    assert set(provenance) == PROVENANCE_KEYS, provenance
    for key in ("had_metadata", "had_gps", "ai_marker"):
        assert isinstance(provenance[key], bool), provenance
    for key in ("capture_time_consistent", "capture_place_consistent"):
        assert provenance[key] is None or isinstance(provenance[key], bool), provenance
    assert provenance["c2pa"] in C2PA_VALUES, provenance


def assert_matches_stored(body: dict[str, Any], stored: bytes) -> Image.Image:
    """The response describes exactly the bytes GET returns: hash, size, dimensions, JPEG."""
    assert hashlib.sha256(stored).hexdigest() == body["sha256"]
    assert len(stored) == body["bytes"]
    with Image.open(io.BytesIO(stored)) as opened:
        assert opened.format == "JPEG"
    image = fx.decode(stored)
    assert image.size == (body["width"], body["height"])
    return image


def blob_path(settings: Settings, sha256: str) -> Path:
    """Where the filesystem blob store keeps ``sha256`` (the layout the lead specified)."""
    return settings.data_path / "photos" / sha256[:2] / sha256[2:4] / f"{sha256}.jpg"


# --- pictures ---------------------------------------------------------------------------------


def tiny_jpeg(seed: int, size: tuple[int, int] = (48, 32)) -> bytes:
    """A small JPEG whose pixels (and so sanitised bytes) differ for every ``seed``."""
    rng = random.Random(seed)
    image = Image.new("RGB", size, (rng.randrange(256), rng.randrange(256), rng.randrange(256)))
    draw = ImageDraw.Draw(image)
    for _ in range(6):
        x, y = rng.randrange(size[0]), rng.randrange(size[1])
        colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        draw.rectangle((x, y, x + rng.randrange(4, 20), y + rng.randrange(4, 16)), fill=colour)
    return fx.jpeg_bytes(image, quality=90)


def unique_jpeg(size: tuple[int, int] = (48, 32)) -> bytes:
    """A small JPEG no other test (or earlier run sharing the data directory) uploads."""
    return tiny_jpeg(uuid.uuid4().int, size)


def scene(seed: int, size: tuple[int, int] = (320, 240)) -> Image.Image:
    """A photo-like picture (gradient, blurred blobs, a little noise), different per seed."""
    rng = random.Random(seed)
    image = Image.linear_gradient("L").resize(size).convert("RGB")
    if rng.random() < 0.5:
        image = image.transpose(Image.Transpose.ROTATE_180)
    draw = ImageDraw.Draw(image)
    for _ in range(25):
        x, y = rng.randrange(size[0]), rng.randrange(size[1])
        r = rng.randrange(10, size[0] // 4)
        colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        draw.ellipse((x - r, y - r, x + r, y + r), fill=colour)
    image = image.filter(ImageFilter.GaussianBlur(2))
    noise = Image.effect_noise(size, 20).convert("RGB")
    return Image.blend(image, noise, 0.05)


# --- liveness ---------------------------------------------------------------------------------


async def assert_still_serving(api: Api) -> None:
    """The service answers /healthz and a normal photo upload (new device, new report) still
    gets 201 and can be read back."""
    health = await api.client.get("/healthz")
    assert health.status_code == 200, health.text
    token = await api.device_token()
    report_id = await new_report(api, token)
    body = await uploaded(api, token, report_id, unique_jpeg())
    assert_matches_stored(body, await fetched_bytes(api, token, body["id"]))
