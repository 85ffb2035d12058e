"""Three replicas behind nginx, as the README runs them, driven over HTTPS while one of them is
killed (SIGKILL, its photo workers too) and started again.

Checked: every acknowledged report is stored exactly once (lost 0, duplicates 0) and its
receipt verifies; photos are in the bucket; the Redis-backed limits hold across replicas (exact
429 counts); the folder and retention run on one replica at a time (PostgreSQL's lock table
sampled throughout, and retention's audited counts); the statistics served equal a recount
from scratch; nothing logs a client address. The figures are printed (pytest -s shows them).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import ssl
import time
import uuid
import warnings
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import boto3
import h3
import httpx
import pytest
import redis
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from prometheus_client.parser import text_string_to_metric_families

from storage.db import locks
from storage.db.pool import connect
from storage.reports.receipts import b64url_decode, canonical_json
from tests.integration.deployment.conftest import (
    DEVICES_PER_ADDRESS,
    METRICS_TOKEN,
    PHOTOS_PER_DEVICE,
    SUPPRESSION_THRESHOLD,
    Deployment,
)
from tests.integration.deployment.scenario import (
    AREAS,
    MONTHS,
    UNCLEAR,
    Planned,
    Traffic,
    plan_reports,
    report_body,
    until_acknowledged,
)
from tests.support import tus_client as tus
from tests.support.cli import run_cli
from tests.support.helpers import PASSWORD, bearer
from tests.support.photo_api import tiny_jpeg
from tests.support.recount import compare, expected_counts
from tests.support.replicas import Replica
from tests.support.s3_server import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY

pytestmark = [pytest.mark.slow, pytest.mark.deployment]

DEVICES = 16
# Client addresses: nginx sees each (all loopback); the replicas see nginx, 127.0.0.1, and
# believe its X-Forwarded-For (PLAINSIGHT_TRUSTED_PROXIES).
REPORTERS = "127.0.0.3"
LIMITED = "127.0.0.2"
FRESH = "127.0.0.4"
CLIENT_ADDRESSES = (REPORTERS, LIMITED, FRESH)
OVER_LIMIT = 4
SAMPLE_INTERVAL_S = 0.02
STATS = "/v1/stats/identification"


def client(deployment: Deployment, address: str = REPORTERS, **kwargs: Any) -> httpx.AsyncClient:
    """HTTPS to nginx from ``address``, trusting only the test's certificate."""
    context = deployment.certificate.client_context()
    transport = httpx.AsyncHTTPTransport(local_address=address, verify=context, retries=0)
    return httpx.AsyncClient(
        base_url=deployment.nginx.https_url, transport=transport, timeout=30.0, **kwargs
    )


async def test_nginx_terminates_tls_as_configured(deployment: Deployment) -> None:
    async with client(deployment) as https:
        health = await https.get("/healthz")
        assert health.status_code == 200
        assert health.headers["strict-transport-security"] == "max-age=63072000"
        assert health.headers["server"] == "nginx"  # server_tokens off: no version
        assert health.http_version == "HTTP/1.1"
        # Prometheus scrapes each replica: through the proxy /metrics is absent, even with
        # the token, and HSTS comes with errors too ("always").
        hidden = await https.get("/metrics", headers=bearer(METRICS_TOKEN))
        assert hidden.status_code == 404
        assert "strict-transport-security" in hidden.headers
        # A service error answer passes through unchanged (problem+json naming the field).
        bad = await https.post("/v1/reports", json={"kind": "observer_report"})
        assert bad.status_code == 401
        assert bad.headers["content-type"].startswith("application/problem+json")
    # Plain HTTP only redirects to HTTPS.
    async with httpx.AsyncClient(base_url=deployment.nginx.http_url) as plain:
        redirect = await plain.get("/v1/codebook?lang=es")
    assert redirect.status_code == 301
    assert redirect.headers["location"].startswith("https://127.0.0.1")
    assert redirect.headers["location"].endswith("/v1/codebook?lang=es")
    # TLS 1.2 and 1.3 are spoken; 1.1 is refused; an unknown certificate is refused.
    for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        assert await negotiated(deployment, version) == version.name.replace("v1_", "v1.")
    with pytest.raises(ssl.SSLError):
        await negotiated(deployment, ssl.TLSVersion.TLSv1_1)
    async with httpx.AsyncClient(base_url=deployment.nginx.https_url) as untrusting:
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await untrusting.get("/healthz")
    # A body larger than the shipped limit for its location is refused by nginx itself.
    async with client(deployment) as https:
        too_big = await https.post("/v1/reports", content=b"x" * (10 * 1024 * 1024 + 1))
    assert too_big.status_code == 413


