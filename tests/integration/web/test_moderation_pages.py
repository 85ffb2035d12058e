"""The moderators' console over real HTTP: a moderator works through a queue of real
reports (submitted and photographed through the API), and each act shows in the API and in
the audit log as the API's own would."""

from __future__ import annotations

import re
from typing import Any

import pytest

from schemas.auth import Role
from tests.support import provenance_fixtures as pv
from tests.support.helpers import Api, bearer, observer_report
from tests.support.moderation_console import (
    api_report,
    audit_entries,
    empty_the_queue,
    observer_submits,
    officer_submits,
    post_page_form,
    queue_item,
    queue_order,
    queue_pages,
    staff_console,
)
from tests.support.photo_api import fetched_bytes, unique_jpeg, uploaded

pytestmark = pytest.mark.asyncio(loop_scope="session")

AI_SOURCE = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
# A GPS position near 10°N 10°E: nowhere near the reports' cell in New York.
FAR_AWAY_GPS = pv.gps_exif(((10, 1), (0, 1), (0, 1)), ((10, 1), (0, 1), (0, 1)))


def review(
    status: str, reason: str | None = None, return_to: str = "/moderation"
) -> dict[str, str]:
    form = {"status": status, "return_to": return_to}
    if reason is not None:
        form["reason"] = reason
    return form


async def test_a_moderator_works_through_the_queue(api: Api) -> None:
    await empty_the_queue(api)
    observer = await api.device_token()
    officer = await api.token(Role.officer)
    other_observer = await api.device_token()
    first = await observer_submits(api, observer)
    second = await officer_submits(api, officer)  # same place and time: the same incident
    third = await observer_submits(api, other_observer, location={"lat": 40.80, "lon": -73.95})
    shared = unique_jpeg()
    first_photo = await uploaded(api, observer, first, shared)
    third_copy = await uploaded(api, other_observer, third, shared)
    ai_made = await uploaded(
        api, other_observer, third, pv.image_with_xmp("JPEG", pv.digital_source_type_xmp(AI_SOURCE))
    )
    # The same pixels as the AI-made one: a second report's photo, sanitised to the same bytes.
    elsewhere = await uploaded(api, officer, second, pv.jpeg_with_exif_payload(FAR_AWAY_GPS))
    assert ai_made["provenance"]["ai_marker"] is True
    assert elsewhere["provenance"]["capture_place_consistent"] is False
    moderator_token = await api.token(Role.moderator)
    device_of_first = (await api_report(api, moderator_token, first))["device_id"]

    async with staff_console(api) as console:
        pages = await queue_pages(console.client)
        assert len(pages) == 1
        page = pages[0]
        assert queue_order(page) == [first, second, third]  # oldest first

        item = queue_item(page, first)
        assert re.search(r"<h2 id=\"report-[^\"]+-heading\"><a href=\"/moderation/reports/", item)
        assert "Observer report received" in item
        assert "All masked" in item  # label("agents.masked", "all")
        assert "Plain clothes" in item
        assert "Refused" in item  # identification.response_when_asked
        assert f'<code class="device-id">{device_of_first}</code>' in item
        assert f'src="/moderation/photos/{first_photo["id"]}"' in item
        # The other report's copy of the photo is shown as a near duplicate, linking there.
        assert f'src="/moderation/photos/{third_copy["id"]}"' in item
        assert f'href="/moderation/reports/{third}"' in item
        # Its incident's other report, with its source and status.
        assert (
            f'href="/moderation/reports/{second}">Officer note {second[-12:]}</a> — Pending review'
            in item
        )
        assert '<li class="flag">No AI marker</li>' in item
        assert '<li class="flag">No C2PA manifest</li>' in item

        officers = queue_item(page, second)
        assert "From an account" not in officers
        assert "an account (no device)" in officers
        assert f'href="/moderation/reports/{first}">Observer report {first[-12:]}</a>' in officers

        assert '<li class="flag alert">Capture place inconsistent</li>' in officers
        assert '<li class="flag">Had GPS position</li>' in officers

        flagged = queue_item(page, third)
        assert '<li class="flag alert">Declares itself AI-generated</li>' in flagged
        assert "No other report belongs to this incident." in flagged
        # Its near duplicates point back to the reports that have the same pictures.
        assert f'href="/moderation/reports/{first}"' in flagged
        assert f'src="/moderation/photos/{elsewhere["id"]}"' in flagged

        # One step each, back to the queue with a notice of what was done.
        acts = (
            (first, review("verified"), "verified", "The report was verified."),
            (second, review("rejected", "duplicate"), "rejected", "The report was rejected."),
            (third, review("unverified"), "unverified", "The report was marked unverified."),
        )
        for report_id, form, status, notice in acts:
            response = await post_page_form(
                console.client, "/moderation", f"/moderation/reports/{report_id}/review", form
            )
            assert response.status_code == 303, response.text
            assert response.headers["location"] == f"/moderation?done={status}"
            after = await console.client.get(response.headers["location"])
            assert notice in after.text
            assert report_id not in queue_order(after.text)
            shown = await api_report(api, moderator_token, report_id)
            assert shown["status"] == status
        empty = await console.client.get("/moderation")
        assert "Nothing is waiting for review." in empty.text
        assert queue_order(empty.text) == []

        # Each queue page read was audited as the API's queue read is.
        reads = await audit_entries(api, console.account_id, "report.read")
        assert {(e["subject_id"], e["via"]) for e in reads} >= {
            (first, "moderation_queue"),
            (second, "moderation_queue"),
            (third, "moderation_queue"),
        }
        reviewed = await audit_entries(api, console.account_id, "report.reviewed")
        assert [(e["subject_id"], e["status"], e["reason"]) for e in reviewed] == [
            (first, "verified", None),
            (second, "rejected", "duplicate"),
            (third, "unverified", None),
        ]


