"""What the moderation pages refuse: unknown and withdrawn reports, reviews the API's rules
refuse, forms without their CSRF field, return paths off the moderation pages, and every
caller but moderators and admins."""

from __future__ import annotations

import uuid

import httpx
import pytest

from schemas.auth import Role
from tests.support.console import csrf_field
from tests.support.helpers import Api, bearer
from tests.support.moderation_console import (
    api_report,
    audit_entries,
    observer_submits,
    post_page_form,
    staff_console,
)
from tests.support.photo_api import unique_jpeg, uploaded

pytestmark = pytest.mark.asyncio(loop_scope="session")


def is_page(response: httpx.Response) -> bool:
    content_type: str = response.headers.get("content-type", "")
    return content_type.startswith("text/html")


async def test_unknown_reports_photos_and_devices_are_not_found(api: Api) -> None:
    report_id = await observer_submits(api, await api.device_token())
    nobody = uuid.uuid4()
    async with staff_console(api) as console:
        for path in (f"/moderation/reports/{nobody}", f"/moderation/photos/{nobody}"):
            response = await console.client.get(path)
            assert response.status_code == 404, path
            assert is_page(response)
            assert "There is nothing here." in response.text
        here = f"/moderation/reports/{report_id}"
        for action, form in (
            (f"/moderation/reports/{nobody}/review", {"status": "verified"}),
            (f"/moderation/devices/{nobody}/revoke", {"reject_pending": "yes"}),
        ):
            response = await post_page_form(console.client, here, action, form)
            assert response.status_code == 404, action
            assert is_page(response)
        # As the API answers a path parameter that does not parse: 422 naming it, as a page.
        malformed = await console.client.get("/moderation/reports/not-a-uuid")
        assert malformed.status_code == 422
        assert "report_id" in malformed.text
        assert is_page(malformed)
        unknown = await console.client.get("/moderation/no/such/page")
        assert unknown.status_code == 404
        assert is_page(unknown)
        api_unknown = await console.client.get("/v1/no-such-endpoint")
        assert api_unknown.headers["content-type"].startswith("application/problem+json")


async def test_a_withdrawn_report_is_gone(api: Api) -> None:
    observer = await api.device_token()
    report_id = await observer_submits(api, observer)
    here = f"/moderation/reports/{report_id}"
    async with staff_console(api) as console:
        opened = await console.client.get(here)
        assert opened.status_code == 200
        withdrawn = await api.client.delete(f"/v1/reports/{report_id}", headers=bearer(observer))
        assert withdrawn.status_code == 204
        page = await console.client.get(here)
        assert page.status_code == 410
        assert "This is gone (withdrawn)." in page.text
        review = await console.client.post(
            f"{here}/review", data={"status": "verified", "_csrf_token": csrf_field(opened.text)}
        )
        assert review.status_code == 410


async def test_reviews_the_api_would_refuse_are_refused_naming_the_field(api: Api) -> None:
    report_id = await observer_submits(api, await api.device_token())
    moderator_token = await api.token(Role.moderator)
    here = f"/moderation/reports/{report_id}"
    async with staff_console(api) as console:
        for form, field, words in (
            ({"status": "rejected"}, "reason", "A rejection needs a reason from the list."),
            ({"status": "rejected", "reason": ""}, "reason", "`reason` is required"),
            ({"status": "rejected", "reason": "because"}, "reason", "Invalid enum value"),
            ({"status": "approved"}, "status", "Choose verified, unverified or rejected."),
            ({"status": "pending"}, "status", "Invalid enum value &#39;pending&#39;"),
            ({}, "status", "Invalid enum value"),
        ):
            response = await post_page_form(console.client, here, f"{here}/review", form)
            assert response.status_code == 422, form
            assert is_page(response)
            assert '<p class="error" role="alert" id="review-error">' in response.text
            assert f"<code>{field}</code>" in response.text, form
            assert words in response.text, form
        assert (await api_report(api, moderator_token, report_id))["status"] == "pending"
        assert await audit_entries(api, console.account_id, "report.reviewed") == []


