"""Reading an evidence bundle as its recipient would: untar it, check manifest.sig with the
service's published key (PyNaCl, not the service's signer), and hash what is inside."""

from __future__ import annotations

import base64
import hashlib
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class Bundle:
    root: Path
    """The bundle's one top directory, unpacked."""
    manifest_bytes: bytes
    signature: str

    @property
    def manifest(self) -> dict[str, Any]:
        decoded: dict[str, Any] = msgspec.json.decode(self.manifest_bytes)
        return decoded

    def file(self, relative: str) -> Path:
        return self.root / relative


def unpack(tar_path: Path, into: Path) -> Bundle:
    with tarfile.open(tar_path) as tar:
        names = tar.getnames()
        tar.extractall(into, filter="data")
    tops = {name.split("/", 1)[0] for name in names}
    assert len(tops) == 1, tops
    root = into / tops.pop()
    return Bundle(
        root=root,
        manifest_bytes=(root / "manifest.json").read_bytes(),
        signature=(root / "manifest.sig").read_text().strip(),
    )


def signature_valid(manifest_bytes: bytes, signature: str, public_key_b64: str) -> bool:
    key = VerifyKey(b64url_decode(public_key_b64))
    try:
        key.verify(manifest_bytes, b64url_decode(signature))
    except BadSignatureError:
        return False
    return True


def receipt_valid(receipt: dict[str, Any], public_key_b64: str) -> bool:
    """The receipt's signature over the canonical JSON of its other four fields."""
    fields = {k: receipt[k] for k in ("report_id", "client_id", "payload_sha256", "received_at")}
    body = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    return signature_valid(body, receipt["signature"], public_key_b64)


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
