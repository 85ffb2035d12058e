"""Using the console in the browser as staff do: signing in through the form."""

from __future__ import annotations

import re

from playwright.async_api import Page, expect

from tests.support.live_console import StaffAccount

SIGN_IN_FORM = "form[action='/sign-in']"


async def fill_sign_in(page: Page, email: str, password: str) -> None:
    """Fill the sign-in form on the current page and press its button (fields by their ids,
    which do not change with the language)."""
    form = page.locator(SIGN_IN_FORM)
    await form.locator("#email").fill(email)
    await form.locator("#password").fill(password)
    await form.locator("button[type=submit]").click()


async def sign_in(page: Page, account: StaffAccount) -> None:
    """Sign ``account`` in through the form; returns once the browser has left /sign-in (on
    the account's home page, or the page named by ``next``)."""
    if "/sign-in" not in page.url:
        await page.goto("/sign-in")
    await fill_sign_in(page, account.email, account.password)
    await expect(page).not_to_have_url(re.compile(r"/sign-in(\?|$)"))
