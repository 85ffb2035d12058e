"""The report wire schema: what clients submit, and what is stored and shown back.

Input Structs reject unknown fields and check cross-field rules in ``__post_init__``; msgspec turns
a ValueError there into a ValidationError naming the object's JSON path. Raw coordinates exist
only in the input types: ``minimise`` replaces them with an H3 cell before anything is stored.

There are deliberately no fields for names, immigration status or other free text: the only
prose is ``narrative`` and ``location.description`` (officer notes add a unit name and a case
number, both short and single-line).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Final, TypeAlias

import h3
import msgspec
from msgspec import Meta

from schemas.codes import (
    ACTIVE_LOCAL_POLICE_ROLES,
    Agency,
    AskedResponse,
    Attire,
    LocalPoliceRole,
    Masked,
    MisidentificationType,
    ReportKind,
    ReportStatus,
    Tristate,
    Vehicles,
    YesNoUnknown,
)
from schemas.constraints import (
    MAX_CODES_PER_LIST,
    UNIQUE_ITEMS,
    AccuracyMetres,
    AgentCount,
    AwareDatetime,
    CommandName,
    H3Cell,
    IncidentReference,
    Latitude,
    Longitude,
    Narrative,
    OfficerCount,
    PeopleCount,
    PlaceDescription,
    UncertaintyMinutes,
)

EARLIEST_OCCURRED_AT: Final = datetime(2000, 1, 1, tzinfo=UTC)
FUTURE_TOLERANCE: Final = timedelta(minutes=10)
"""Phone clocks drift; a little future is skew, more is a wrong date."""
DEFAULT_H3_RESOLUTION: Final = 9
COARSE_H3_RESOLUTION: Final = 7
"""Retention coarsens old reports' cells to this resolution (~5 km²): grouping never runs on
such a cell, and what is left of a report is compared after the same coarsening."""

AgencyList = Annotated[
    tuple[Agency, ...], Meta(max_length=MAX_CODES_PER_LIST, extra_json_schema=UNIQUE_ITEMS)
]
MisidentificationList = Annotated[
    tuple[MisidentificationType, ...],
    Meta(max_length=MAX_CODES_PER_LIST, extra_json_schema=UNIQUE_ITEMS),
]


def _require_unique(name: str, items: tuple[str, ...]) -> None:
    if len(items) < 2:  # nearly every list: runs for each list of each report
        return
    duplicates = sorted({item for item in items if items.count(item) > 1})
    if duplicates:
        raise ValueError(f"`{name}` lists {', '.join(duplicates)} more than once")


# --- nested objects, shared by the input and the stored representation ---------------------


class Agents(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    count: AgentCount | None = None
    masked: Masked
    attire: Attire
    agencies_claimed: AgencyList = ()
    agencies_suspected: AgencyList = ()
    vehicles: Vehicles = Vehicles.UNKNOWN

    def __post_init__(self) -> None:
        _require_unique("agencies_claimed", self.agencies_claimed)
        _require_unique("agencies_suspected", self.agencies_suspected)


class Identification(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    verbal: Tristate
    badge_shown: Tristate
    insignia_visible: Tristate
    # Whether names or badge numbers were given — never the names or numbers themselves.
    names_or_badge_numbers_given: Tristate | None = None
    asked: Tristate
    response_when_asked: AskedResponse | None = None
    identified_only_after_local_police_arrived: Tristate | None = None

    def __post_init__(self) -> None:
        if self.asked is Tristate.NO and self.response_when_asked is not None:
            raise ValueError("`response_when_asked` is set but `asked` is 'no'")


class Outcome(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What happened; every field optional, ``None`` meaning "not reported" (not "no")."""

    people_detained: PeopleCount | None = None
    force_used: Tristate | None = None
    injuries: PeopleCount | None = None
    local_police_present: Tristate | None = None
    local_police_role: LocalPoliceRole | None = None
    called_911: Tristate | None = None

    def __post_init__(self) -> None:
        if (
            self.local_police_present is Tristate.NO
            and self.local_police_role in ACTIVE_LOCAL_POLICE_ROLES
        ):
            raise ValueError(
                f"`local_police_role` is '{self.local_police_role}' "
                "but `local_police_present` is 'no'"
            )