async def negotiated(deployment: Deployment, version: ssl.TLSVersion) -> str:
    context = deployment.certificate.client_context()
    with warnings.catch_warnings():
        # Python deprecates offering TLS 1.1; this client offers it only to see it refused.
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = context.maximum_version = version
    if version < ssl.TLSVersion.TLSv1_2:
        context.set_ciphers("DEFAULT:@SECLEVEL=0")  # let the client offer it at all
    port = int(deployment.nginx.https_url.rsplit(":", 1)[1])
    _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
    try:
        ssl_object = writer.get_extra_info("ssl_object")
        assert ssl_object is not None
        return str(ssl_object.version())
    finally:
        writer.close()
        await writer.wait_closed()


@dataclass
class LockSamples:
    """What PostgreSQL's lock table showed of the folder's and retention's advisory locks."""

    samples: int = 0
    holders: dict[int, Counter[str]] = field(default_factory=dict)
    """Lock key → replica (application_name) → samples in which it held the lock."""
    most_at_once: dict[int, int] = field(default_factory=dict)

    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    async def stop(self) -> None:
        self.stopping.set()
        if self.task is not None:
            await self.task

    def seen(self, key: int, names: list[str]) -> None:
        self.holders.setdefault(key, Counter()).update(names)
        self.most_at_once[key] = max(self.most_at_once.get(key, 0), len(names))


HELD_LOCKS = """
select ((l.classid::bigint << 32) | l.objid::bigint) as key, a.application_name
from pg_locks l join pg_stat_activity a on a.pid = l.pid
where l.locktype = 'advisory' and l.granted and l.objsubid = 1
  and l.database = (select oid from pg_database where datname = current_database())
"""


@pytest.fixture
async def owner(deployment: Deployment) -> AsyncIterator[asyncpg.Connection]:
    """The operator's connection (the database owner's)."""
    conn = await connect(deployment.database_url)
    try:
        yield conn
    finally:
        await conn.close()


@pytest.fixture
async def lock_samples(deployment: Deployment) -> AsyncIterator[LockSamples]:
    """PostgreSQL's lock table sampled from now until ``stop()`` (or the test's end)."""
    samples = LockSamples()
    task = asyncio.create_task(sample_locks(deployment.database_url, samples))
    samples.task = task
    try:
        yield samples
    finally:
        await samples.stop()


async def sample_locks(dsn: str, samples: LockSamples) -> None:
    conn = await connect(dsn)
    try:
        while not samples.stopping.is_set():
            rows = await conn.fetch(HELD_LOCKS)
            samples.samples += 1
            for key in (locks.FOLDER, locks.RETENTION):
                samples.seen(key, [r["application_name"] for r in rows if r["key"] == key])
            await asyncio.sleep(SAMPLE_INTERVAL_S)
    finally:
        await conn.close()


def requests_by_replica(text: str, method: str, suffix: str) -> Counter[int]:
    """Status code → API requests answered (``method``, a path ending in ``suffix``; empty:
    any), from one replica's /metrics since it started."""
    counts: Counter[int] = Counter()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = sample.labels
            if (
                sample.name == "plainsight_requests_total"
                and labels.get("method", "").startswith(method)
                and labels.get("path", "").startswith("/v1/")
                and labels.get("path", "").endswith(suffix)
            ):
                counts[int(labels["status_code"])] += int(sample.value)
    return counts


async def scrape(deployment: Deployment, method: str, suffix: str) -> dict[str, Counter[int]]:
    return {
        replica.name: requests_by_replica(await replica.metrics(METRICS_TOKEN), method, suffix)
        for replica in deployment.replicas
        if replica.running
    }


async def until_rejoined(
    deployment: Deployment, https: httpx.AsyncClient, replica: Replica, traffic: Traffic
) -> float:
    """Seconds until nginx sends the restarted replica requests again (it is left out for
    fail_timeout after a failure, then tried)."""
    began = time.monotonic()
    while time.monotonic() - began < 15:
        response = await https.get("/v1/codebook")
        traffic.statuses[response.status_code] += 1
        assert response.status_code == 200
        counts = requests_by_replica(await replica.metrics(METRICS_TOKEN), "GET", "/codebook")
        if counts[200]:
            return time.monotonic() - began
        await asyncio.sleep(0.1)
    pytest.fail(f"{replica.name} got no request through nginx within 15 s of its restart")


