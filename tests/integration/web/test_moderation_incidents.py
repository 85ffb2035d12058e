"""The console's incident page: observers' reports beside officers' notes, and merging and
splitting incidents through its forms (the API's overrides, audited as the API's)."""

from __future__ import annotations

import re

import pytest

from schemas.auth import Role
from tests.support.helpers import Api, bearer
from tests.support.moderation_console import (
    audit_entries,
    observer_submits,
    officer_submits,
    post_page_form,
    staff_console,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")

MEMBER = re.compile(r'<article class="card incident-report" id="member-([0-9a-f-]{36})"')


async def incident_of(api: Api, report_id: str) -> int:
    incident_id = await api.conn.fetchval(
        "select incident_id from reports where id = $1::uuid", report_id
    )
    assert incident_id is not None
    return int(incident_id)


def column(page: str, source: str) -> list[str]:
    """The report ids in the page's column of ``source`` (observer or officer)."""
    start = page.index(f'id="{source}-column"')
    end = page.index("</section>", start)
    return MEMBER.findall(page[start:end])


async def test_an_incident_shows_both_sources_side_by_side(api: Api) -> None:
    observer_report_id = await observer_submits(api, await api.device_token())
    officer_note_id = await officer_submits(api, await api.token(Role.officer))
    incident_id = await incident_of(api, observer_report_id)
    assert await incident_of(api, officer_note_id) == incident_id
    async with staff_console(api) as console:
        page = await console.client.get(f"/moderation/incidents/{incident_id}")
        assert page.status_code == 200
        text = page.text
        assert '<div class="side-by-side">' in text
        assert column(text, "observer") == [observer_report_id]
        assert column(text, "officer") == [officer_note_id]
        assert "Observers&#39; reports (1)" in text
        assert "Officers&#39; notes (1)" in text
        # Both refused to identify when asked: not identified, by the API's classification.
        assert '<dd id="incident-classification">Not identified</dd>' in text
        assert "Agents identified to officers" in text
        assert f'href="/moderation/reports/{officer_note_id}"' in text
        reads = await audit_entries(api, console.account_id, "report.read")
        assert sorted((e["subject_id"], e["via"]) for e in reads) == sorted(
            [(observer_report_id, "incident"), (officer_note_id, "incident")]
        )


async def test_merging_and_splitting_incidents(api: Api) -> None:
    here = await observer_submits(api, await api.device_token())
    there = await observer_submits(
        api, await api.device_token(), location={"lat": 40.80, "lon": -73.95}
    )
    kept, merged = await incident_of(api, here), await incident_of(api, there)
    assert kept != merged
    moderator_token = await api.token(Role.moderator)
    page = f"/moderation/incidents/{kept}"
    async with staff_console(api) as console:
        response = await post_page_form(
            console.client, page, f"{page}/merge", {"incident_id": str(merged)}
        )
        assert response.status_code == 303, response.text
        assert response.headers["location"] == f"{page}?done=merged"
        after = await console.client.get(response.headers["location"])
        assert "The other incident was merged into this one." in after.text
        assert sorted(column(after.text, "observer")) == sorted([here, there])
        assert '<dd id="incident-reports">2</dd>' in after.text
        gone = await api.client.get(f"/v1/incidents/{merged}", headers=bearer(moderator_token))
        assert gone.status_code == 404

        response = await post_page_form(
            console.client, page, f"{page}/split", {"report_ids": [there]}
        )
        assert response.status_code == 303, response.text
        location = response.headers["location"]
        found = re.fullmatch(rf"{page}\?done=split&incident=(\d+)", location)
        assert found is not None, location
        new_id = int(found[1])
        assert new_id not in (kept, merged)
        after = await console.client.get(location)
        assert f"The chosen reports now form incident {new_id}." in after.text
        assert f'href="/moderation/incidents/{new_id}"' in after.text
        assert column(after.text, "observer") == [here]
        new_page = await console.client.get(f"/moderation/incidents/{new_id}")
        assert column(new_page.text, "observer") == [there]
        assert await incident_of(api, there) == new_id

        merges = await audit_entries(api, console.account_id, "incident.merged")
        assert [e["merged_incident_id"] for e in merges] == [merged]
        splits = await audit_entries(api, console.account_id, "incident.split")
        assert [(e["new_incident_id"], e["report_ids"]) for e in splits] == [(new_id, [there])]


async def test_bad_merges_and_splits_show_the_form_again_naming_the_field(api: Api) -> None:
    first = await observer_submits(api, await api.device_token())
    second = await observer_submits(api, await api.device_token())
    elsewhere = await observer_submits(
        api, await api.device_token(), location={"lat": 40.80, "lon": -73.95}
    )
    incident_id = await incident_of(api, first)
    assert await incident_of(api, second) == incident_id
    page = f"/moderation/incidents/{incident_id}"
    missing = 9_000_000_000_000
    async with staff_console(api) as console:
        for value, words in (
            (str(incident_id), "cannot be merged with itself"),
            (str(missing), f"there is no incident {missing}"),
            ("twelve", "Expected `int`"),
            ("", "Expected `int`"),
            ("0", "Expected `int` &gt;= 1"),
        ):
            response = await post_page_form(
                console.client, page, f"{page}/merge", {"incident_id": value}
            )
            assert response.status_code == 422, (value, response.text)
            assert '<p class="error" role="alert" id="merge-error">' in response.text
            assert "<code>incident_id</code>" in response.text
            assert words in response.text, value
            assert 'aria-describedby="merge-error"' in response.text
            assert f'required value="{value}"' in response.text  # kept, to be corrected
        for chosen, words in (
            ([], "length &gt;= 1"),
            ([first, second], "must leave at least one report"),
            ([elsewhere], "not reports of incident"),
            (["not-a-uuid"], "Invalid UUID"),
            ([first, first], "listed more than once"),
        ):
            response = await post_page_form(
                console.client, page, f"{page}/split", {"report_ids": chosen}
            )
            assert response.status_code == 422, (chosen, response.text)
            assert '<p class="error" role="alert" id="split-error">' in response.text
            assert "<code>report_ids</code>" in response.text
            assert words in response.text, chosen
            for report_id in {first, second} & set(chosen):
                assert f'value="{report_id}" checked>' in response.text  # Nothing moved.
        assert {await incident_of(api, r) for r in (first, second)} == {incident_id}
        assert await audit_entries(api, console.account_id, "incident.merged") == []
        assert await audit_entries(api, console.account_id, "incident.split") == []
        for path in (
            f"/moderation/incidents/{missing}",
            "/moderation/incidents/99999999999999999999",
        ):
            unknown = await console.client.get(path)
            assert unknown.status_code == 404
            assert "There is nothing here." in unknown.text
        opened = await console.client.get(page)
        assert opened.status_code == 200
        refused = await post_page_form(
            console.client, page, f"/moderation/incidents/{missing}/merge", {"incident_id": "1"}
        )
        assert refused.status_code == 404
