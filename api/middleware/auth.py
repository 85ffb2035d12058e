"""Bearer-token authentication and the per-route role check.

Every route declares ``opt={"roles": ...}`` (or ``public=True``); the access-matrix test reads
these from the route table, so a route without a rule cannot slip through.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.types import ASGIApp, Receive, Scope, Send

from api.middleware.limiter import RateLimiter, address_subject
from api.middleware.principal_cache import PrincipalCache
from api.web.session_cookie import session_token
from schemas.auth import Principal, Role
from schemas.settings import Settings
from storage.accounts.store import grant_for_token
from storage.accounts.tokens import token_hash
from storage.db.pool import Database
from storage.errors import Forbidden

PUBLIC_OPT = "public"
# A console page: the credential is the session cookie (never a bearer token), and a request
# without a valid one is sent to the sign-in page instead of answered 401.
CONSOLE_OPT = "console"
ROLES_OPT = "roles"
# Routes a session may use while its account still has to enrol a required second factor.
ENROLMENT_OPT = "totp_enrolment"
STAFF = frozenset({Role.moderator, Role.admin})
REPORTERS = frozenset({Role.observer, Role.officer, Role.admin})
ACCOUNT_HOLDERS = frozenset({Role.officer, Role.researcher, Role.moderator, Role.admin})
ANY_ROLE = frozenset(Role)
FAILED_AUTH_RULE = "failed_auth"  # PLAINSIGHT_RATE_LIMIT_FAILED_AUTH


def bearer_token(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    return _token_from_headers(connection.scope["headers"])


def bearer_authentication(app: ASGIApp) -> ASGIApp:
    """Authenticate every request to a route that is not public, then check its role.

    A plain ASGI middleware: Litestar's authentication base class builds a connection object
    and matches exclusion patterns per request, which costs more than the cached lookup itself.
    The role check lives here too, rather than in a guard: Litestar copies the handler for
    every guard call.
    """

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        handler: BaseRouteHandler = scope["route_handler"]
        if not handler.opt.get(PUBLIC_OPT):
            console = handler.opt.get(CONSOLE_OPT, False)
            if console:
                token = session_token(scope["headers"])
                if token is None:
                    raise SignInRequired("sign in to open this page")
            else:
                token = _token_from_headers(scope["headers"])
                if token is None:
                    raise NotAuthorizedException("a bearer token is required")
            principal = await authenticate(scope["litestar_app"].state, token, scope.get("client"))
            if principal is None:
                if console:
                    raise SignInRequired("the session has ended: sign in again")
                raise NotAuthorizedException("the token is unknown, expired or revoked")
            check_role(principal, handler)
            check_second_factor(principal, handler, scope["litestar_app"].state.settings)
            scope["user"] = principal
            scope["auth"] = token
        await app(scope, receive, send)

    return middleware


class SignInRequired(NotAuthorizedException):
    """A console page without a live session: the console answers with the sign-in page."""


def _token_from_headers(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    for name, value in headers:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                return None
            return token.strip()
    return None


async def authenticate(
    state: Any, token: str, client: tuple[str, int] | None = None
) -> Principal | None:
    """The token's principal: from the cache, else from the database. Before a lookup, a
    client address that sent too many unknown tokens gets RateLimited (429): a flood of
    guessed tokens costs a bucket check each, not a database round trip. Only failures are
    counted, so reporters sharing an address with a guesser are refused only on a cache miss
    and only while the guesser keeps failing."""
    cache: PrincipalCache = state.principals
    key = token_hash(token)
    principal = cache.get(key)
    if principal is not None:
        return principal
    # One lookup per token at a time: when a cached token expires under concurrent requests
    # (a queue of reports flushed at once), the others wait for the first one's answer
    # instead of each taking a database connection for the same row.
    while (pending := cache.lookups.get(key)) is not None:
        try:
            return await asyncio.shield(pending)
        except asyncio.CancelledError:
            if not pending.cancelled() or _being_cancelled():
                raise
            # That lookup failed or its request went away: each waiter tries on its own
            # (a 429 or 503 belongs to the request that met it).
    lookup: asyncio.Future[Principal | None] = asyncio.get_running_loop().create_future()
    cache.lookups[key] = lookup
    try:
        principal = await _look_up(state, cache, key, token, client)
    except BaseException:
        lookup.cancel()
        raise
    else:
        lookup.set_result(principal)
        return principal
    finally:
        del cache.lookups[key]


def _being_cancelled() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


async def _look_up(
    state: Any, cache: PrincipalCache, key: bytes, token: str, client: tuple[str, int] | None
) -> Principal | None:
    limiter: RateLimiter | None = state.rate_limiter
    failures = None if limiter is None else limiter.rules.get(FAILED_AUTH_RULE)
    if limiter is not None and failures is not None:
        subject = address_subject(client)
        await limiter.check_without_counting(FAILED_AUTH_RULE, failures, subject)
    db: Database = state.db
    async with db.acquire() as conn:
        grant = await grant_for_token(
            conn, token, device_token_days=state.settings.device_token_days
        )
    if grant is None:
        if limiter is not None and failures is not None:
            await limiter.count(FAILED_AUTH_RULE, failures, subject)
        return None
    cache.put(key, grant)
    return grant.principal


def check_role(principal: Principal, handler: BaseRouteHandler) -> None:
    roles: frozenset[Role] | None = handler.opt.get(ROLES_OPT)
    if roles is None:
        # A route that forgot its rule is closed, not open.
        raise PermissionDeniedException("this route has no access rule")
    if principal.role not in roles:
        raise PermissionDeniedException(f"the {principal.role} role may not use this endpoint")


class EnrolmentRequired(Forbidden):
    code = "totp_enrolment_required"


def check_second_factor(
    principal: Principal, handler: BaseRouteHandler, settings: Settings
) -> None:
    """An account whose role must use a second factor, and has none yet, may only enrol one."""
    if principal.second_factor or principal.is_device or handler.opt.get(ENROLMENT_OPT):
        return
    if principal.role in settings.totp_required_roles:
        raise EnrolmentRequired(
            f"the {principal.role} role must use a second factor: enrol one with "
            "POST /v1/accounts/current/totp and confirm it before anything else"
        )
