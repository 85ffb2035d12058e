"""Where the receipt keys' private seeds live: ``data_dir/keys`` (directory 0700, files 0600)
or the settings. Only seeds are here; the public records every replica serves are in
PostgreSQL (storage/reports/receipt_keys.py).

``data_dir/keys``:

- ``receipt-ed25519.key``: the first seed, made on first start and never rewritten. It is the
  root that other secrets are derived from, and the signing key until the first rotation.
- ``receipt-ed25519-<key_id>.key``: the seed of a key ``keys rotate`` made.
- ``receipt-current``: the id of the key this installation signs with (absent: the first).

With ``PLAINSIGHT_RECEIPT_KEY`` set, that seed is the root and the files are not read;
``PLAINSIGHT_RECEIPT_SIGNING_KEY`` (set after a rotation) is then the signing key.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from nacl.utils import random as random_bytes

from schemas.settings import Settings
from storage.reports.receipts import SEED_BYTES, ReceiptSigner, b64url, decode_seed

log = logging.getLogger(__name__)

KEY_DIR = "keys"
KEY_FILENAME = "receipt-ed25519.key"
CURRENT_FILENAME = "receipt-current"


class KeyFileError(ValueError):
    """A key file that is missing, unreadable or not a key (the message names the file)."""


def key_dir(data_dir: Path) -> Path:
    return data_dir / KEY_DIR


def rotated_key_path(data_dir: Path, key_id: str) -> Path:
    return key_dir(data_dir) / f"receipt-ed25519-{key_id}.key"


def load_signer(settings: Settings) -> ReceiptSigner:
    """The signer this process uses, from the settings or ``data_dir/keys`` (the first seed
    is made there on first start)."""
    if settings.receipt_key is not None:
        root = decode_seed(settings.receipt_key, "PLAINSIGHT_RECEIPT_KEY")
    else:
        root = _root_from_files(settings.data_path)
    if settings.receipt_signing_key is not None:
        seed = decode_seed(settings.receipt_signing_key, "PLAINSIGHT_RECEIPT_SIGNING_KEY")
        return ReceiptSigner(seed, root=root)
    if settings.receipt_key is not None:
        return ReceiptSigner(root)
    return _current_from_files(settings.data_path, root)


def uses_files(settings: Settings) -> bool:
    """Whether the signing key comes from ``data_dir/keys`` (not from a setting)."""
    return settings.receipt_key is None and settings.receipt_signing_key is None


def _root_from_files(data_dir: Path) -> bytes:
    directory = key_dir(data_dir)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = directory / KEY_FILENAME
    if not path.exists():
        _write_exclusive(path, b64url(random_bytes(SEED_BYTES)).encode())
        log.info("generated a new receipt signing key", extra={"path": str(path)})
    return _read_seed(path)


def _current_from_files(data_dir: Path, root: bytes) -> ReceiptSigner:
    # A rotation deletes the key it retires after pointing receipt-current at the new one:
    # a process that read the old id just before finds the file gone, and reads again.
    for attempt in range(2):
        key_id = _current_id(data_dir)
        if key_id is None:
            return ReceiptSigner(root)
        path = rotated_key_path(data_dir, key_id)
        if path.exists() or attempt == 1:
            signer = ReceiptSigner(_read_seed(path), root=root)
            if signer.key_id != key_id:
                raise KeyFileError(
                    f"{path} holds key {signer.key_id}, not {key_id} as its name and "
                    f"{CURRENT_FILENAME} say: restore the file from a backup"
                )
            return signer
    raise AssertionError("unreachable")  # pragma: no cover


def _current_id(data_dir: Path) -> str | None:
    path = key_dir(data_dir) / CURRENT_FILENAME
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyFileError(f"cannot read {path}: {exc}") from exc
    if len(text) != 43 or not all(c.isalnum() or c in "-_" for c in text):
        raise KeyFileError(f"{path} does not hold a key id (43 base64url characters)")
    return text


def _read_seed(path: Path) -> bytes:
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyFileError(f"cannot read receipt key {path}: {exc}") from exc
    try:
        return decode_seed(text, str(path))
    except ValueError as exc:
        raise KeyFileError(f"receipt key file is corrupt: {exc}") from exc


def store_rotated(data_dir: Path, signer: ReceiptSigner) -> Path:
    """Write a new key's seed (0600, never over a file)."""
    path = rotated_key_path(data_dir, signer.key_id)
    _write_exclusive(path, b64url(signer.seed).encode())
    return path


def point_current(data_dir: Path, key_id: str | None) -> None:
    """Make ``key_id`` the key this installation signs with (None: the first), atomically."""
    path = key_dir(data_dir) / CURRENT_FILENAME
    if key_id is None:
        path.unlink(missing_ok=True)
        return
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key_id + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def forget_rotated(data_dir: Path, key_id: str) -> None:
    """Delete a retired key's seed: it signs nothing any more (the first seed stays, as the
    root of the derived secrets)."""
    rotated_key_path(data_dir, key_id).unlink(missing_ok=True)


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
    except FileExistsError:
        if path.name != KEY_FILENAME:
            raise
    finally:
        tmp.unlink()
