"""The deployment test's workload: reports planned so that the statistics can be recounted from
scratch (every published cell at least the suppression threshold, so none is withheld), and
clients that behave as the apps do: an offline queue re-sends the same body until a 2xx."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import h3
import httpx
import pytest

from tests.support.helpers import observer_report
from tests.support.recount import Sent

AREAS = (h3.latlng_to_cell(40.7191, -74.0017, 7), h3.latlng_to_cell(34.0522, -118.2437, 7))
MONTHS = (
    datetime(2025, 1, 6, 6, 0, tzinfo=UTC),
    datetime(2025, 2, 3, 6, 0, tzinfo=UTC),
    datetime(2025, 3, 3, 6, 0, tzinfo=UTC),
)
NOT_IDENTIFIED = {"verbal": "no", "badge_shown": "no", "insignia_visible": "no"}
IDENTIFIED = {"verbal": "yes", "badge_shown": "no", "insignia_visible": "no"}
UNCLEAR = {"verbal": "unclear", "badge_shown": "no", "insignia_visible": "no"}
# Slots are incidents three hours apart (never grouped with each other), except that a bridge
# report 105 minutes after slot 0 joins slots 0 and 1 into one (and rejecting it splits them).
SLOTS = 12
VERIFIED_SLOTS = range(1, SLOTS - 1)  # the first report of each is verified
SECOND_REPORTS_SLOTS = range(2, SLOTS - 1)  # further reports: rejected, unverified or left
RETENTION_SLOT = SLOTS - 1  # one report, never reviewed or re-sent: aged for retention
RETRY_STATUSES = frozenset({502, 503, 504})
MAX_ATTEMPTS = 60
MAX_WAIT_S = 2.0


@dataclass
class Planned:
    body: dict[str, Any]
    review: str | None = None
    photo: bool = False
    resend: bool = False
    retention: bool = False
    """Aged by the test (received_at moved back) once acknowledged, for retention to coarsen."""
    aged: bool = False
    id: uuid.UUID | None = None
    response: dict[str, Any] | None = None

    def sent(self) -> Sent:
        assert self.id is not None
        location, answers = self.body["location"], self.body["identification"]
        return Sent(
            id=self.id,
            lat=location["lat"],
            lon=location["lon"],
            occurred_at=datetime.fromisoformat(self.body["occurred_at"]),
            answers=answers,
            status=self.review or "pending",
        )


def report_body(cell: str, when: datetime, answers: dict[str, str]) -> dict[str, Any]:
    lat, lon = h3.cell_to_latlng(cell)
    return observer_report(
        location={"lat": lat, "lon": lon, "accuracy_m": 20},
        occurred_at=when.isoformat(),
        identification={**answers, "asked": "no", "response_when_asked": None},
    )


def plan_reports(seed: int = 16) -> list[Planned]:
    rng = random.Random(seed)
    plans: list[Planned] = []
    second = 0  # distinct seconds: no two reports share an occurred_at

    def at(base: datetime, minutes: int) -> datetime:
        nonlocal second
        second = (second + 1) % 60
        return base + timedelta(minutes=minutes, seconds=second)

    for month in MONTHS:
        for area in AREAS:
            centre = h3.cell_to_center_child(area, 9)
            disk = sorted(h3.grid_disk(centre, 1))
            bridged = rng.random() < 0.7
            for slot in range(SLOTS):
                base = month + timedelta(hours=3 * slot)
                count = 1 if slot == RETENTION_SLOT else rng.choice((1, 2, 2, 3, 4))
                for number in range(count):
                    # With a bridge, slot 0 has a report at +30 min and slot 1 one at +0 min,
                    # both within 90 minutes of the bridge at +105.
                    minutes = rng.randrange(0, 60)
                    if bridged and number == 0 and slot in (0, 1):
                        minutes = 30 if slot == 0 else 0
                    answers = rng.choices((NOT_IDENTIFIED, IDENTIFIED, UNCLEAR), (5, 3, 2))[0]
                    plan = Planned(report_body(rng.choice(disk), at(base, minutes), answers))
                    if slot == RETENTION_SLOT:
                        plan.retention = True
                    elif slot in VERIFIED_SLOTS and number == 0:
                        plan.review = "verified"
                    elif slot in SECOND_REPORTS_SLOTS:
                        plan.review = rng.choice(("rejected", "unverified", None))
                    plans.append(plan)
            if bridged:
                bridge = Planned(report_body(centre, at(month, 105), NOT_IDENTIFIED))
                bridge.review = rng.choice(("rejected", None))
                plans.append(bridge)
    rng.shuffle(plans)
    for index, plan in enumerate(plans):
        eligible = not plan.retention
        plan.resend = eligible and index % 4 == 0
        plan.photo = eligible and index % 7 == 0
    return plans


@dataclass
class Traffic:
    """What the clients saw through the proxy."""

    statuses: Counter[int] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)
    """Method and path → answers that made the client send again (502...) or errors."""
    transport_errors: int = 0
    resent: int = 0
    """Re-sends by the offline queue after an error or a 502/503/504."""
    replayed: int = 0
    """Reports whose first answer the client saw was the 200 of a replay: a replica stored
    it and died before answering, and nginx (or the queue) sent it again."""

    @property
    def requests(self) -> int:
        return sum(self.statuses.values()) + self.transport_errors


async def until_acknowledged(
    traffic: Traffic,
    send: Any,
    *,
    accept: frozenset[int] = frozenset({200, 201, 204}),
) -> httpx.Response:
    """Call ``send()`` (one request) until it answers one of ``accept``, as an offline queue
    does: a transport error or a 502/503/504 means try the same request again."""
    for _ in range(MAX_ATTEMPTS):
        try:
            response: httpx.Response = await send()
        except httpx.TransportError as exc:
            traffic.transport_errors += 1
            traffic.failed[f"{type(exc).__name__} {exc.request.method} {_path(exc.request)}"] += 1
            traffic.resent += 1
            await asyncio.sleep(0.2)
            continue
        traffic.statuses[response.status_code] += 1
        if response.status_code in accept:
            return response
        if response.status_code not in RETRY_STATUSES:
            pytest.fail(f"unexpected {response.status_code}: {response.text}")
        traffic.resent += 1
        kind = f"{response.status_code} {response.request.method} {_path(response.request)}"
        traffic.failed[kind] += 1
        # A busy replica says when to come back (503 with Retry-After): the queue waits.
        await asyncio.sleep(min(MAX_WAIT_S, float(response.headers.get("retry-after", 0.2))))
    pytest.fail(f"no answer in {sorted(accept)} after {MAX_ATTEMPTS} attempts")


def _path(request: httpx.Request) -> str:
    """The path with ids replaced, to tell kinds of requests apart."""
    parts = ["{id}" if len(part) == 36 else part for part in request.url.path.split("/")]
    return "/".join(parts)
