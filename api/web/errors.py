"""Errors on console pages are pages: the same decision as the API's problem+json (one map in
api.errors), shown in the reader's language; a missing session leads to the sign-in page."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from litestar import Request, Response
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.response import Redirect, Template
from litestar.types import ExceptionHandlersMap

from api.errors import EXCEPTION_HANDLERS
from api.problems import Problem
from api.web.session_cookie import cleared_session_cookie
from api.web.templating import render

HTML_OPT = "html"  # set on every route of the console router: errors are pages
CONSOLE_PATH_PREFIXES = (
    "/moderation/",
    "/statistics/",
    "/admin/",
    "/public/",
    "/static/",
)
CSRF_FAILED = "CSRF token verification failed"  # Litestar's CSRF middleware's detail
KNOWN_STATUSES = frozenset({400, 403, 404, 409, 410, 429, 500, 503})


def sign_in_redirect(request: Request[Any, Any, Any]) -> Redirect:
    """To the sign-in page, coming back here afterwards. Only the path travels (never a
    query string: it could hold a form's content)."""
    target = "/sign-in"
    if request.method == "GET" and request.url.path != "/":
        target += "?next=" + quote(request.url.path, safe="/")
    redirect = Redirect(target, status_code=303)
    redirect.cookies.append(cleared_session_cookie(request))
    return redirect


def _api_problem(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    for cls in type(exc).__mro__:
        handler = EXCEPTION_HANDLERS.get(cls)
        if handler is not None:
            return handler(request, exc)
    raise exc


def console_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any] | Template:
    if isinstance(exc, NotAuthorizedException):
        return sign_in_redirect(request)
    answer = _api_problem(request, exc)
    problem = answer.content
    status = answer.status_code or 500
    message_key = f"common.error_{status if status in KNOWN_STATUSES else 400}"
    if status >= 500:
        message_key = "common.error_503" if status == 503 else "common.error_500"
    if isinstance(exc, PermissionDeniedException) and exc.detail == CSRF_FAILED:
        message_key = "common.error_403_csrf"
    detail = None
    field = None
    if isinstance(problem, Problem) and status < 500:
        detail, field = problem.detail, problem.field
    page = render(
        request,
        "error.html",
        {"status": status, "message_key": message_key, "detail": detail, "field": field},
        status_code=status,
        headers={k: v for k, v in answer.headers.items() if k.lower() == "retry-after"},
    )
    return page


def api_or_page(request: Request[Any, Any, Any], exc: Exception) -> Response[Any] | Template:
    """The app's one exception handler. Exceptions raised in middleware (a missing session,
    a failed CSRF check) are answered with the app's handlers, not the router's, so the choice
    between problem+json and a page is made here, from the route's ``HTML_OPT``."""
    handler = request.scope.get("route_handler")
    if handler is not None and handler.opt.get(HTML_OPT):
        return console_error(request, exc)
    if handler is None and request.url.path.startswith(CONSOLE_PATH_PREFIXES):
        # No route matched (an unknown address, or a path parameter that did not parse) under
        # one of the console's areas: a person in a browser typed or followed it.
        return console_error(request, exc)
    return _api_problem(request, exc)


EXCEPTION_HANDLERS_WITH_PAGES: ExceptionHandlersMap = {Exception: api_or_page}
