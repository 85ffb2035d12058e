"""The report wire schema against docs/api-contract: what is accepted, what is refused, and why.

Expected values come from the contract and the schema brief, not from the code under test.
"""

from __future__ import annotations

import copy
import json
import math
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import h3
import msgspec
import pytest

from schemas.codes import (
    Agency,
    AskedResponse,
    Attire,
    LocalPoliceRole,
    Masked,
    ReportStatus,
    Tristate,
    Vehicles,
)
from schemas.report import (
    LocationOut,
    ObserverReportContent,
    ObserverReportIn,
    ObserverReportView,
    OfficerNoteContent,
    OfficerNoteIn,
    OfficerNoteView,
    ReportContent,
    ReportIn,
    ReportView,
    decode_report,
    minimise,
)

# The contract's JSON example, verbatim.
CONTRACT_EXAMPLE = b"""{
  "client_id": "018f3c1e-7a4b-7c2d-9e1f-2a3b4c5d6e7f",
  "kind": "observer_report",
  "occurred_at": "2025-11-12T14:30:00-05:00",
  "location": {"lat": 40.7191, "lon": -74.0017, "accuracy_m": 25},
  "agents": {"count": 4, "masked": "all", "attire": "plainclothes",
             "agencies_claimed": ["ICE"], "agencies_suspected": ["ICE"], "vehicles": "unmarked"},
  "identification": {"verbal": "no", "badge_shown": "no", "insignia_visible": "no",
                     "asked": "yes", "response_when_asked": "refused"},
  "narrative": "free text"
}"""

_MISSING = object()


def observer_payload() -> dict[str, Any]:
    """A valid observer report that uses every optional field."""
    return {
        "client_id": "018f3c1e-7a4b-7c2d-9e1f-2a3b4c5d6e7f",
        "kind": "observer_report",
        "occurred_at": "2025-11-12T14:30:00-05:00",
        "occurred_at_uncertainty_min": 15,
        "location": {
            "lat": 40.7191,
            "lon": -74.0017,
            "accuracy_m": 25,
            "description": "outside the courthouse",
        },
        "agents": {
            "count": 4,
            "masked": "all",
            "attire": "plainclothes",
            "agencies_claimed": ["ICE"],
            "agencies_suspected": ["ICE", "HSI"],
            "vehicles": "unmarked",
        },
        "identification": {
            "verbal": "no",
            "badge_shown": "no",
            "insignia_visible": "no",
            "names_or_badge_numbers_given": "no",
            "asked": "yes",
            "response_when_asked": "refused",
            "identified_only_after_local_police_arrived": "yes",
        },
        "misidentification": ["agents_taken_for_criminals_or_kidnappers"],
        "outcome": {
            "people_detained": 1,
            "force_used": "yes",
            "injuries": 0,
            "local_police_present": "yes",
            "local_police_role": "intervened",
            "called_911": "yes",
        },
        "narrative": "Four people in masks pushed a man into a van.\nNobody showed a badge.",
    }


def officer_payload() -> dict[str, Any]:
    payload = observer_payload()
    payload["kind"] = "officer_note"
    payload["officer"] = {
        "command": "1st Precinct",
        "agents_identified_to_officers": "unclear",
        "prior_notification": "unknown",
        "officers_injured": 2,
        "incident_reference": "2025-11-12/0042",
    }
    return payload


def minimal_payload() -> dict[str, Any]:
    """Only the fields the schema brief makes required."""
    return {
        "client_id": str(uuid.uuid4()),
        "kind": "observer_report",
        "occurred_at": "2025-11-12T19:30:00Z",
        "location": {"lat": 40.7191, "lon": -74.0017},
        "agents": {"masked": "unknown", "attire": "unknown"},
        "identification": {
            "verbal": "unclear",
            "badge_shown": "unclear",
            "insignia_visible": "unclear",
            "asked": "unclear",
        },
    }


