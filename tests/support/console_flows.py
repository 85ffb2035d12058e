"""Shortcuts for the console's end-to-end browser flows: signing in by keyboard alone, a
session planted as a cookie, reports, officer notes and photos made through the API, a
published release, and checks that images really loaded."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import h3
from playwright.async_api import Dialog, Locator, Page, expect

from schemas.settings import load_settings
from storage.incidents.grouping import DEFAULT_GROUPING
from storage.reports.receipts import ReceiptSigner
from storage.statistics.releases.maker import ReleasePolicy, make_releases
from tests.conftest import TEST_RECEIPT_SEED
from tests.support.browser import tab_to
from tests.support.helpers import bearer, observer_report, officer_note
from tests.support.live_console import LiveConsole, StaffAccount

SESSION_COOKIE = "plainsight_session"


async def keyboard_sign_in(page: Page, account: StaffAccount) -> None:
    """Sign in with the keyboard alone: Tab to each field, type, Enter."""
    await page.goto("/sign-in")
    await tab_to(page, page.locator("#email"))
    await page.keyboard.type(account.email)
    await tab_to(page, page.locator("#password"), limit=5)
    await page.keyboard.type(account.password)
    async with page.expect_navigation():
        await page.keyboard.press("Enter")


async def press_to_navigate(page: Page, target: Locator, key: str = "Enter") -> None:
    """Tab to ``target`` and press ``key`` on it, waiting for the page it leads to."""
    await tab_to(page, target, limit=120)
    async with page.expect_navigation():
        await page.keyboard.press(key)


def accept_confirms(page: Page) -> None:
    """Answer yes to every confirm() the page asks (Playwright otherwise dismisses them)."""

    async def accept(dialog: Dialog) -> None:
        await dialog.accept()

    page.on("dialog", accept)


async def plant_session(page: Page, base_url: str, token: str) -> None:
    """Put ``token`` in the console's session cookie, as a browser holding it would send it."""
    await page.context.add_cookies([{"name": SESSION_COOKIE, "value": token, "url": base_url}])


async def assert_images_loaded(images: Locator) -> int:
    """Every image of ``images`` (at least one) is scrolled to and decoded: naturalWidth > 0.
    Returns how many there are."""
    count = await images.count()
    assert count > 0, f"no image matches {images}"
    for number in range(count):
        image = images.nth(number)
        await image.scroll_into_view_if_needed()
        await expect(image).to_be_visible()
        await image.evaluate(
            "(image) => image.complete ? null : new Promise((done) => image.addEventListener("
            "'load', done, { once: true }))"
        )
        width = await image.evaluate("(image) => image.naturalWidth")
        assert width > 0, f"image {number} of {images} did not load"
    return count


async def officer_submits(console: LiveConsole, token: str, **overrides: Any) -> dict[str, Any]:
    """POST an officer note with an officer's bearer token; the 201 body (then folded)."""
    response = await console.client.post(
        "/v1/reports", json=officer_note(**overrides), headers=bearer(token)
    )
    assert response.status_code == 201, response.text
    await console.fold()
    body: dict[str, Any] = response.json()
    return body


async def upload_photo(console: LiveConsole, token: str, report_id: str, data: bytes) -> str:
    """POST a JPEG to the report's photos; the stored photo's id."""
    response = await console.client.post(
        f"/v1/reports/{report_id}/photos",
        content=data,
        headers={**bearer(token), "Content-Type": "image/jpeg"},
    )
    assert response.status_code == 201, response.text
    photo_id: str = response.json()["id"]
    return photo_id


async def api_get(console: LiveConsole, token: str, path: str, **params: Any) -> Any:
    """GET an API path with a bearer token, insisting on 200; the JSON body."""
    response = await console.client.get(path, params=params, headers=bearer(token))
    assert response.status_code == 200, response.text
    return response.json()


async def publish_a_release(console: LiveConsole, reports: int = 1) -> str:
    """``reports`` verified reports, each its own incident (a kilometre or more apart), and the
    releases ``serve`` would make 40 days from now (as the access matrix's new_release_month
    does); the month ("YYYY-MM") of the first release."""
    device = await console.device()
    ids = []
    for number in range(reports):
        place = {"lat": 40.60 + 0.02 * number, "lon": -74.0017}
        ids.append(uuid.UUID((await console.report(device, fold=False, location=place))["id"]))
    async with console.owner() as conn:
        await conn.execute(
            "update reports set status = 'verified', fold_pending_since = now()"
            " where id = any($1::uuid[])",
            ids,
        )
        settings = load_settings({}, receipt_key=TEST_RECEIPT_SEED)
        await make_releases(
            conn,
            ReleasePolicy.from_settings(settings),
            ReceiptSigner.from_seed(TEST_RECEIPT_SEED),
            DEFAULT_GROUPING,
            now=datetime.now(UTC) + timedelta(days=40),
        )
        month = await conn.fetchval(
            "select to_char(month, 'YYYY-MM') from public_releases order by month limit 1"
        )
    assert month is not None, "a verified report of this month makes a release 40 days on"
    return str(month)


async def record_incidents(
    console: LiveConsole,
    token: str,
    area: str,
    start: datetime,
    answers: Sequence[dict[str, str]],
) -> None:
    """One observer report per answer (identification fields), three hours apart so each is
    an incident of its own, at the centre of H3 cell ``area``; folded afterwards."""
    lat, lon = h3.cell_to_latlng(h3.cell_to_center_child(area, 9))
    for number, answer in enumerate(answers):
        body = observer_report(
            location={"lat": lat, "lon": lon},
            occurred_at=(start + timedelta(hours=3 * number)).isoformat(),
            identification={**answer, "asked": "no", "response_when_asked": None},
        )
        response = await console.client.post("/v1/reports", json=body, headers=bearer(token))
        assert response.status_code == 201, response.text
    await console.fold()
