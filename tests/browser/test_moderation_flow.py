"""A moderator works through a queue of real reports with the keyboard alone: no click, only
Tab, Enter, Space and arrow keys. Every step is checked in the page and in the API (the
moderator's own bearer token) or the database.

The queue: an observer's report with a photo, an officer's note and a second observer's report
of the same incident, and a third observer's report elsewhere whose photo is the same picture
(a near duplicate of the first)."""

from __future__ import annotations

import uuid

from playwright.async_api import Page, expect

from schemas.auth import Role
from tests.support.browser import tab_to
from tests.support.console_flows import (
    accept_confirms,
    api_get,
    assert_images_loaded,
    keyboard_sign_in,
    officer_submits,
    press_to_navigate,
    upload_photo,
)
from tests.support.helpers import bearer, observer_report
from tests.support.live_console import LiveConsole
from tests.support.photo_api import unique_jpeg

ELSEWHERE = {"lat": 40.80, "lon": -73.95}


async def review_reason(console: LiveConsole, report_id: str) -> str | None:
    async with console.owner() as conn:
        reason: str | None = await conn.fetchval(
            "select review_reason from reports where id = $1", uuid.UUID(report_id)
        )
    return reason


async def queue_ids(page: Page) -> list[str]:
    ids = await page.locator("article.queue-item").evaluate_all(
        "(items) => items.map((item) => item.id)"
    )
    return [str(identifier).removeprefix("report-") for identifier in ids]


async def test_a_moderator_works_through_the_queue_by_keyboard(
    console: LiveConsole, page: Page
) -> None:
    first_device = await console.device()
    first = (await console.report(first_device, narrative="Seen from the bus stop."))["id"]
    officer = await console.staff(Role.officer)
    note = (await officer_submits(console, await console.api_token(officer)))["id"]
    second = (await console.report())["id"]  # the same place and time: the same incident
    elsewhere_device = await console.device()
    elsewhere = (await console.report(elsewhere_device, location=ELSEWHERE))["id"]
    picture = unique_jpeg((160, 120))
    photo = await upload_photo(console, first_device, first, picture)
    copy = await upload_photo(console, elsewhere_device, elsewhere, picture)
    moderator = await console.staff(Role.moderator)
    token = await console.api_token(moderator)
    accept_confirms(page)

    await keyboard_sign_in(page, moderator)
    await expect(page).to_have_url(f"{console.base_url}/moderation")
    # Oldest first, as received.
    assert await queue_ids(page) == [first, note, second, elsewhere]
    first_item = page.locator(f"#report-{first}")
    await expect(first_item).to_contain_text("Seen from the bus stop.")
    # The photo with its provenance flags, and the other report's copy as a near duplicate.
    await assert_images_loaded(first_item.locator(f"img[src='/moderation/photos/{photo}']"))
    flags = first_item.locator(".flags .flag")
    await expect(flags).to_have_count(6)
    for number in range(6):
        await expect(flags.nth(number)).to_be_visible()
    await assert_images_loaded(first_item.locator(f"img[src='/moderation/photos/{copy}']"))
    await assert_images_loaded(page.locator(f"#report-{elsewhere} img"))

    # Verify the first: one key press on its button.
    await tab_to(page, page.locator(f"#verify-{first}"))
    async with page.expect_navigation():
        await page.keyboard.press("Enter")
    await expect(page.locator("#notice")).to_be_focused()
    assert await queue_ids(page) == [note, second, elsewhere]
    assert (await api_get(console, token, f"/v1/reports/{first}"))["status"] == "verified"

    # Reject the copy as a duplicate. Without a reason the browser keeps the form (the field
    # is required) and takes the reader to it; the reason is then chosen with the arrow keys.
    reason = page.locator(f"#reason-{elsewhere}")
    await tab_to(page, page.locator(f"#reject-{elsewhere}"), limit=120)
    await page.keyboard.press("Enter")
    await expect(reason).to_be_focused()
    assert await reason.evaluate("(field) => field.validity.valueMissing")
    assert (await api_get(console, token, f"/v1/reports/{elsewhere}"))["status"] == "pending"
    for _ in range(12):
        if await reason.input_value() == "duplicate":
            break
        await page.keyboard.press("ArrowDown")
    await expect(reason).to_have_value("duplicate")
    await press_to_navigate(page, page.locator(f"#reject-{elsewhere}"), "Space")
    assert await queue_ids(page) == [note, second]
    assert (await api_get(console, token, f"/v1/reports/{elsewhere}"))["status"] == "rejected"
    assert await review_reason(console, elsewhere) == "duplicate"

    # The verified report's page, reached from the incident's list on the note's item.
    mate_link = page.locator(f"#report-{note} .incident-mates a[href$='/reports/{first}']")
    await press_to_navigate(page, mate_link)
    await expect(page).to_have_url(f"{console.base_url}/moderation/reports/{first}")
    await expect(page.locator("#report-status")).to_contain_text("Verified")
    await assert_images_loaded(page.locator(f"#photo-{photo} > img"))
    history = page.locator("#review-history tbody tr")
    await expect(history).to_have_count(1)
    await expect(history).to_contain_text("Verified")
    await expect(history).to_contain_text(str(moderator.id))

    # Revoke the device that sent it (the confirm() is answered yes): the API refuses it.
    device_id = await page.locator("#device-id").inner_text()
    await press_to_navigate(page, page.locator("#revoke-device"))
    await expect(page.locator("#device-revoked")).to_be_visible()
    refused = await console.client.post(
        "/v1/reports", json=observer_report(), headers=bearer(first_device)
    )
    assert refused.status_code == 401, refused.text
    async with console.owner() as conn:
        revoked = await conn.fetchval(
            "select revoked_at is not null from devices where id = $1", uuid.UUID(device_id)
        )
    assert revoked is True

    # The incident: observers' and officers' accounts side by side.
    await press_to_navigate(page, page.locator("#incident-link"))
    await expect(page.locator("#observer-column article")).to_have_count(2)
    await expect(page.locator(f"#observer-column #member-{first}")).to_be_visible()
    await expect(page.locator(f"#observer-column #member-{second}")).to_be_visible()
    await expect(page.locator("#officer-column article")).to_have_count(1)
    await expect(page.locator(f"#officer-column #member-{note}")).to_be_visible()
    observers = await page.locator("#observer-column").bounding_box()
    officers = await page.locator("#officer-column").bounding_box()
    assert observers is not None
    assert officers is not None
    assert observers["x"] < officers["x"]  # beside, not below, at desktop width
    assert abs(observers["y"] - officers["y"]) < 2

    # Back to the queue: what is left is what was not reviewed.
    await press_to_navigate(page, page.get_by_role("link", name="Back to the review queue"))
    assert await queue_ids(page) == [note, second]
    pending = await api_get(console, token, "/v1/reports", status="pending")
    assert {item["id"] for item in pending["items"]} == {note, second}