def verify_receipt(public_key: Ed25519PublicKey, receipt: dict[str, Any]) -> None:
    signed = {k: receipt[k] for k in ("report_id", "client_id", "payload_sha256", "received_at")}
    public_key.verify(b64url_decode(receipt["signature"]), canonical_json(signed))


@dataclass
class Reporter:
    """One phone: a device token, and an offline queue worked through in order."""

    token: str
    queue: list[Planned]
    photos: list[dict[str, Any]] = field(default_factory=list)


async def register(https: httpx.AsyncClient, traffic: Traffic) -> str:
    response = await until_acknowledged(traffic, lambda: https.post("/v1/devices"))
    assert response.status_code == 201, response.text
    token: str = response.json()["token"]
    return token


async def work_queue(
    https: httpx.AsyncClient,
    reporter: Reporter,
    traffic: Traffic,
    acknowledged: Callable[[], None],
) -> None:
    headers = bearer(reporter.token)
    for plan in reporter.queue:
        body = plan.body
        first = await until_acknowledged(
            traffic, lambda body=body: https.post("/v1/reports", json=body, headers=headers)
        )
        # 201, or 200 when the replica that stored it died before answering and the same
        # body was sent again (by nginx or by this queue): the same report either way.
        assert first.status_code in (200, 201), first.text
        traffic.replayed += first.status_code == 200
        plan.response = first.json()
        plan.id = uuid.UUID(plan.response["id"])
        acknowledged()
        if plan.resend:
            again = await until_acknowledged(
                traffic, lambda body=body: https.post("/v1/reports", json=body, headers=headers)
            )
            assert again.status_code == 200
            assert again.json() == plan.response
        if plan.photo:
            image = tiny_jpeg(plan.id.int % 100_000)
            path = f"/v1/reports/{plan.id}/photos"
            stored = await until_acknowledged(
                traffic,
                lambda path=path, image=image: https.post(
                    path, content=image, headers={**headers, "Content-Type": "image/jpeg"}
                ),
            )
            reporter.photos.append(stored.json())


async def review(https: httpx.AsyncClient, token: str, plan: Planned, traffic: Traffic) -> None:
    assert plan.review is not None
    assert plan.id is not None
    body: dict[str, Any] = {"status": plan.review}
    if plan.review == "rejected":
        body["reason"] = "duplicate"
    path = f"/v1/reports/{plan.id}/review"
    response = await until_acknowledged(
        traffic, lambda: https.post(path, json=body, headers=bearer(token))
    )
    assert response.json()["status"] == plan.review


async def in_batches(jobs: list[Awaitable[None]], size: int) -> None:
    for start in range(0, len(jobs), size):
        await asyncio.gather(*jobs[start : start + size])


