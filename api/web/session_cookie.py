"""The console's session cookie: an API session token, so expiry and revocation are the API's.

HttpOnly (no script reads it), SameSite=Strict (no other site's page sends it), Secure behind
TLS (``PLAINSIGHT_SECURE_COOKIES``, or whenever the request itself came over HTTPS).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Final

from litestar import Request
from litestar.datastructures import Cookie

SESSION_COOKIE: Final = "plainsight_session"


def secure(request: Request[Any, Any, Any]) -> bool:
    return bool(request.app.state.settings.secure_cookies) or request.url.scheme == "https"


def session_cookie(request: Request[Any, Any, Any], token: str, expires_at: datetime) -> Cookie:
    return Cookie(
        key=SESSION_COOKIE,
        value=token,
        path="/",
        max_age=max(0, int((expires_at - datetime.now(UTC)).total_seconds())),
        httponly=True,
        samesite="strict",
        secure=secure(request),
    )


def cleared_session_cookie(request: Request[Any, Any, Any]) -> Cookie:
    return Cookie(
        key=SESSION_COOKIE,
        value="",
        path="/",
        max_age=0,
        httponly=True,
        samesite="strict",
        secure=secure(request),
    )


def session_token(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """The session token from the raw ``Cookie`` headers (the auth middleware runs before
    Litestar has parsed anything)."""
    wanted = SESSION_COOKIE.encode()
    for name, value in headers:
        if name != b"cookie":
            continue
        for part in value.split(b";"):
            key, _, token = part.strip().partition(b"=")
            if key == wanted and token:
                return token.decode("latin-1")
    return None