async def test_the_queue_pages_oldest_first_with_a_cursor_link(api: Api) -> None:
    await empty_the_queue(api)
    token = await api.device_token()
    made: list[str] = []
    for _ in range(23):
        response = await api.submit(token, _spread_report(len(made)), fold=False)
        assert response.status_code == 201, response.text
        made.append(response.json()["id"])
    async with staff_console(api) as console:
        pages = await queue_pages(console.client)
        assert [len(queue_order(page)) for page in pages] == [20, 3]
        assert [rid for page in pages for rid in queue_order(page)] == made
        # The cursor is a position in the queue, not report content.
        cursor = re.search(r'href="/moderation\?cursor=([^"]+)" rel="next"', pages[0])
        assert cursor is not None
        assert "Four masked" not in cursor[1]
        assert 'id="first-page"' in pages[1]
        bad = await console.client.get("/moderation", params={"cursor": "not-a-cursor"})
        assert bad.status_code == 422
        assert bad.headers["content-type"].startswith("text/html")


def _spread_report(index: int) -> dict[str, Any]:
    return observer_report(location={"lat": 40.70 + index * 0.01, "lon": -74.0})


async def test_the_report_page_shows_the_report_its_photos_and_history(api: Api) -> None:
    observer = await api.device_token()
    report_id = await observer_submits(api, observer)
    photo = await uploaded(api, observer, report_id, unique_jpeg())
    moderator_token = await api.token(Role.moderator)
    async with staff_console(api) as console:
        page = await console.client.get(f"/moderation/reports/{report_id}")
        assert page.status_code == 200
        text = page.text
        assert "Pending review" in text
        for words in (
            "Masked",
            "All masked",
            "Identified verbally",
            "Response when asked",
            "Refused",
            "Unmarked",
            "Four masked people in plain clothes",
        ):
            assert words in text, words
        assert f'<img src="/moderation/photos/{photo["id"]}"' in text
        assert "Nobody has reviewed this report yet." in text
        device_id = (await api_report(api, moderator_token, report_id))["device_id"]
        assert f'<code id="device-id">{device_id}</code>' in text
        assert f'action="/moderation/devices/{device_id}/revoke"' in text
        incident_id = await api.conn.fetchval(
            "select incident_id from reports where id = $1::uuid", report_id
        )
        assert f'href="/moderation/incidents/{incident_id}"' in text

        # The photo route serves the very bytes of GET /v1/photos/{id}, unstored.
        image = await console.client.get(f"/moderation/photos/{photo['id']}")
        assert image.status_code == 200
        assert image.content == await fetched_bytes(api, moderator_token, photo["id"])
        assert image.headers["content-type"] == "image/jpeg"
        assert image.headers["cache-control"] == "no-store"
        assert image.headers["x-content-type-options"] == "nosniff"

        # Two reviews, both in the history, with who and why.
        here = f"/moderation/reports/{report_id}"
        for form in (review("rejected", "implausible", here), review("verified", None, here)):
            done = await post_page_form(console.client, here, f"{here}/review", form)
            assert done.status_code == 303
            assert done.headers["location"].startswith(f"{here}?done=")
        again = await console.client.get(here)
        history = again.text[again.text.index('id="review-history"') :]
        body = history[history.index("<tbody>") : history.index("</tbody>")]
        rows = re.findall(r"<tr>.*?</tr>", body, re.S)
        assert len(rows) == 2
        assert "Rejected" in rows[0]
        assert "Implausible" in rows[0]
        assert "Verified" in rows[1]
        assert f"moderator <code>{console.account_id}</code>" in rows[0]
        assert "Verified</strong>" in again.text

        reads = await audit_entries(api, console.account_id, "report.read")
        # Opened four times (twice before a form was sent): four reads, as GET /v1/reports/{id}.
        assert [e["via"] for e in reads if e["subject_id"] == report_id] == ["get"] * 4
        photo_reads = await audit_entries(api, console.account_id, "photo.read")
        assert [(e["subject_id"], e["report_id"]) for e in photo_reads] == [
            (photo["id"], report_id)
        ]