async def test_replicas_behind_nginx_lose_nothing_and_count_once(
    deployment: Deployment, owner: asyncpg.Connection, lock_samples: LockSamples
) -> None:
    started = time.monotonic()
    traffic = Traffic()
    plans = plan_reports()
    victim = deployment.replicas[1]
    samples = lock_samples
    async with client(deployment, REPORTERS) as https:
        # The key every replica publishes is the shared one.
        key = await https.get("/v1/receipts/public-key")
        assert key.json()["public_key"] == deployment.receipt_public_key
        public_key = Ed25519PublicKey.from_public_bytes(b64url_decode(key.json()["public_key"]))

        # A moderator account made with the CLI, as operators do, signed in through nginx.
        email = f"moderator-{uuid.uuid4().hex[:8]}@example.org"
        made = await run_cli(
            "users", "create", "--email", email, "--role", "moderator",
            env=deployment.cli_env, stdin=PASSWORD + "\n",
        )  # fmt: skip
        assert made.returncode == 0, made.stderr
        session = await until_acknowledged(
            traffic,
            lambda: https.post("/v1/sessions", json={"email": email, "password": PASSWORD}),
        )
        moderator = session.json()["token"]

        tokens = await asyncio.gather(*(register(https, traffic) for _ in range(DEVICES)))
        reporters = [Reporter(token, plans[i::DEVICES]) for i, token in enumerate(tokens)]
        total = len(plans)
        done = 0
        kill_now, restart_now = asyncio.Event(), asyncio.Event()

        def acknowledged() -> None:
            nonlocal done
            done += 1
            if done >= total // 3:
                kill_now.set()
            if done >= 2 * total // 3:
                restart_now.set()

        async def chaos() -> tuple[float, float]:
            await kill_now.wait()
            await age_reports(owner, plans)
            await victim.kill()
            killed_at = time.monotonic()
            await age_reports(owner, plans)  # for retention's next round, a replica down
            await restart_now.wait()
            await victim.start()
            return killed_at - started, time.monotonic() - started

        chaos_task = asyncio.create_task(chaos())
        queues_done = asyncio.Event()
        watching = asyncio.create_task(dashboard(https, moderator, plans, traffic, queues_done))
        await asyncio.gather(
            *(work_queue(https, reporter, traffic, acknowledged) for reporter in reporters)
        )
        queues_done.set()
        killed_at, restarted_at = await chaos_task
        live_queries = await watching
        rejoined = await until_rejoined(deployment, https, victim, traffic)
        await age_reports(owner, plans)  # the rest
        assert victim.running
        assert victim.starts == 2
        assert len(victim.kills) == 1

        # The same client_id with other content is a conflict on every replica.
        first = next(p for p in plans if not p.retention)
        owner_token = next(r.token for r in reporters if first in r.queue)
        changed = {**first.body, "narrative": "changed after the fact"}
        conflict = await https.post("/v1/reports", json=changed, headers=bearer(owner_token))
        traffic.statuses[conflict.status_code] += 1
        assert conflict.status_code == 409

        # A resumable upload whose two PATCHes may reach different replicas (bytes in S3).
        tus_photo = await resumable_upload(https, reporters[0], traffic)

        # Moderators review through the proxy.
        await in_batches(
            [review(https, moderator, p, traffic) for p in plans if p.review is not None], 6
        )

        # Rate limits in Redis hold across replicas: photos per device.
        probed = await photo_limit(deployment, https, traffic)
        plans.append(probed.probe)
        # ...and registrations per client address.
        device_429s = await device_limit(deployment, traffic)

        await retention_done(owner, plans)
        served, recounted = await statistics(https, moderator, plans, traffic)
        photos_fetched = await fetch_photos(https, moderator, reporters, traffic)
    await samples.stop()

    # Nothing acknowledged is lost, nothing is stored twice.
    acknowledged_ids = {p.id for p in plans}
    rows = await owner.fetch("select id, device_id, client_id from reports")
    stored = Counter(row["id"] for row in rows)
    per_client = Counter((row["device_id"], row["client_id"]) for row in rows)
    lost = len(acknowledged_ids - set(stored))
    duplicates = sum(n - 1 for n in per_client.values()) + len(set(stored) - acknowledged_ids)
    assert (lost, duplicates) == (0, 0)
    for plan in plans:
        assert plan.response is not None
        verify_receipt(public_key, plan.response["receipt"])
    assert (
        await owner.fetchval("select count(*) from reports where fold_pending_since is not null")
        == 0
    )

    # Photos: each acknowledged one stored once, in the bucket, its bytes hashing to its name.
    photo_rows = await owner.fetch("select id, sha256 from photos")
    acknowledged_photos = {p["id"] for r in reporters for p in r.photos}
    acknowledged_photos |= {tus_photo, *probed.stored}
    # Exactly those: the refused (429) uploads left nothing.
    assert {str(row["id"]) for row in photo_rows} == acknowledged_photos
    in_bucket = bucket_objects(deployment)
    for row in photo_rows:
        assert in_bucket.get(row["sha256"]) == row["sha256"], row["sha256"]

    # One replica at a time ran the folder and retention, and more than one took its turn.
    folder_holders = samples.holders.get(locks.FOLDER, Counter())
    assert samples.most_at_once.get(locks.FOLDER, 0) == 1
    assert samples.most_at_once.get(locks.RETENTION, 0) == 1
    assert len(folder_holders) >= 2, folder_holders
    retention = await retention_runs(owner, deployment)
    aged = sum(1 for p in plans if p.retention)
    assert all(p.aged for p in plans if p.retention)
    assert retention["audited_coarsened"] == aged
    assert retention["logged_coarsened"] == aged

    # No client address anywhere: not in nginx's logs, the replicas' logs, nor Redis's keys.
    logs = deployment.nginx.logs()
    for name, text in logs.items():
        assert "client:" not in text, (name, text[-2000:])
        assert not any(address in text for address in CLIENT_ADDRESSES), name
    assert logs["access.log"] == ""
    for replica in deployment.replicas:
        output = replica.output()
        assert not any(address in output for address in CLIENT_ADDRESSES), replica.name
    with redis.Redis.from_url(deployment.redis_url) as store:
        keys = [k.decode() for k in store.scan_iter(match=f"{deployment.redis_prefix}*")]
    assert keys
    assert not any("127.0.0." in key for key in keys)

    answered = {
        replica.name: sum(
            requests_by_replica(await replica.metrics(METRICS_TOKEN), "", "").values()
        )
        for replica in deployment.replicas
    }

    elapsed = time.monotonic() - started
    print(
        "\n".join(
            [
                "",
                f"replicas: {len(deployment.replicas)}; killed {victim.name} (SIGKILL) at "
                f"{killed_at:.1f} s, restarted at {restarted_at:.1f} s, answering through nginx "
                f"again {rejoined:.1f} s later; API requests answered "
                f"since each one's last start: {answered}",
                f"requests through the proxy: {traffic.requests} "
                f"({dict(sorted(traffic.statuses.items()))}, transport errors "
                f"{traffic.transport_errors}, re-sent by the clients {traffic.resent}: "
                f"{dict(traffic.failed)})",
                f"reports acknowledged: {len(plans)}; lost: {lost}; duplicates: "
                f"{duplicates}; receipts verified: {len(plans)}; first answered by a replay: "
                f"{traffic.replayed}",
                f"photos: {len(photo_rows)} stored, all in the bucket; "
                f"{photos_fetched} read back through the proxy",
                f"429s: photos {probed.refused} of {PHOTOS_PER_DEVICE + OVER_LIMIT} "
                f"(limit {PHOTOS_PER_DEVICE}/day; answered by {probed.answered}); "
                f"registrations {device_429s}",
                f"lock samples: {samples.samples}; folder held by "
                f"{dict(folder_holders)}, at most {samples.most_at_once[locks.FOLDER]} at once; "
                f"retention held by {dict(samples.holders.get(locks.RETENTION, Counter()))}",
                f"retention: {aged} reports aged, coarsened once each: {retention['by_replica']}",
                f"statistics: {live_queries} queries during the load, each counting every "
                f"report acknowledged before it; at the end {served} tables equal the recount "
                f"({recounted} cells)",
                f"runtime: {elapsed:.1f} s",
            ]
        )
    )


