"""Rate limits through real HTTP, against process memory and against a real Redis.

The limiter's clock and its UTC day are injected, so windows recover without sleeping. Redis
tests use TEST_REDIS_URL (default redis://127.0.0.1:6379/0), a key prefix of their own, and
delete their keys afterwards; they are skipped when no Redis answers.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pyotp
import pytest
import redis
from prometheus_client import REGISTRY

from api.app import create_app
from api.middleware.limiter import (
    RateLimiter,
    address_subject,
    bucket_name,
    build_rate_limiter,
    utc_day,
)
from api.middleware.rate_limit import rule_for
from api.tasks.photo_workers import PhotoWorkers
from schemas.auth import Role
from schemas.rate_limits import Rate, parse_rate
from schemas.settings import SettingsError, load_settings
from storage.accounts import store as accounts
from storage.accounts.device_tokens import DEFAULT_TOKEN_DAYS, INSERT_DEVICE
from storage.accounts.tokens import TokenKind, new_token, token_hash
from storage.db.pool import SingleConnectionDatabase
from storage.rate_limits.gcra import MemoryBuckets
from tests.conftest import TEST_RECEIPT_SEED
from tests.support.assertions import assert_problem
from tests.support.console import csrf_field
from tests.support.helpers import PASSWORD, bearer, observer_report
from tests.support.live_server import live_server
from tests.support.photo_api import tiny_jpeg

TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"
OTHER_ADDRESS = "127.0.0.2"
CLIENT_LOGGERS = frozenset({"httpx", "httpcore"})
METRICS_TOKEN = "rate-limit-test-metrics-token-0123456789"


class Clock:
    """Seconds, moved by the test."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Day:
    """The UTC day number, moved by the test."""

    def __init__(self) -> None:
        self.day = utc_day()

    def __call__(self) -> int:
        return self.day


@dataclass
class Service:
    client: httpx.AsyncClient
    base_url: str
    limiter: RateLimiter | None
    conn: asyncpg.Connection

    def from_address(self, address: str) -> httpx.AsyncClient:
        """A client whose connections come from another loopback address."""
        transport = httpx.AsyncHTTPTransport(local_address=address)
        return httpx.AsyncClient(base_url=self.base_url, transport=transport, timeout=10.0)


Start = Callable[..., AbstractAsyncContextManager[Service]]


class Records(logging.Handler):
    """Every log record, with its extra fields, as text."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def service_text(self) -> str:
        """What the service logged: the test's HTTP client logs the URLs it calls."""
        return "\n".join(
            f"{r.getMessage()} {vars(r)}"
            for r in self.records
            if r.name.partition(".")[0] not in CLIENT_LOGGERS
        )

    def requests_logged(self) -> int:
        return sum(r.name == "httpx" for r in self.records)


@contextmanager
def captured_logs() -> Iterator[Records]:
    """Installed on the root logger after the app is built: Litestar's logging set-up replaces
    the root handlers (pytest's caplog among them) when an app is created."""
    handler, root = Records(), logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def redis_keys(prefix: str) -> list[str]:
    with redis.Redis.from_url(TEST_REDIS_URL) as client:
        return [key.decode() for key in client.scan_iter(match=f"{prefix}*")]


@pytest.fixture(scope="session")
def redis_available() -> None:
    try:
        with redis.Redis.from_url(TEST_REDIS_URL, socket_connect_timeout=1) as client:
            client.ping()
    except (redis.RedisError, OSError):
        # Named explicitly (as CI does), a Redis that does not answer is a failure; only the
        # default on a machine without Redis is skipped.
        if "TEST_REDIS_URL" in os.environ:
            pytest.fail(f"TEST_REDIS_URL is set but no Redis answers at {TEST_REDIS_URL}")
        pytest.skip(f"no Redis at {TEST_REDIS_URL} (set TEST_REDIS_URL to require one)")


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    prefix = f"plainsight-test:{secrets.token_hex(6)}:"
    yield prefix
    with redis.Redis.from_url(TEST_REDIS_URL) as client:
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest) -> dict[str, str]:
    """Settings selecting the bucket store under test."""
    if request.param == "memory":
        return {}
    request.getfixturevalue("redis_available")
    prefix: str = request.getfixturevalue("redis_prefix")
    return {"redis_url": TEST_REDIS_URL, "rate_limit_prefix": prefix}


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def day() -> Day:
    return Day()