def with_value(payload: dict[str, Any], path: str, value: object) -> dict[str, Any]:
    """A deep copy of ``payload`` with the dotted ``path`` set to ``value`` (or removed)."""
    result = copy.deepcopy(payload)
    *parents, leaf = path.split(".")
    node = result
    for key in parents:
        node = node.setdefault(key, {})
    if value is _MISSING:
        node.pop(leaf, None)
    else:
        node[leaf] = value
    return result


def without(payload: dict[str, Any], path: str) -> dict[str, Any]:
    return with_value(payload, path, _MISSING)


def decode(payload: dict[str, Any]) -> ReportIn:
    return decode_report(json.dumps(payload).encode())


def rejection(payload: dict[str, Any]) -> str:
    with pytest.raises(msgspec.ValidationError) as caught:
        decode(payload)
    return str(caught.value)


def iso(moment: datetime) -> str:
    return moment.isoformat()


# --- accepted input -----------------------------------------------------------------------


def test_contract_example_decodes_as_an_observer_report() -> None:
    report = decode_report(CONTRACT_EXAMPLE)

    assert isinstance(report, ObserverReportIn)
    assert report.client_id == uuid.UUID("018f3c1e-7a4b-7c2d-9e1f-2a3b4c5d6e7f")
    assert report.occurred_at == datetime(2025, 11, 12, 19, 30, tzinfo=UTC)
    assert report.occurred_at.utcoffset() == timedelta(hours=-5)
    assert (report.location.lat, report.location.lon) == (40.7191, -74.0017)
    assert report.location.accuracy_m == 25
    assert report.agents.count == 4
    assert report.agents.masked is Masked.ALL
    assert report.agents.attire is Attire.PLAINCLOTHES
    assert report.agents.agencies_claimed == (Agency.ICE,)
    assert report.agents.agencies_suspected == (Agency.ICE,)
    assert report.agents.vehicles is Vehicles.UNMARKED
    assert report.identification.verbal is Tristate.NO
    assert report.identification.badge_shown is Tristate.NO
    assert report.identification.insignia_visible is Tristate.NO
    assert report.identification.asked is Tristate.YES
    assert report.identification.response_when_asked is AskedResponse.REFUSED
    assert report.narrative == "free text"


def test_full_officer_note_decodes_with_officer_details() -> None:
    report = decode(officer_payload())

    assert isinstance(report, OfficerNoteIn)
    assert report.officer.command == "1st Precinct"
    assert report.officer.agents_identified_to_officers == "unclear"
    assert report.officer.prior_notification == "unknown"
    assert report.officer.officers_injured == 2
    assert report.officer.incident_reference == "2025-11-12/0042"
    assert report.outcome is not None
    assert report.outcome.local_police_role is LocalPoliceRole.INTERVENED


def test_minimal_report_gets_neutral_defaults() -> None:
    report = decode(minimal_payload())

    assert isinstance(report, ObserverReportIn)
    assert report.agents.count is None
    assert report.agents.agencies_claimed == ()
    assert report.agents.agencies_suspected == ()
    assert report.agents.vehicles is Vehicles.UNKNOWN
    assert report.identification.names_or_badge_numbers_given is None
    assert report.identification.response_when_asked is None
    assert report.misidentification == ()
    assert report.outcome is None
    assert report.narrative is None
    assert report.occurred_at_uncertainty_min is None
    assert report.location.accuracy_m is None
    assert report.location.description is None


def test_officer_note_needs_only_a_command_among_officer_fields() -> None:
    payload = with_value(minimal_payload(), "kind", "officer_note")
    payload["officer"] = {"command": "Transit District 2"}

    report = decode(payload)

    assert isinstance(report, OfficerNoteIn)
    assert report.officer.agents_identified_to_officers is None
    assert report.officer.prior_notification is None
    assert report.officer.officers_injured is None
    assert report.officer.incident_reference is None


def test_empty_outcome_object_is_accepted() -> None:
    report = decode(with_value(minimal_payload(), "outcome", {}))

    assert report.outcome is not None
    assert report.outcome.people_detained is None
    assert report.outcome.force_used is None


