"""Domain errors raised by the storage layer; api/errors.py maps each to problem+json."""

from __future__ import annotations


class DomainError(Exception):
    """Base: carries a stable machine code and a human detail."""

    code = "error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(DomainError):
    code = "not_found"


class Conflict(DomainError):
    code = "conflict"


class Gone(DomainError):
    code = "gone"


class Unauthenticated(DomainError):
    code = "unauthenticated"


class Forbidden(DomainError):
    code = "forbidden"


class Unavailable(DomainError):
    code = "unavailable"


class MigrationError(Exception):
    """The migrations on disk and the ones applied to the database disagree."""