async def test_a_form_without_its_csrf_field_is_refused(api: Api) -> None:
    report_id = await observer_submits(api, await api.device_token())
    moderator_token = await api.token(Role.moderator)
    here = f"/moderation/reports/{report_id}"
    async with staff_console(api) as console:
        opened = await console.client.get(here)
        assert opened.status_code == 200
        for token in (None, "forged"):
            data = {"status": "verified"}
            if token is not None:
                data["_csrf_token"] = token
            response = await console.client.post(f"{here}/review", data=data)
            assert response.status_code == 403
            assert "The form had expired" in response.text
        assert (await api_report(api, moderator_token, report_id))["status"] == "pending"


async def test_a_form_goes_back_only_to_a_moderation_page(api: Api) -> None:
    report_id = await observer_submits(api, await api.device_token())
    here = f"/moderation/reports/{report_id}"
    async with staff_console(api) as console:
        for return_to, expected in (
            ("https://evil.example/moderation", f"{here}?done=unverified"),
            ("//evil.example/moderation", f"{here}?done=unverified"),
            ("/\\evil.example/moderation", f"{here}?done=unverified"),
            ("/admin/accounts", f"{here}?done=unverified"),
            ("/moderationx", f"{here}?done=unverified"),
            ("javascript:alert(1)", f"{here}?done=unverified"),
            ("/moderation", "/moderation?done=unverified"),
            ("/moderation?cursor=abc&done=rejected", "/moderation?cursor=abc&done=unverified"),
        ):
            response = await post_page_form(
                console.client,
                here,
                f"{here}/review",
                {"status": "unverified", "return_to": return_to},
            )
            assert response.status_code == 303, return_to
            assert response.headers["location"] == expected, return_to


async def test_a_checkbox_with_a_value_it_cannot_have_is_refused(api: Api) -> None:
    observer = await api.device_token()
    report_id = await observer_submits(api, observer)
    moderator_token = await api.token(Role.moderator)
    device_id = (await api_report(api, moderator_token, report_id))["device_id"]
    async with staff_console(api) as console:
        response = await post_page_form(
            console.client,
            f"/moderation/reports/{report_id}",
            f"/moderation/devices/{device_id}/revoke",
            {"reject_pending": "maybe"},
        )
        assert response.status_code == 422
        assert "<code>reject_pending</code>" in response.text
    assert (await api.client.get("/v1/reports", headers=bearer(observer))).status_code == 200


async def test_only_moderators_and_admins_open_the_moderation_pages(api: Api) -> None:
    observer = await api.device_token()
    report_id = await observer_submits(api, observer)
    photo = await uploaded(api, observer, report_id, unique_jpeg())
    moderator_token = await api.token(Role.moderator)
    device_id = (await api_report(api, moderator_token, report_id))["device_id"]
    incident_id = await api.conn.fetchval(
        "select incident_id from reports where id = $1::uuid", report_id
    )
    pages = [
        "/moderation",
        f"/moderation/reports/{report_id}",
        f"/moderation/photos/{photo['id']}",
        f"/moderation/incidents/{incident_id}",
    ]
    forms = [
        (f"/moderation/reports/{report_id}/review", {"status": "verified"}),
        (f"/moderation/incidents/{incident_id}/merge", {"incident_id": "1"}),
        (f"/moderation/incidents/{incident_id}/split", {"report_ids": report_id}),
        (f"/moderation/devices/{device_id}/revoke", {"reject_pending": "yes"}),
    ]
    for role in (Role.researcher, Role.officer):
        async with staff_console(api, role) as console:
            for path in pages:
                response = await console.client.get(path)
                assert response.status_code == 403, (role, path)
                assert is_page(response)
                assert "Your role may not open this page." in response.text
            token = csrf_field((await console.client.get("/no-pages")).text)
            for action, form in forms:
                response = await console.client.post(action, data={**form, "_csrf_token": token})
                assert response.status_code == 403, (role, action)
    async with httpx.AsyncClient(base_url=str(api.client.base_url)) as anonymous:
        for path in pages:
            response = await anonymous.get(path)
            assert response.status_code == 303, path
            assert response.headers["location"] == f"/sign-in?next={path}"
        for action, form in forms:
            response = await anonymous.post(action, data=form)
            assert response.status_code == 303, action
            assert response.headers["location"] == "/sign-in"
    # An admin may (the API's STAFF), and nothing above changed the report.
    async with staff_console(api, Role.admin) as console:
        for path in pages:
            assert (await console.client.get(path)).status_code == 200, path
    assert (await api_report(api, moderator_token, report_id))["status"] == "pending"
    assert (await api.client.get("/v1/reports", headers=bearer(observer))).status_code == 200