def test_decoded_reports_are_immutable() -> None:
    report = decode(observer_payload())

    with pytest.raises(AttributeError):
        report.narrative = "changed"  # type: ignore[misc]


# --- structure and unknown input ------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "parent"),
    [
        ("client_id", "$"),
        ("kind", "$"),
        ("occurred_at", "$"),
        ("location", "$"),
        ("agents", "$"),
        ("identification", "$"),
        ("location.lat", "$.location"),
        ("location.lon", "$.location"),
        ("agents.masked", "$.agents"),
        ("agents.attire", "$.agents"),
        ("identification.verbal", "$.identification"),
        ("identification.badge_shown", "$.identification"),
        ("identification.insignia_visible", "$.identification"),
        ("identification.asked", "$.identification"),
    ],
)
def test_missing_required_field_is_named(path: str, parent: str) -> None:
    message = rejection(without(observer_payload(), path))

    assert f"missing required field `{path.rsplit('.', 1)[-1]}`" in message
    if parent != "$":
        assert f"`{parent}`" in message


def test_officer_note_without_officer_object_is_rejected() -> None:
    payload = without(officer_payload(), "officer")

    assert "missing required field `officer`" in rejection(payload)


def test_officer_note_without_command_is_rejected() -> None:
    message = rejection(without(officer_payload(), "officer.command"))

    assert "missing required field `command`" in message
    assert "`$.officer`" in message


def test_observer_report_may_not_carry_officer_details() -> None:
    payload = observer_payload()
    payload["officer"] = {"command": "1st Precinct"}

    assert "unknown field `officer`" in rejection(payload)


@pytest.mark.parametrize(
    ("parent", "make"),
    [
        ("location", observer_payload),
        ("agents", observer_payload),
        ("identification", observer_payload),
        ("outcome", observer_payload),
        ("officer", officer_payload),
    ],
)
def test_unknown_nested_field_is_rejected_with_its_path(parent: str, make: Any) -> None:
    payload = with_value(make(), f"{parent}.agent_names", "J. Doe")

    message = rejection(payload)

    assert "unknown field `agent_names`" in message
    assert f"`$.{parent}`" in message


@pytest.mark.parametrize("field", ["immigration_status", "agent_name", "ip_address", "phone"])
def test_unknown_top_level_field_is_rejected(field: str) -> None:
    payload = with_value(observer_payload(), field, "x")

    assert f"unknown field `{field}`" in rejection(payload)


@pytest.mark.parametrize("kind", ["police_report", "Observer_Report", "", None])
def test_unknown_kind_is_rejected_at_kind(kind: object) -> None:
    message = rejection(with_value(observer_payload(), "kind", kind))

    assert "`$.kind`" in message


def test_missing_kind_is_rejected() -> None:
    assert "missing required field `kind`" in rejection(without(observer_payload(), "kind"))


def test_non_object_body_is_rejected() -> None:
    with pytest.raises(msgspec.ValidationError):
        decode_report(b"[]")


def test_malformed_json_is_a_decode_error() -> None:
    with pytest.raises(msgspec.DecodeError):
        decode_report(b'{"kind": "observer_report"')


# --- code values ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "bad"),
    [
        ("agents.masked", "partially"),
        ("agents.masked", "ALL"),
        ("agents.attire", "suit"),
        ("agents.vehicles", "van"),
        ("identification.verbal", "maybe"),
        ("identification.verbal", True),
        ("identification.badge_shown", "unknown"),
        ("identification.insignia_visible", "Yes"),
        ("identification.names_or_badge_numbers_given", "Agent J. Smith, #4411"),
        ("identification.asked", "no_one"),
        ("identification.response_when_asked", "not_asked"),
        ("identification.identified_only_after_local_police_arrived", "later"),
        ("outcome.force_used", "some"),
        ("outcome.local_police_present", 1),
        ("outcome.local_police_role", "arrested_agents"),
        ("outcome.called_911", "unclear_"),
        ("officer.agents_identified_to_officers", "unknown"),
        ("officer.prior_notification", "unclear"),
    ],
)
def test_bad_code_value_is_rejected_at_its_path(path: str, bad: object) -> None:
    message = rejection(with_value(officer_payload(), path, bad))

    assert f"`$.{path}`" in message


