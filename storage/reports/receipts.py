"""Ed25519 receipts: proof for the reporter that the service accepted exactly this report.

The signature covers the canonical JSON (keys sorted, no whitespace, UTF-8) of report_id,
client_id, payload_sha256 and received_at, exactly as they appear in the receipt. The key's id
(``key_id``, RFC 7638 thumbprint) travels beside the signature, outside the signed fields, so
receipts made before keys had ids verify unchanged.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

import msgspec
from nacl.bindings import crypto_sign, crypto_sign_BYTES, crypto_sign_seed_keypair
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

SEED_BYTES = 32
ALGORITHM = "Ed25519"
BASE64URL = re.compile(r"[A-Za-z0-9_-]+")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def canonical_json(value: object) -> bytes:
    return msgspec.json.encode(value, order="sorted")


def key_id_of(public_key_b64: str) -> str:
    """The RFC 7638 JWK thumbprint of an Ed25519 public key (RFC 8037 OKP members, sorted,
    no whitespace): deterministic, so a key made before ids existed has one too."""
    members = f'{{"crv":"Ed25519","kty":"OKP","x":"{public_key_b64}"}}'
    return b64url(hashlib.sha256(members.encode()).digest())


def decode_seed(seed_b64: str, source: str) -> bytes:
    """The 32-byte seed in ``seed_b64``; ValueError naming ``source`` otherwise."""
    text = seed_b64.strip()
    # b64decode would skip characters outside the alphabet: refuse them instead.
    if not BASE64URL.fullmatch(text):
        raise ValueError(f"{source} is not base64url (A-Z, a-z, 0-9, - and _, no padding)")
    try:
        seed = b64url_decode(text)
    except ValueError as exc:  # binascii.Error: a length no base64 text has
        raise ValueError(f"{source} is not base64url: {exc}") from exc
    if len(seed) != SEED_BYTES:
        raise ValueError(f"{source} must be base64url of exactly 32 bytes, not {len(seed)}")
    return seed


def verifies(public_key_b64: str, fields: object, signature_b64: str) -> bool:
    """Whether ``signature_b64`` is the key's signature over the canonical JSON of ``fields``."""
    try:
        signature = b64url_decode(signature_b64)
        if len(signature) != crypto_sign_BYTES:
            return False
        VerifyKey(b64url_decode(public_key_b64)).verify(canonical_json(fields), signature)
    except (ValueError, BadSignatureError):
        return False
    return True


class ReceiptSigner:
    """The current signing key, plus the root secret other secrets are derived from.

    ``root`` is the installation's first seed: ``keys rotate`` changes the signing key, never
    the root, so what ``derive_key`` gives (console CSRF secret, upload digests) is the same
    before and after a rotation, and equals what every earlier version derived from its one
    key. Without ``root`` the signing seed is the root (no rotation has happened)."""

    # PyNaCl (libsodium) signs in ~16 us here against ~27 us for the OpenSSL binding: signing
    # is the largest single cost of storing a report, so the faster library earns its place.
    def __init__(self, seed: bytes, root: bytes | None = None) -> None:
        public, self._secret = crypto_sign_seed_keypair(seed)
        self.public_key_b64 = b64url(public)
        self.key_id = key_id_of(self.public_key_b64)
        self.seed = seed
        self._root = seed if root is None else root
        self.root_public_key_b64 = b64url(crypto_sign_seed_keypair(self._root)[0])

    def derive_key(self, purpose: str) -> bytes:
        """A secret for another use (the console's CSRF tokens, upload digests), the same in
        every replica that shares the key material, unchanged by rotation, and useless for
        signing receipts."""
        return hmac.new(self._root, f"plainsight {purpose}".encode(), hashlib.sha256).digest()

    def rotated(self, seed: bytes) -> ReceiptSigner:
        """A signer with a new signing key and the same root."""
        return ReceiptSigner(seed, root=self._root)

    def sign(self, fields: object) -> str:
        # crypto_sign returns signature + message; the binding avoids SigningKey.sign's
        # SignedMessage wrapper on every report.
        signed: bytes = crypto_sign(canonical_json(fields), self._secret)
        return b64url(signed[:crypto_sign_BYTES])

    @classmethod
    def from_seed(cls, seed_b64: str) -> ReceiptSigner:
        return cls(decode_seed(seed_b64, "PLAINSIGHT_RECEIPT_KEY"))
