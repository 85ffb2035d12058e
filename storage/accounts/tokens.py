"""Bearer tokens: random, prefixed by kind, stored only as SHA-256 hashes.

Tokens carry 256 bits of randomness, so a fast hash is enough (no password-style stretching):
a stolen hash table reveals nothing usable.
"""

from __future__ import annotations

import hashlib
import secrets
from enum import StrEnum


class TokenKind(StrEnum):
    device = "psd"
    session = "pss"


def new_token(kind: TokenKind) -> str:
    return f"{kind.value}_{secrets.token_urlsafe(32)}"


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def token_kind(token: str) -> TokenKind | None:
    prefix, _, rest = token.partition("_")
    if not rest:
        return None
    try:
        return TokenKind(prefix)
    except ValueError:
        return None
