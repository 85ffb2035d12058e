"""Receipt key tests: an installation of their own (rotations commit), replicas of the service on
it served over real HTTP, and receipt checks written from the contract, not the service's code."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from api.app import create_app
from api.tasks.photo_workers import PhotoWorkers
from schemas.settings import Settings, load_settings
from storage.db.pool import connect
from tests.support.cli import Completed, run_cli
from tests.support.helpers import Api
from tests.support.live_server import live_server

SIGNED_FIELDS = ("report_id", "client_id", "payload_sha256", "received_at")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def thumbprint(public_key: str) -> str:
    """RFC 7638, computed here from its definition."""
    jwk = json.dumps({"kty": "OKP", "crv": "Ed25519", "x": public_key}, sort_keys=True,
                     separators=(",", ":"))  # fmt: skip
    return base64.urlsafe_b64encode(hashlib.sha256(jwk.encode()).digest()).rstrip(b"=").decode()


def canonical(fields: dict[str, Any]) -> bytes:
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def signature_ok(public_key: str, message: bytes, signature: str) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(b64url_decode(public_key)).verify(
            b64url_decode(signature), message
        )
    except InvalidSignature:
        return False
    return True


def receipt_ok(public_key: str, receipt: dict[str, Any]) -> bool:
    fields = {name: receipt[name] for name in SIGNED_FIELDS}
    return signature_ok(public_key, canonical(fields), receipt["signature"])


def key_by_id(key_set: dict[str, Any], key_id: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [key for key in key_set["keys"] if key["key_id"] == key_id]
    assert len(found) == 1, f"{key_id} is published {len(found)} times"
    return found[0]


@dataclass
class Installation:
    dsn: str
    data_dir: Path
    env: dict[str, str]
    photo_workers: PhotoWorkers

    def settings(self, **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "database_url": self.dsn,
            "data_dir": str(self.data_dir),
            "rate_limits": "off",
        }
        return load_settings({}, **{**values, **overrides})

    async def cli(self, *args: str, **extra_env: str) -> Completed:
        return await run_cli(*args, env={**self.env, **extra_env})

    async def rotate(self, **extra_env: str) -> Completed:
        result = await self.cli("keys", "rotate", **extra_env)
        assert result.returncode == 0, result.stderr
        return result

    @asynccontextmanager
    async def owner(self) -> AsyncIterator[asyncpg.Connection]:
        conn = await connect(self.dsn)
        try:
            yield conn
        finally:
            await conn.close()

    @asynccontextmanager
    async def replica(self, **overrides: Any) -> AsyncIterator[Api]:
        """One ``plainsight serve`` process's app, started now (a start or restart)."""
        app = create_app(self.settings(**overrides), photo_workers=self.photo_workers)
        async with (
            self.owner() as conn,
            live_server(app) as base_url,
            httpx.AsyncClient(base_url=base_url, timeout=30.0) as client,
        ):
            yield Api(client, conn)


async def key_set(api: Api) -> dict[str, Any]:
    response = await api.client.get("/v1/receipts/keys")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def current_key(api: Api) -> dict[str, Any]:
    response = await api.client.get("/v1/receipts/public-key")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body
