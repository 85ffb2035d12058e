"""A moderator opens a report holding videos (a WebM and an Android MP4, uploaded through the
API from the video corpus) and the console's players load them: metadata from the console's own
media route under its strict CSP (media-src 'self'), seeking with Range requests the route
answers 206, with no console error and no serious accessibility problem."""

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


async def upload_video(
    console: LiveConsole, token: str, report_id: str, data: bytes, content_type: str
) -> Any:
    response = await console.client.post(
        f"/v1/reports/{report_id}/photos",
        content=data,
        headers={**bearer(token), "Content-Type": content_type},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["content_type"] == content_type
    return body


async def test_a_moderator_plays_a_reports_videos(console: LiveConsole, page: Page) -> None:
    """A WebM (VP9 + Opus) and an Android MP4 (H.264 + AAC) in one report: both play."""
    device = await console.device()
    report_id = (await console.report(device))["id"]
    corpus = vc.corpus()
    videos = [
        await upload_video(console, device, report_id, corpus.webm.read_bytes(), "video/webm"),
        await upload_video(
            console, device, report_id, corpus.android_mp4.read_bytes(), "video/mp4"
        ),
    ]
    answers: dict[str, list[tuple[int, str | None]]] = {video["id"]: [] for video in videos}

    def record(response: Response) -> None:
        for video in videos:
            if response.url.endswith(f"/moderation/photos/{video['id']}"):
                asked = response.request.headers.get("range")
                answers[video["id"]].append((response.status, asked))

    page.on("response", record)
    await sign_in(page, await console.staff(Role.moderator))
    await page.goto(f"/moderation/reports/{report_id}")
    for number, video in enumerate(videos, start=1):
        media_path = f"/moderation/photos/{video['id']}"
        figure = page.locator(f"#photo-{video['id']}")
        await expect(figure.locator("img")).to_have_count(0)
        player = figure.locator("video")
        await expect(player).to_have_count(1)
        await expect(player).to_have_attribute("src", media_path)
        await expect(player).to_have_attribute("preload", "metadata")
        await expect(player).to_have_attribute("aria-label", f"Video {number} of this report")
        await expect(figure).to_contain_text("Video, 0:02 long")
        await expect(figure.locator(".flags .flag")).to_have_count(6)

        await player.scroll_into_view_if_needed()
        await player.evaluate(METADATA_LOADED)
        assert await player.evaluate("(video) => video.readyState") >= 1
        duration = await player.evaluate("(video) => video.duration")
        assert 1.8 <= duration <= 2.2, (video["content_type"], duration)
        size = await player.evaluate("(video) => [video.videoWidth, video.videoHeight]")
        assert size == [320, 240], video["content_type"]
        # Seeking: the browser asks for byte ranges and the console's route answers them.
        assert await player.evaluate(SEEKED) >= 1.0
        seen = answers[video["id"]]
        assert seen, f"the player never asked {media_path}"
        assert all(status in (200, 206) for status, _ in seen), seen
        assert any(status == 206 and asked for status, asked in seen), seen

    await assert_accessible(page)
    await screenshot(page, "moderation-report-video")