@pytest.fixture
def start(
    conn: asyncpg.Connection,
    data_dir: Path,
    database_url: str,
    photo_workers: PhotoWorkers,
    clock: Clock,
    day: Day,
) -> Start:
    """Serve the app with the given settings and a limiter on the test's clock."""

    @asynccontextmanager
    async def serve(*, use_clock: bool = True, **overrides: Any) -> AsyncIterator[Service]:
        settings = load_settings(
            {},
            database_url=database_url,
            data_dir=str(data_dir),
            receipt_key=TEST_RECEIPT_SEED,
            **overrides,
        )
        limiter = build_rate_limiter(settings, clock=clock if use_clock else None, today=day)
        app = create_app(
            settings,
            database=SingleConnectionDatabase(conn),
            photo_workers=photo_workers,
            rate_limiter=limiter,
        )
        errors_before = store_errors()
        try:
            async with (
                live_server(app) as base_url,
                httpx.AsyncClient(base_url=base_url, timeout=10.0) as client,
            ):
                yield Service(client, base_url, limiter, conn)
        finally:
            if limiter is not None:
                await limiter.close()
        if settings.redis_url == TEST_REDIS_URL:
            # The Redis tests really went to Redis, not to the per-process fallback.
            assert store_errors() == errors_before

    return serve


def store_errors() -> float:
    return REGISTRY.get_sample_value("plainsight_rate_limit_store_errors_total") or 0.0


def assert_rate_limited(response: httpx.Response, retry_after: int | None = None) -> None:
    problem = assert_problem(response, 429)
    assert problem["code"] == "rate_limited"
    assert problem["title"] == "Too many requests"
    seconds = response.headers["retry-after"]
    assert re.fullmatch(r"[1-9][0-9]*", seconds), seconds
    if retry_after is not None:
        assert int(seconds) == retry_after
    assert "127.0.0" not in response.text


async def client_account_token(client: httpx.AsyncClient, service: Service, role: Role) -> str:
    email = f"{role}-{secrets.token_hex(4)}@example.org"
    await accounts.create_account(service.conn, email=email, role=role, password=PASSWORD)
    response = await client.post("/v1/sessions", json={"email": email, "password": PASSWORD})
    assert response.status_code == 201, response.text
    token: str = response.json()["token"]
    return token


async def device_token(client: httpx.AsyncClient) -> str:
    response = await client.post("/v1/devices")
    assert response.status_code == 201, response.text
    token: str = response.json()["token"]
    return token


# --- through HTTP, both stores --------------------------------------------------------------


async def test_device_registration_trips_at_the_limit_and_recovers(
    start: Start, store: dict[str, str], clock: Clock
) -> None:
    async with start(rate_limit_devices="3/minute", **store) as service:
        for _ in range(3):
            assert (await service.client.post("/v1/devices")).status_code == 201
        # 3 per minute: one more every 20 s.
        assert_rate_limited(await service.client.post("/v1/devices"), retry_after=20)
        clock.advance(19.5)
        assert_rate_limited(await service.client.post("/v1/devices"), retry_after=1)
        clock.advance(0.5)
        assert (await service.client.post("/v1/devices")).status_code == 201
        assert_rate_limited(await service.client.post("/v1/devices"), retry_after=20)
        clock.advance(60)  # a full period: the whole burst again
        for _ in range(3):
            assert (await service.client.post("/v1/devices")).status_code == 201
        assert_rate_limited(await service.client.post("/v1/devices"))