@pytest.mark.parametrize("path", ["agents.agencies_claimed", "agents.agencies_suspected"])
@pytest.mark.parametrize("bad", ["ice", "NYPD", "Border Patrol", ""])
def test_bad_agency_is_rejected_at_its_index(path: str, bad: str) -> None:
    message = rejection(with_value(observer_payload(), path, ["CBP", bad]))

    assert f"`$.{path}[1]`" in message


def test_contract_agency_list_is_accepted() -> None:
    contract_agencies = ["ICE", "CBP", "HSI", "FBI", "DEA", "USMS", "ATF", "local_police"]
    payload = with_value(observer_payload(), "agents.agencies_suspected", contract_agencies)
    payload = with_value(payload, "agents.agencies_claimed", ["other", "unknown"])

    report = decode(payload)

    assert [str(agency) for agency in report.agents.agencies_suspected] == contract_agencies


@pytest.mark.parametrize(
    ("path", "values"),
    [
        ("agents.masked", ["all", "some", "none", "unknown"]),
        ("agents.attire", ["plainclothes", "uniform", "mixed", "tactical", "unknown"]),
        ("agents.vehicles", ["marked", "unmarked", "mixed", "none", "unknown"]),
        ("identification.verbal", ["yes", "no", "unclear"]),
        ("identification.badge_shown", ["yes", "no", "unclear"]),
        ("identification.insignia_visible", ["yes", "no", "unclear"]),
        ("officer.agents_identified_to_officers", ["yes", "no", "unclear"]),
        ("officer.prior_notification", ["yes", "no", "unknown"]),
    ],
)
def test_contract_code_values_are_accepted(path: str, values: list[str]) -> None:
    for value in values:
        decode(with_value(officer_payload(), path, value))


def test_misidentification_types_from_the_brief_are_accepted() -> None:
    types = [
        "agents_taken_for_criminals_or_kidnappers",
        "local_police_taken_for_federal_agents",
        "federal_agents_taken_for_local_police",
        "suspected_impersonation",
        "other",
    ]

    report = decode(with_value(observer_payload(), "misidentification", types))

    assert [str(value) for value in report.misidentification] == types


def test_bad_misidentification_type_is_rejected_at_its_index() -> None:
    payload = with_value(observer_payload(), "misidentification", ["other", "doppelganger"])

    assert "`$.misidentification[1]`" in rejection(payload)


# --- bounds ---------------------------------------------------------------------------------

NUMERIC_BOUNDS: list[tuple[str, float, float, list[float]]] = [
    # path, lowest allowed, highest allowed, values just outside
    ("agents.count", 1, 500, [0, 501, -1]),
    ("occurred_at_uncertainty_min", 0, 1440, [-1, 1441]),
    ("location.lat", -90, 90, [-90.000001, 90.000001, 1000]),
    ("location.lon", -180, 180, [-180.000001, 180.000001]),
    ("location.accuracy_m", 0, 50_000, [-0.5, 50_000.5]),
    ("outcome.people_detained", 0, 500, [-1, 501]),
    ("outcome.injuries", 0, 500, [-1, 501]),
    ("officer.officers_injured", 0, 100, [-1, 101]),
]


@pytest.mark.parametrize(("path", "low", "high", "_outside"), NUMERIC_BOUNDS)
def test_numeric_bounds_are_inclusive(
    path: str, low: float, high: float, _outside: list[float]
) -> None:
    decode(with_value(officer_payload(), path, low))
    decode(with_value(officer_payload(), path, high))


@pytest.mark.parametrize(
    ("path", "bad"),
    [(path, bad) for path, _low, _high, outside in NUMERIC_BOUNDS for bad in outside],
)
def test_numbers_outside_bounds_are_rejected_at_their_path(path: str, bad: float) -> None:
    message = rejection(with_value(officer_payload(), path, bad))

    assert f"`$.{path}`" in message


