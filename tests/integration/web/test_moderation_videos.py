"""Videos in the moderators' console (issue 15): a video of a report is a player, not a
broken image; its bytes come from the console's own media route, cookie-authenticated,
audited as photo reads are, answering the Range requests players seek with."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from schemas.auth import Role
from tests.support import video_corpus as vc
from tests.support.helpers import Api, bearer
from tests.support.moderation_console import (
    audit_entries,
    empty_the_queue,
    observer_submits,
    queue_item,
    queue_pages,
    staff_console,
)
from tests.support.photo_api import fetch, unique_jpeg, uploaded

pytestmark = pytest.mark.asyncio(loop_scope="session")

SPANISH = {"Accept-Language": "es-ES,es;q=0.9"}
# The corpus clips last two seconds: a clock shows 0:02.
TWO_SECONDS = "0:02"


@pytest.fixture(scope="module")
def corpus() -> vc.VideoCorpus:
    return vc.corpus()


async def report_with_video(api: Api, data: bytes) -> tuple[str, str, dict[str, Any]]:
    """A new observer's report holding one video: (the device token, report id, video)."""
    token = await api.device_token()
    report_id = await observer_submits(api, token)
    video = await uploaded(api, token, report_id, data, "video/mp4")
    assert video["content_type"] == "video/mp4"
    return token, report_id, video


def figure_of(page: str, photo_id: str) -> str:
    found = re.search(rf'<figure class="photo" id="photo-{photo_id}">.*?</figure>', page, re.S)
    assert found is not None, f"no figure for {photo_id}"
    return found[0]


async def test_the_report_page_shows_a_video_as_a_player_with_its_duration(
    api: Api, corpus: vc.VideoCorpus
) -> None:
    token, report_id, video = await report_with_video(api, corpus.android_mp4.read_bytes())
    photo = await uploaded(api, token, report_id, unique_jpeg())
    async with staff_console(api) as console:
        page = await console.client.get(f"/moderation/reports/{report_id}")
        assert page.status_code == 200
        shown = figure_of(page.text, video["id"])
        players = re.findall(r"<video [^>]*>", shown)
        assert len(players) == 1, shown
        player = players[0]
        assert f'src="/moderation/photos/{video["id"]}"' in player
        assert " controls " in player
        assert 'preload="metadata"' in player
        assert 'aria-label="Video 1 of this report"' in player
        assert "<img" not in shown
        assert f"Video, {TWO_SECONDS} long" in shown
        # The provenance flags, as for a photo: the Android clip carried a GPS position.
        assert "Had GPS position" in shown
        assert "Had metadata" in shown
        # The photo beside it is still an image.
        image = figure_of(page.text, photo["id"])
        assert f'<img src="/moderation/photos/{photo["id"]}"' in image
        assert "<video" not in image

        spanish = await console.client.get(f"/moderation/reports/{report_id}", headers=SPANISH)
        shown = figure_of(spanish.text, video["id"])
        assert f"Vídeo de {TWO_SECONDS} de duración" in shown
        assert 'aria-label="Vídeo 1 de este informe"' in shown
        assert "Tenía posición GPS" in shown


async def test_the_queue_shows_a_video_and_a_near_duplicate_video_in_words(
    api: Api, corpus: vc.VideoCorpus
) -> None:
    await empty_the_queue(api)
    data = corpus.android_mp4.read_bytes()
    _, first_report, first = await report_with_video(api, data)
    _, second_report, second = await report_with_video(api, data)
    first_short = first_report.rsplit("-", 1)[-1]  # the last group, as the pages show ids
    async with staff_console(api) as console:
        item = queue_item("".join(await queue_pages(console.client)), second_report)
        assert f'<video controls preload="metadata" src="/moderation/photos/{second["id"]}"' in (
            item
        )
        assert f"Video, {TWO_SECONDS} long" in item
        # The same clip in the first report: a link in words, never an image of a video.
        hint = re.search(
            rf'<a href="/moderation/reports/{first_report}" class="video-hint">([^<]*)</a>', item
        )
        assert hint is not None, item
        assert hint[1] == f"Similar video ({TWO_SECONDS}), from report {first_short}"
        assert "<img" not in item

        page = await console.client.get(f"/moderation/reports/{second_report}")
        assert f'class="video-hint">Similar video ({TWO_SECONDS})' in page.text
        assert f'src="/moderation/photos/{first["id"]}"' not in page.text
        spanish = await console.client.get(f"/moderation/reports/{second_report}", headers=SPANISH)
        assert f"Vídeo similar ({TWO_SECONDS}), del informe {first_short}" in spanish.text


