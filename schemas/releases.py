"""Public releases: the wire shape of a month's published tables and their methods."""

from __future__ import annotations

from datetime import datetime

import msgspec
from msgspec import UNSET, UnsetType


class ReleaseRow(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One cell, as a researcher row but with noisy counts (clamped at 0) and no suppression:
    the national row has no key, the others one of area, agency or masked."""

    area: str | UnsetType = UNSET
    agency: str | UnsetType = UNSET
    masked: str | UnsetType = UNSET
    total: int
    not_identified: int
    identified: int
    unclear: int
    rate_not_identified: float | None
    ci_low: float | None
    ci_high: float | None


class ReleaseTables(msgspec.Struct, frozen=True, kw_only=True):
    national: list[ReleaseRow]
    agency: list[ReleaseRow]
    area: list[ReleaseRow]
    masked: list[ReleaseRow]


class Measurement(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One noisy measurement: what it measured, how, and what it cost."""

    table: str
    mechanism: str
    epsilon: float
    delta: float
    noise_scale: float
    noise_standard_deviation: float
    threshold: int | None = None


class PrivacyBudget(msgspec.Struct, frozen=True, kw_only=True):
    """ε and δ spent: by this version, by every version of its month so far (what protects
    any one incident, which is counted in one month only), and by every release so far."""

    release_epsilon: float
    release_delta: float
    month_epsilon: float
    month_delta: float
    total_epsilon: float
    total_delta: float


class PrivacyParameters(msgspec.Struct, frozen=True, kw_only=True):
    unit: str
    library: str
    epsilon: float
    delta: float
    composition: str
    measurements: list[Measurement]
    budget: PrivacyBudget


class ReleaseMeta(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    month: str
    version: int
    published_at: datetime
    corrects_version: int | None
    received_through: datetime
    """Only reports the service received by this time are counted (the receipt time, not
    the time the reporter says the event happened)."""
    time_zone: str
    status: str
    unit: str
    area_resolution: int
    publication_delay_days: int
    privacy: PrivacyParameters
    methods: dict[str, str]
    dataset_version: str
    signing_key: str
    """The Ed25519 public key (base64url) that verifies ``signature``; published with its id
    at ``GET /v1/receipts/keys``, retired keys included."""
    signing_key_id: str | UnsetType = UNSET
    """The id of ``signing_key`` (RFC 7638 thumbprint); absent from releases made before keys
    had ids."""
    signature: str | UnsetType = UNSET
    """base64url (no padding) Ed25519 signature over the canonical JSON (keys sorted, no
    whitespace, UTF-8) of the whole release without this field."""


class Release(msgspec.Struct, frozen=True, kw_only=True):
    meta: ReleaseMeta
    tables: ReleaseTables


class ReleaseListItem(msgspec.Struct, frozen=True, kw_only=True):
    month: str
    version: int
    published_at: datetime
    url: str


class ReleaseList(msgspec.Struct, frozen=True, kw_only=True):
    items: list[ReleaseListItem]
    """Every version of every month, newest month first, latest version first."""
