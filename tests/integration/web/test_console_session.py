"""Signing in to the console: cookie sessions with the API's expiry and revocation, CSRF on
every form, the security headers, and the language of the pages."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import urlsplit

import httpx
import pytest

from schemas.auth import Role
from tests.support.console import console_client, csrf_field, sign_in, staff_email
from tests.support.helpers import Api, bearer

pytestmark = pytest.mark.asyncio(loop_scope="session")


def _cookie_attributes(response: httpx.Response, name: str) -> str:
    for header in response.headers.get_list("set-cookie"):
        if header.startswith(f"{name}="):
            return header
    raise AssertionError(f"no {name} cookie in {response.headers.get_list('set-cookie')}")


async def test_the_start_page_sends_a_visitor_to_sign_in(api: Api) -> None:
    response = await api.client.get("/")
    assert response.status_code == 303
    assert response.headers["location"] == "/sign-in"


async def test_the_sign_in_page_is_a_form_with_strict_headers(api: Api) -> None:
    response = await api.client.get("/sign-in")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    csp = response.headers["content-security-policy"]
    assert "default-src 'none'" in csp
    assert "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    # Every directive, written out: a video plays from this origin only (media-src), and
    # nothing else was loosened for it.
    directives = {
        name: value for name, _, value in (part.strip().partition(" ") for part in csp.split(";"))
    }
    assert directives == {
        "default-src": "'none'",
        "script-src": "'self'",
        "style-src": "'self'",
        "img-src": "'self' data:",
        "media-src": "'self'",
        "font-src": "'self'",
        "connect-src": "'self'",
        "form-action": "'self'",
        "frame-ancestors": "'none'",
        "base-uri": "'none'",
    }
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["cache-control"] == "no-store"
    assert '<form method="post" action="/sign-in"' in response.text
    csrf = _cookie_attributes(response, "plainsight_csrf").lower()
    assert "httponly" in csrf
    assert "samesite=strict" in csrf
    assert csrf_field(response.text)


async def test_signing_in_sets_an_http_only_strict_session_cookie(api: Api) -> None:
    email = await staff_email(api, Role.moderator)
    response = await sign_in(api.client, email)
    assert response.status_code == 303
    assert response.headers["location"] == "/moderation"
    cookie = _cookie_attributes(response, "plainsight_session").lower()
    assert "httponly" in cookie
    assert "samesite=strict" in cookie
    assert "secure" not in cookie  # plain HTTP without PLAINSIGHT_SECURE_COOKIES
    # The start page now knows who this is.
    start = await api.client.get("/")
    assert start.headers["location"] == "/moderation"


async def test_each_role_lands_on_its_own_page(api: Api) -> None:
    for role, home in ((Role.researcher, "/statistics"), (Role.admin, "/admin/accounts")):
        email = await staff_email(api, role)
        async with httpx.AsyncClient(base_url=str(api.client.base_url)) as client:
            response = await sign_in(client, email)
            assert (response.status_code, response.headers["location"]) == (303, home)


async def test_an_officer_is_told_the_console_has_nothing_for_it(api: Api) -> None:
    async with console_client(api, Role.officer) as client:
        page = await client.get("/no-pages")
        assert page.status_code == 200
        assert "no pages for the officer role" in page.text


async def test_a_wrong_password_shows_the_form_again_with_an_error(api: Api) -> None:
    email = await staff_email(api, Role.moderator)
    response = await sign_in(api.client, email, "not the password")
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("text/html")
    assert "The e-mail address or the password is wrong." in response.text
    assert f'value="{email}"' in response.text
    assert "plainsight_session=" not in " ".join(response.headers.get_list("set-cookie"))
    # An unknown address reads exactly the same.
    unknown = await sign_in(api.client, "nobody@example.org", "whatever")
    assert unknown.status_code == 401
    assert "The e-mail address or the password is wrong." in unknown.text


async def test_empty_fields_are_refused_without_a_lookup(api: Api) -> None:
    page = await api.client.get("/sign-in")
    response = await api.client.post(
        "/sign-in", data={"email": "", "password": "", "_csrf_token": csrf_field(page.text)}
    )
    assert response.status_code == 401
    assert "The e-mail address or the password is wrong." in response.text


async def test_a_form_without_its_csrf_field_is_refused(api: Api) -> None:
    email = await staff_email(api, Role.moderator)
    await api.client.get("/sign-in")  # the CSRF cookie is set, the field is missing
    response = await api.client.post("/sign-in", data={"email": email, "password": "x"})
    assert response.status_code == 403
    assert "The form had expired" in response.text
    forged = await api.client.post(
        "/sign-in", data={"email": email, "password": "x", "_csrf_token": "forged"}
    )
    assert forged.status_code == 403


async def test_sign_out_needs_csrf_and_ends_the_session_everywhere(api: Api) -> None:
    email = await staff_email(api, Role.moderator)
    await sign_in(api.client, email)
    token = api.client.cookies["plainsight_session"]
    # The cookie's token is an API session: it works as a bearer token too, until sign-out.
    assert (await api.client.get("/v1/moderation/queue", headers=bearer(token))).status_code == 200
    refused = await api.client.post("/sign-out")
    assert refused.status_code == 403
    page = await api.client.get("/no-pages")
    response = await api.client.post("/sign-out", data={"_csrf_token": csrf_field(page.text)})
    assert response.status_code == 303
    assert response.headers["location"] == "/sign-in"
    assert "max-age=0" in _cookie_attributes(response, "plainsight_session").lower()
    after = await api.client.get("/v1/moderation/queue", headers=bearer(token))
    assert after.status_code == 401


async def test_an_ended_session_cookie_leads_back_to_sign_in(api: Api) -> None:
    email = await staff_email(api, Role.moderator)
    await sign_in(api.client, email)
    await api.conn.execute(
        "update sessions set expires_at = now() - $1::interval", timedelta(seconds=1)
    )
    # The expired session's lookup may still be cached for a few seconds: an unknown token
    # shows the same path without waiting for the cache.
    client = httpx.AsyncClient(
        base_url=str(api.client.base_url),
        cookies={"plainsight_session": "pls_session_not_a_real_token"},
    )
    async with client:
        response = await client.get("/no-pages")
        assert response.status_code == 303
        assert response.headers["location"] == "/sign-in?next=/no-pages"
        assert "max-age=0" in _cookie_attributes(response, "plainsight_session").lower()


async def test_a_bearer_token_does_not_open_a_console_page(api: Api) -> None:
    for role in (Role.observer, Role.moderator):
        token = await api.token(role)
        response = await api.client.get("/no-pages", headers=bearer(token))
        assert response.status_code == 303
        assert response.headers["location"].startswith("/sign-in")


async def test_sign_in_returns_to_the_page_asked_for_but_only_on_this_site(api: Api) -> None:
    email = await staff_email(api, Role.moderator)
    for next_path, expected in (
        ("/no-pages", "/no-pages"),
        ("//evil.example/x", "/moderation"),
        ("https://evil.example/", "/moderation"),
        ("/\\evil.example", "/moderation"),
    ):
        async with httpx.AsyncClient(base_url=str(api.client.base_url)) as client:
            page = await client.get("/sign-in", params={"next": next_path})
            response = await client.post(
                "/sign-in",
                data={
                    "email": email,
                    "password": "correct horse battery staple",
                    "next": next_path,
                    "_csrf_token": csrf_field(page.text),
                },
            )
            assert response.status_code == 303
            assert response.headers["location"] == expected, next_path


async def test_pages_speak_the_browsers_language_and_switch(api: Api) -> None:
    spanish = await api.client.get("/sign-in", headers={"accept-language": "es-MX,es;q=0.9"})
    assert '<html lang="es">' in spanish.text
    assert "Iniciar sesión en Plainsight" in spanish.text
    weighted = await api.client.get(
        "/sign-in", headers={"accept-language": "fr, en;q=0.5, es;q=0.8"}
    )
    assert '<html lang="es">' in weighted.text
    unknown = await api.client.get("/sign-in", headers={"accept-language": "de"})
    assert '<html lang="en">' in unknown.text
    switched = await api.client.get("/language", params={"to": "es", "next": "/sign-in"})
    assert switched.status_code == 303
    assert urlsplit(switched.headers["location"]).path == "/sign-in"
    page = await api.client.get("/sign-in", headers={"accept-language": "en"})
    assert '<html lang="es">' in page.text  # the choice beats the browser's header
    bogus = await api.client.get("/language", params={"to": "xx", "next": "//evil.example"})
    assert bogus.headers["location"] == "/"


async def test_secure_cookies_behind_tls(api: Api) -> None:
    api.client.headers["x-forwarded-proto"] = "https"  # not trusted: no proxy configured
    email = await staff_email(api, Role.moderator)
    response = await sign_in(api.client, email)
    assert "secure" not in _cookie_attributes(response, "plainsight_session").lower()


async def test_static_files_are_served_versioned_and_long_cached(api: Api) -> None:
    page = await api.client.get("/sign-in")
    css = re.search(r'href="(/static/console\.css\?v=[0-9a-f]{12})"', page.text)
    assert css is not None
    response = await api.client.get(css[1])
    assert response.status_code == 200
    assert "max-age=31536000" in response.headers["cache-control"]
    assert "set-cookie" not in response.headers
    missing = await api.client.get("/static/nothing.css")
    assert missing.status_code == 404
