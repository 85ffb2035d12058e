"""Signing in and out of the console, the language switch, and the start page."""

from __future__ import annotations

from typing import Any, Final

from litestar import Request, get, post
from litestar.datastructures import Cookie, State
from litestar.response import Redirect, Template

from api.dependencies import Transaction
from api.middleware.auth import ACCOUNT_HOLDERS, CONSOLE_OPT, PUBLIC_OPT, ROLES_OPT, authenticate
from api.sessions import sign_in, sign_out
from api.web.i18n import LANGUAGE_COOKIE
from api.web.navigation import NO_PAGES, home_of
from api.web.session_cookie import cleared_session_cookie, session_cookie, session_token
from api.web.templating import render
from schemas.auth import Principal
from schemas.labels import LANGUAGES
from storage.accounts.store import LoginFailed, SecondFactorRequired

NO_CSRF: Final = {"exclude_from_csrf": True}  # reads only, and public: no cookie set
MAX_FIELD = 1024  # longer than any e-mail address, password or code we accept


async def current_user(request: Request[Any, Any, Any]) -> Principal | None:
    """The principal of the session cookie, on a page anyone may open."""
    token = session_token(request.scope["headers"])
    if token is None:
        return None
    return await authenticate(request.app.state, token, request.scope.get("client"))


def safe_next(value: object) -> str | None:
    """A path on this site to go back to after signing in, or None (no open redirect)."""
    if not isinstance(value, str) or not value.startswith("/") or value.startswith("//"):
        return None
    if "\\" in value or len(value) > 300:
        return None
    return value


@get("/", opt={PUBLIC_OPT: True, **NO_CSRF}, include_in_schema=False)
async def start(request: Request[Any, Any, Any]) -> Redirect:
    user = await current_user(request)
    return Redirect("/sign-in" if user is None else home_of(user), status_code=303)


@get("/sign-in", opt={PUBLIC_OPT: True}, include_in_schema=False)
async def sign_in_page(request: Request[Any, Any, Any]) -> Template | Redirect:
    user = await current_user(request)
    if user is not None:
        return Redirect(home_of(user), status_code=303)
    return render(
        request,
        "sign_in.html",
        {"next": safe_next(request.query_params.get("next")), "error": None, "email": ""},
    )


@post("/sign-in", opt={PUBLIC_OPT: True}, include_in_schema=False, status_code=303)
async def sign_in_form(request: Request[Any, Any, Any], state: State) -> Template | Redirect:
    form = await request.form()
    email = str(form.get("email") or "")[:MAX_FIELD].strip()
    password = str(form.get("password") or "")[:MAX_FIELD]
    totp = str(form.get("totp") or "")[:MAX_FIELD].strip() or None
    next_path = safe_next(form.get("next"))
    error = None
    if not email or not password:
        error = "common.sign_in_failed"
    else:
        try:
            session = await sign_in(state, email=email, password=password, totp=totp)
        except SecondFactorRequired:
            error = "common.totp_needed"
        except LoginFailed:
            error = "common.sign_in_failed"
        else:
            redirect = Redirect(next_path or home_of(session.account), status_code=303)
            redirect.cookies.append(session_cookie(request, session.token, session.expires_at))
            return redirect
    return render(
        request,
        "sign_in.html",
        {"next": next_path, "error": error, "email": email, "totp_asked": totp is not None},
        status_code=401,
    )


@post(
    "/sign-out",
    opt={CONSOLE_OPT: True, ROLES_OPT: ACCOUNT_HOLDERS},
    include_in_schema=False,
    status_code=303,
)
async def sign_out_form(request: Request[Principal, Any, Any], conn: Transaction) -> Redirect:
    token = session_token(request.scope["headers"])
    if token is not None:
        await sign_out(conn, request.app.state, request.user, token)
    redirect = Redirect("/sign-in", status_code=303)
    redirect.cookies.append(cleared_session_cookie(request))
    return redirect


@get("/language", opt={PUBLIC_OPT: True, **NO_CSRF}, include_in_schema=False)
async def choose_language(request: Request[Any, Any, Any]) -> Redirect:
    """Remember the reader's choice of language, then go back where they were."""
    chosen = request.query_params.get("to")
    redirect = Redirect(safe_next(request.query_params.get("next")) or "/", status_code=303)
    if chosen in LANGUAGES:
        redirect.cookies.append(
            Cookie(
                key=LANGUAGE_COOKIE,
                value=str(chosen),
                path="/",
                max_age=365 * 24 * 3600,
                httponly=True,
                samesite="strict",
            )
        )
    return redirect


@get(NO_PAGES, opt={CONSOLE_OPT: True, ROLES_OPT: ACCOUNT_HOLDERS}, include_in_schema=False)
async def no_pages(request: Request[Principal, Any, Any]) -> Template:
    """Officers have accounts but no console pages: say so instead of a bare refusal."""
    return render(request, "no_pages.html")


ROUTES = [start, sign_in_page, sign_in_form, sign_out_form, choose_language, no_pages]
