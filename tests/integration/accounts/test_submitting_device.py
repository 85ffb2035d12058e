"""Moderators see which device submitted a report, so they can revoke it; researchers never do.

Issue 11, point 13: the review queue, the report view and the incident view carry the
submitting device's id (``device_id``, null for a report filed from an account), the id
``POST /v1/devices/{device_id}/revoke`` takes.
"""

from __future__ import annotations

import uuid
from typing import Any

from schemas.auth import Role
from tests.support.assertions import assert_problem
from tests.support.helpers import Api, bearer, observer_report, officer_note


async def register(api: Api) -> tuple[str, str]:
    response = await api.client.post("/v1/devices")
    assert response.status_code == 201, response.text
    return response.json()["device_id"], response.json()["token"]


async def submit(api: Api, token: str, body: dict[str, Any]) -> str:
    response = await api.submit(token, body)
    assert response.status_code == 201, response.text
    report_id: str = response.json()["id"]
    return report_id


async def get_json(api: Api, token: str, path: str, **params: Any) -> dict[str, Any]:
    response = await api.client.get(path, params=params, headers=bearer(token))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def incident_of(api: Api, report_id: str) -> int:
    incident_id: int = await api.conn.fetchval(
        "select incident_id from reports where id = $1", uuid.UUID(report_id)
    )
    return incident_id


async def test_a_moderator_sees_the_device_everywhere_and_revokes_it(api: Api) -> None:
    device_id, device = await register(api)
    officer = await api.account_token(Role.officer)
    moderator = await api.account_token(Role.moderator)
    observed = await submit(api, device, observer_report())
    # Same place and time: one incident with an observer's report and an officer's note.
    noted = await submit(api, officer, officer_note())

    queue = await get_json(api, moderator, "/v1/moderation/queue")
    by_id = {item["report"]["id"]: item["report"] for item in queue["items"]}
    assert by_id[observed]["device_id"] == device_id
    assert by_id[noted]["device_id"] is None

    one = await get_json(api, moderator, f"/v1/reports/{observed}")
    assert one["device_id"] == device_id
    note = await get_json(api, moderator, f"/v1/reports/{noted}")
    assert note["device_id"] is None
    listed = await get_json(api, moderator, "/v1/reports")
    assert {item["id"]: item["device_id"] for item in listed["items"]} == {
        observed: device_id,
        noted: None,
    }
    pending = await get_json(api, moderator, "/v1/reports", status="pending")
    assert {item["device_id"] for item in pending["items"]} == {device_id, None}

    incident_id = await incident_of(api, observed)
    assert await incident_of(api, noted) == incident_id
    incident = await get_json(api, moderator, f"/v1/incidents/{incident_id}")
    assert [(r["id"], r["device_id"]) for r in incident["observers"]] == [(observed, device_id)]
    assert [(r["id"], r["device_id"]) for r in incident["officers"]] == [(noted, None)]

    # The id shown is the one revocation takes.
    revoked = await api.client.post(
        f"/v1/devices/{one['device_id']}/revoke",
        json={"reject_pending": True},
        headers=bearer(moderator),
    )
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["rejected_report_ids"] == [observed]
    assert_problem(await api.client.get("/v1/reports", headers=bearer(device)), 401)
    # The officer's account is not a device: its null id leaves nothing to revoke by mistake.
    assert (await api.client.get("/v1/reports", headers=bearer(officer))).status_code == 200


async def test_admins_see_the_device_too(api: Api) -> None:
    device_id, device = await register(api)
    admin = await api.account_token(Role.admin)
    observed = await submit(api, device, observer_report())
    assert (await get_json(api, admin, f"/v1/reports/{observed}"))["device_id"] == device_id
    # A report an admin files from its account has no device.
    own = await submit(api, admin, observer_report())
    assert (await get_json(api, admin, f"/v1/reports/{own}"))["device_id"] is None


async def test_a_device_sees_only_its_own_id_on_its_reports(api: Api) -> None:
    """Shown to the owner as well: it is the device's own id, which registration gave it."""
    device_id, device = await register(api)
    _, other = await register(api)
    mine = await submit(api, device, observer_report())
    await submit(api, other, observer_report())
    assert (await get_json(api, device, f"/v1/reports/{mine}"))["device_id"] == device_id
    listed = await get_json(api, device, "/v1/reports")
    assert [item["device_id"] for item in listed["items"]] == [device_id]


async def test_a_researcher_never_sees_a_device_id(api: Api) -> None:
    device_id, device = await register(api)
    observed = await submit(api, device, observer_report())
    incident_id = await incident_of(api, observed)
    researcher = await api.account_token(Role.researcher)
    headers = bearer(researcher)
    for path in (
        "/v1/moderation/queue",
        f"/v1/reports/{observed}",
        "/v1/reports",
        f"/v1/incidents/{incident_id}",
    ):
        assert_problem(await api.client.get(path, headers=headers), 403)
    # What researchers may read carries no device id.
    params = {"group_by": "month,agency,kind", "unit": "report"}
    for path in (
        "/v1/stats/identification",
        "/v1/exports/identification.json",
        "/v1/exports/identification.csv",
    ):
        response = await api.client.get(path, params=params, headers=headers)
        assert response.status_code == 200, response.text
        assert device_id not in response.text
        assert "device" not in response.text
