"""Starting and ending a staff session, the same way for the API and the console: the checks,
the second-factor rate limit and the audit entries live here once."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import asyncpg

from api.middleware.credential_checks import count_credential_check
from schemas.auth import Principal
from storage.accounts import store as accounts
from storage.audit import log as audit
from storage.db.pool import Database


async def sign_in(state: Any, *, email: str, password: str, totp: str | None) -> accounts.Session:
    """A new session, or LoginFailed (SecondFactorRequired when the password was right but a
    code is missing or wrong). A failure is audited, anonymously, and committed first."""
    db: Database = state.db
    async with db.transaction() as conn:
        try:
            session = await accounts.start_session(
                conn,
                email=email,
                password=password,
                lifetime=timedelta(hours=state.settings.session_hours),
                totp_code=totp,
                second_factor_gate=lambda account_id: count_credential_check(state, account_id),
            )
        except accounts.LoginFailed as exc:
            failure = exc
            # Anonymous: no e-mail address, no IP; only which active account was tried, if any.
            await audit.record(
                conn,
                actor=None,
                action="session.failed",
                subject_type=None if exc.account_id is None else "account",
                subject_id=None if exc.account_id is None else str(exc.account_id),
                details=(
                    {"second_factor": True}
                    if isinstance(exc, accounts.SecondFactorRequired)
                    else None
                ),
            )
        else:
            await audit.record(
                conn,
                actor=session.account,
                action="session.created",
                subject_type="account",
                subject_id=str(session.account.id),
            )
            return session
    raise failure


async def sign_out(conn: asyncpg.Connection, state: Any, user: Principal, token: str) -> None:
    """End the session ``token`` in every process (its cached lookups are forgotten)."""
    account_id = await accounts.close_session(conn, token)
    if account_id is not None:
        await audit.record(
            conn,
            actor=user,
            action="session.closed",
            subject_type="account",
            subject_id=str(account_id),
        )
        state.principals.forget(account_id)
