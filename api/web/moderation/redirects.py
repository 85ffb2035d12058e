"""Post/redirect/get for the moderation forms: where a form goes back to, and the short
notice it carries there (a key from a fixed list, never report content)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, NamedTuple
from urllib.parse import parse_qsl, urlencode, urlsplit

from api.web.routes.session import safe_next

HOME: Final = "/moderation"
# What ``?done=`` may say; each has a ``moderation.done_<key>`` message.
NOTICES: Final = frozenset(
    {"verified", "unverified", "rejected", "device_revoked", "merged", "split"}
)
# Numbers a notice may carry besides its key: how many reports a revocation rejected (only
# device_revoked), which incident a split made (only split).
NOTICE_NUMBERS: Final = ("count", "incident")
NUMBERED: Final = {"count": "device_revoked", "incident": "split"}
MAX_NUMBER: Final = 2**63 - 1


class Notice(NamedTuple):
    key: str
    rejected: int | None
    incident: int | None


def return_path(value: object, default: str) -> str:
    """``value`` if it is a moderation page of this site, else ``default`` (so no form can
    send a moderator elsewhere). Any old notice in it is dropped."""
    path = safe_next(value)
    if path is None:
        return default
    parts = urlsplit(path)
    if parts.scheme or parts.netloc:
        return default
    if parts.path != HOME and not parts.path.startswith(HOME + "/"):
        return default
    kept = [(k, v) for k, v in parse_qsl(parts.query) if k != "done" and k not in NOTICE_NUMBERS]
    return parts.path + (f"?{urlencode(kept)}" if kept else "")


def with_notice(path: str, key: str, **numbers: int) -> str:
    """``path`` with ``?done=key`` (and its numbers) added to the query string."""
    if key not in NOTICES:
        raise ValueError(f"no moderation notice {key!r}")
    query = urlencode({"done": key, **{name: str(value) for name, value in numbers.items()}})
    return f"{path}{'&' if '?' in path else '?'}{query}"


def notice_of(query: Mapping[str, str]) -> Notice | None:
    """The notice a redirect asked for, or None (unknown keys and numbers are ignored)."""
    key = query.get("done")
    if key not in NOTICES:
        return None
    numbers = {
        name: _number(query.get(name)) if NUMBERED[name] == key else None for name in NOTICE_NUMBERS
    }
    return Notice(str(key), numbers["count"], numbers["incident"])


def _number(text: str | None) -> int | None:
    if text is None or not (text.isascii() and text.isdigit()) or len(text) > 19:
        return None
    value = int(text)
    return value if value <= MAX_NUMBER else None
