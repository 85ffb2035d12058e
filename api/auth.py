"""Bearer-token authentication and the per-route role check.

Every route declares ``opt={"roles": ...}`` (or ``public=True``); the access-matrix test reads
these from the route table, so a route without a rule cannot slip through.
"""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult

from api.principal_cache import PrincipalCache
from schemas.auth import Principal, Role
from storage.accounts import grant_for_token
from storage.db import Database
from storage.tokens import token_hash

PUBLIC_OPT = "public"
ROLES_OPT = "roles"
STAFF = frozenset({Role.moderator, Role.admin})
REPORTERS = frozenset({Role.observer, Role.officer, Role.admin})
ACCOUNT_HOLDERS = frozenset({Role.officer, Role.researcher, Role.moderator, Role.admin})
ANY_ROLE = frozenset(Role)


def bearer_token(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    header = connection.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


class BearerAuthentication(AbstractAuthenticationMiddleware):
    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        token = bearer_token(connection)
        if token is None:
            raise NotAuthorizedException("a bearer token is required")
        principal = await authenticate(connection.app.state, token)
        if principal is None:
            raise NotAuthorizedException("the token is unknown, expired or revoked")
        # The role check lives here rather than in a Litestar guard: guards copy the handler on
        # every request, and this middleware already runs for every route that is not public.
        check_role(principal, connection.route_handler)
        return AuthenticationResult(user=principal, auth=token)


async def authenticate(state: Any, token: str) -> Principal | None:
    cache: PrincipalCache = state.principals
    key = token_hash(token)
    principal = cache.get(key)
    if principal is not None:
        return principal
    db: Database = state.db
    async with db.acquire() as conn:
        grant = await grant_for_token(conn, token)
    if grant is None:
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
