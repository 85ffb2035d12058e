"""The web console and the public pages, mounted beside the API by ``create_app``.

Console routes carry ``CONSOLE_OPT``: the bearer middleware takes their credential from the
session cookie and applies the very same role check as to the API. CSRF protection (Litestar's
double-submit middleware, the form field ``_csrf_token``) covers every form of this router only,
so the API's bearer-token requests never pay for it.
"""

from __future__ import annotations

from litestar import Router
from litestar.config.csrf import CSRFConfig
from litestar.datastructures import CacheControlHeader
from litestar.middleware.base import DefineMiddleware
from litestar.middleware.csrf import CSRFMiddleware
from litestar.static_files import create_static_files_router
from litestar.types import ControllerRouterHandler

from api.middleware.auth import PUBLIC_OPT
from api.web.errors import HTML_OPT
from api.web.routes import (
    admin_accounts,
    admin_audit,
    moderation,
    moderation_incidents,
    public,
    reset_password,
    session,
    statistics,
)
from api.web.security_headers import security_headers
from api.web.templating import STATIC, STATIC_PATH
from schemas.settings import Settings
from storage.reports.receipts import ReceiptSigner

CSRF_COOKIE = "plainsight_csrf"
YEAR_S = 365 * 24 * 3600


def console_router(settings: Settings, signer: ReceiptSigner) -> Router:
    csrf = CSRFConfig(
        # From the root seed, which `keys rotate` never changes: forms stay valid across it.
        secret=signer.derive_key("console csrf").hex(),
        cookie_name=CSRF_COOKIE,
        cookie_httponly=True,
        cookie_samesite="strict",
        cookie_secure=settings.secure_cookies,
    )
    static = create_static_files_router(
        path=STATIC_PATH,
        directories=[STATIC],
        opt={PUBLIC_OPT: True, "exclude_from_csrf": True},
        # URLs carry a content hash (templating.static_url): safe to keep for a year.
        cache_control=CacheControlHeader(max_age=YEAR_S, public=True, immutable=True),
        include_in_schema=False,
    )
    handlers: list[ControllerRouterHandler] = [
        *session.ROUTES,
        *moderation.ROUTES,
        *moderation_incidents.ROUTES,
        *statistics.ROUTES,
        *admin_accounts.ROUTES,
        *admin_audit.ROUTES,
        *public.ROUTES,
        *reset_password.ROUTES,
        static,
    ]
    return Router(
        path="/",
        route_handlers=handlers,
        middleware=[security_headers, DefineMiddleware(CSRFMiddleware, config=csrf)],
        opt={HTML_OPT: True},
        include_in_schema=False,
    )
