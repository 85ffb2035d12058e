"""Service settings: one frozen Struct, read from the environment once and passed in."""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec
from msgspec import Meta

from schemas.auth import ACCOUNT_ROLES, Role
from schemas.evidence import parse_recipients
from schemas.rate_limits import RATE_SETTINGS, REDIS_SCHEMES, parse_rate
from schemas.trusted_proxies import Network, parse_trusted_proxies

# Environment variable → Settings field. Only these are read, so a stray variable can't leak in.
ENVIRONMENT_NAMES: dict[str, str] = {
    "DATABASE_URL": "database_url",
    "PLAINSIGHT_SERVICE_DATABASE_URL": "service_database_url",
    "PLAINSIGHT_DATA_DIR": "data_dir",
    "PLAINSIGHT_RATE_LIMITS": "rate_limits",
    "PLAINSIGHT_RATE_LIMIT_DEVICES": "rate_limit_devices",
    "PLAINSIGHT_RATE_LIMIT_SESSIONS": "rate_limit_sessions",
    "PLAINSIGHT_RATE_LIMIT_PUBLIC_READS": "rate_limit_public_reads",
    "PLAINSIGHT_RATE_LIMIT_WRITES": "rate_limit_writes",
    "PLAINSIGHT_RATE_LIMIT_PHOTOS": "rate_limit_photos",
    "PLAINSIGHT_RATE_LIMIT_READS": "rate_limit_reads",
    "PLAINSIGHT_RATE_LIMIT_FAILED_AUTH": "rate_limit_failed_auth",
    "PLAINSIGHT_RATE_LIMIT_PREFIX": "rate_limit_prefix",
    "PLAINSIGHT_RATE_LIMIT_CREDENTIAL_CHECKS": "rate_limit_credential_checks",
    "PLAINSIGHT_REQUIRE_TOTP": "require_totp",
    "PLAINSIGHT_PASSWORD_RESET_HOURS": "password_reset_hours",
    "REDIS_URL": "redis_url",
    "PLAINSIGHT_TIMEZONE": "timezone",
    "PLAINSIGHT_RECEIPT_KEY": "receipt_key",
    "PLAINSIGHT_RECEIPT_SIGNING_KEY": "receipt_signing_key",
    "PLAINSIGHT_DB_POOL_MIN": "db_pool_min",
    "PLAINSIGHT_DB_POOL_MAX": "db_pool_max",
    "PLAINSIGHT_DB_ACQUIRE_TIMEOUT_SECONDS": "db_acquire_timeout_seconds",
    "PLAINSIGHT_SESSION_HOURS": "session_hours",
    "PLAINSIGHT_SECURE_COOKIES": "secure_cookies",
    "PLAINSIGHT_DEVICE_TOKEN_DAYS": "device_token_days",
    "PLAINSIGHT_MAX_BODY_BYTES": "max_body_bytes",
    "PLAINSIGHT_LOG_LEVEL": "log_level",
    "PLAINSIGHT_AUTH_CACHE_SECONDS": "auth_cache_seconds",
    "PLAINSIGHT_PHOTOS_PER_REPORT": "photos_per_report",
    "PLAINSIGHT_MAX_PHOTO_BYTES": "max_photo_bytes",
    "PLAINSIGHT_MAX_PHOTO_PIXELS": "max_photo_pixels",
    "PLAINSIGHT_MAX_UPLOAD_BYTES": "max_upload_bytes",
    "PLAINSIGHT_UPLOADS_IN_FLIGHT": "uploads_in_flight",
    "PLAINSIGHT_UPLOAD_EXPIRY_HOURS": "upload_expiry_hours",
    "PLAINSIGHT_MAX_VIDEO_SECONDS": "max_video_seconds",
    "PLAINSIGHT_MAX_VIDEO_PIXELS": "max_video_pixels",
    "PLAINSIGHT_MAX_VIDEO_BYTES": "max_video_bytes",
    "PLAINSIGHT_PHOTO_WORKERS": "photo_workers",
    "PLAINSIGHT_PHOTO_QUEUE": "photo_queue",
    "PLAINSIGHT_C2PA_TRUST_ANCHORS": "c2pa_trust_anchors",
    "PLAINSIGHT_BLOB_STORE": "blob_store",
    "PLAINSIGHT_S3_BUCKET": "s3_bucket",
    "PLAINSIGHT_S3_ENDPOINT": "s3_endpoint",
    "PLAINSIGHT_S3_REGION": "s3_region",
    "PLAINSIGHT_S3_PREFIX": "s3_prefix",
    "PLAINSIGHT_INCIDENT_DISTANCE": "incident_distance",
    "PLAINSIGHT_INCIDENT_WINDOW_MINUTES": "incident_window_minutes",
    "PLAINSIGHT_SUPPRESSION_THRESHOLD": "suppression_threshold",
    "PLAINSIGHT_PUBLICATION_DELAY_DAYS": "publication_delay_days",
    "PLAINSIGHT_RELEASE_EPSILON": "release_epsilon",
    "PLAINSIGHT_RELEASE_DELTA": "release_delta",
    "PLAINSIGHT_RELEASE_STATUS": "release_status",
    "PLAINSIGHT_RELEASE_CHECK_MINUTES": "release_check_minutes",
    "PLAINSIGHT_RETENTION_DAYS": "retention_days",
    "PLAINSIGHT_RETENTION_CHECK_SECONDS": "retention_check_seconds",
    "PLAINSIGHT_METRICS_TOKEN": "metrics_token",
    "PLAINSIGHT_EVIDENCE_RECIPIENTS": "evidence_recipients",
    "PLAINSIGHT_S3_SEALED_PREFIX": "s3_sealed_prefix",
    "PLAINSIGHT_TRUSTED_PROXIES": "trusted_proxies",
}


