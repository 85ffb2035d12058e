"""A moderator opens a report holding a video (uploaded through the API from the video corpus)
and the console's player loads it: its metadata from the console's own media route, under the
console's strict CSP (media-src 'self'), seeking with Range requests the route answers 206,
with no console error and no serious accessibility problem."""

from __future__ import annotations

from typing import Any

from playwright.async_api import Page, Response, expect

from schemas.auth import Role
from tests.support import video_corpus as vc
from tests.support.browser import assert_accessible, screenshot
from tests.support.console_browser import sign_in
from tests.support.helpers import bearer
from tests.support.live_console import LiveConsole

# Resolves once the element has its metadata (readyState >= 1, HAVE_METADATA); rejects with
# the media error's code if the browser could not load it, or after 10 s (a load the CSP
# blocked fires no event at all).
METADATA_LOADED = """(video) => new Promise((done, failed) => {
  if (video.readyState >= 1) { done(); return; }
  setTimeout(() => failed(new Error('no metadata after 10 s, readyState ' + video.readyState)),
             10000);
  video.addEventListener('loadedmetadata', () => done(), { once: true });
  video.addEventListener('error', () => failed(new Error('media error ' + video.error.code)),
                         { once: true });
})"""
SEEKED = """(video) => new Promise((done, failed) => {
  setTimeout(() => failed(new Error('not seeked after 10 s')), 10000);
  video.addEventListener('seeked', () => done(video.currentTime), { once: true });
  video.addEventListener('error', () => failed(new Error('media error ' + video.error.code)),
                         { once: true });
  video.currentTime = 1.5;
})"""


async def upload_video(console: LiveConsole, token: str, report_id: str, data: bytes) -> Any:
    response = await console.client.post(
        f"/v1/reports/{report_id}/photos",
        content=data,
        headers={**bearer(token), "Content-Type": "video/webm"},
    )
    assert response.status_code == 201, response.text
    return response.json()


async def test_a_moderator_plays_a_reports_video(console: LiveConsole, page: Page) -> None:
    device = await console.device()
    report_id = (await console.report(device))["id"]
    video = await upload_video(console, device, report_id, vc.corpus().webm.read_bytes())
    assert video["content_type"] == "video/webm"
    media_path = f"/moderation/photos/{video['id']}"
    answers: list[tuple[int, str | None]] = []

    def record(response: Response) -> None:
        if response.url.endswith(media_path):
            answers.append((response.status, response.request.headers.get("range")))

    page.on("response", record)
    await sign_in(page, await console.staff(Role.moderator))
    await page.goto(f"/moderation/reports/{report_id}")
    figure = page.locator(f"#photo-{video['id']}")
    await expect(figure.locator("img")).to_have_count(0)
    player = figure.locator("video")
    await expect(player).to_have_count(1)
    await expect(player).to_have_attribute("src", media_path)
    await expect(player).to_have_attribute("preload", "metadata")
    await expect(figure).to_contain_text("Video, 0:02 long")
    await expect(figure.locator(".flags .flag")).to_have_count(6)

    await player.scroll_into_view_if_needed()
    await player.evaluate(METADATA_LOADED)
    assert await player.evaluate("(video) => video.readyState") >= 1
    duration = await player.evaluate("(video) => video.duration")
    assert 1.8 <= duration <= 2.2, duration
    assert await player.evaluate("(video) => [video.videoWidth, video.videoHeight]") == [320, 240]
    # Seeking: the browser asks for byte ranges and the console's route answers them.
    assert await player.evaluate(SEEKED) >= 1.0
    assert answers, "the player never asked the media route"
    assert all(status in (200, 206) for status, _ in answers), answers
    assert any(status == 206 and asked for status, asked in answers), answers

    await assert_accessible(page)
    await screenshot(page, "moderation-report-video")