async def test_tokens_are_limited_independently(start: Start, store: dict[str, str]) -> None:
    async with start(rate_limit_writes="2/minute", **store) as service:
        client = service.client
        first, second = await device_token(client), await device_token(client)
        for _ in range(2):
            response = await client.post(
                "/v1/reports", json=observer_report(), headers=bearer(first)
            )
            assert response.status_code == 201, response.text
        refused = await client.post("/v1/reports", json=observer_report(), headers=bearer(first))
        assert_rate_limited(refused, retry_after=30)
        # Another device from the same address has its own budget...
        for _ in range(2):
            response = await client.post(
                "/v1/reports", json=observer_report(), headers=bearer(second)
            )
            assert response.status_code == 201, response.text
        # ...and reads are a separate rule.
        assert (await client.get("/v1/reports", headers=bearer(first))).status_code == 200


async def test_addresses_are_limited_independently(start: Start, store: dict[str, str]) -> None:
    async with start(rate_limit_devices="2/hour", **store) as service:
        for _ in range(2):
            assert (await service.client.post("/v1/devices")).status_code == 201
        assert_rate_limited(await service.client.post("/v1/devices"), retry_after=1800)
        async with service.from_address(OTHER_ADDRESS) as other:
            assert (await other.post("/v1/devices")).status_code == 201


async def test_login_attempts_are_limited_per_address(
    start: Start, store: dict[str, str], conn: asyncpg.Connection
) -> None:
    async with start(rate_limit_sessions="3/minute", **store) as service:
        guess = {"email": "nobody@example.org", "password": "wrong " + PASSWORD}
        for _ in range(3):
            assert (await service.client.post("/v1/sessions", json=guess)).status_code == 401
        assert_rate_limited(await service.client.post("/v1/sessions", json=guess), retry_after=20)


async def test_console_sign_in_shares_the_login_limit_and_answers_with_a_page(
    start: Start, store: dict[str, str], conn: asyncpg.Connection
) -> None:
    """Guessing through the console's form costs the same bucket as through the API, and the
    console's stylesheet and script are never limited (every page view fetches them)."""
    async with start(rate_limit_sessions="3/minute", **store) as service:
        client = service.client
        form = await client.get("/sign-in")
        guess = {
            "email": "nobody@example.org",
            "password": "wrong",
            "_csrf_token": csrf_field(form.text),
        }
        for _ in range(2):
            assert (await client.post("/sign-in", data=guess)).status_code == 401
        api_guess = {"email": "nobody@example.org", "password": "wrong"}
        assert (await client.post("/v1/sessions", json=api_guess)).status_code == 401
        refused = await client.post("/sign-in", data=guess)
        assert refused.status_code == 429
        assert refused.headers["content-type"].startswith("text/html")
        assert "Too many attempts" in refused.text
        assert re.fullmatch(r"[1-9][0-9]*", refused.headers["retry-after"])
        assert_rate_limited(await client.post("/v1/sessions", json=api_guess))
        for _ in range(5):
            assert (await client.get("/static/console.css")).status_code == 200


async def test_failed_authentication_is_limited_per_address_before_any_lookup(
    start: Start, store: dict[str, str], conn: asyncpg.Connection, clock: Clock
) -> None:
    async with start(rate_limit_failed_auth="3/minute", **store) as service:
        client = service.client
        known = await device_token(client)
        assert (await client.get("/v1/reports", headers=bearer(known))).status_code == 200
        guessed = new_token(TokenKind.device)  # well formed, but no device's (yet)
        refused_before = requests_counted("GET", "/v1/reports", "429")
        for _ in range(3):
            response = await client.get("/v1/reports", headers=bearer(guessed))
            assert assert_problem(response, 401)["code"] == "unauthenticated"
        assert_rate_limited(await client.get("/v1/reports", headers=bearer(guessed)), 20)
        # The guessed token now belongs to a device: a lookup would accept it, so each refusal
        # below shows that no lookup was made.
        await conn.execute(INSERT_DEVICE, uuid.uuid4(), token_hash(guessed), DEFAULT_TOKEN_DAYS)
        for _ in range(5):
            assert_rate_limited(await client.get("/v1/reports", headers=bearer(guessed)), 20)
        assert requests_counted("GET", "/v1/reports", "429") - refused_before == 6
        # A token this process already knows needs no lookup: still served from this address.
        assert (await client.get("/v1/reports", headers=bearer(known))).status_code == 200
        # Another address with a token that has to be looked up is not affected.
        async with service.from_address(OTHER_ADDRESS) as other:
            fresh = await device_token(other)
            assert (await other.get("/v1/reports", headers=bearer(fresh))).status_code == 200
        # Refusals did not count as failures: one interval later the address is served again.
        clock.advance(20)
        assert (await client.get("/v1/reports", headers=bearer(guessed))).status_code == 200


