"""Property: whatever a mutated photo looks like, the upload endpoint answers with a client
status (201/200 stored, 413/415/422 refused) and a JSON or problem+json body, never a 5xx;
whatever it stores is a bare JPEG without the planted metadata; and after the whole run the
same server still answers /healthz and takes a normal photo.

How Hypothesis meets the session event loop here
------------------------------------------------
pytest-asyncio can run an ``async def`` test decorated with ``@given`` (it wraps
``test.hypothesis.inner_test`` so each example runs on the session loop), but then the test
body *is* one example: there is no place for "after the whole run" on the same server, and the
function-scoped ``api`` fixture is silently shared between examples. Calling ``.example()`` is
not allowed in tests, and a coroutine cannot block on the loop it runs on.

So the test is an ordinary async test that owns the live server, and the property is a *sync*
``@given`` function run in a worker thread (``asyncio.to_thread``). While the test awaits that
thread the session loop keeps running (serving uvicorn and the httpx client), and each example
submits its request coroutine to that loop with ``asyncio.run_coroutine_threadsafe`` and waits
for the result. Hypothesis generates, replays and shrinks mutation plans exactly as in a plain
sync test (a failure is reported with the minimal falsifying plan); afterwards the test checks
the same server is still healthy.
"""

from __future__ import annotations

import asyncio
import functools
from collections import Counter
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support import photo_fixtures as fx
from tests.support import provenance_fixtures as pv
from tests.support.helpers import Api
from tests.support.photo_api import (
    PHOTO_KEYS,
    assert_photo_view,
    assert_still_serving,
    fetched_bytes,
    new_report,
    upload,
    upload_multipart,
)

T = TypeVar("T")

# ~70 ms per example (an upload, and a read-back when it is stored): 15 s or so.
MAX_EXAMPLES: Final = 200
EXAMPLE_TIMEOUT_S: Final = 60
ALLOWED_STATUSES: Final = frozenset({200, 201, 413, 415, 422})
PROBLEM_CODES: Final = {
    413: {"payload_too_large"},
    415: {"unsupported_media_type"},
    422: {"undecodable_image", "image_too_large"},
}
# Markers a sanitised JPEG may contain before its scan: APP0 (JFIF), DQT, SOF0, DHT, SOS.
ALLOWED_MARKERS: Final = frozenset({0xE0, 0xDB, 0xC0, 0xC4, 0xDA})
# Every planted value starts with this (tests.support.photo_fixtures.SECRETS do too).
PLANTED: Final = b"PSX-"
LEAKS: Final = (PLANTED, b"Exif\x00\x00", b"http://ns.adobe.com/xap/1.0/", b"ICC_PROFILE")
CONTENT_TYPES: Final = ("image/jpeg", "image/png", "image/webp", "image/heic", "multipart")


# --- the valid images that get mutated ------------------------------------------------------


@functools.cache
def bases() -> tuple[tuple[str, bytes], ...]:
    """Small valid images full of metadata (EXIF time and GPS, XMP AI marker and creator,
    planted strings), built once per run; exiftool writes them."""
    extra = [
        f"-XMP-iptcExt:DigitalSourceType={pv.IPTC_SOURCE_TYPE}trainedAlgorithmicMedia",
        "-XMP-dc:Creator=PSX-PROP-CREATOR",
        "-EXIF:Artist=PSX-PROP-ARTIST",
        "-EXIF:Make=Phone",
    ]
    exif: dict[str, Any] = {
        "taken": "2025:11:14 14:30:00",
        "offset": "-05:00",
        "lat": 40.7191,
        "lon": -74.0017,
        "extra": extra,
    }
    return (
        ("jpeg", pv.exif_image("JPEG", **exif)),
        ("png", pv.exif_image("PNG", **exif)),
        ("webp", pv.exif_image("WEBP", **exif)),
        ("jpeg-everything", fx.jpeg_with_everything(fx.asymmetric_image((64, 48)))),
    )


def header_fields(data: bytes) -> list[tuple[int, int]]:
    """(offset, width) of the fields a decoder trusts first: magic numbers, chunk lengths and
    the declared dimensions."""
    fields = [(0, 4), (4, 4), (8, 4), (12, 4)]
    sof = data.find(b"\xff\xc0")
    if data.startswith(b"\xff\xd8") and sof > 0:
        fields += [(sof + 2, 2), (sof + 5, 2), (sof + 7, 2)]  # length, height, width
    if data.startswith(b"\x89PNG"):
        fields += [(16, 4), (20, 4), (24, 1), (25, 1)]  # width, height, depth, colour type
    if data.startswith(b"RIFF"):
        fields += [(4, 4), (16, 4), (24, 3), (27, 3)]  # RIFF size, chunk size, canvas size
    return fields


# --- mutation plans ---------------------------------------------------------------------------

Position = st.integers(min_value=0, max_value=1 << 16)


@dataclass(frozen=True)
class Flip:
    at: int
    mask: int

    def apply(self, data: bytearray) -> None:
        if data:
            data[self.at % len(data)] ^= self.mask


