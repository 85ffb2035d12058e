"""An admin managing staff accounts, the same way for the API and the console: the storage
call, the audit entry (never an e-mail address, password or code in its details) and the
forgetting of cached lookups live here once."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import asyncpg

from schemas.auth import AccountCreate, AccountView, Principal
from storage.accounts import password_resets
from storage.accounts import store as accounts
from storage.audit import log as audit


async def record_account_event(
    conn: asyncpg.Connection,
    actor: Principal,
    action: str,
    account_id: uuid.UUID,
    **details: object,
) -> None:
    await audit.record(
        conn,
        actor=actor,
        action=action,
        subject_type="account",
        subject_id=str(account_id),
        details=details or None,
    )


async def create_account(
    conn: asyncpg.Connection, actor: Principal, data: AccountCreate
) -> AccountView:
    """A new account (Conflict when the e-mail address is taken), audited ``account.created``."""
    view = await accounts.create_account(
        conn, email=data.email, role=data.role, password=data.password
    )
    await record_account_event(conn, actor, "account.created", view.id, role=view.role.value)
    return view


async def disable_account(
    conn: asyncpg.Connection, state: Any, actor: Principal, account_id: uuid.UUID
) -> AccountView:
    """Disable the account and end its sessions in every process (NotFound when unknown).
    An admin may disable its own account, as the API always allowed: it then signs out."""
    view = await accounts.disable_account(conn, account_id)
    await record_account_event(conn, actor, "account.disabled", account_id, role=view.role.value)
    state.principals.forget(account_id)
    return view


async def enable_account(
    conn: asyncpg.Connection, actor: Principal, account_id: uuid.UUID
) -> AccountView:
    """Let a disabled account sign in again; its old sessions stay ended."""
    view = await accounts.enable_account(conn, account_id)
    await record_account_event(conn, actor, "account.enabled", account_id, role=view.role.value)
    return view


async def issue_reset(
    conn: asyncpg.Connection, state: Any, actor: Principal, account_id: uuid.UUID
) -> password_resets.IssuedReset:
    """A one-time reset code, valid PLAINSIGHT_PASSWORD_RESET_HOURS; it voids the account's
    unused one (NotFound when unknown, Conflict when disabled). Show it once; never log it."""
    lifetime = timedelta(hours=state.settings.password_reset_hours)
    issued = await password_resets.issue_reset(conn, account_id, lifetime=lifetime)
    await record_account_event(
        conn, actor, "account.reset_issued", account_id, role=issued.role.value
    )
    return issued
