"""An admin manages an account in the browser: creates it through the form, sees it listed,
disables it (its API session then answers 401), enables it again, and issues a password reset
whose code is shown once and works; the audit log page lists each act and its chain verifies."""

from __future__ import annotations

import re
import uuid

import httpx
from playwright.async_api import Page, expect

from schemas.auth import Role
from tests.support.console_browser import sign_in
from tests.support.console_flows import accept_confirms
from tests.support.helpers import PASSWORD, bearer
from tests.support.live_console import LiveConsole

NEW_PASSWORD = "a brand new passphrase for the moderator"


async def api_session(console: LiveConsole, email: str, password: str) -> httpx.Response:
    return await console.client.post("/v1/sessions", json={"email": email, "password": password})


async def reads_reports(console: LiveConsole, token: str) -> int:
    """The status GET /v1/reports answers the token (200 while its account may sign in)."""
    response = await console.client.get("/v1/reports", headers=bearer(token))
    return response.status_code


async def click_to_navigate(page: Page, selector: str) -> None:
    async with page.expect_navigation():
        await page.locator(selector).click()


async def test_an_admin_creates_disables_enables_and_resets_an_account(
    console: LiveConsole, page: Page
) -> None:
    admin = await console.staff(Role.admin)
    email = f"new-moderator-{uuid.uuid4().hex[:8]}@example.org"
    accept_confirms(page)
    await sign_in(page, admin)
    await expect(page).to_have_url(f"{console.base_url}/admin/accounts")

    # Create: the form, then the list shows the account.
    await page.locator("#account-email").fill(email)
    await page.locator("#account-role").select_option(Role.moderator.value)
    await page.locator("#account-password").fill(PASSWORD)
    await page.locator("#account-confirm").fill(PASSWORD)
    await click_to_navigate(page, "#create-account-submit")
    await expect(page.locator("#accounts-notice")).to_be_visible()
    row = page.locator("#accounts-table tbody tr", has_text=email)
    await expect(row).to_have_count(1)
    await expect(row).to_contain_text(re.compile("moderator", re.IGNORECASE))
    account_id = (await row.get_attribute("id") or "").removeprefix("account-")
    async with console.owner() as conn:
        stored = await conn.fetchrow(
            "select email, role from accounts where id = $1", uuid.UUID(account_id)
        )
    assert stored is not None
    assert (stored["email"], stored["role"]) == (email, Role.moderator.value)
    signed_in = await api_session(console, email, PASSWORD)
    assert signed_in.status_code == 201, signed_in.text
    token = signed_in.json()["token"]
    assert await reads_reports(console, token) == 200

    # Disable (confirmed): its session ends and it cannot sign in.
    await click_to_navigate(page, f"#disable-{account_id}")
    await expect(row.locator(".flag.alert")).to_be_visible()
    await expect(page.locator(f"#enable-{account_id}")).to_be_visible()
    assert await reads_reports(console, token) == 401
    assert (await api_session(console, email, PASSWORD)).status_code == 401

    # Enable again: it may sign in once more.
    await click_to_navigate(page, f"#enable-{account_id}")
    await expect(page.locator(f"#disable-{account_id}")).to_be_visible()
    again = await api_session(console, email, PASSWORD)
    assert again.status_code == 201, again.text

    # Reset its password: a code shown once, which sets a new password.
    await click_to_navigate(page, f"#reset-{account_id}")
    code = (await page.locator("#reset-code").inner_text()).strip()
    assert code
    await expect(page.locator("#reset-code-warning")).to_be_visible()
    redeemed = await console.client.post(
        "/v1/password-resets", json={"email": email, "code": code, "new_password": NEW_PASSWORD}
    )
    assert redeemed.status_code == 204, redeemed.text
    assert (await api_session(console, email, PASSWORD)).status_code == 401
    assert (await api_session(console, email, NEW_PASSWORD)).status_code == 201
    await page.goto("/admin/accounts")
    await expect(page.locator("#accounts-table")).to_contain_text(email)
    assert code not in await page.content()  # shown once: not on the list afterwards
    spent = await console.client.post(
        "/v1/password-resets", json={"email": email, "code": code, "new_password": PASSWORD}
    )
    assert spent.status_code == 400, spent.text

    # The audit log lists each act on the account, newest first, as the database has them.
    await page.goto("/admin/audit")
    await page.locator("#filter-subject_id").fill(account_id)
    await click_to_navigate(page, "#audit-filters-submit")
    shown = await page.locator("#audit-table tbody code.action").all_inner_texts()
    async with console.owner() as conn:
        stored_actions = await conn.fetch(
            "select action from audit_log where subject_id = $1 order by id desc", account_id
        )
    assert shown == [entry["action"] for entry in stored_actions]
    assert {"account.created", "account.disabled", "account.enabled"} <= set(shown)
    assert {"account.reset_issued", "account.reset_used"} <= set(shown)

    # Verify the chain: it holds.
    await click_to_navigate(page, "#verify-chain-submit")
    result = page.locator("#verify-result")
    await expect(result).to_have_attribute("role", "status")
    await expect(result).to_have_class("notice")
