"""Everything ``plainsight serve`` writes during a session of hostile requests, scanned for the
client's address and port, for coordinates and for query strings.

The real command runs on its embedded PostgreSQL (whose own log file is scanned too). Requests
go over raw sockets so that each one's client port is known; they come from two loopback
addresses, and the only place an address may appear is the server's own bind announcement.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support.cli import cli_environment, serving, stop
from tests.support.helpers import observer_report

# Coordinates planted in queries, paths, headers and bodies; none may reach any log.
PLANTED = ("40.71917", "73.99123", "52.52437", "13.41053", "48.85837", "2.29448")
QUERY_MARK = "qsmark7d1f"
QUERY = f"lat=40.71917&lon=-73.99123&trace={QUERY_MARK}"
# Numbers that are process ids, not ports: "[1234]" (PostgreSQL, uvicorn), "pid": 1234.
PROCESS_IDS = re.compile(r'\[\d+\]|"pid":\d+|"users":\[[\d,]*\]|PID \d+')
RESPONSE_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Exchange:
    client_port: int
    status: int | None


async def exchange(
    server: tuple[str, int], client_host: str, request: bytes, *, answered: bool = True
) -> Exchange:
    """Send raw bytes from ``client_host`` and read the answer's status code (None: no answer;
    ``answered=False``: hang up at once, as a client that gives up mid-request)."""
    reader, writer = await asyncio.open_connection(*server, local_addr=(client_host, 0))
    client_port: int = writer.get_extra_info("sockname")[1]
    try:
        writer.write(request)
        await writer.drain()
        first = b""
        if answered:
            async with asyncio.timeout(RESPONSE_TIMEOUT_S):
                first = await reader.readline()
    except (ConnectionError, TimeoutError):
        first = b""
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    match = re.match(rb"HTTP/1\.1 (\d{3}) ", first)
    return Exchange(client_port, int(match[1]) if match else None)


def http(method: str, target: str, *headers: str, body: bytes = b"", host: str = "x") -> bytes:
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}", "Connection: close", *headers]
    if body:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def hostile_requests(token: str) -> dict[str, tuple[bytes, set[int | None]]]:
    """Name → (raw request, acceptable statuses)."""
    auth = f"Authorization: Bearer {token}"
    upgrade = (
        "Connection: Upgrade",
        "Upgrade: websocket",
        "Sec-WebSocket-Version: 13",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    )
    report = observer_report(location={"lat": 48.85837, "lon": 2.29448, "accuracy_m": 5})
    out_of_range = observer_report(location={"lat": 148.85837, "lon": 2.29448})
    big = json.dumps({**report, "narrative": "52.52437,13.41053 " * 30_000}).encode()
    websocket_request = b"\r\n".join(
        [
            f"GET /v1/ws?{QUERY} HTTP/1.1".encode(),
            b"Host: x",
            *(header.encode() for header in upgrade),
            b"",
            b"",
        ]
    )
    return {
        # WebSockets are off: an upgrade is answered as the plain HTTP request it also is.
        "websocket upgrade": (websocket_request, {404}),
        "websocket upgrade, existing route": (
            http("GET", f"/healthz?{QUERY}", *upgrade[:2], *upgrade[2:]),
            {200},
        ),
        "malformed request line": (f"GARBAGE /?{QUERY} HTTP/9\r\n\r\n".encode(), {400}),
        "space in the target": (f"GET /a b?{QUERY} HTTP/1.1\r\nHost: x\r\n\r\n".encode(), {400}),
        "oversized header": (
            http("GET", f"/healthz?{QUERY}", "X-Where: " + "52.52437,13.41053;" * 6000),
            {200, 400, 431, None},
        ),
        "bad host": (http("GET", f"/healthz?{QUERY}", host="[52.52437:13.41053]"), {200, 400}),
        "coordinates in the path": (
            http("GET", f"/v1/reports/52.52437,13.41053?{QUERY}", auth),
            {404, 422},
        ),
        "unknown route": (http("GET", f"/no/such/48.85837?{QUERY}"), {404}),
        "wrong method": (http("DELETE", f"/healthz?{QUERY}"), {405}),
        "bogus token": (
            http("GET", f"/v1/reports?{QUERY}", "Authorization: Bearer psd_52.52437"),
            {401},
        ),
        "broken JSON with coordinates": (
            http("POST", "/v1/reports", auth, body=b'{"location": {"lat": 48.85837, "lon": 2.29'),
            {400},
        ),
        "coordinates out of range": (
            http("POST", "/v1/reports", auth, body=json.dumps(out_of_range).encode()),
            {422},
        ),
        "too large a body": (http("POST", f"/v1/reports?{QUERY}", auth, body=big), {413}),
        "a valid report": (  # stored (201), then replayed from the second address (200)
            http("POST", "/v1/reports", auth, body=json.dumps(report).encode()),
            {201, 200},
        ),
        "half a request": (b"POST /v1/reports?" + QUERY.encode() + b" HTTP/1.1\r\nHost", {None}),
    }


@pytest.mark.slow
@pytest.mark.parametrize(("bind", "workers"), [("127.0.0.1", 1), ("::1", 1), ("127.0.0.1", 2)])
async def test_serve_logs_no_address_coordinate_or_query(
    tmp_path: Path, bind: str, workers: int
) -> None:
    data_path = tmp_path / "data"
    data_path.mkdir()
    env = cli_environment(data_path, None) | {"PLAINSIGHT_LOG_LEVEL": "DEBUG"}
    stdout_log, stderr_log = tmp_path / "serve.out", tmp_path / "serve.err"
    clients = ["127.0.0.1", "127.0.0.77"] if bind == "127.0.0.1" else ["::1"]
    answers: dict[str, tuple[Exchange, set[int | None]]] = {}
    async with serving(
        env, stdout_log, host=bind, stderr_log=stderr_log, workers=workers
    ) as server:
        port = int(server.base_url.rsplit(":", 1)[1])
        async with httpx.AsyncClient(base_url=server.base_url, timeout=10.0) as client:
            device = await client.post("/v1/devices")
            assert device.status_code == 201, device.text
        for name, (request, expected) in hostile_requests(device.json()["token"]).items():
            for client_host in clients:
                answers[f"{name} from {client_host}"] = (
                    await exchange((bind, port), client_host, request, answered=expected != {None}),
                    expected,
                )
        assert await stop(server) == 0, stderr_log.read_text()

    stdout, stderr = stdout_log.read_text(), stderr_log.read_text()
    postgres_log = (data_path / "postgres" / "log").read_text()
    assert "embedded postgresql stopped" in stderr  # the whole session was captured
    assert stderr.count("Finished server process") == workers

    # The one address allowed: where the server itself listens, announced once at start.
    announcement = f"{server.base_url} (Press CTRL+C to quit)"
    assert stderr.count(announcement) == 1, stderr
    everything = "\n".join((stdout, stderr.replace(announcement, "<bind>"), postgres_log))
    for address in {*clients, bind}:
        assert address not in everything, address
    without_pids = PROCESS_IDS.sub("<pid>", everything)
    for exchanged, _ in answers.values():
        assert not re.search(rf"(?<!\d){exchanged.client_port}(?!\d)", without_pids), (
            f"client port {exchanged.client_port} in the logs"
        )
    for coordinate in PLANTED:
        assert coordinate not in everything, coordinate
    assert QUERY_MARK not in everything
    assert "lat=" not in everything

    # Every line on stdout and stderr is one JSON object (stdout carries none at all).
    lines = [line for line in (stdout + stderr).splitlines() if line.strip()]
    assert lines
    for line in lines:
        assert isinstance(json.loads(line), dict), line

    statuses = {name: (got.status, expected) for name, (got, expected) in answers.items()}
    assert {name: got for name, (got, expected) in statuses.items() if got not in expected} == {}