def requests_counted(method: str, path: str, status: str) -> float:
    labels = {"method": method, "path": path, "status_code": status}
    return REGISTRY.get_sample_value("plainsight_requests_total", labels) or 0.0


async def test_reset_code_attempts_are_limited_per_address_like_logins(
    start: Start, store: dict[str, str]
) -> None:
    guess = {"email": "nobody@example.org", "code": "AAAA-BBBB", "new_password": "x" * 12}
    async with start(rate_limit_sessions="3/minute", rate_limit_devices="off", **store) as service:
        for _ in range(3):
            response = await service.client.post("/v1/password-resets", json=guess)
            assert_problem(response, 400)
        refused = await service.client.post("/v1/password-resets", json=guess)
        assert_rate_limited(refused, retry_after=20)
        # The same budget as logging in: both try a secret from an address.
        assert_rate_limited(
            await service.client.post("/v1/sessions", json={"email": "a@b.c", "password": "x"})
        )
        async with service.from_address(OTHER_ADDRESS) as other:
            assert_problem(await other.post("/v1/password-resets", json=guess), 400)


async def totp_account(conn: asyncpg.Connection, role: Role = Role.admin) -> tuple[str, str]:
    """(e-mail, TOTP secret) of an account with an active second factor."""
    email = f"totp-{secrets.token_hex(4)}@example.org"
    view = await accounts.create_account(conn, email=email, role=role, password=PASSWORD)
    secret = pyotp.random_base32()
    await conn.execute("update accounts set totp_secret = $2 where id = $1", view.id, secret)
    return email, secret


async def test_second_factor_guesses_are_limited_per_account(
    start: Start, store: dict[str, str], conn: asyncpg.Connection
) -> None:
    """Spread over many addresses, TOTP guesses still meet the per-account limit; the limit
    applies once the password was right, and counts nothing for another account."""
    email, secret = await totp_account(conn)
    other_email, other_secret = await totp_account(conn)
    async with start(rate_limit_credential_checks="2/hour", **store) as service:
        clients = [service.client, service.from_address(OTHER_ADDRESS)]
        guess = {"email": email, "password": PASSWORD, "totp": "000000"}
        for client in clients:
            response = await client.post("/v1/sessions", json=guess)
            assert assert_problem(response, 401)["code"] == "totp_required"
        # Asking without a code is no guess, and is not counted.
        no_code = {"email": email, "password": PASSWORD}
        for _ in range(3):
            response = await clients[0].post("/v1/sessions", json=no_code)
            assert assert_problem(response, 401)["code"] == "totp_required"
        right = {**guess, "totp": pyotp.TOTP(secret).now()}
        assert_rate_limited(await clients[0].post("/v1/sessions", json=right), retry_after=1800)
        # A wrong password is not a second-factor check: still the plain 401.
        wrong_password = {**right, "password": "not " + PASSWORD}
        assert_problem(await clients[0].post("/v1/sessions", json=wrong_password), 401)
        other = {"email": other_email, "password": PASSWORD}
        other["totp"] = pyotp.TOTP(other_secret).now()
        assert (await clients[1].post("/v1/sessions", json=other)).status_code == 201
        await clients[1].aclose()


async def test_current_password_checks_are_limited_per_account(
    start: Start, store: dict[str, str]
) -> None:
    async with start(rate_limit_credential_checks="2/hour", **store) as service:
        client = service.client
        headers = bearer(await client_account_token(client, service, Role.officer))
        change = {"current_password": "a guess", "new_password": "a new long password"}
        for _ in range(2):
            response = await client.post(
                "/v1/accounts/current/password", json=change, headers=headers
            )
            assert_problem(response, 422, field="$.current_password")
        refused = await client.post("/v1/accounts/current/password", json=change, headers=headers)
        assert_rate_limited(refused, retry_after=1800)


