"""Domain errors raised by the storage layer; api/errors.py maps each to problem+json."""

from __future__ import annotations


class DomainError(Exception):
    """Base: carries a stable machine code, the HTTP status the API answers with, and a human
    detail. Subclasses inherit the status of their family (a Conflict is a 409)."""

    code = "error"
    status = 400

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(DomainError):
    code = "not_found"
    status = 404


class Conflict(DomainError):
    code = "conflict"
    status = 409


class Gone(DomainError):
    code = "gone"
    status = 410


class Unauthenticated(DomainError):
    code = "unauthenticated"
    status = 401


class Forbidden(DomainError):
    code = "forbidden"
    status = 403


class Unavailable(DomainError):
    code = "unavailable"
    status = 503


class RateLimited(DomainError):
    """Over a rate limit; the detail says when to retry, never which limit or whose."""

    code = "rate_limited"
    status = 429

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"too many requests; try again in {retry_after_s} s")
        self.retry_after_s = retry_after_s


class MigrationError(Exception):
    """The migrations on disk and the ones applied to the database disagree."""
