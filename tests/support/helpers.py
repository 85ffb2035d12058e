"""Test helpers: a thin client over the HTTP API and valid example reports."""

from __future__ import annotations

import copy
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx

from schemas.auth import Role
from storage.accounts import store as accounts
from storage.incidents import folder
from storage.incidents.grouping import DEFAULT_GROUPING, GroupingRule

PASSWORD = "correct horse battery staple"


async def fold_now(
    conn: asyncpg.Connection, rule: GroupingRule = DEFAULT_GROUPING, time_zone: str = "UTC"
) -> folder.FoldSummary:
    """Run the folder now (what ``serve`` does every second), rather than sleeping."""
    summary = await folder.fold(conn, rule, time_zone)
    assert summary is not None
    return summary


def observer_report(**overrides: Any) -> dict[str, Any]:
    """A complete, valid observer report (the contract's example)."""
    body: dict[str, Any] = {
        "client_id": str(uuid.uuid4()),
        "kind": "observer_report",
        "occurred_at": (datetime.now(UTC) - timedelta(hours=3)).isoformat(),
        "location": {"lat": 40.7191, "lon": -74.0017, "accuracy_m": 25},
        "agents": {
            "count": 4,
            "masked": "all",
            "attire": "plainclothes",
            "agencies_claimed": ["ICE"],
            "agencies_suspected": ["ICE"],
            "vehicles": "unmarked",
        },
        "identification": {
            "verbal": "no",
            "badge_shown": "no",
            "insignia_visible": "no",
            "asked": "yes",
            "response_when_asked": "refused",
        },
        "narrative": "Four masked people in plain clothes took a man into an unmarked van.",
    }
    return _merge(body, overrides)


def officer_note(**overrides: Any) -> dict[str, Any]:
    body = observer_report(kind="officer_note")
    body["officer"] = {
        "command": "Precinct 7",
        "agents_identified_to_officers": "no",
        "prior_notification": "no",
        "officers_injured": 1,
        "incident_reference": "2025-000123",
    }
    return _merge(body, overrides)


def _merge(body: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(body)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class Api:
    """The HTTP client plus shortcuts for getting credentials."""

    def __init__(self, client: httpx.AsyncClient, conn: asyncpg.Connection) -> None:
        self.client = client
        self.conn = conn

    async def device_token(self) -> str:
        response = await self.client.post("/v1/devices")
        assert response.status_code == 201, response.text
        token: str = response.json()["token"]
        return token

    async def account_token(self, role: Role, email: str | None = None) -> str:
        email = email or f"{role}-{uuid.uuid4().hex[:8]}@example.org"
        await accounts.create_account(self.conn, email=email, role=role, password=PASSWORD)
        response = await self.client.post(
            "/v1/sessions", json={"email": email, "password": PASSWORD}
        )
        assert response.status_code == 201, response.text
        token: str = response.json()["token"]
        return token

    async def token(self, role: Role) -> str:
        if role is Role.observer:
            return await self.device_token()
        return await self.account_token(role)

    async def submit(
        self, token: str, body: dict[str, Any], *, fold: bool = True
    ) -> httpx.Response:
        """POST the report, then (``fold``) run the folder, as the service's background loop
        would within a second: incidents and counts include the report."""
        response = await self.client.post("/v1/reports", json=body, headers=bearer(token))
        if fold:
            await fold_now(self.conn)
        return response