class SettingsError(ValueError):
    """A setting has a value the service cannot run with."""


class Settings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    database_url: str | None = None
    """PostgreSQL DSN; None starts the embedded PostgreSQL in ``data_dir/postgres``. Its user
    owns the schema: migrations and operator commands run as it, the service does not."""
    service_database_url: str | None = None
    """The DSN the HTTP service connects with: a role that may not rewrite the audit log
    (storage/db/roles.py). None: a role is made from the owner's DSN, its password kept in
    ``data_dir/keys``."""
    data_dir: str = "var"
    rate_limits: Literal["on", "off"] = "on"
    # COUNT/PERIOD or off (schemas.rate_limits); per client address for the unauthenticated
    # routes, per device or account for the others.
    rate_limit_devices: str = "60/hour"
    rate_limit_sessions: str = "10/minute"
    rate_limit_public_reads: str = "1200/minute"
    rate_limit_writes: str = "120/minute"
    rate_limit_photos: str = "60/hour"
    rate_limit_reads: str = "600/minute"
    rate_limit_failed_auth: str = "30/minute"
    """Per client address: requests whose bearer token is unknown, expired or revoked. Past
    it the address gets 429 before any token it sends is looked up in the database."""
    rate_limit_prefix: str = "plainsight:rl:"
    rate_limit_credential_checks: str = "10/hour"
    """Per account: TOTP codes tried (at login, enrolment, removal) and current passwords
    checked before a change. A code has 10^6 values, so this is what keeps guessing it slow."""
    require_totp: str = ""
    """Comma-separated account roles (e.g. ``admin,moderator``) that must use a TOTP second
    factor; empty: none must. Such an account without one gets sessions that can only enrol."""
    password_reset_hours: Annotated[int, Meta(ge=1, le=24 * 7)] = 24
    """How long an admin-issued password reset code stays valid."""
    redis_url: str | None = None
    """Shares the rate limits between processes; None keeps them in each process's memory."""
    timezone: str = "UTC"
    receipt_key: str | None = None
    """base64url of a raw 32-byte Ed25519 seed; None uses (or creates) a key file in data_dir.
    The root of the derived secrets (CSRF, upload digests): it never changes, and it signs
    receipts until ``keys rotate`` makes a new signing key (``receipt_signing_key``)."""
    receipt_signing_key: str | None = None
    """After ``keys rotate`` with ``receipt_key`` set: the seed it printed, the key that signs."""
    db_pool_min: Annotated[int, Meta(ge=1, le=100)] = 2
    db_pool_max: Annotated[int, Meta(ge=1, le=200)] = 20
    db_acquire_timeout_seconds: Annotated[float, Meta(gt=0, le=60)] = 5.0
    """How long a request waits for a pooled connection (or a new one) before it answers 503
    with Retry-After instead of hanging."""
    session_hours: Annotated[int, Meta(ge=1, le=24 * 90)] = 12
    secure_cookies: bool = False
    """Mark the console's cookies Secure (sent over HTTPS only). Turn on behind a TLS proxy;
    a request that reached the service itself over HTTPS gets Secure cookies anyway."""
    device_token_days: Annotated[int, Meta(ge=1, le=3650)] = 90
    """An observer device's token expires after this many days without use (counted in whole
    UTC days: it ends at the end of the last one); any use, and rotation, renews it."""
    max_body_bytes: Annotated[int, Meta(ge=1024, le=10_000_000)] = 256 * 1024
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    auth_cache_seconds: Annotated[float, Meta(ge=0, le=300)] = 10.0
    """How long a process may reuse a token lookup; revocations still reach it at once through
    PostgreSQL notifications, this bounds the damage if they cannot. 0 turns the cache off."""
    photos_per_report: Annotated[int, Meta(ge=1, le=100)] = 10
    max_photo_bytes: Annotated[int, Meta(ge=1024, le=100 * 1024 * 1024)] = 20 * 1024 * 1024
    max_photo_pixels: Annotated[int, Meta(ge=10_000, le=80_000_000)] = 40_000_000
    max_upload_bytes: Annotated[int, Meta(ge=1024, le=64 * 1024**3)] = 2 * 1024**3
    """The largest resumable (tus) upload, announced as ``Tus-Max-Size``: a creation with a
    larger ``Upload-Length`` answers 413. A complete upload that is not a video is still held
    to PLAINSIGHT_MAX_PHOTO_BYTES, and a video to PLAINSIGHT_MAX_VIDEO_BYTES."""
    uploads_in_flight: Annotated[int, Meta(ge=1, le=100)] = 4
    """Unfinished, unexpired resumable uploads one device (or account) may have at a time;
    creating one more answers 429."""
    upload_expiry_hours: Annotated[int, Meta(ge=1, le=24 * 14)] = 24
    """A resumable upload must be completed this long after its creation (``Upload-Expires``);
    afterwards it answers 410 and ``plainsight gc`` deletes its bytes."""
    max_video_seconds: Annotated[float, Meta(ge=1, le=4 * 3600)] = 600.0
    """A longer video is refused (422 ``video_too_long``)."""
    max_video_pixels: Annotated[int, Meta(ge=10_000, le=80_000_000)] = 3840 * 2160
    """Width x height of the main video stream; a larger one is refused (422
    ``video_resolution_too_large``). The default admits 4K UHD in either orientation."""
    max_video_bytes: Annotated[int, Meta(ge=1024 * 1024, le=64 * 1024**3)] = 2 * 1024**3
    """An uploaded video file larger than this is refused (413 ``video_too_big``)."""
    photo_workers: Annotated[int, Meta(ge=0, le=64)] = 0
    """Worker processes that decode and re-encode photos; 0: half the CPUs (at least one)."""
    photo_queue: Annotated[int, Meta(ge=0, le=1000)] = 8
    """Uploads that may wait for a busy worker; beyond that an upload answers 503."""
    c2pa_trust_anchors: str | None = None
    """Path of a PEM file of C2PA trust anchors; without it no manifest reads as ``valid``."""
    blob_store: Literal["filesystem", "s3"] = "filesystem"
    s3_bucket: str | None = None
    s3_endpoint: str | None = None
    """S3-compatible endpoint URL (MinIO, Ceph, moto...); None: AWS itself."""
    s3_region: str = "us-east-1"
    s3_prefix: str = "photos/"
    incident_distance: Annotated[int, Meta(ge=0, le=10)] = 2
    """Two reports are one incident when their H3 res-9 cells are at most this grid distance
    apart (and close enough in time). Changing it does not regroup stored reports."""
    incident_window_minutes: Annotated[int, Meta(ge=1, le=24 * 60)] = 90
    suppression_threshold: Annotated[int, Meta(ge=5, le=1000)] = 11
    """Statistics count only groups of at least this many incidents (or reports); smaller cells
    are absent (storage.statistics.disclosure)."""
    publication_delay_days: Annotated[int, Meta(ge=0, le=365)] = 7
    """A month's public release (or correction) counts only reports the service received at
    least this many days before it is made, and is made no sooner than this after the month."""
    release_epsilon: Annotated[float, Meta(gt=0, le=10)] = 1.0
    """Differential privacy ε each public release (and each correction) spends."""
    release_delta: Annotated[float, Meta(gt=0, le=0.001)] = 1e-6
    """δ each public release spends: at most the chance that an area with a single incident
    is listed at all."""
    release_status: Literal["verified", "all"] = "verified"
    """Which reports the public releases count: verified ones only, or all counted ones."""
    release_check_minutes: Annotated[int, Meta(ge=1, le=24 * 60)] = 5
    """How often ``serve`` looks for releases that are due."""
    retention_days: Annotated[int, Meta(ge=1, le=3650)] = 30
    """After this many days from receipt, a report's H3 cell is coarsened to resolution 7,
    and rejected reports (rejected this long ago) lose their free text and photos
    (``plainsight retention run``; hourly inside ``serve``)."""
    retention_check_seconds: Annotated[int, Meta(ge=1, le=24 * 3600)] = 3600
    """How often ``serve`` applies retention (one replica at a time, under an advisory lock);
    the deployment test shortens it to watch replicas take turns."""

    metrics_token: Annotated[str, Meta(min_length=32, max_length=512)] | None = None
    """Bearer token a Prometheus scrape of ``/metrics`` must present; None: /metrics is not
    served (the counters show when people submit and log in)."""
    evidence_recipients: str = ""
    """age public keys (``age1...``), comma or whitespace separated, that the original bytes of
    every upload are encrypted to before any processing (storage/evidence); the organisation
    keeps the matching secret keys offline. Empty: originals are not kept at all."""
    s3_sealed_prefix: str = "sealed/"
    """Where the S3 store keeps sealed originals (beside ``s3_prefix``'s sanitised copies)."""
    trusted_proxies: str = ""
    """Comma-separated IP addresses and CIDR networks (IPv4 or IPv6) of the reverse proxies in
    front of the service. Only from those peers are ``X-Forwarded-For`` (the client address the
    per-address limits count) and ``X-Forwarded-Proto`` believed; empty: never."""

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"`$.timezone`: unknown time zone {self.timezone!r}") from exc
        if self.blob_store == "s3" and not self.s3_bucket:
            raise ValueError("`$.s3_bucket` is required when `$.blob_store` is s3")
        if self.db_pool_min > self.db_pool_max:
            raise ValueError("`$.db_pool_min` must not exceed `$.db_pool_max`")
        for field in RATE_SETTINGS:
            try:
                parse_rate(getattr(self, field))
            except ValueError as exc:
                raise ValueError(f"`$.{field}`: {exc}") from exc
        try:
            _ = self.totp_required_roles
        except ValueError as exc:
            raise ValueError(f"`$.require_totp`: {exc}") from exc
        try:
            parse_recipients(self.evidence_recipients)
        except ValueError as exc:
            raise ValueError(f"`$.evidence_recipients`: {exc}") from exc
        if self.blob_store == "s3" and self.evidence_sealing:
            sealed = self.s3_sealed_prefix.strip("/")
            if not sealed or sealed == self.s3_prefix.strip("/"):
                raise ValueError("`$.s3_sealed_prefix` must differ from `$.s3_prefix`")
        try:
            parse_trusted_proxies(self.trusted_proxies)
        except ValueError as exc:
            raise ValueError(f"`$.trusted_proxies`: {exc}") from exc
        if self.redis_url is not None and not self.redis_url.startswith(REDIS_SCHEMES):
            raise ValueError("`$.redis_url` must start with redis://, rediss:// or unix://")

    @property
    def totp_required_roles(self) -> frozenset[Role]:
        return parse_roles(self.require_totp)

    @property
    def evidence_keys(self) -> tuple[str, ...]:
        """The recipients' public keys; empty when sealing is off."""
        return parse_recipients(self.evidence_recipients)

    @property
    def trusted_proxy_networks(self) -> tuple[Network, ...]:
        return parse_trusted_proxies(self.trusted_proxies)

    @property
    def evidence_sealing(self) -> bool:
        return bool(self.evidence_keys)

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir).resolve()

    @property
    def photo_worker_count(self) -> int:
        return self.photo_workers or max(1, (os.cpu_count() or 2) // 2)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@functools.lru_cache(maxsize=8)
def parse_roles(text: str) -> frozenset[Role]:
    """``admin, moderator`` → those account roles (cached: read on every request)."""
    roles = {part.strip().lower() for part in text.split(",") if part.strip()}
    unknown = sorted(roles - {role.value for role in ACCOUNT_ROLES})
    if unknown:
        raise ValueError(
            f"expected a comma-separated list of {', '.join(ACCOUNT_ROLES)}; got {unknown}"
        )
    return frozenset(Role(role) for role in roles)


def load_settings(environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
    """Read settings from the environment (strings are converted, e.g. "20" → 20)."""
    env = os.environ if environ is None else environ
    raw: dict[str, object] = {
        field: env[name] for name, field in ENVIRONMENT_NAMES.items() if env.get(name, "") != ""
    }
    raw.update(overrides)
    try:
        return msgspec.convert(raw, Settings, strict=False)
    except msgspec.ValidationError as exc:
        raise SettingsError(_name_environment_variable(str(exc))) from exc


def _name_environment_variable(message: str) -> str:
    # msgspec says "- at `$.db_pool_max`"; operators set PLAINSIGHT_DB_POOL_MAX, so name that.
    for name, field in ENVIRONMENT_NAMES.items():
        message = message.replace(f"`$.{field}`", name)
    return f"invalid setting: {message}"