@pytest.mark.parametrize(
    ("path", "bad"),
    [
        ("agents.count", "4"),
        ("agents.count", 4.5),
        ("agents.count", True),
        ("location.lat", "40.7"),
        ("outcome.injuries", 1.5),
        ("occurred_at_uncertainty_min", "15"),
    ],
)
def test_numbers_must_have_the_right_json_type(path: str, bad: object) -> None:
    assert f"`$.{path}`" in rejection(with_value(officer_payload(), path, bad))


TEXT_LIMITS = [
    # path, maximum length; every one of them also refuses the empty string
    ("narrative", 4000),
    ("location.description", 200),
    ("officer.command", 120),
    ("officer.incident_reference", 64),
]


@pytest.mark.parametrize(("path", "limit"), TEXT_LIMITS)
def test_text_at_its_limit_is_accepted(path: str, limit: int) -> None:
    report = decode(with_value(officer_payload(), path, "A" * limit))

    assert isinstance(report, OfficerNoteIn)


@pytest.mark.parametrize(("path", "limit"), TEXT_LIMITS)
def test_text_over_its_limit_is_rejected(path: str, limit: int) -> None:
    message = rejection(with_value(officer_payload(), path, "A" * (limit + 1)))

    assert f"`$.{path}`" in message


@pytest.mark.parametrize(("path", "_limit"), TEXT_LIMITS)
def test_empty_text_is_rejected(path: str, _limit: int) -> None:
    assert f"`$.{path}`" in rejection(with_value(officer_payload(), path, ""))


def test_limits_count_characters_not_bytes() -> None:
    report = decode(with_value(observer_payload(), "location.description", "ñ" * 200))

    assert report.location.description == "ñ" * 200


@pytest.mark.parametrize(
    ("path", "bad"),
    [
        ("narrative", "before\x00after"),
        ("narrative", "bell\x07"),
        ("location.description", "line one\nline two"),
        ("location.description", "trailing newline\n"),
        ("location.description", "tab\there"),
        ("officer.command", "1st\x00Precinct"),
        ("officer.incident_reference", " leading space"),
        ("officer.incident_reference", "case\n42"),
    ],
)
def test_control_characters_are_rejected(path: str, bad: str) -> None:
    assert f"`$.{path}`" in rejection(with_value(officer_payload(), path, bad))


def test_narrative_may_span_lines_and_use_tabs() -> None:
    text = "First line.\r\nSecond line.\n\tIndented."

    assert decode(with_value(observer_payload(), "narrative", text)).narrative == text


@pytest.mark.parametrize("path", ["agents.agencies_claimed", "agents.agencies_suspected"])
def test_agency_lists_hold_at_most_ten_distinct_values(path: str) -> None:
    agencies = [str(agency) for agency in Agency]
    assert len(agencies) > 10, "needs more than ten distinct agencies to probe the bound"

    report = decode(with_value(observer_payload(), path, agencies[:10]))

    assert len(getattr(report.agents, path.removeprefix("agents."))) == 10
    assert f"`$.{path}`" in rejection(with_value(observer_payload(), path, agencies[:11]))


@pytest.mark.parametrize("path", ["agents.agencies_claimed", "agents.agencies_suspected"])
def test_agency_lists_reject_duplicates(path: str) -> None:
    message = rejection(with_value(observer_payload(), path, ["ICE", "CBP", "ICE"]))

    assert "ICE" in message
    assert path.rsplit(".", 1)[-1] in message
    assert "`$.agents`" in message


def test_misidentification_rejects_duplicates() -> None:
    payload = with_value(observer_payload(), "misidentification", ["other", "other"])

    assert "misidentification" in rejection(payload)


def test_misidentification_holds_at_most_ten_items() -> None:
    payload = with_value(observer_payload(), "misidentification", ["other"] * 11)

    assert "`$.misidentification`" in rejection(payload)


# --- time -----------------------------------------------------------------------------------


