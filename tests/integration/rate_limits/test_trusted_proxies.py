"""PLAINSIGHT_TRUSTED_PROXIES through real HTTP: whose address the per-address limits count.

The "proxy" is a client whose connections come from another loopback address (127.0.0.2, or
::1 for IPv6) and that sends the headers nginx would; the direct, untrusted client connects
from 127.0.0.1. Limits run in process memory and in a real Redis (TEST_REDIS_URL), on an
injected clock so nothing recovers during a test.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import redis

from api.app import create_app
from api.middleware.limiter import build_rate_limiter
from api.tasks.photo_workers import PhotoWorkers
from schemas.auth import Role
from schemas.settings import load_settings
from storage.accounts import store as accounts
from storage.accounts.tokens import TokenKind, new_token
from storage.db.pool import SingleConnectionDatabase
from tests.conftest import TEST_RECEIPT_SEED
from tests.support.assertions import assert_problem
from tests.support.cli import cli_environment, run_cli, serving
from tests.support.console import sign_in
from tests.support.helpers import PASSWORD, bearer
from tests.support.live_server import live_server

TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
PROXY = "127.0.0.2"
DIRECT = "127.0.0.1"
# Documentation ranges (RFC 5737, RFC 3849): what clients behind the proxy are.
CLIENT_A, CLIENT_B = "203.0.113.10", "198.51.100.20"


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Service:
    base_url: str
    conn: asyncpg.Connection

    def client(self, address: str = DIRECT, **headers: str) -> httpx.AsyncClient:
        """A client whose connections come from ``address``, sending ``headers``."""
        transport = httpx.AsyncHTTPTransport(local_address=address)
        return httpx.AsyncClient(
            base_url=self.base_url, transport=transport, timeout=10.0, headers=headers
        )


Start = Callable[..., AbstractAsyncContextManager[Service]]


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    """Settings selecting the bucket store under test; the Redis keys are deleted after."""
    if request.param == "memory":
        yield {}
        return
    prefix = f"plainsight-test:{secrets.token_hex(6)}:"
    with redis.Redis.from_url(TEST_REDIS_URL, socket_connect_timeout=2) as client:
        client.ping()  # no Redis is a failure here, not a skip
        yield {"redis_url": TEST_REDIS_URL, "rate_limit_prefix": prefix}
        keys = list(client.scan_iter(match=f"{prefix}*"))
        assert keys, "the limits went to Redis"
        client.delete(*keys)


@pytest.fixture
def start(
    conn: asyncpg.Connection, data_dir: Path, database_url: str, photo_workers: PhotoWorkers
) -> Start:
    """Serve the app on ``host`` with the given settings and a limiter on a still clock."""

    @asynccontextmanager
    async def serve(*, host: str = DIRECT, **overrides: Any) -> AsyncIterator[Service]:
        settings = load_settings(
            {},
            database_url=database_url,
            data_dir=str(data_dir),
            receipt_key=TEST_RECEIPT_SEED,
            **overrides,
        )
        limiter = build_rate_limiter(settings, clock=Clock())
        assert limiter is not None
        app = create_app(
            settings,
            database=SingleConnectionDatabase(conn),
            photo_workers=photo_workers,
            rate_limiter=limiter,
        )
        try:
            async with live_server(app, host) as base_url:
                yield Service(base_url, conn)
        finally:
            await limiter.close()

    return serve


async def register(client: httpx.AsyncClient, forwarded_for: str | bytes | None = None) -> int:
    """POST /v1/devices (limited per address); the status code."""
    value = forwarded_for.encode() if isinstance(forwarded_for, str) else forwarded_for
    headers = [] if value is None else [(b"x-forwarded-for", value)]
    response = await client.post("/v1/devices", headers=headers)
    if response.status_code == 429:
        assert assert_problem(response, 429)["code"] == "rate_limited"
    return response.status_code


async def statuses(client: httpx.AsyncClient, forwarded: Sequence[str | bytes | None]) -> list[int]:
    return [await register(client, value) for value in forwarded]


# --- which address counts ------------------------------------------------------------------


async def test_forwarded_clients_of_a_trusted_proxy_have_their_own_limits(
    start: Start, store: dict[str, str]
) -> None:
    async with (
        start(trusted_proxies=PROXY, rate_limit_devices="2/hour", **store) as service,
        service.client(PROXY) as proxy,
        service.client(DIRECT) as direct,
    ):
        assert await statuses(proxy, [CLIENT_A] * 3) == [201, 201, 429]
        # Another client behind the same proxy: a bucket of its own.
        assert await statuses(proxy, [CLIENT_B] * 3) == [201, 201, 429]
        # A direct client, and requests the proxy makes for itself, count apart from both.
        assert await statuses(direct, [None] * 3) == [201, 201, 429]
        assert await statuses(proxy, [None, None, None]) == [201, 201, 429]


# No proxy configured at all; another peer configured.
@pytest.mark.parametrize("trusted", ["", PROXY])
async def test_a_forwarded_address_from_an_untrusted_peer_changes_nothing(
    start: Start, store: dict[str, str], trusted: str
) -> None:
    async with (
        start(trusted_proxies=trusted, rate_limit_devices="3/hour", **store) as service,
        service.client(DIRECT) as direct,
    ):
        rotating = [f"198.51.100.{n}" for n in range(1, 6)]
        assert await statuses(direct, rotating) == [201, 201, 201, 429, 429]
        assert await register(direct) == 429  # all of it was this peer's budget


async def test_only_the_right_most_address_a_trusted_proxy_did_not_add_counts(
    start: Start, store: dict[str, str]
) -> None:
    # A client may send its own X-Forwarded-For; nginx's $proxy_add_x_forwarded_for appends the
    # real peer to it. Rotating the left part must not buy a new bucket.
    async with (
        start(
            trusted_proxies=f"{PROXY}, 10.20.0.0/16", rate_limit_devices="2/hour", **store
        ) as service,
        service.client(PROXY) as proxy,
    ):
        forged = [f"192.0.2.{n}, {CLIENT_A}" for n in range(1, 4)]
        assert await statuses(proxy, list(forged)) == [201, 201, 429]
        # Hops through other trusted proxies (an address, a network) are skipped.
        assert await register(proxy, f"{CLIENT_A}, 10.20.3.4, {PROXY}") == 429
        assert await register(proxy, f"{CLIENT_B}, 10.20.3.4") == 201
        # The same address repeated over several headers is still one client.
        response = await proxy.post(
            "/v1/devices",
            headers=[("x-forwarded-for", "192.0.2.99"), ("x-forwarded-for", CLIENT_B)],
        )
        assert response.status_code == 201
        assert await register(proxy, CLIENT_B) == 429


async def test_failed_authentication_counts_the_forwarded_address(
    start: Start, store: dict[str, str]
) -> None:
    guessed = bearer(new_token(TokenKind.device))
    async with (
        start(trusted_proxies=PROXY, rate_limit_failed_auth="2/minute", **store) as service,
        service.client(PROXY) as proxy,
    ):
        codes = [
            (await proxy.get("/v1/reports", headers=guessed | {"x-forwarded-for": CLIENT_A}))
            for _ in range(3)
        ]
        assert [r.status_code for r in codes] == [401, 401, 429]
        other = await proxy.get("/v1/reports", headers=guessed | {"x-forwarded-for": CLIENT_B})
        assert assert_problem(other, 401)["code"] == "unauthenticated"


# --- IPv6 and networks -----------------------------------------------------------------------


async def test_ipv6_proxy_and_ipv6_clients_counted_by_their_64(
    start: Start, store: dict[str, str]
) -> None:
    async with (
        start(
            host="::1", trusted_proxies="::1, fd00:20::/32", rate_limit_devices="2/hour", **store
        ) as service,
        service.client("::1") as proxy,
    ):
        # Two addresses of one /64 are one subscriber; the bracketed form with a port too.
        same_64 = ["2001:db8:1:1::5", "[2001:db8:1:1::6]:443", "2001:db8:1:1::7"]
        assert await statuses(proxy, list(same_64)) == [201, 201, 429]
        # Another /64, reached through a hop inside the trusted IPv6 network.
        assert await statuses(proxy, ["2001:db8:1:2::5, fd00:20:1::9"] * 3) == [201, 201, 429]
        # An IPv4 client forwarded by an IPv6 proxy.
        assert await statuses(proxy, [CLIENT_A] * 3) == [201, 201, 429]


async def test_a_cidr_entry_trusts_every_peer_inside_it_only(
    start: Start, store: dict[str, str]
) -> None:
    async with (
        start(trusted_proxies="127.0.0.2/31", rate_limit_devices="2/hour", **store) as service,
        service.client("127.0.0.2") as first,
        service.client("127.0.0.3") as second,
        service.client(DIRECT) as outside,
    ):
        # Both replicas' proxies are believed: one client through either shares one bucket.
        assert await statuses(first, [CLIENT_A, CLIENT_A]) == [201, 201]
        assert await register(second, CLIENT_A) == 429
        assert await register(second, CLIENT_B) == 201
        # 127.0.0.1 is outside 127.0.0.2/31: its header is ignored.
        assert await statuses(outside, ["192.0.2.1", "192.0.2.2", "192.0.2.3"]) == [
            201,
            201,
            429,
        ]


# --- malformed headers -----------------------------------------------------------------------


async def test_malformed_forwarded_for_falls_back_to_the_proxys_address(
    start: Start, store: dict[str, str]
) -> None:
    garbage: list[str | bytes] = [
        "garbage",
        "unknown",
        "1.2.3.4.5",
        "203.0.113.300",
        "::g",
        "[2001:db8::1",
        "_hidden",
        b"\xff\xfe",
        f"{CLIENT_A}, not-an-address",
    ]
    async with (
        start(trusted_proxies=PROXY, rate_limit_devices="3/hour", **store) as service,
        service.client(PROXY) as proxy,
    ):
        # None of these names a client: each counts as the proxy itself, one shared bucket.
        results = await statuses(proxy, garbage)
        assert results[:3] == [201, 201, 201]
        assert set(results[3:]) == {429}
        # Empty or blank headers name nobody either.
        assert await statuses(proxy, ["", ",", ", ,"]) == [429] * 3
        assert await register(proxy) == 429
        # A real client behind the proxy is unaffected by the garbage.
        assert await register(proxy, CLIENT_A) == 201


async def test_a_long_forwarded_chain_neither_crashes_nor_escapes(
    start: Start, store: dict[str, str]
) -> None:
    async with (
        start(trusted_proxies=PROXY, rate_limit_devices="2/hour", **store) as service,
        service.client(PROXY) as proxy,
    ):

        def chain(n: int) -> str:
            # 500 forged hops, a different set each time, then the client nginx appended.
            forged = ", ".join(f"10.{n}.{i // 250}.{i % 250}" for i in range(500))
            return f"{forged}, {CLIENT_A}"

        assert await statuses(proxy, [chain(n) for n in range(3)]) == [201, 201, 429]
        # However long the chain (uvicorn sets no limit on a header's size; nginx does), only
        # its right-most untrusted entry counts.
        huge = ", ".join(f"192.0.2.{i % 250}" for i in range(20_000)) + f", {CLIENT_A}"
        assert len(huge) > 200_000
        assert await register(proxy, huge) == 429
        assert await register(proxy, CLIENT_B) == 201


# --- X-Forwarded-Proto -----------------------------------------------------------------------


def _session_cookie(response: httpx.Response) -> str:
    for header in response.headers.get_list("set-cookie"):
        if header.startswith("plainsight_session="):
            return header.lower()
    raise AssertionError(f"no session cookie in {response.headers.get_list('set-cookie')}")


async def test_forwarded_https_from_a_trusted_proxy_makes_cookies_secure(start: Start) -> None:
    async with start(trusted_proxies=PROXY) as service:
        cases = [
            (PROXY, "https", True),
            (PROXY, "http", False),
            (PROXY, "ftp", False),  # not a scheme this service speaks: the connection's own
            (PROXY, "wss", False),
            (DIRECT, "https", False),  # anyone can send the header; only the proxy is believed
        ]
        for address, proto, secure in cases:
            email = f"moderator-{secrets.token_hex(4)}@example.org"
            await accounts.create_account(
                service.conn, email=email, role=Role.moderator, password=PASSWORD
            )
            async with service.client(address, **{"x-forwarded-proto": proto}) as client:
                response = await sign_in(client, email)
                assert response.status_code == 303, response.text
                assert ("; secure" in _session_cookie(response)) is secure, (address, proto)


# --- through `plainsight serve`, its JSON logs --------------------------------------------


async def test_serve_applies_the_setting_and_never_logs_a_forwarded_address(
    empty_database: str, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    env = cli_environment(data, empty_database) | {
        "PLAINSIGHT_TRUSTED_PROXIES": f"{PROXY}, 2001:db8:ffff::/48",
        "PLAINSIGHT_RATE_LIMIT_DEVICES": "2/hour",
        "PLAINSIGHT_RATE_LIMIT_FAILED_AUTH": "2/minute",
        "PLAINSIGHT_LOG_LEVEL": "DEBUG",
    }
    log = tmp_path / "serve.log"
    forwarded = "203.0.113.77"
    async with serving(env, log) as server:
        transport = httpx.AsyncHTTPTransport(local_address=PROXY)
        async with httpx.AsyncClient(
            base_url=server.base_url,
            transport=transport,
            timeout=10.0,
            headers={"x-forwarded-for": forwarded, "x-forwarded-proto": "https"},
        ) as proxy:
            codes = [(await proxy.post("/v1/devices")).status_code for _ in range(3)]
            assert codes == [201, 201, 429]
            other = await proxy.post("/v1/devices", headers={"x-forwarded-for": CLIENT_B})
            assert other.status_code == 201  # serve believes the proxy: its own bucket
            # Error paths: bad bodies, unknown routes, unknown tokens until refused.
            token = other.json()["token"]
            bad = await proxy.post(
                "/v1/reports",
                content=b"{",
                headers=bearer(token) | {"content-type": "application/json"},
            )
            assert bad.status_code == 400
            assert (await proxy.get("/v1/nothing-here")).status_code == 404
            guessed = bearer(new_token(TokenKind.device))
            refused = [
                (await proxy.get("/v1/reports", headers=guessed)).status_code for _ in range(3)
            ]
            assert refused == [401, 401, 429]
            garbage = await proxy.post("/v1/devices", headers={"x-forwarded-for": "not-an-ip"})
            assert garbage.status_code == 201
    text = log.read_text()
    assert '"level"' in text  # the JSON log was written
    for address in (forwarded, CLIENT_B, PROXY, "not-an-ip", "2001:db8:ffff"):
        assert address not in text, address


async def test_an_invalid_entry_is_a_settings_error_naming_the_variable(
    empty_database: str, tmp_path: Path
) -> None:
    for value in ("10.0.0.1/8", "proxy.internal", "*", "10.0.0.0/33"):
        env = cli_environment(tmp_path, empty_database) | {"PLAINSIGHT_TRUSTED_PROXIES": value}
        result = await run_cli("migrate", env=env)
        assert result.returncode == 2, value
        assert "PLAINSIGHT_TRUSTED_PROXIES" in result.stderr
        assert result.stderr.count("\n") == 1
        assert "Traceback" not in result.stderr
        assert result.stdout == ""