async def test_photo_uploads_are_limited_per_token(start: Start, store: dict[str, str]) -> None:
    async with start(rate_limit_photos="1/hour", **store) as service:
        client = service.client
        headers = bearer(await device_token(client))
        report = await client.post("/v1/reports", json=observer_report(), headers=headers)
        path = f"/v1/reports/{report.json()['id']}/photos"
        photo_headers = headers | {"Content-Type": "image/jpeg"}
        uploaded = await client.post(path, content=tiny_jpeg(1), headers=photo_headers)
        assert uploaded.status_code == 201, uploaded.text
        again = await client.post(path, content=tiny_jpeg(2), headers=photo_headers)
        assert_rate_limited(again, retry_after=3600)
        # Photos have their own budget: report writes still pass.
        response = await client.post("/v1/reports", json=observer_report(), headers=headers)
        assert response.status_code == 201


async def test_limits_start_afresh_with_the_next_days_key(
    start: Start, store: dict[str, str], day: Day
) -> None:
    async with start(rate_limit_devices="1/hour", **store) as service:
        assert (await service.client.post("/v1/devices")).status_code == 201
        assert_rate_limited(await service.client.post("/v1/devices"))
        day.day += 1
        assert (await service.client.post("/v1/devices")).status_code == 201
        assert_rate_limited(await service.client.post("/v1/devices"))
    if store:
        prefix = store["rate_limit_prefix"]
        with redis.Redis.from_url(TEST_REDIS_URL) as client:
            keys = [client.get(f"{prefix}address-key:{d}") for d in (day.day - 1, day.day)]
            assert all(key is not None and len(key) == 32 for key in keys)
            assert keys[0] != keys[1]
            # Each day's key is gone by the end of its day (plus a few minutes of clock skew).
            ttl = client.ttl(f"{prefix}address-key:{day.day - 1}")
            assert 0 < ttl <= 86400 + 300


async def test_no_address_or_its_hash_is_logged_or_returned(
    start: Start, store: dict[str, str]
) -> None:
    async with start(rate_limit_devices="1/minute", **store) as service:
        assert service.limiter is not None
        with captured_logs() as logs:
            responses = [await service.client.post("/v1/devices") for _ in range(3)]
        key = await service.limiter.key.current()
    subject = address_subject(("127.0.0.1", 1))
    bucket = bucket_name("devices", key, subject)
    secrets_to_hide = ["127.0.0.1", subject.hex(), bucket.split(":")[1][:12]]
    assert logs.requests_logged() == 3  # the capture works
    logged = logs.service_text()
    answered = "\n".join(f"{r.headers} {r.text}" for r in responses)
    for secret in secrets_to_hide:
        assert secret not in logged
        assert secret not in answered
    if store:
        # Redis holds only rule:hash bucket names (and the day's key), never an address.
        keys = redis_keys(store["rate_limit_prefix"])
        names = [k.removeprefix(store["rate_limit_prefix"]) for k in keys]
        assert bucket in names
        for name in names:
            assert re.fullmatch(r"[a-z_]+:[0-9a-f]{32}|address-key:[0-9]+", name), name


# --- Redis only --------------------------------------------------------------------------


async def test_two_processes_share_limits_through_redis(
    start: Start, redis_available: None, redis_prefix: str
) -> None:
    shared = {
        "redis_url": TEST_REDIS_URL,
        "rate_limit_prefix": redis_prefix,
        "rate_limit_devices": "3/minute",
        "rate_limit_writes": "2/minute",
    }
    async with start(**shared) as first, start(**shared) as second:
        assert (await first.client.post("/v1/devices")).status_code == 201
        token = await device_token(second.client)
        assert (await first.client.post("/v1/devices")).status_code == 201
        assert_rate_limited(await second.client.post("/v1/devices"), retry_after=20)
        assert_rate_limited(await first.client.post("/v1/devices"), retry_after=20)
        # One device's writes count on every process.
        report = await first.client.post(
            "/v1/reports", json=observer_report(), headers=bearer(token)
        )
        assert report.status_code == 201
        report = await second.client.post(
            "/v1/reports", json=observer_report(), headers=bearer(token)
        )
        assert report.status_code == 201
        refused = await first.client.post(
            "/v1/reports", json=observer_report(), headers=bearer(token)
        )
        assert_rate_limited(refused, retry_after=30)