def test_naive_occurred_at_is_rejected() -> None:
    message = rejection(with_value(observer_payload(), "occurred_at", "2025-11-12T14:30:00"))

    assert "timezone" in message
    assert "`$.occurred_at`" in message


@pytest.mark.parametrize("bad", ["2025-11-12", "yesterday", "2025-13-01T00:00:00Z", 1731439800])
def test_malformed_occurred_at_is_rejected(bad: object) -> None:
    assert "`$.occurred_at`" in rejection(with_value(observer_payload(), "occurred_at", bad))


def test_occurred_at_slightly_ahead_is_tolerated_as_clock_skew() -> None:
    soon = datetime.now(UTC) + timedelta(minutes=5)

    report = decode(with_value(observer_payload(), "occurred_at", iso(soon)))

    assert report.occurred_at == soon


def test_occurred_at_more_than_ten_minutes_ahead_is_rejected() -> None:
    later = datetime.now(UTC) + timedelta(minutes=11)

    assert "occurred_at" in rejection(with_value(observer_payload(), "occurred_at", iso(later)))


def test_future_is_judged_in_absolute_time_not_local_wall_clock() -> None:
    # Wall-clock digits far ahead of UTC, but the instant is in the past.
    kiribati = timezone(timedelta(hours=14))
    moment = (datetime.now(UTC) - timedelta(minutes=1)).astimezone(kiribati)

    decode(with_value(observer_payload(), "occurred_at", iso(moment)))


def test_occurred_at_from_year_2000_is_accepted() -> None:
    decode(with_value(observer_payload(), "occurred_at", "2000-01-01T00:00:00Z"))


def test_occurred_at_before_2000_is_rejected() -> None:
    payload = with_value(observer_payload(), "occurred_at", "1999-12-31T23:59:59Z")

    assert "occurred_at" in rejection(payload)


# --- cross-field rules ----------------------------------------------------------------------


def test_response_when_not_asked_is_contradictory() -> None:
    payload = with_value(observer_payload(), "identification.asked", "no")

    message = rejection(payload)

    assert "response_when_asked" in message
    assert "`$.identification`" in message


def test_not_asked_without_response_is_fine() -> None:
    payload = with_value(observer_payload(), "identification.asked", "no")
    payload = without(payload, "identification.response_when_asked")

    assert decode(payload).identification.asked is Tristate.NO


def test_response_when_it_is_unclear_who_asked_is_fine() -> None:
    payload = with_value(observer_payload(), "identification.asked", "unclear")

    assert decode(payload).identification.response_when_asked is AskedResponse.REFUSED


@pytest.mark.parametrize("role", ["observed", "assisted", "intervened"])
def test_local_police_role_requires_them_to_be_present(role: str) -> None:
    payload = with_value(observer_payload(), "outcome.local_police_present", "no")
    payload = with_value(payload, "outcome.local_police_role", role)
    payload = without(payload, "identification.identified_only_after_local_police_arrived")

    message = rejection(payload)

    assert "local_police_role" in message
    assert "`$.outcome`" in message


@pytest.mark.parametrize("role", ["none", "unknown"])
def test_absent_local_police_may_have_no_role(role: str) -> None:
    payload = with_value(observer_payload(), "outcome.local_police_present", "no")
    payload = with_value(payload, "outcome.local_police_role", role)
    payload = without(payload, "identification.identified_only_after_local_police_arrived")

    decode(payload)


def test_identified_after_local_police_arrived_requires_local_police() -> None:
    payload = with_value(observer_payload(), "outcome.local_police_present", "no")
    payload = with_value(payload, "outcome.local_police_role", "none")

    message = rejection(payload)

    assert "identified_only_after_local_police_arrived" in message
    assert "local_police_present" in message


# --- privacy by construction ----------------------------------------------------------------


def _property_names(schema: Any) -> set[str]:
    names: set[str] = set()
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key == "properties" and isinstance(value, dict):
                names.update(value)
            names |= _property_names(value)
    elif isinstance(schema, list):
        for item in schema:
            names |= _property_names(item)
    return names


