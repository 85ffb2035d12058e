"""Which rate limit a request counts against, and the ASGI middleware that applies it.

Authenticated requests count per device or account (the principal), never per address: many
phones at one protest can share a carrier's NAT address, and a per-address limit there would
lock out the reporters the service exists for. Unauthenticated requests can only be told apart
by their address: registering a device (the cheapest way to get more tokens), logging in
(password guessing; argon2 also makes each attempt expensive) and the public reads.

The address is the peer of the TCP connection, or, when that peer is one of
``PLAINSIGHT_TRUSTED_PROXIES``, the client it names in ``X-Forwarded-For``
(api.middleware.forwarded); from any other peer forwarded headers are ignored. Without the
setting, behind a reverse proxy every client shares the proxy's address. An IPv6 client is
counted by its /64, the block one subscriber usually gets.
"""

from __future__ import annotations

from collections.abc import Callable

from litestar.enums import ScopeType
from litestar.handlers.base import BaseRouteHandler
from litestar.types import ASGIApp, Receive, Scope, Send

from api.middleware.auth import PUBLIC_OPT
from api.middleware.limiter import RateLimiter, address_subject
from schemas.rate_limits import Rate

# Probes, scrapes and the API description are never limited.
UNLIMITED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
READ_METHODS = frozenset({"GET", "HEAD"})
# Unauthenticated writes that try a secret (a password, a reset code): held to the login rate.
LOGIN_PATHS = frozenset({"/v1/sessions", "/v1/password-resets", "/sign-in", "/reset-password"})
# The console's stylesheet, script and icon: files on disk, fetched with every first page view.
STATIC_PREFIX = "/static/"
UPLOAD_PREFIX = "/v1/uploads/"
# Rules whose subject is the client address; the others count per principal. (Failed
# authentication, also per address, is counted by api.middleware.auth, before the token is looked
# up.)
ADDRESS_RULES = frozenset({"devices", "sessions", "public_reads"})

Plan = tuple[str, Rate, bool] | None
"""(rule, rate, per address) for one route and method; None: not limited."""


def rule_for(method: str, path_template: str, public: bool) -> str | None:
    if method == "OPTIONS" or path_template in UNLIMITED_PATHS:
        return None
    if path_template == "/schema" or path_template.startswith(("/schema/", STATIC_PREFIX)):
        return None
    if public:
        if method in READ_METHODS:
            return "public_reads"
        # Any other unauthenticated write is held to the device-registration rate.
        return "sessions" if path_template in LOGIN_PATHS else "devices"
    if method in READ_METHODS:
        return "reads"
    # A resumable upload counts as one photo upload, at its creation; its PATCHes are bounded
    # by the length declared then, so each chunk does not count again.
    if method == "POST" and path_template.endswith(("/photos", "/uploads")):
        return "photos"
    if method in ("PATCH", "POST") and path_template.startswith(UPLOAD_PREFIX):
        return None  # a PATCH, or a POST standing in for one (X-HTTP-Method-Override)
    return "writes"


def rate_limiting(limiter: RateLimiter) -> Callable[[ASGIApp], ASGIApp]:
    """A middleware factory for Litestar's ``middleware=[...]``, placed after authentication so
    the principal is known. Decisions are cached per (method, route template): O(1) per request."""
    plans: dict[tuple[str, str], Plan] = {}

    def plan_for(method: str, path_template: str, handler: BaseRouteHandler) -> Plan:
        rule = rule_for(method, path_template, bool(handler.opt.get(PUBLIC_OPT)))
        rate = None if rule is None else limiter.rules.get(rule)
        if rule is None or rate is None:
            return None
        return rule, rate, rule in ADDRESS_RULES

    def factory(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == ScopeType.HTTP:
                method, template = scope["method"], scope["path_template"]
                try:
                    plan = plans[method, template]
                except KeyError:
                    plan = plans[method, template] = plan_for(
                        method, template, scope["route_handler"]
                    )
                if plan is not None:
                    rule, rate, by_address = plan
                    user = scope.get("user")
                    if by_address or user is None:
                        subject = address_subject(scope.get("client"))
                    else:
                        subject = user.id.bytes
                    await limiter.check(rule, rate, subject)
            await app(scope, receive, send)

        return middleware

    return factory
