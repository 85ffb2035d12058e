"""Roles, the authenticated principal and the account/session wire types."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated

import msgspec
from msgspec import Meta

from schemas.constraints import EMAIL_PATTERN


class Role(StrEnum):
    observer = "observer"
    officer = "officer"
    researcher = "researcher"
    moderator = "moderator"
    admin = "admin"


ACCOUNT_ROLES = (Role.officer, Role.researcher, Role.moderator, Role.admin)


class Principal(msgspec.Struct, frozen=True, kw_only=True):
    """Who is calling: an observer device or an account."""

    id: uuid.UUID
    role: Role
    second_factor: bool = False
    """An account whose TOTP second factor is active (never a device)."""

    @property
    def is_device(self) -> bool:
        return self.role is Role.observer


Email = Annotated[
    str,
    Meta(
        min_length=3,
        max_length=254,
        # No control characters: PostgreSQL text refuses NUL (a 500 before this was checked).
        pattern=EMAIL_PATTERN,
        description="E-mail address of a staff account",
        examples=["moderator@example.org"],
    ),
]
Password = Annotated[str, Meta(min_length=1, max_length=1024)]
NewPassword = Annotated[
    str, Meta(min_length=12, max_length=1024, description="At least 12 characters")
]
TotpCode = Annotated[
    str,
    Meta(
        pattern=r"^[0-9]{6}$",
        description="The 6-digit code the authenticator app shows now",
        examples=["492039"],
    ),
]
ResetCode = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=100,
        description="The one-time reset code an admin issued (case, spaces and dashes ignored)",
        examples=["KZ3Q-7LMA-2XHD-PW4N-Q6RB-YT5C"],
    ),
]
AccountRole = Annotated[
    Role, Meta(description="officer, researcher, moderator or admin (observers use devices)")
]


DeviceTokenExpiry = Annotated[
    datetime,
    Meta(
        description=(
            "When the token expires if it is not used before: every authenticated request "
            "moves this to the end of the PLAINSIGHT_DEVICE_TOKEN_DAYS-th UTC day after it "
            "(default 90), as does rotating the token. An expired token answers 401 like an "
            "unknown one; register a new device then."
        )
    ),
]


class DeviceCreated(msgspec.Struct, frozen=True, kw_only=True):
    device_id: uuid.UUID
    token: str
    expires_at: DeviceTokenExpiry


class DeviceToken(msgspec.Struct, frozen=True, kw_only=True):
    """A new token for the same device (``POST /v1/devices/current/token``): its reports stay
    its own, and the token it replaces stopped working."""

    device_id: uuid.UUID
    token: str
    expires_at: DeviceTokenExpiry


class SessionRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    email: Email
    password: Password
    totp: TotpCode | None = None
    """Required when the account has a second factor."""


class SessionCreated(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    token: str
    role: Role
    expires_at: datetime
    totp_enrolment_required: bool = False
    """Present (true) when the settings require a second factor for this role and the account
    has none yet: the session may only enrol one (and log out) until it is confirmed."""


class AccountCreate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    email: Email
    role: AccountRole
    password: NewPassword

    def __post_init__(self) -> None:
        if self.role is Role.observer:
            raise ValueError("`role` may not be observer: observers register a device instead")


class AccountView(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    email: str
    role: Role
    created_at: datetime
    disabled: bool
    totp: bool = False
    """Whether a TOTP second factor is active."""


class AccountPage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[AccountView]
    next_cursor: str | None


class TotpEnrolment(msgspec.Struct, frozen=True, kw_only=True):
    """Shown once: put ``secret`` (or the QR code of ``otpauth_uri``) in an authenticator app,
    then confirm with a code it shows."""

    secret: str
    otpauth_uri: str


class TotpConfirmation(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    code: TotpCode


class PasswordChange(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    current_password: Password
    new_password: NewPassword


class ResetIssued(msgspec.Struct, frozen=True, kw_only=True):
    """Shown once; hand it to the account's holder over a trusted channel."""

    code: str
    expires_at: datetime


class PasswordReset(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    email: Email
    code: ResetCode
    new_password: NewPassword