async def test_an_officers_note_belongs_to_an_account_with_no_device_to_revoke(
    api: Api,
) -> None:
    officer = await api.token(Role.officer)
    report_id = await officer_submits(api, officer)
    async with staff_console(api) as console:
        page = await console.client.get(f"/moderation/reports/{report_id}")
        assert page.status_code == 200
        assert "sent from an account, not from an observer" in page.text
        assert "/revoke" not in page.text
        assert "Precinct 7" in page.text  # officer.command
        assert "Agents identified to officers" in page.text


async def test_revoking_the_device_of_a_report(api: Api) -> None:
    observer = await api.device_token()
    report_id = await observer_submits(api, observer)
    later = await observer_submits(api, observer, location={"lat": 40.75, "lon": -73.99})
    moderator_token = await api.token(Role.moderator)
    device_id = (await api_report(api, moderator_token, report_id))["device_id"]
    here = f"/moderation/reports/{report_id}"
    async with staff_console(api) as console:
        response = await post_page_form(
            console.client,
            here,
            f"/moderation/devices/{device_id}/revoke",
            {"reject_pending": "yes", "return_to": here},
        )
        assert response.status_code == 303, response.text
        assert response.headers["location"] == f"{here}?done=device_revoked&count=2"
        page = await console.client.get(response.headers["location"])
        assert "The device was revoked; 2 pending reports of it were rejected." in page.text
        assert 'id="device-revoked"' in page.text
        assert 'id="revoke-form"' not in page.text
        assert "Device revoked" in page.text  # the history's reason label
    refused = await api.client.get("/v1/reports", headers=bearer(observer))
    assert refused.status_code == 401
    for rid in (report_id, later):
        shown = await api_report(api, moderator_token, rid)
        assert shown["status"] == "rejected"


async def test_revoking_without_rejecting_leaves_the_reports_pending(api: Api) -> None:
    observer = await api.device_token()
    report_id = await observer_submits(api, observer)
    moderator_token = await api.token(Role.moderator)
    device_id = (await api_report(api, moderator_token, report_id))["device_id"]
    async with staff_console(api) as console:
        response = await post_page_form(
            console.client,
            f"/moderation/reports/{report_id}",
            f"/moderation/devices/{device_id}/revoke",
            {},
        )
        assert response.status_code == 303
        assert response.headers["location"] == "/moderation?done=device_revoked"
        page = await console.client.get(response.headers["location"])
        assert "The device was revoked." in page.text
        assert "pending reports of it were rejected" not in page.text
    assert (await api.client.get("/v1/reports", headers=bearer(observer))).status_code == 401
    assert (await api_report(api, moderator_token, report_id))["status"] == "pending"


async def test_the_pages_work_by_keyboard_without_inline_script_or_style(api: Api) -> None:
    await empty_the_queue(api)
    observer = await api.device_token()
    report_id = await observer_submits(api, observer)
    await uploaded(api, observer, report_id, unique_jpeg())
    incident_id = await api.conn.fetchval(
        "select incident_id from reports where id = $1::uuid", report_id
    )
    async with staff_console(api) as console:
        queue = (await console.client.get("/moderation")).text
        item = queue_item(queue, report_id)
        heading = f'<h2 id="report-{report_id}-heading">'
        assert heading in item
        # Real buttons and a labelled select, in reading order: verify, unverify, reason, reject.
        order = [
            item.index(
                f'<button type="submit" name="status" value="verified" id="verify-{report_id}"'
            ),
            item.index(f'id="unverify-{report_id}"'),
            item.index(f'<label for="reason-{report_id}">Reason for rejecting</label>'),
            item.index(f'<select id="reason-{report_id}" name="reason" required>'),
            item.index(f'<button type="submit" class="danger" id="reject-{report_id}"'),
        ]
        assert order == sorted(order)
        pages = [
            queue,
            (await console.client.get(f"/moderation/reports/{report_id}")).text,
            (await console.client.get(f"/moderation/incidents/{incident_id}")).text,
        ]
        for page in pages:
            assert "style=" not in page
            assert re.findall(r"<script(?![^>]*\bsrc=)", page) == []
            assert "http://" not in page
            assert "https://" not in page
            for form in re.findall(r"<form .*?</form>", page, re.S):
                if 'method="post"' in form:
                    assert 'name="_csrf_token"' in form
            # Every input and select has its label.
            for control in re.findall(r'<(?:select|input) id="([^"]+)"', page):
                assert f'<label for="{control}">' in page, control
        spanish = await console.client.get("/moderation", headers={"accept-language": "es"})
        assert '<html lang="es">' in spanish.text
        assert "Cola de revisión" in spanish.text
        assert "Todos enmascarados" in spanish.text
        assert ">Verificar</button>" in spanish.text
