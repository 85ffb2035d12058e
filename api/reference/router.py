"""Swagger UI at /schema/swagger: the page, its start script and the UI's own script and
styles, all from this service (swagger-ui-py ships Swagger UI 5's files, which render
OpenAPI 3.1). Under the console's security headers: scripts and styles from 'self' only."""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from typing import Final

from litestar import Response, Router, get
from litestar.datastructures import CacheControlHeader
from litestar.response import Redirect

from api.web.security_headers import security_headers

PATH: Final = "/swagger"
_HERE = files(__package__)
_SWAGGER_UI = files("swagger_ui") / "static"
# Assets are named by the installed package, not by content: a day, not a year.
ASSETS_CACHE: Final = CacheControlHeader(max_age=86_400, public=True)
PAGE_CACHE: Final = CacheControlHeader(max_age=300, public=True)


@cache
def _asset(name: str) -> bytes:
    source = _HERE if name in {"swagger.html", "swagger.js"} else _SWAGGER_UI
    return (source / name).read_bytes()


@get("/", media_type="text/html; charset=utf-8", cache_control=PAGE_CACHE)
async def reference_page() -> Response[bytes]:
    return Response(_asset("swagger.html"))


@get("/init.js", media_type="text/javascript; charset=utf-8", cache_control=ASSETS_CACHE)
async def reference_init() -> Response[bytes]:
    return Response(_asset("swagger.js"))


@get(
    "/swagger-ui-bundle.js",
    media_type="text/javascript; charset=utf-8",
    cache_control=ASSETS_CACHE,
)
async def swagger_ui_script() -> Response[bytes]:
    return Response(_asset("swagger-ui-bundle.js"))


@get("/swagger-ui.css", media_type="text/css; charset=utf-8", cache_control=ASSETS_CACHE)
async def swagger_ui_styles() -> Response[bytes]:
    return Response(_asset("swagger-ui.css"))


def reference_router() -> Router:
    """Mounted inside the OpenAPI router (/schema), which makes it public."""
    return Router(
        path=PATH,
        route_handlers=[reference_page, reference_init, swagger_ui_script, swagger_ui_styles],
        middleware=[security_headers],
        include_in_schema=False,
    )


@get("/redoc", status_code=302, include_in_schema=False)
async def other_reference() -> Redirect:
    """Where frameworks often serve their second reference: the one this service has."""
    return Redirect(path=f"/schema{PATH}", status_code=302)