async def test_redis_clock_is_used_by_default(
    start: Start, redis_available: None, redis_prefix: str
) -> None:
    async with start(
        use_clock=False,
        redis_url=TEST_REDIS_URL,
        rate_limit_prefix=redis_prefix,
        rate_limit_devices="2/minute",
    ) as service:
        for _ in range(2):
            assert (await service.client.post("/v1/devices")).status_code == 201
        refused = await service.client.post("/v1/devices")
        assert_rate_limited(refused)
        assert 1 <= int(refused.headers["retry-after"]) <= 30


async def test_unreachable_redis_fails_open_to_process_limits(start: Start) -> None:
    errors_before = store_errors()
    async with start(
        redis_url=UNREACHABLE_REDIS, rate_limit_devices="2/minute", metrics_token=METRICS_TOKEN
    ) as service:
        with captured_logs() as logs:
            # Nobody is locked out by the outage, and the process still limits on its own.
            for _ in range(2):
                assert (await service.client.post("/v1/devices")).status_code == 201
            assert_rate_limited(await service.client.post("/v1/devices"), retry_after=30)
        metrics = (await service.client.get("/metrics", headers=bearer(METRICS_TOKEN))).text
    assert "plainsight_rate_limit_store_errors_total" in metrics
    assert store_errors() > errors_before
    warnings = [
        r for r in logs.records if r.name == "api.middleware.limiter" and r.levelname == "WARNING"
    ]
    assert len(warnings) == 1, warnings  # once per outage, not once per request
    assert "127.0.0.1" not in logs.service_text()


# --- off, settings, classification ----------------------------------------------------------


async def test_off_disables_every_limit(start: Start) -> None:
    async with start(
        rate_limits="off", rate_limit_devices="1/hour", redis_url=UNREACHABLE_REDIS
    ) as service:
        assert service.limiter is None
        for _ in range(5):
            assert (await service.client.post("/v1/devices")).status_code == 201


async def test_a_single_rule_can_be_off(start: Start) -> None:
    async with start(rate_limit_devices="off", rate_limit_writes="1/hour") as service:
        token = await device_token(service.client)
        for _ in range(4):
            await device_token(service.client)
        headers = bearer(token)
        assert (
            await service.client.post("/v1/reports", json=observer_report(), headers=headers)
        ).status_code == 201
        assert_rate_limited(
            await service.client.post("/v1/reports", json=observer_report(), headers=headers)
        )


