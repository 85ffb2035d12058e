"""The photo worker pool under pressure: a full queue answers 503 with Retry-After at once, and
a worker that dies mid-photo costs one 503, not the service."""

from __future__ import annotations

import asyncio
import io
import os
import signal
import uuid
from collections.abc import AsyncIterator, Iterator

import asyncpg
import httpx
import psutil  # type: ignore[import-untyped]
import pytest
from PIL import Image

from api.app import create_app
from api.tasks.photo_workers import PhotoWorkers
from schemas.settings import Settings
from storage.db.pool import SingleConnectionDatabase
from tests.support import tus_client as tus
from tests.support.assertions import assert_problem
from tests.support.helpers import Api, bearer, observer_report
from tests.support.live_server import live_server


def noisy_jpeg(size: tuple[int, int], seed: int) -> bytes:
    # Noise does not compress: decoding and re-encoding it keeps a worker busy for a while.
    image = Image.effect_noise(size, 64 + seed % 32).convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=95)
    return buffer.getvalue()


@pytest.fixture
def single_worker() -> Iterator[PhotoWorkers]:
    workers = PhotoWorkers(1, 0, max_pixels=40_000_000)
    try:
        yield workers
    finally:
        workers.close()


@pytest.fixture
async def tight_api(
    settings: Settings, conn: asyncpg.Connection, single_worker: PhotoWorkers
) -> AsyncIterator[Api]:
    """An app whose photo pool has one worker and no queue."""
    app = create_app(settings, database=SingleConnectionDatabase(conn), photo_workers=single_worker)
    async with (
        live_server(app) as base_url,
        httpx.AsyncClient(base_url=base_url, timeout=60.0) as client,
    ):
        yield Api(client, conn)


async def new_report(api: Api) -> tuple[str, str]:
    token = await api.device_token()
    response = await api.submit(token, observer_report())
    assert response.status_code == 201, response.text
    return token, response.json()["id"]


async def upload(api: Api, token: str, report_id: str, data: bytes) -> httpx.Response:
    return await api.client.post(
        f"/v1/reports/{report_id}/photos",
        content=data,
        headers={**bearer(token), "Content-Type": "image/jpeg"},
    )


async def wait_until_busy(workers: PhotoWorkers) -> None:
    async with asyncio.timeout(30):
        while workers.in_flight < workers.capacity:  # noqa: ASYNC110 - the pool has no event
            await asyncio.sleep(0.005)


async def test_a_full_queue_answers_503_with_retry_after_at_once(
    tight_api: Api, single_worker: PhotoWorkers
) -> None:
    token, report_id = await new_report(tight_api)
    first = asyncio.create_task(upload(tight_api, token, report_id, noisy_jpeg((3000, 2000), 1)))
    await wait_until_busy(single_worker)

    refused = await upload(tight_api, token, report_id, noisy_jpeg((64, 64), 2))
    assert_problem(refused, 503)
    assert refused.json()["code"] == "photo_workers_busy"
    assert int(refused.headers["Retry-After"]) > 0
    # Other requests are not stalled meanwhile.
    assert (await tight_api.client.get("/healthz")).status_code == 200

    assert (await first).status_code == 201
    retried = await upload(tight_api, token, report_id, noisy_jpeg((64, 64), 2))
    assert retried.status_code == 201, retried.text


async def test_a_worker_killed_mid_photo_costs_one_503_and_the_pool_recovers(
    tight_api: Api, single_worker: PhotoWorkers
) -> None:
    token, report_id = await new_report(tight_api)
    doomed = asyncio.create_task(upload(tight_api, token, report_id, noisy_jpeg((4000, 3000), 3)))
    await wait_until_busy(single_worker)
    pids = single_worker.worker_pids()
    assert pids, "no worker process found"
    children = {child.pid for child in psutil.Process(os.getpid()).children(recursive=True)}
    assert pids <= children
    # Give the job a moment to reach the worker, then kill the pool's only worker.
    await asyncio.sleep(0.3)
    for pid in pids:
        os.kill(pid, signal.SIGKILL)

    answer = await doomed
    assert_problem(answer, 503)
    assert "Retry-After" in answer.headers
    again = await upload(tight_api, token, report_id, noisy_jpeg((320, 240), 4))
    assert again.status_code == 201, again.text


async def test_a_completing_patch_refused_as_busy_is_finished_by_an_empty_patch(
    tight_api: Api, single_worker: PhotoWorkers
) -> None:
    """The last PATCH of a tus upload stores its bytes, then finds every photo worker busy:
    503, and HEAD says the bytes are all there but no photo yet. An empty PATCH at that offset
    processes them (a tus client that stopped at Upload-Offset == Upload-Length would leave
    the photo unstored: the 503 says what to do)."""
    token, report_id = await new_report(tight_api)
    data = noisy_jpeg((320, 240), 7)
    created = await tus.create(tight_api.client, token, report_id, len(data))
    assert created.status_code == 201, created.text
    location = created.headers["Location"]
    assert (await tus.patch(tight_api.client, token, location, 0, data[:1000])).status_code == 204

    first = asyncio.create_task(upload(tight_api, token, report_id, noisy_jpeg((3000, 2000), 3)))
    await wait_until_busy(single_worker)
    refused = await tus.patch(tight_api.client, token, location, 1000, data[1000:])
    problem = assert_problem(refused, 503)
    assert problem["code"] == "photo_workers_busy"
    assert int(refused.headers["Retry-After"]) > 0
    assert f"empty PATCH at Upload-Offset {len(data)}" in problem["detail"], problem
    assert (await first).status_code == 201

    head = await tus.head(tight_api.client, token, location)
    assert int(head.headers["Upload-Offset"]) == len(data)
    assert "Plainsight-Photo-Id" not in head.headers
    # Re-sending the last chunk is refused as tus says (the offset moved on) ...
    again = await tus.patch(tight_api.client, token, location, 1000, data[1000:])
    assert assert_problem(again, 409)["code"] == "upload_offset_mismatch"
    # ... and an empty PATCH at the stored offset processes the stored bytes.
    finished = await tus.patch(tight_api.client, token, location, len(data), b"")
    assert finished.status_code == 204, finished.text
    photo_id = finished.headers["Plainsight-Photo-Id"]
    head = await tus.head(tight_api.client, token, location)
    assert head.headers["Plainsight-Photo-Id"] == photo_id
    photos = await tight_api.conn.fetchval(
        "select count(*) from photos where report_id = $1", uuid.UUID(report_id)
    )
    assert photos == 2