class OfficerDetails(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    command: CommandName
    agents_identified_to_officers: Tristate | None = None
    prior_notification: YesNoUnknown | None = None
    officers_injured: OfficerCount | None = None
    incident_reference: IncidentReference | None = None


class LocationIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    lat: Latitude
    lon: Longitude
    accuracy_m: AccuracyMetres | None = None
    description: PlaceDescription | None = None

    def __post_init__(self) -> None:
        # No message starting with a field name: the error then names `$.location` itself.
        if self.lat == 0 and self.lon == 0:
            raise ValueError(
                "lat 0, lon 0 is what a phone sends when it has no GPS fix, not a place; "
                "send the position, or wait for a fix"
            )


class LocationOut(msgspec.Struct, frozen=True, kw_only=True):
    """A location after minimisation: the H3 cell replaces the coordinates."""

    h3_cell: H3Cell
    accuracy_m: AccuracyMetres | None = None
    description: PlaceDescription | None = None


# --- reports --------------------------------------------------------------------------------


class _ReportBody(msgspec.Struct, frozen=True, kw_only=True, tag_field="kind"):
    """Fields common to every report kind and representation, except ``location``."""

    client_id: uuid.UUID
    occurred_at: AwareDatetime
    occurred_at_uncertainty_min: UncertaintyMinutes | None = None
    agents: Agents
    identification: Identification
    misidentification: MisidentificationList = ()
    outcome: Outcome | None = None
    narrative: Narrative | None = None


class _ReportInBase(_ReportBody, frozen=True, kw_only=True, forbid_unknown_fields=True):
    location: LocationIn

    def __post_init__(self) -> None:
        # Judged against the clock at decode time only: stored content types do not inherit this.
        if self.occurred_at > datetime.now(UTC) + FUTURE_TOLERANCE:
            raise ValueError("`occurred_at` is in the future")
        if self.occurred_at < EARLIEST_OCCURRED_AT:
            raise ValueError("`occurred_at` is before 2000-01-01")
        _require_unique("misidentification", self.misidentification)
        if (
            self.identification.identified_only_after_local_police_arrived is Tristate.YES
            and self.outcome is not None
            and self.outcome.local_police_present is Tristate.NO
        ):
            raise ValueError(
                "`identification.identified_only_after_local_police_arrived` is 'yes' "
                "but `outcome.local_police_present` is 'no'"
            )


class ObserverReportIn(
    _ReportInBase,
    frozen=True,
    kw_only=True,
    forbid_unknown_fields=True,
    tag=ReportKind.OBSERVER_REPORT.value,
):
    """A community observer's field report."""


class OfficerNoteIn(
    _ReportInBase,
    frozen=True,
    kw_only=True,
    forbid_unknown_fields=True,
    tag=ReportKind.OFFICER_NOTE.value,
):
    """An officer's encounter note: the same questions plus the officer's own context."""

    officer: OfficerDetails


ReportIn: TypeAlias = ObserverReportIn | OfficerNoteIn


class _ReportContentBase(_ReportBody, frozen=True, kw_only=True, omit_defaults=False):
    # Unlike the input, unknown top-level fields are ignored, so content stored under an older
    # schema still loads. (The nested objects are shared with the input and stay strict.)
    location: LocationOut


class ObserverReportContent(
    _ReportContentBase, frozen=True, kw_only=True, tag=ReportKind.OBSERVER_REPORT.value
):
    """An observer report as stored: the submitted fields with the location minimised."""


class OfficerNoteContent(
    _ReportContentBase, frozen=True, kw_only=True, tag=ReportKind.OFFICER_NOTE.value
):
    """An officer note as stored: the submitted fields with the location minimised."""

    officer: OfficerDetails


ReportContent: TypeAlias = ObserverReportContent | OfficerNoteContent


SubmittingDevice = Annotated[
    uuid.UUID,
    Meta(
        description=(
            "The observer device that submitted the report (null when it came from an "
            "account): what a moderator passes to POST /v1/devices/{device_id}/revoke."
        )
    ),
]


# The four stored-record fields are repeated because msgspec Structs cannot mix in a second
# base with fields; tests check both views carry the same ones.
class ObserverReportView(ObserverReportContent, frozen=True, kw_only=True):
    """A stored observer report as shown to its owner and moderators."""

    id: uuid.UUID
    status: ReportStatus
    received_at: AwareDatetime
    device_id: SubmittingDevice | None


class OfficerNoteView(OfficerNoteContent, frozen=True, kw_only=True):
    """A stored officer note as shown to its owner and moderators."""

    id: uuid.UUID
    status: ReportStatus
    received_at: AwareDatetime
    device_id: SubmittingDevice | None


ReportView: TypeAlias = ObserverReportView | OfficerNoteView


def decode_report(raw: bytes) -> ReportIn:
    """Decode and validate a submitted report; msgspec's DecodeError/ValidationError propagate."""
    report: ReportIn = msgspec.json.decode(raw, type=ReportIn)
    return report


def minimise(report: ReportIn, resolution: int = DEFAULT_H3_RESOLUTION) -> ReportContent:
    """The storable form of ``report``: coordinates replaced by their H3 cell, all else copied."""
    if not 0 <= resolution <= 15:
        raise ValueError(f"H3 resolution must be 0..15, not {resolution}")
    location = LocationOut(
        h3_cell=h3.latlng_to_cell(report.location.lat, report.location.lon, resolution),
        accuracy_m=report.location.accuracy_m,
        description=report.location.description,
    )
    fields = msgspec.structs.asdict(report)
    fields["location"] = location
    if isinstance(report, OfficerNoteIn):
        return OfficerNoteContent(**fields)
    return ObserverReportContent(**fields)