@pytest.mark.parametrize(
    ("text", "rate"),
    [
        ("60/hour", Rate(60, 3600)),
        ("5/10m", Rate(5, 600)),
        ("1/s", Rate(1, 1)),
        (" 7/Minute ", Rate(7, 60)),
        ("100/day", Rate(100, 86400)),
        ("off", None),
    ],
)
def test_rates_are_read_as_operators_write_them(text: str, rate: Rate | None) -> None:
    assert parse_rate(text) == rate


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("PLAINSIGHT_RATE_LIMIT_DEVICES", "lots"),
        ("PLAINSIGHT_RATE_LIMIT_DEVICES", "0/minute"),
        ("PLAINSIGHT_RATE_LIMIT_SESSIONS", "-1/minute"),
        ("PLAINSIGHT_RATE_LIMIT_WRITES", "5/fortnight"),
        ("PLAINSIGHT_RATE_LIMIT_READS", "5/0s"),
        ("PLAINSIGHT_RATE_LIMIT_PHOTOS", "5/2d"),
        ("PLAINSIGHT_RATE_LIMIT_PUBLIC_READS", "1000001/s"),
        ("PLAINSIGHT_RATE_LIMIT_PUBLIC_READS", "60 per minute"),
        ("PLAINSIGHT_RATE_LIMIT_FAILED_AUTH", "lots"),
        ("PLAINSIGHT_RATE_LIMIT_CREDENTIAL_CHECKS", "10/week"),
        ("PLAINSIGHT_RATE_LIMITS", "sometimes"),
        ("REDIS_URL", "http://127.0.0.1:6379"),
        ("PLAINSIGHT_METRICS_TOKEN", "too-short-to-resist-guessing"),
    ],
)
def test_bad_values_are_rejected_naming_the_variable(variable: str, value: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({variable: value})
    message = str(caught.value)
    assert variable in message
    assert "$." not in message


def test_every_route_counts_against_the_rule_meant_for_it(
    data_dir: Path, photo_workers: PhotoWorkers
) -> None:
    settings = load_settings({}, data_dir=str(data_dir), receipt_key=TEST_RECEIPT_SEED)
    app = create_app(settings, photo_workers=photo_workers)
    rules: dict[tuple[str, str], str | None] = {}
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            for method in handler.http_methods:
                public = bool(handler.opt.get("public"))
                rules[method, route.path_format] = rule_for(method, route.path_format, public)
    assert rules["POST", "/v1/devices"] == "devices"
    assert rules["POST", "/v1/sessions"] == "sessions"
    assert rules["POST", "/v1/reports"] == "writes"
    assert rules["DELETE", "/v1/reports/{report_id}"] == "writes"
    assert rules["POST", "/v1/reports/{report_id}/photos"] == "photos"
    assert rules["GET", "/v1/reports"] == "reads"
    assert rules["GET", "/v1/public/stats/identification"] == "public_reads"
    assert rules["GET", "/v1/public/releases"] == "public_reads"
    assert rules["GET", "/v1/public/releases/{month}/{version}"] == "public_reads"
    for path in ("/healthz", "/readyz", "/metrics", "/schema/openapi.json"):
        assert rules["GET", path] is None
    assert rules["POST", "/v1/password-resets"] == "sessions"
    assert rules["POST", "/v1/accounts/current/password"] == "writes"
    assert rules["POST", "/sign-in"] == "sessions"  # the console's login form
    assert rules["POST", "/reset-password"] == "sessions"  # and its reset-code form
    assert rules["GET", "/static/{file_path}"] is None
    assert rules["GET", "/sign-in"] == "public_reads"
    # Unauthenticated writes are exactly those with a rule of their own.
    unauthenticated_writes = {key for key, rule in rules.items() if rule in {"devices", "sessions"}}
    assert unauthenticated_writes == {
        ("POST", "/v1/devices"),
        ("POST", "/v1/sessions"),
        ("POST", "/v1/password-resets"),
        ("POST", "/sign-in"),
        ("POST", "/reset-password"),  # redeeming a reset code on the console's form
    }


@pytest.mark.parametrize(
    ("first", "second", "same"),
    [
        ("2001:db8:1:2::1", "2001:db8:1:2:ffff::9", True),  # one /64: one subscriber
        ("2001:db8:1:2::1", "2001:db8:1:3::1", False),
        ("::ffff:192.0.2.7", "192.0.2.7", True),
        ("192.0.2.7", "192.0.2.8", False),
    ],
)
def test_addresses_are_counted_by_subscriber(first: str, second: str, same: bool) -> None:
    def subject(host: str) -> bytes:
        return address_subject((host, 4000))

    assert (subject(first) == subject(second)) is same


def test_memory_buckets_stay_bounded_dropping_the_least_recently_hit() -> None:
    buckets = MemoryBuckets(Clock(), max_buckets=10)
    rate = Rate(1, 60)
    assert buckets.hit_now("busy", rate) == 0
    for i in range(50):
        assert buckets.hit_now(f"passing-{i}", rate) == 0
        assert buckets.hit_now("busy", rate) == 60  # still remembered: refused
        assert len(buckets) <= 10
