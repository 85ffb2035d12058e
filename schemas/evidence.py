"""The evidence recipients setting: the age public keys sealed originals are encrypted to.

``PLAINSIGHT_EVIDENCE_RECIPIENTS`` holds one or more age X25519 public keys (``age1...``, as
``age-keygen`` prints them), separated by commas or whitespace. Each is checked when the
settings are read, so a mistyped key stops the service at start-up rather than at the first
upload. A secret key (``AGE-SECRET-KEY-1...``) pasted by mistake is refused without repeating
it: the server must never hold one.
"""

from __future__ import annotations

import functools
import hashlib
import re

from pyrage import RecipientError, x25519

_SEPARATORS = re.compile(r"[\s,]+")
SECRET_KEY_PREFIX = "AGE-SECRET-KEY-"  # noqa: S105 - how a secret key starts, to refuse it
PUBLIC_KEY_PREFIX = "age1"
SHOWN_CHARACTERS = 12


@functools.lru_cache(maxsize=4)
def parse_recipients(text: str) -> tuple[str, ...]:
    """The distinct public keys in ``text``, in the order given (empty: sealing is off).

    Raises ValueError naming the first bad entry by position (and its beginning, unless it
    looks like a secret key)."""
    keys: list[str] = []
    for position, entry in enumerate(_SEPARATORS.split(text.strip()), start=1):
        if not entry:
            continue
        if entry.upper().startswith(SECRET_KEY_PREFIX):
            raise ValueError(
                f"entry {position} is an age secret key; give the public key instead "
                "(`age-keygen -y KEYFILE` prints it) and keep the secret key off this server"
            )
        if not entry.startswith(PUBLIC_KEY_PREFIX):
            raise ValueError(
                f"entry {position} ({_shown(entry)}) is not an age public key (age1...)"
            )
        try:
            x25519.Recipient.from_str(entry)
        except RecipientError:
            raise ValueError(
                f"entry {position} ({_shown(entry)}) is not a valid age public key "
                "(mistyped or cut short?)"
            ) from None
        if entry not in keys:
            keys.append(entry)
    return tuple(keys)


def recipients_fingerprint(keys: tuple[str, ...]) -> str:
    """sha256 (hex) of the sorted keys joined by newlines: names the set of keys an original
    was sealed to, so the holders know which secret keys open it after a change of keys."""
    return hashlib.sha256("\n".join(sorted(keys)).encode()).hexdigest()


def _shown(entry: str) -> str:
    return entry if len(entry) <= SHOWN_CHARACTERS else f"{entry[:SHOWN_CHARACTERS]}..."