async def age_reports(owner: asyncpg.Connection, plans: list[Planned]) -> None:
    """Make the retention reports acknowledged so far older than the retention period
    (received two days ago), as time would: a replica's next retention round coarsens them."""
    wave = [p for p in plans if p.retention and p.id is not None and not p.aged]
    for plan in wave:
        plan.aged = True
    ids = [p.id for p in wave]
    await owner.execute(
        "update reports set received_at = received_at - interval '2 days'"
        " where id = any($1::uuid[])",
        ids,
    )


FINE_CELLS = """
select count(*) from reports where id = any($1::uuid[]) and ((h3_cell >> 52) & 15) > 7
"""


async def retention_done(owner: asyncpg.Connection, plans: list[Planned]) -> None:
    ids = [p.id for p in plans if p.retention]
    for _ in range(150):
        left = await owner.fetchval(FINE_CELLS, ids)
        if left == 0:
            return
        await asyncio.sleep(0.1)
    pytest.fail(f"{left} aged reports were not coarsened by any replica")


async def retention_runs(owner: asyncpg.Connection, deployment: Deployment) -> dict[str, Any]:
    audited = [
        json.loads(details)
        for details in await owner.fetchval(
            "select coalesce(array_agg(details::text order by id), '{}')"
            " from audit_log where action = 'retention.run'"
        )
    ]
    by_replica: dict[str, int] = {}
    for replica in deployment.replicas:
        for line in replica.output().splitlines():
            if '"retention applied"' in line:
                entry = json.loads(line)
                by_replica[replica.name] = (
                    by_replica.get(replica.name, 0) + entry["reports_coarsened"]
                )
    return {
        "audited_coarsened": sum(entry["reports_coarsened"] for entry in audited),
        "logged_coarsened": sum(by_replica.values()),
        "by_replica": by_replica,
    }


