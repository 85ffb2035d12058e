"""The codebook's closed vocabularies.

Values are the wire strings and never change meaning once published: statistics and exports
group by them. Add a value rather than repurpose one. Labels live in ``schemas.labels``.
"""

from __future__ import annotations

from enum import StrEnum


class ReportKind(StrEnum):
    """The ``kind`` tag of a report; must match the Struct tags in ``schemas.report``."""

    OBSERVER_REPORT = "observer_report"
    OFFICER_NOTE = "officer_note"


class Tristate(StrEnum):
    """An observed yes/no where the observer may honestly not be sure."""

    YES = "yes"
    NO = "no"
    UNCLEAR = "unclear"


class YesNoUnknown(StrEnum):
    """A yes/no about something the reporter may simply not know (not about what they saw)."""

    YES = "yes"
    NO = "no"
    UNKNOWN = "unknown"


class Masked(StrEnum):
    ALL = "all"
    SOME = "some"
    NONE = "none"
    UNKNOWN = "unknown"


class Attire(StrEnum):
    PLAINCLOTHES = "plainclothes"
    UNIFORM = "uniform"
    MIXED = "mixed"
    TACTICAL = "tactical"
    UNKNOWN = "unknown"


class Agency(StrEnum):
    """Agencies agents claimed to be from, or were suspected to be from."""

    # Beyond the contract's list: FPS guards federal buildings and immigration courts; state
    # police and the National Guard have been deployed alongside federal agents and are easily
    # confused with them.
    ICE = "ICE"
    CBP = "CBP"
    HSI = "HSI"
    FBI = "FBI"
    DEA = "DEA"
    USMS = "USMS"
    ATF = "ATF"
    FPS = "FPS"
    STATE_POLICE = "state_police"
    NATIONAL_GUARD = "national_guard"
    LOCAL_POLICE = "local_police"
    OTHER = "other"
    UNKNOWN = "unknown"


class Vehicles(StrEnum):
    MARKED = "marked"
    UNMARKED = "unmarked"
    MIXED = "mixed"
    NONE = "none"
    UNKNOWN = "unknown"


class AskedResponse(StrEnum):
    """What happened when someone asked the agents who they were."""

    # No "not_asked" value: `identification.asked = no` says that, and a second way to say it
    # would let the two disagree.
    IDENTIFIED = "identified"
    GAVE_VAGUE_ANSWER = "gave_vague_answer"
    REFUSED = "refused"
    IGNORED = "ignored"
    UNCLEAR = "unclear"


class MisidentificationType(StrEnum):
    AGENTS_TAKEN_FOR_CRIMINALS_OR_KIDNAPPERS = "agents_taken_for_criminals_or_kidnappers"
    LOCAL_POLICE_TAKEN_FOR_FEDERAL_AGENTS = "local_police_taken_for_federal_agents"
    FEDERAL_AGENTS_TAKEN_FOR_LOCAL_POLICE = "federal_agents_taken_for_local_police"
    SUSPECTED_IMPERSONATION = "suspected_impersonation"
    OTHER = "other"


class LocalPoliceRole(StrEnum):
    """What local police did at the scene; ``none`` means present but took no part."""

    NONE = "none"
    OBSERVED = "observed"
    ASSISTED = "assisted"
    INTERVENED = "intervened"
    UNKNOWN = "unknown"


class ReportStatus(StrEnum):
    """Moderation state of a stored report."""

    PENDING = "pending"
    VERIFIED = "verified"
    UNVERIFIED = "unverified"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


class ReviewReason(StrEnum):
    """Why a moderator reviewed a report so; required for a rejection."""

    DUPLICATE = "duplicate"
    IMPLAUSIBLE = "implausible"
    SPAM_OR_TEST = "spam_or_test"
    CONTAINS_PERSONAL_DATA = "contains_personal_data"
    OFF_TOPIC = "off_topic"
    REVOKED_DEVICE = "revoked_device"


ACTIVE_LOCAL_POLICE_ROLES = frozenset(
    {LocalPoliceRole.OBSERVED, LocalPoliceRole.ASSISTED, LocalPoliceRole.INTERVENED}
)
"""Roles that imply local police were at the scene."""
