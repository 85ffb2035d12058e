from __future__ import annotations

from tests.helpers import Api, bearer, observer_report


async def test_submit_and_read(api: Api) -> None:
    token = await api.device_token()
    body = observer_report()
    created = await api.submit(token, body)
    assert created.status_code == 201, created.text
    report_id = created.json()["id"]
    fetched = await api.client.get(f"/v1/reports/{report_id}", headers=bearer(token))
    assert fetched.status_code == 200, fetched.text
    print(created.json(), fetched.json())