@pytest.mark.parametrize("schema_type", [ReportIn, ReportView])
def test_schema_has_no_field_for_identities_or_status(schema_type: Any) -> None:
    names = _property_names(msgspec.json.schema(schema_type))

    assert names, "schema walk found no properties"
    for name in names:
        assert "immigra" not in name
        assert "citizen" not in name
        assert name in {"names_or_badge_numbers_given"} or "name" not in name
        assert "phone" not in name
        assert "email" not in name
        assert "ip" not in name.split("_")


def test_free_text_is_only_narrative_and_place_description_for_observers() -> None:
    strings = []
    schema = msgspec.json.schema(ObserverReportIn)
    for definition in schema["$defs"].values():
        for name, prop in definition.get("properties", {}).items():
            options = prop.get("anyOf", [prop])
            if any(option.get("type") == "string" and "format" not in option for option in options):
                strings.append(name)

    assert sorted(strings) == ["description", "narrative"]


def test_input_structs_are_frozen_and_strict() -> None:
    seen: set[type] = set()

    def visit(info: msgspec.inspect.Type) -> None:
        if isinstance(info, msgspec.inspect.StructType):
            if info.cls in seen:
                return
            seen.add(info.cls)
            assert info.forbid_unknown_fields, info.cls
            assert info.cls.__struct_config__.frozen, info.cls
            for field in info.fields:
                visit(field.type)
        for attr in ("types", "item_type", "type"):
            child = getattr(info, attr, None)
            if isinstance(child, tuple):
                for item in child:
                    visit(item)
            elif isinstance(child, msgspec.inspect.Type):
                visit(child)

    visit(msgspec.inspect.type_info(ReportIn))

    assert len(seen) >= 7  # two reports, location, agents, identification, outcome, officer


# --- minimisation ---------------------------------------------------------------------------


def _distance_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance by the haversine formula."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * 6_371_000 * math.asin(math.sqrt(h))


def _keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {key for child in value.values() for key in _keys(child)}
    if isinstance(value, list):
        return {key for child in value for key in _keys(child)}
    return set()


@pytest.mark.parametrize("make", [observer_payload, officer_payload])
def test_minimised_report_carries_no_coordinates(make: Any) -> None:
    payload = make()
    payload = with_value(payload, "location.lat", 40.719123456)
    payload = with_value(payload, "location.lon", -74.001712345)

    encoded = msgspec.json.encode(minimise(decode(payload)))

    location_keys = set(json.loads(encoded)["location"])
    assert location_keys == {"h3_cell", "accuracy_m", "description"}
    assert not {"lat", "lon", "latitude", "longitude", "lng"} & _keys(json.loads(encoded))
    assert b"40.719" not in encoded
    assert b"74.001" not in encoded


def test_minimised_cell_is_the_resolution_9_cell_around_the_point() -> None:
    point = (40.7191, -74.0017)

    content = minimise(decode(observer_payload()))

    cell = content.location.h3_cell
    assert h3.is_valid_cell(cell)
    assert h3.get_resolution(cell) == 9
    # A res-9 hexagon's edge is ~174 m, so its centre is within that of any point inside it.
    assert _distance_m(h3.cell_to_latlng(cell), point) < 200


def test_nearby_points_share_a_cell_and_distant_ones_do_not() -> None:
    here = decode(observer_payload())
    next_door = decode(with_value(observer_payload(), "location.lat", 40.71911))
    uptown = decode(with_value(observer_payload(), "location.lat", 40.7291))

    assert minimise(here).location.h3_cell == minimise(next_door).location.h3_cell
    assert minimise(here).location.h3_cell != minimise(uptown).location.h3_cell


def test_minimise_honours_a_coarser_resolution() -> None:
    cell = minimise(decode(observer_payload()), resolution=7).location.h3_cell

    assert h3.get_resolution(cell) == 7
    assert _distance_m(h3.cell_to_latlng(cell), (40.7191, -74.0017)) < 1_500