@dataclass(frozen=True)
class Truncate:
    at: int

    def apply(self, data: bytearray) -> None:
        del data[self.at % (len(data) + 1) :]


@dataclass(frozen=True)
class Insert:
    at: int
    payload: bytes

    def apply(self, data: bytearray) -> None:
        at = self.at % (len(data) + 1)
        data[at:at] = self.payload


@dataclass(frozen=True)
class Duplicate:
    start: int
    length: int
    to: int

    def apply(self, data: bytearray) -> None:
        if not data:
            return
        start = self.start % len(data)
        chunk = data[start : start + self.length]
        to = self.to % (len(data) + 1)
        data[to:to] = chunk


@dataclass(frozen=True)
class Corrupt:
    """Overwrite one header field (chosen by index among ``header_fields``) with ``value``."""

    field_index: int
    value: int

    def apply(self, data: bytearray) -> None:
        fields = header_fields(bytes(data))
        offset, width = fields[self.field_index % len(fields)]
        if offset + width <= len(data):
            value = self.value & ((1 << (8 * width)) - 1)
            data[offset : offset + width] = value.to_bytes(width, "big")


Mutation = Flip | Truncate | Insert | Duplicate | Corrupt

mutations: st.SearchStrategy[Mutation] = st.one_of(
    st.builds(Flip, Position, st.integers(1, 255)),
    st.builds(Truncate, Position),
    st.builds(Insert, Position, st.binary(min_size=1, max_size=64)),
    st.builds(Duplicate, Position, st.integers(1, 4096), Position),
    st.builds(
        Corrupt,
        st.integers(0, 15),
        st.one_of(
            st.sampled_from([0, 1, 0x7F, 0x80, 0xFF, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF]),
            st.integers(0, 0xFFFFFFFF),
        ),
    ),
)


@dataclass(frozen=True)
class Plan:
    base: int
    steps: list[Mutation]
    content_type: str

    def data(self) -> bytes:
        _, original = bases()[self.base]
        mutated = bytearray(original)
        for step in self.steps:
            step.apply(mutated)
        return bytes(mutated)


plans = st.builds(
    Plan,
    st.integers(0, 3),
    st.lists(mutations, min_size=1, max_size=4),
    st.sampled_from(CONTENT_TYPES),
)


# --- one example over HTTP --------------------------------------------------------------------


@dataclass
class Reports:
    """Reports of one device to upload to; a new one before a report reaches its photo
    limit (409 is not what this property is about)."""

    api: Api
    token: str
    limit: int = 10
    current: str = ""
    stored: int = 0
    statuses: Counter[int] = field(default_factory=Counter)

    async def target(self) -> str:
        if not self.current or self.stored >= self.limit:
            self.current = await new_report(self.api, self.token)
            self.stored = 0
        return self.current


async def post_one(reports: Reports, plan: Plan) -> None:
    api, token = reports.api, reports.token
    report_id = await reports.target()
    data = plan.data()
    try:
        if plan.content_type == "multipart":
            response = await upload_multipart(api, token, report_id, data)
        else:
            response = await upload(api, token, report_id, data, plan.content_type)
    except httpx.TimeoutException as exc:
        raise AssertionError(f"no answer within the client's timeout: {exc!r}") from exc
    reports.statuses[response.status_code] += 1
    assert response.status_code in ALLOWED_STATUSES, (response.status_code, response.text)
    if response.status_code in (200, 201):
        if response.status_code == 201:
            reports.stored += 1
        await check_stored(api, token, report_id, response)
    else:
        check_problem(response)


def check_problem(response: httpx.Response) -> None:
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["status"] == response.status_code
    assert problem["code"] in PROBLEM_CODES[response.status_code], problem


async def check_stored(api: Api, token: str, report_id: str, response: httpx.Response) -> None:
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == PHOTO_KEYS
    assert_photo_view(body, report_id)
    stored = await fetched_bytes(api, token, body["id"])
    assert len(stored) == body["bytes"]
    assert [leak for leak in LEAKS if leak in stored] == []
    markers, end = fx.jpeg_markers(stored)
    assert set(markers) <= ALLOWED_MARKERS, [hex(m) for m in markers]
    assert end == len(stored)


async def test_mutated_photos_never_cause_a_server_error(api: Api) -> None:
    loop = asyncio.get_running_loop()
    reports = Reports(api, await api.device_token())
    for _, original in bases():  # the unmutated bases are accepted (the control)
        assert (await upload(api, reports.token, await reports.target(), original)).status_code in (
            200,
            201,
        )
        reports.stored += 1

    def on_loop(coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, loop).result(EXAMPLE_TIMEOUT_S)

    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        # Each example is an HTTP round trip plus image decoding in a worker process.
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(plan=plans)
    def uploads_are_handled(plan: Plan) -> None:
        on_loop(post_one(reports, plan))

    await asyncio.to_thread(uploads_are_handled)

    # The run explored both sides: some mutations were still pictures, others were refused.
    statuses = reports.statuses
    assert statuses[200] + statuses[201] > 0, statuses
    assert statuses[413] + statuses[415] + statuses[422] > 0, statuses
    # And the very same server is still fine.
    await assert_still_serving(api)
