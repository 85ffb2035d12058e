"""The per-account limit on checks of a secret the caller must know (a TOTP code, the current
password): the address limits cannot stop guesses spread over many addresses."""

from __future__ import annotations

import uuid
from typing import Any

from api.middleware.limiter import RateLimiter

RULE = "credential_checks"


async def count_credential_check(state: Any, account_id: uuid.UUID) -> None:
    """Count one check for the account; RateLimited (429) beyond the configured rate."""
    limiter: RateLimiter | None = state.rate_limiter
    if limiter is None:
        return
    rate = limiter.rules.get(RULE)
    if rate is not None:
        await limiter.check(RULE, rate, account_id.bytes)