@pytest.mark.parametrize("resolution", [-1, 16])
def test_minimise_rejects_impossible_resolutions(resolution: int) -> None:
    with pytest.raises(ValueError, match="resolution"):
        minimise(decode(observer_payload()), resolution=resolution)


@pytest.mark.parametrize(
    ("make", "content_type"),
    [(observer_payload, ObserverReportContent), (officer_payload, OfficerNoteContent)],
)
def test_minimise_copies_everything_but_the_coordinates(make: Any, content_type: type) -> None:
    payload = make()

    content = minimise(decode(payload))

    assert type(content) is content_type
    stored = json.loads(msgspec.json.encode(content))
    expected = copy.deepcopy(payload)
    del expected["location"]["lat"], expected["location"]["lon"]
    expected["location"]["h3_cell"] = stored["location"]["h3_cell"]
    assert stored == expected


def test_minimise_keeps_the_report_kind_tag() -> None:
    stored = json.loads(msgspec.json.encode(minimise(decode(minimal_payload()))))

    assert stored["kind"] == "observer_report"


def test_content_has_the_same_fields_as_input_except_location_type() -> None:
    for source, target in [
        (ObserverReportIn, ObserverReportContent),
        (OfficerNoteIn, OfficerNoteContent),
    ]:
        assert set(source.__struct_fields__) == set(target.__struct_fields__)
        assert source.__struct_config__.tag == target.__struct_config__.tag


def test_minimised_content_round_trips_through_json() -> None:
    content = minimise(decode(officer_payload()))

    decoded = msgspec.json.decode(msgspec.json.encode(content), type=ReportContent)

    assert decoded == content


def test_stored_content_with_minimised_location_round_trips() -> None:
    location = LocationOut(h3_cell="892a1072c3bffff")

    assert msgspec.json.decode(msgspec.json.encode(location), type=LocationOut) == location


# --- stored views ---------------------------------------------------------------------------


def test_both_views_add_the_same_record_fields() -> None:
    observer_extra = set(ObserverReportView.__struct_fields__) - set(
        ObserverReportContent.__struct_fields__
    )
    officer_extra = set(OfficerNoteView.__struct_fields__) - set(
        OfficerNoteContent.__struct_fields__
    )

    assert observer_extra == officer_extra == {"id", "status", "received_at", "device_id"}


@pytest.mark.parametrize("make", [observer_payload, officer_payload])
def test_view_is_content_plus_record_fields(make: Any) -> None:
    content = msgspec.to_builtins(minimise(decode(make())))
    report_id = uuid.uuid4()
    row = {
        **content,
        "id": str(report_id),
        "status": "pending",
        "received_at": "2025-11-12T20:00:00Z",
        "device_id": None,
    }

    view = msgspec.convert(row, ReportView)

    assert view.id == report_id
    assert view.status is ReportStatus.PENDING
    assert view.client_id == uuid.UUID(make()["client_id"])
    shown = json.loads(msgspec.json.encode(view))
    assert shown["kind"] == make()["kind"]
    assert "lat" not in shown["location"]
    assert set(shown) >= {"id", "client_id", "kind", "status", "received_at", "location"}
    assert shown["device_id"] is None


@pytest.mark.parametrize("status", ["pending", "verified", "unverified", "rejected", "withdrawn"])
def test_view_accepts_every_review_status(status: str) -> None:
    row = {
        **msgspec.to_builtins(minimise(decode(minimal_payload()))),
        "id": str(uuid.uuid4()),
        "status": status,
        "received_at": "2025-11-12T20:00:00Z",
        "device_id": str(uuid.uuid4()),
    }

    assert msgspec.convert(row, ReportView).status == status


def test_view_rejects_an_unknown_status() -> None:
    row = {
        **msgspec.to_builtins(minimise(decode(minimal_payload()))),
        "id": str(uuid.uuid4()),
        "status": "approved",
        "received_at": "2025-11-12T20:00:00Z",
        "device_id": None,
    }

    with pytest.raises(msgspec.ValidationError, match=r"\$\.status"):
        msgspec.convert(row, ReportView)