async def resumable_upload(https: httpx.AsyncClient, reporter: Reporter, traffic: Traffic) -> str:
    plan = next(p for p in reporter.queue if not p.retention)
    image = tiny_jpeg(7_000_001, size=(320, 200))
    created = await tus.create(https, reporter.token, str(plan.id), len(image))
    traffic.statuses[created.status_code] += 1
    assert created.status_code == 201, created.text
    location = created.headers["location"]
    half = len(image) // 2
    first = await tus.patch(https, reporter.token, location, 0, image[:half])
    second = await tus.patch(https, reporter.token, location, half, image[half:])
    for response in (first, second):
        traffic.statuses[response.status_code] += 1
        assert response.status_code == 204, response.text
    photo_id: str = second.headers["plainsight-photo-id"]
    return photo_id


@dataclass
class PhotoLimit:
    probe: Planned
    """The probing device's report: acknowledged, so it counts like any other."""
    stored: list[str]
    refused: int
    answered: dict[str, int]
    """Replica → photo uploads it answered during the probe."""


async def photo_limit(
    deployment: Deployment, https: httpx.AsyncClient, traffic: Traffic
) -> PhotoLimit:
    """One device sends PHOTOS_PER_DEVICE + OVER_LIMIT photos one after another, balanced over
    the replicas: exactly OVER_LIMIT answers are 429, from more than one replica."""
    token = await register(https, traffic)
    # In slot 4 of the first month's first area: it joins that incident.
    centre = h3.cell_to_center_child(AREAS[0], 9)
    probe = Planned(report_body(centre, MONTHS[0] + timedelta(hours=12, minutes=15), UNCLEAR))
    report = await until_acknowledged(
        traffic, lambda: https.post("/v1/reports", json=probe.body, headers=bearer(token))
    )
    probe.response = report.json()
    probe.id = uuid.UUID(probe.response["id"])
    path = f"/v1/reports/{probe.id}/photos"
    before = await scrape(deployment, "POST", "/photos")
    statuses: Counter[int] = Counter()
    stored = []
    for seed in range(PHOTOS_PER_DEVICE + OVER_LIMIT):
        image = tiny_jpeg(9_000_000 + seed)
        response = await until_acknowledged(
            traffic,
            lambda image=image: https.post(
                path, content=image, headers={**bearer(token), "Content-Type": "image/jpeg"}
            ),
            accept=frozenset({201, 429}),
        )
        statuses[response.status_code] += 1
        if response.status_code == 201:
            stored.append(response.json()["id"])
    after = await scrape(deployment, "POST", "/photos")
    assert statuses == {201: PHOTOS_PER_DEVICE, 429: OVER_LIMIT}
    answered = {name: sum((after[name] - before.get(name, Counter())).values()) for name in after}
    refused = sum(after[name][429] - before.get(name, Counter())[429] for name in after)
    assert refused == OVER_LIMIT
    assert sum(1 for n in answered.values() if n) >= 2, answered
    return PhotoLimit(probe, stored, statuses[429], answered)


async def device_limit(deployment: Deployment, traffic: Traffic) -> dict[int, int]:
    """Registrations per client address: one address sends DEVICES_PER_ADDRESS + OVER_LIMIT;
    a forged X-Forwarded-For does not move it to another address's allowance."""
    before = await scrape(deployment, "POST", "/v1/devices")
    async with client(deployment, LIMITED) as limited, client(deployment, FRESH) as fresh:
        statuses: Counter[int] = Counter()
        for _ in range(DEVICES_PER_ADDRESS + OVER_LIMIT):
            response = await until_acknowledged(
                traffic, lambda: limited.post("/v1/devices"), accept=frozenset({201, 429})
            )
            statuses[response.status_code] += 1
        forged = await limited.post("/v1/devices", headers={"X-Forwarded-For": "198.51.100.7"})
        other = await fresh.post("/v1/devices")
        for response in (forged, other):
            traffic.statuses[response.status_code] += 1
    after = await scrape(deployment, "POST", "/v1/devices")
    refusing = [name for name in after if after[name][429] > before.get(name, Counter())[429]]
    assert len(refusing) >= 2, (before, after)  # the count is shared, not per replica
    # Each client its own allowance (nginx's X-Forwarded-For, believed from it alone): exactly
    # the excess is refused, a forged header does not escape it, another address registers.
    assert statuses == {201: DEVICES_PER_ADDRESS, 429: OVER_LIMIT}
    assert forged.status_code == 429
    assert other.status_code == 201
    return dict(statuses)


