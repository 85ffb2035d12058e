"""A real S3-compatible HTTP server for tests: moto's server, in a thread of the test process.

In-process rather than a ``python -m moto.server`` subprocess: it binds port 0 (no race for a
"free" port), needs no readiness polling, and cannot outlive the test run (a daemon thread).
Moto does not check signatures, so any credentials work; tests still pass dummy ones explicitly.
"""

from __future__ import annotations

import http.client
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Final

from moto.server import ThreadedMotoServer

ACCESS_KEY_ID: Final = "plainsight-test-key"
SECRET_ACCESS_KEY: Final = "plainsight-test-secret"
REGION: Final = "us-east-1"


@dataclass(frozen=True, slots=True)
class S3Server:
    host: str
    port: int

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def create_bucket(self, name: str | None = None) -> str:
        """Create a bucket (a fresh random name unless given) with a plain HTTP ``PUT /name``
        (path-style CreateBucket; us-east-1 needs no body) and return its name."""
        bucket = name or f"plainsight-test-{secrets.token_hex(6)}"
        connection = http.client.HTTPConnection(self.host, self.port, timeout=10)
        try:
            connection.request("PUT", f"/{bucket}")
            response = connection.getresponse()
            body = response.read()
        finally:
            connection.close()
        if response.status != 200:
            raise RuntimeError(f"CreateBucket {bucket}: HTTP {response.status}: {body!r}")
        return bucket


@contextmanager
def running_s3_server() -> Iterator[S3Server]:
    """Start moto's S3 server on 127.0.0.1 (a free port); always stopped on exit."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield S3Server(host, port)
    finally:
        server.stop()  # shuts the werkzeug server down; it closes its socket, the thread ends
