"""Moderation wire types: reviews, the review queue, device revocation, incidents."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated

import msgspec
from msgspec import Meta

from schemas.codes import ReportStatus, ReviewReason, Tristate
from schemas.photos import Provenance, SimilarPhoto
from schemas.report import Identification, ReportView, SubmittingDevice

IncidentId = Annotated[int, Meta(ge=1, le=2**63 - 1, description="An incident's id")]
Classification = Annotated[
    str, Meta(description="not_identified, identified or unclear (the contract's definitions)")
]


class ReviewOutcome(StrEnum):
    """What a review sets a report's status to (a subset of ``ReportStatus``)."""

    VERIFIED = "verified"
    UNVERIFIED = "unverified"
    REJECTED = "rejected"


class Source(StrEnum):
    """Who a report comes from, by its kind: an observer's report or an officer's note."""

    OBSERVER = "observer"
    OFFICER = "officer"


def source_of(kind: str) -> Source:
    return Source.OFFICER if kind == "officer_note" else Source.OBSERVER


class ReviewRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``POST /v1/reports/{id}/review``."""

    status: ReviewOutcome
    reason: ReviewReason | None = None
    """A codebook ``review_reasons`` value; required when ``status`` is rejected."""

    def __post_init__(self) -> None:
        if self.status is ReviewOutcome.REJECTED and self.reason is None:
            raise ValueError("`reason` is required when `status` is 'rejected'")


class Review(msgspec.Struct, frozen=True, kw_only=True):
    """The report's latest review, as stored."""

    report_id: uuid.UUID
    status: ReportStatus
    reason: ReviewReason | None
    reviewed_at: datetime
    reviewed_by: uuid.UUID
    incident_id: IncidentId | None
    """The report's incident after the review (null once rejected: it counts nowhere)."""


class QueuePhoto(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    provenance: Provenance
    near_duplicates: list[SimilarPhoto]
    """Photos of other reports within the near-duplicate distance on both hashes."""


class IncidentMember(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    source: Source
    status: ReportStatus


class QueueItem(msgspec.Struct, frozen=True, kw_only=True):
    report: ReportView
    source: Source
    incident_id: IncidentId | None
    photos: list[QueuePhoto]
    same_incident: list[IncidentMember]
    """The other reports of its incident, possible duplicates or corroboration."""


class QueuePage(msgspec.Struct, frozen=True, kw_only=True):
    """``GET /v1/moderation/queue``: pending reports, oldest first."""

    items: list[QueueItem]
    next_cursor: str | None


class RevokeRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``POST /v1/devices/{id}/revoke``."""

    reject_pending: bool
    """Also reject the device's pending reports (reason ``revoked_device``)."""


class DeviceRevoked(msgspec.Struct, frozen=True, kw_only=True):
    device_id: uuid.UUID
    revoked_at: datetime
    rejected_report_ids: list[uuid.UUID]


class IncidentReport(msgspec.Struct, frozen=True, kw_only=True):
    """One report of an incident, with its identification answers for comparison."""

    id: uuid.UUID
    source: Source
    status: ReportStatus
    occurred_at: datetime
    h3_cell: str
    identification: Identification
    agents_identified_to_officers: Tristate | None
    """Officers' notes: whether the agents identified themselves to the officers."""
    classification: Classification
    review_reason: ReviewReason | None
    device_id: SubmittingDevice | None


class SourceSummary(msgspec.Struct, frozen=True, kw_only=True):
    """How one source's reports in the incident classify."""

    reports: int
    not_identified: int
    identified: int
    unclear: int


class BySource(msgspec.Struct, frozen=True, kw_only=True):
    observer: SourceSummary
    officer: SourceSummary


class IncidentView(msgspec.Struct, frozen=True, kw_only=True):
    """``GET /v1/incidents/{id}``: observers' reports beside officers' notes."""

    id: IncidentId
    reports: int
    earliest_at: datetime
    h3_cell: str
    agency: str
    masked: str
    classification: Classification
    verified_classification: Classification | None
    """The classification of its verified reports only; null when none is verified."""
    by_source: BySource
    observers: list[IncidentReport]
    officers: list[IncidentReport]


class MergeRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``POST /v1/incidents/{id}/merge``: the other incident's reports join this one."""

    incident_id: IncidentId


class SplitRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``POST /v1/incidents/{id}/split``: these reports become a new incident."""

    report_ids: Annotated[list[uuid.UUID], Meta(min_length=1, max_length=1000)]


class SplitResult(msgspec.Struct, frozen=True, kw_only=True):
    incident: IncidentView
    new_incident: IncidentView