async def dashboard(
    https: httpx.AsyncClient,
    token: str,
    plans: list[Planned],
    traffic: Traffic,
    stop: asyncio.Event,
) -> int:
    """A researcher's view while the queues run and a replica dies: every answer counts every
    report acknowledged before the query was sent (whatever replica stored it, the query folds
    first), and never more reports than were sent."""
    params = {"from": "2025-01-01", "to": "2025-03-31", "group_by": "month", "unit": "report"}
    ceiling = Counter(month for month, _ in report_cells(p.body for p in plans))
    queries = 0
    while not stop.is_set():
        acknowledged = [p.body for p in plans if p.id is not None]
        response = await until_acknowledged(
            traffic, lambda: https.get(STATS, params=params, headers=bearer(token))
        )
        served = {row["month"]: row["total"] for row in response.json()["rows"]}
        # A month-area with at least the threshold of reports is published whole (every
        # report of the scenario has the same agency, masking and kind).
        floor: Counter[str] = Counter()
        for (month, _), count in Counter(report_cells(acknowledged)).items():
            if count >= SUPPRESSION_THRESHOLD:
                floor[month] += count
        for month, count in floor.items():
            assert served.get(month, 0) >= count, (month, served, floor)
        for month, count in served.items():
            assert count <= ceiling[month], (month, served, ceiling)
        queries += 1
        await asyncio.sleep(0.25)
    return queries


def report_cells(bodies: Iterable[dict[str, Any]]) -> list[tuple[str, str]]:
    """(month, res-7 area) of each report body."""
    cells = []
    for body in bodies:
        month = datetime.fromisoformat(body["occurred_at"]).astimezone(UTC).strftime("%Y-%m")
        location = body["location"]
        cell = h3.latlng_to_cell(location["lat"], location["lon"], 7)
        cells.append((month, str(cell)))
    return cells


STAT_QUERIES = (
    ("month", "incident", "all"),
    ("month,area", "incident", "all"),
    ("month", "report", "all"),
    ("month,area", "report", "all"),
    ("month", "incident", "verified"),
    ("month", "report", "verified"),
)


async def statistics(
    https: httpx.AsyncClient, token: str, plans: list[Planned], traffic: Traffic
) -> tuple[int, int]:
    """Every table equals the recount from what the clients sent and the moderators decided
    (every cell at least the threshold, so none is withheld)."""
    sent = [p.sent() for p in plans]
    cells = 0
    for group_by, unit, status in STAT_QUERIES:
        params = {"from": "2025-01-01", "to": "2025-03-31", "group_by": group_by,
                  "unit": unit, "status": status}  # fmt: skip
        response = await until_acknowledged(
            traffic, lambda params=params: https.get(STATS, params=params, headers=bearer(token))
        )
        dimensions = group_by.split(",")
        expected = expected_counts(sent, group_by=dimensions, unit=unit, status=status)
        assert all(sum(c.values()) >= SUPPRESSION_THRESHOLD for c in expected.values()), expected
        problems = compare(response.json()["rows"], expected, dimensions)
        assert problems == [], (group_by, unit, status, problems)
        cells += len(expected)
    return len(STAT_QUERIES), cells


async def fetch_photos(
    https: httpx.AsyncClient, token: str, reporters: list[Reporter], traffic: Traffic
) -> int:
    count = 0
    for reporter in reporters:
        for photo in reporter.photos:
            response = await until_acknowledged(
                traffic,
                lambda photo=photo: https.get(f"/v1/photos/{photo['id']}", headers=bearer(token)),
            )
            assert hashlib.sha256(response.content).hexdigest() == photo["sha256"]
            count += 1
    return count


def bucket_objects(deployment: Deployment) -> dict[str, str]:
    """Photo key → sha256 of the object's bytes, for every photo object in the bucket."""
    s3 = boto3.client(
        "s3",
        endpoint_url=deployment.s3_endpoint,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET_ACCESS_KEY,
    )
    found = {}
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=deployment.bucket, Prefix="photos/")
    for page in pages:
        for item in page.get("Contents", []):
            name = item["Key"].rsplit("/", 1)[1].split(".")[0]
            data = s3.get_object(Bucket=deployment.bucket, Key=item["Key"])["Body"].read()
            found[name] = hashlib.sha256(data).hexdigest()
    return found
