"""Redeeming a one-time reset code, the same way for the API and the console's form: its own
transaction, so a failed attempt is audited (committed) before the refusal goes out."""

from __future__ import annotations

from typing import Any

from schemas.auth import Principal
from storage.accounts import password_resets
from storage.audit import log as audit
from storage.db.pool import Database


async def redeem(state: Any, *, email: str, code: str, new_password: str) -> Principal | None:
    """Set the new password and end every session of the account; None when the code is
    wrong, expired, spent or another account's (all alike, audited as account.reset_failed)."""
    db: Database = state.db
    async with db.transaction() as conn:
        try:
            account = await password_resets.redeem_reset(
                conn, email=email, code=code, new_password=new_password
            )
        except password_resets.ResetRefused as exc:
            await audit.record(
                conn,
                actor=None,
                action="account.reset_failed",
                subject_type=None if exc.account_id is None else "account",
                subject_id=None if exc.account_id is None else str(exc.account_id),
            )
            return None
        await audit.record(
            conn,
            actor=account,
            action="account.reset_used",
            subject_type="account",
            subject_id=str(account.id),
        )
    state.principals.forget(account.id)  # this process's cached lookups are stale
    return account
