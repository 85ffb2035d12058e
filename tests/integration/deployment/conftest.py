"""A deployment as the README describes it: one PostgreSQL database, one Redis, one S3 bucket,
several `plainsight serve` replicas sharing them and one receipt key, and nginx in front with
the shipped configuration and a certificate made here."""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import cast
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest
import redis
from nacl.bindings import crypto_sign_seed_keypair

from storage.db.roles import prepare_service_database
from storage.reports.receipts import b64url
from tests.support.cli import cli_environment, free_port, run_cli
from tests.support.nginx import Certificate, Nginx, running_nginx, self_signed_certificate
from tests.support.replicas import Replica
from tests.support.s3_server import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY, running_s3_server

REPLICAS = 3
METRICS_TOKEN = "deployment-test-metrics-token-0123456789abcdef"
# Limits the scenario reaches on purpose (the others are the defaults, never reached):
# registrations per client address, and photos per device (a phone sends two at most, but
# every re-sent attempt counts too). Per day, so that no allowance comes back while the
# test runs.
DEVICES_PER_ADDRESS = 24
PHOTOS_PER_DEVICE = 12
SUPPRESSION_THRESHOLD = 5  # the smallest allowed: every cell of the scenario reaches it


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """TEST_REDIS_URL (CI always sets it; it must answer), else a redis-server started here.
    Never skipped: without either the test fails saying what to do."""
    url = os.environ.get("TEST_REDIS_URL")
    if url:
        try:
            with redis.Redis.from_url(url, socket_connect_timeout=2) as client:
                client.ping()
        except (redis.RedisError, OSError) as exc:
            pytest.fail(f"TEST_REDIS_URL is set but no Redis answers at {url}: {exc}")
        yield url
        return
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("no Redis: set TEST_REDIS_URL or apt-get install redis-server")
    port = free_port()
    directory = tmp_path_factory.mktemp("redis")
    process = subprocess.Popen(
        [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no",
         "--dir", str(directory)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"
    try:
        for _ in range(100):
            try:
                with redis.Redis.from_url(url, socket_connect_timeout=1) as client:
                    client.ping()
                break
            except (redis.RedisError, OSError):
                if process.poll() is not None:
                    pytest.fail(f"redis-server exited with {process.returncode}")
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


@dataclass
class Deployment:
    nginx: Nginx
    replicas: list[Replica]
    database_url: str
    """The owner's DSN (the test acts as the operator between requests)."""
    certificate: Certificate
    bucket: str
    s3_endpoint: str
    redis_url: str
    redis_prefix: str
    receipt_public_key: str
    cli_env: dict[str, str]


def with_query(dsn: str, **values: str) -> str:
    parts = urlsplit(dsn)
    query = [*parse_qsl(parts.query, keep_blank_values=True), *values.items()]
    return urlunsplit(parts._replace(query=urlencode(query)))


def replica_environment(
    base: dict[str, str], name: str, data_dir: Path, owner_dsn: str, service_dsn: str
) -> dict[str, str]:
    # application_name tells the replicas apart in pg_stat_activity (and so in pg_locks).
    env = dict(base)
    env["PLAINSIGHT_DATA_DIR"] = str(data_dir)
    env["DATABASE_URL"] = with_query(owner_dsn, application_name=name)
    env["PLAINSIGHT_SERVICE_DATABASE_URL"] = with_query(service_dsn, application_name=name)
    return env


@pytest.fixture(scope="module")
async def deployment(
    fresh_database: object, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Deployment]:
    root = tmp_path_factory.mktemp("deployment")
    make = cast(Callable[[], Awaitable[str]], fresh_database)
    owner_dsn = await make()
    seed = os.urandom(32)
    prefix = f"plainsight:deployment:{secrets.token_hex(4)}:"
    async with AsyncExitStack() as stack:
        s3 = stack.enter_context(running_s3_server())
        bucket = s3.create_bucket()
        operator = root / "operator"
        operator.mkdir()
        base = cli_environment(operator, owner_dsn)
        for name in [n for n in base if n.startswith("AWS_")]:
            del base[name]
        base |= {
            "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
            "AWS_DEFAULT_REGION": REGION,
            "REDIS_URL": redis_url,
            "PLAINSIGHT_RATE_LIMIT_PREFIX": prefix,
            "PLAINSIGHT_RATE_LIMIT_DEVICES": f"{DEVICES_PER_ADDRESS}/day",
            "PLAINSIGHT_RATE_LIMIT_PHOTOS": f"{PHOTOS_PER_DEVICE}/day",
            # The limit probe sends all its photos to one report.
            "PLAINSIGHT_PHOTOS_PER_REPORT": "20",
            "PLAINSIGHT_BLOB_STORE": "s3",
            "PLAINSIGHT_S3_BUCKET": bucket,
            "PLAINSIGHT_S3_ENDPOINT": s3.endpoint,
            "PLAINSIGHT_S3_REGION": REGION,
            "PLAINSIGHT_RECEIPT_KEY": b64url(seed),
            "PLAINSIGHT_TRUSTED_PROXIES": "127.0.0.1",
            "PLAINSIGHT_SECURE_COOKIES": "true",
            "PLAINSIGHT_METRICS_TOKEN": METRICS_TOKEN,
            "PLAINSIGHT_SUPPRESSION_THRESHOLD": str(SUPPRESSION_THRESHOLD),
            "PLAINSIGHT_RETENTION_DAYS": "1",
            "PLAINSIGHT_RETENTION_CHECK_SECONDS": "1",
            # Two cores for everything here: one photo worker and a small pool per replica.
            "PLAINSIGHT_PHOTO_WORKERS": "1",
            "PLAINSIGHT_DB_POOL_MIN": "1",
            "PLAINSIGHT_DB_POOL_MAX": "6",
        }
        # The operator's steps, once: migrations, then the service's database role (what the
        # first replica would make), whose DSN every replica is given.
        migrated = await run_cli("migrate", env=base)
        assert migrated.returncode == 0, migrated.stderr
        service_dsn = await prepare_service_database(owner_dsn, operator)
        ports = [free_port() for _ in range(REPLICAS)]
        replicas = []
        for number, port in enumerate(ports, start=1):
            name = f"plainsight-replica-{number}"
            data_dir = root / name
            data_dir.mkdir()
            env = replica_environment(base, name, data_dir, owner_dsn, service_dsn)
            replicas.append(Replica(name, port, env, root / f"{name}.log"))
        stack.push_async_callback(_stop_all, replicas)
        await asyncio.gather(*(replica.start() for replica in replicas))
        certificate = self_signed_certificate(root)
        nginx = await stack.enter_async_context(
            running_nginx(
                root / "nginx",
                upstreams=[f"127.0.0.1:{port}" for port in ports],
                https_port=free_port(),
                http_port=free_port(),
                certificate=certificate,
            )
        )
        public, _ = crypto_sign_seed_keypair(seed)
        try:
            yield Deployment(
                nginx=nginx,
                replicas=replicas,
                database_url=owner_dsn,
                certificate=certificate,
                bucket=bucket,
                s3_endpoint=s3.endpoint,
                redis_url=redis_url,
                redis_prefix=prefix,
                receipt_public_key=b64url(public),
                cli_env=base,
            )
        finally:
            with redis.Redis.from_url(redis_url) as client:
                keys = list(client.scan_iter(match=f"{prefix}*"))
                if keys:
                    client.delete(*keys)


async def _stop_all(replicas: list[Replica]) -> None:
    await asyncio.gather(*(replica.stop() for replica in replicas))