async def test_the_media_route_answers_ranges_with_the_session_and_audits_them(
    api: Api, corpus: vc.VideoCorpus
) -> None:
    _, report_id, video = await report_with_video(api, corpus.android_mp4.read_bytes())
    moderator = await api.token(Role.moderator)
    whole = (await fetch(api, moderator, video["id"])).content
    assert len(whole) == video["bytes"]
    async with staff_console(api) as console:
        path = f"/moderation/photos/{video['id']}"
        full = await console.client.get(path)
        assert full.status_code == 200
        assert full.headers["content-type"] == "video/mp4"
        assert full.headers["accept-ranges"] == "bytes"
        assert full.headers["cache-control"] == "no-store"
        assert full.content == whole

        # How a player starts (an open range), then seeks (a closed one, then the tail).
        opened = await console.client.get(path, headers={"Range": "bytes=0-"})
        assert opened.status_code == 206
        assert opened.headers["content-range"] == f"bytes 0-{len(whole) - 1}/{len(whole)}"
        assert opened.content == whole
        seek = await console.client.get(path, headers={"Range": "bytes=100-1123"})
        assert seek.status_code == 206
        assert seek.headers["content-type"] == "video/mp4"
        assert seek.headers["content-range"] == f"bytes 100-1123/{len(whole)}"
        assert seek.headers["content-length"] == "1024"
        assert seek.content == whole[100:1124]
        assert seek.headers["cache-control"] == "no-store"
        tail = await console.client.get(path, headers={"Range": "bytes=-10"})
        assert tail.status_code == 206
        assert tail.content == whole[-10:]

        # Past the end: 416 saying how long it is; an If-Range for other bytes: the whole.
        past = await console.client.get(path, headers={"Range": f"bytes={len(whole)}-"})
        assert past.status_code == 416
        assert past.headers["content-range"] == f"bytes */{len(whole)}"
        other = await console.client.get(
            path, headers={"Range": "bytes=0-9", "If-Range": '"' + "0" * 64 + '"'}
        )
        assert other.status_code == 200
        assert other.content == whole

        reads = await audit_entries(api, console.account_id, "photo.read")
        # Every answer with bytes was a read of this video of this report; the 416 was not.
        assert [(e["subject_id"], e["report_id"]) for e in reads] == [(video["id"], report_id)] * 5


async def test_the_media_route_refuses_whoever_may_not_read_every_video(
    api: Api, corpus: vc.VideoCorpus
) -> None:
    token, _, video = await report_with_video(api, corpus.android_mp4.read_bytes())
    path = f"/moderation/photos/{video['id']}"
    ranged = {"Range": "bytes=0-99"}
    for role in (Role.researcher, Role.officer):
        async with staff_console(api, role) as console:
            response = await console.client.get(path, headers=ranged)
            assert response.status_code == 403, role
            assert response.headers["content-type"].startswith("text/html")
            assert b"ftyp" not in response.content
    async with httpx.AsyncClient(base_url=str(api.client.base_url)) as anonymous:
        response = await anonymous.get(path, headers=ranged)
        assert response.status_code == 303
        assert response.headers["location"] == f"/sign-in?next={path}"
        # The owner's device token opens the API's route, never the console's.
        response = await anonymous.get(path, headers={**ranged, **bearer(token)})
        assert response.status_code == 303
        assert response.headers["location"] == f"/sign-in?next={path}"
        # The device token planted as the session cookie: an observer's role may not (the
        # access matrix's 403); a made-up session is no session at all.
        anonymous.cookies.set("plainsight_session", token)
        response = await anonymous.get(path, headers=ranged)
        assert response.status_code == 403
        assert b"ftyp" not in response.content
        anonymous.cookies.set("plainsight_session", "not-a-session")
        response = await anonymous.get(path, headers=ranged)
        assert response.status_code == 303
        assert response.headers["location"] == f"/sign-in?next={path}"
    # The API's own route, without a token: 401 problem+json, as ever.
    response = await fetch(api, None, video["id"], ranged)
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    owned = await fetch(api, token, video["id"], ranged)
    assert owned.status_code == 206
    assert len(owned.content) == 100
