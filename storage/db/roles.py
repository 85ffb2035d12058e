"""The service's own database role: everything the HTTP service and its background tasks need,
and nothing that could rewrite the audit log.

Migrations and operator commands run as the owner (the user of ``DATABASE_URL``). The service
connects as a role that may read and write the tables it serves from but may not change
``audit_log`` or ``audit_head`` (it appends through ``audit_claim``/``audit_append``, which run
with the owner's rights), owns nothing, is no superuser, and so can neither switch triggers
off (``session_replication_role``, ``ALTER TABLE ... DISABLE TRIGGER``) nor alter a table.

Either the operator names that role (``PLAINSIGHT_SERVICE_DATABASE_URL``; the role must
exist), or it is made here: named after the database (role names are cluster-wide), with a
random password kept in ``keys/`` of the data directory (mode 0600) and sent to the server only
as a SCRAM verifier, so the password itself never reaches a server log. Either way its grants
are renewed at every start, under the migration lock, so tables added by later migrations are
covered.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
from pathlib import Path
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

import asyncpg

from storage.db.migrations import ADVISORY_LOCK_KEY
from storage.db.pool import connect
from storage.errors import MigrationError

ROLE_SUFFIX = "_service"
MAX_IDENTIFIER = 63
SIMPLE_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
PASSWORD_FILE = "database-{role}.password"  # noqa: S105 - a file name
SCRAM_ITERATIONS = 4096
# The tables the service may read but not change (the audit trail, the migration records).
READ_ONLY_TABLES = ("audit_log", "audit_head", "schema_migrations", "schema_repeatables")
APPEND_FUNCTIONS = (
    "audit_claim(integer)",
    "audit_append(timestamptz, bigint[], uuid[], text[], text[], text[], text[], text[], "
    "text[], text[])",
)
ROLE_ATTRIBUTES = "login nosuperuser nocreatedb nocreaterole noinherit noreplication nobypassrls"

SELECT_ROLE = """
select rolname, shobj_description(oid, 'pg_authid') as comment from pg_roles where rolname = $1
"""
# What the connected role could use to rewrite the audit trail (owners' members included).
SELECT_POWERS = """
select r.rolsuper as superuser,
       r.rolbypassrls or r.rolcreaterole or r.rolreplication as role_powers,
       has_table_privilege('audit_log', 'UPDATE') or has_table_privilege('audit_log', 'DELETE')
           or has_table_privilege('audit_log', 'TRUNCATE')
           or has_table_privilege('audit_head', 'UPDATE')
           or has_table_privilege('audit_head', 'DELETE') as may_change,
       exists (select from pg_class c
               where c.oid in ('audit_log'::regclass, 'audit_head'::regclass)
                 and pg_has_role(current_user, c.relowner, 'MEMBER')) as owner
from pg_roles r where r.rolname = current_user
"""


class ServiceRoleError(MigrationError):
    """The service's database role cannot be set up, or could rewrite the audit log."""


def service_role_name(database: str) -> str:
    """The role made for ``database``: readable when the name allows, else a hash of it."""
    name = f"{database}{ROLE_SUFFIX}"
    if SIMPLE_NAME.fullmatch(database) and len(name) <= MAX_IDENTIFIER:
        return name
    digest = hashlib.sha256(database.encode()).hexdigest()[:16]
    return f"plainsight_{digest}{ROLE_SUFFIX}"


def role_marker(database: str) -> str:
    """The comment that marks a role as made here for ``database`` (never adopt another)."""
    return f"plainsight service role of database {database}"


def with_credentials(dsn: str, user: str, password: str) -> str:
    """``dsn`` (a postgresql:// URL) with another user and password, nothing else changed."""
    parts = urlsplit(dsn)
    if parts.scheme not in ("postgresql", "postgres"):
        raise ServiceRoleError(
            "DATABASE_URL is not a postgresql:// URL, so the service's role cannot be derived "
            "from it: set PLAINSIGHT_SERVICE_DATABASE_URL"
        )
    host = parts.netloc.rpartition("@")[2]
    netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{host}"
    query = parts.query
    pairs = parse_qsl(query, keep_blank_values=True)
    kept = [(key, value) for key, value in pairs if key not in ("user", "password", "passfile")]
    if len(kept) != len(pairs):
        query = urlencode(kept)
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def user_of(dsn: str) -> str | None:
    parts = urlsplit(dsn)
    if parts.username:
        return unquote(parts.username)
    for key, value in parse_qsl(parts.query):
        if key == "user" and value:
            return value
    return None


def scram_verifier(password: str, salt: bytes | None = None) -> str:
    """PostgreSQL's stored form of a SCRAM-SHA-256 password (RFC 5802/7677): the server can
    check the password with it but never sees the password itself."""
    salt = os.urandom(16) if salt is None else salt
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, SCRAM_ITERATIONS)
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    return f"SCRAM-SHA-256${SCRAM_ITERATIONS}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def service_password(data_dir: Path, role: str) -> str:
    """The role's password from ``data_dir/keys``, created (mode 0600) on first use."""
    key_dir = data_dir / "keys"
    key_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = key_dir / PASSWORD_FILE.format(role=role)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        password = path.read_text().strip()
        if password:
            return password
        raise ServiceRoleError(f"{path} is empty: delete it to have a new password made") from None
    password = secrets.token_urlsafe(32)
    with os.fdopen(fd, "w") as handle:
        handle.write(password + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    return password


async def prepare_service_database(
    owner_dsn: str, data_dir: Path, service_dsn: str | None = None
) -> str:
    """Set up (or renew the grants of) the service's role as the owner; return the DSN the
    service connects with. Refuses a role that could rewrite the audit log."""
    conn = await connect(owner_dsn)
    try:
        await conn.execute("select pg_advisory_lock($1)", ADVISORY_LOCK_KEY)
        try:
            if service_dsn is None:
                database: str = await conn.fetchval("select current_database()")
                role = service_role_name(database)
                password = service_password(data_dir, role)
                await _ensure_role(conn, role, database, password)
                service_dsn = with_credentials(owner_dsn, role, password)
            else:
                role = _named_role(service_dsn)
                if await conn.fetchrow(SELECT_ROLE, role) is None:
                    raise ServiceRoleError(
                        f"PLAINSIGHT_SERVICE_DATABASE_URL names the role {role}, "
                        "which does not exist: create it (LOGIN, no other attribute) first"
                    )
            await grant_service_privileges(conn, role)
        finally:
            await conn.execute("select pg_advisory_unlock($1)", ADVISORY_LOCK_KEY)
    finally:
        await conn.close()
    await check_cannot_rewrite_audit(service_dsn)
    return service_dsn


def _named_role(service_dsn: str) -> str:
    role = user_of(service_dsn)
    if role is None:
        raise ServiceRoleError("PLAINSIGHT_SERVICE_DATABASE_URL must name its user")
    return role


async def _ensure_role(conn: asyncpg.Connection, role: str, database: str, password: str) -> None:
    existing = await conn.fetchrow(SELECT_ROLE, role)
    if existing is not None and existing["comment"] != role_marker(database):
        raise ServiceRoleError(
            f"a role named {role} exists but was not made by Plainsight for database "
            f"{database}: drop or rename it, or set PLAINSIGHT_SERVICE_DATABASE_URL"
        )
    verb = "create" if existing is None else "alter"
    try:
        await _execute_formatted(
            conn,
            f"{verb} role %I with {ROLE_ATTRIBUTES} password %L",
            role,
            scram_verifier(password),
        )
        if existing is None:
            await _execute_formatted(conn, "comment on role %I is %L", role, role_marker(database))
    except asyncpg.InsufficientPrivilegeError as exc:
        raise ServiceRoleError(
            f"the DATABASE_URL user may not {verb} the service's role {role} (it needs "
            "CREATEROLE): grant it, or create a role yourself and set "
            "PLAINSIGHT_SERVICE_DATABASE_URL"
        ) from exc


async def grant_service_privileges(conn: asyncpg.Connection, role: str) -> None:
    """What the service needs: rows of its tables, sequences, the two append functions; on the
    audit trail and the migration record only SELECT. Idempotent."""
    database: str = await conn.fetchval("select current_database()")
    schema: str = await conn.fetchval("select current_schema()")
    statements: list[tuple[str, ...]] = [
        ("grant connect on database %I to %I", database, role),
        ("grant usage on schema %I to %I", schema, role),
        (
            "grant select, insert, update, delete, truncate on all tables in schema %I to %I",
            schema,
            role,
        ),
        ("grant usage, select on all sequences in schema %I to %I", schema, role),
    ]
    for table in READ_ONLY_TABLES:
        statements.append(("revoke all on table %I.%I from %I", schema, table, role))
        statements.append(("grant select on table %I.%I to %I", schema, table, role))
    # One transaction: the grant on all tables briefly covers the audit trail until the
    # revokes below, and a replica starting at the same time checks its role (outside the
    # migration lock) against what is committed; it must never see that moment.
    async with conn.transaction():
        for template, *names in statements:
            await _execute_formatted(conn, template, *names)
        for function in APPEND_FUNCTIONS:
            # The signature is a constant; only the role is formatted in.
            await _execute_formatted(conn, f"grant execute on function {function} to %I", role)


async def check_cannot_rewrite_audit(service_dsn: str) -> None:
    """Connect as the service and refuse to go on if that role could rewrite the audit log."""
    conn = await connect(service_dsn)
    try:
        powers = await conn.fetchrow(SELECT_POWERS)
        user: str = await conn.fetchval("select current_user")
    finally:
        await conn.close()
    if powers is None:
        raise ServiceRoleError(f"the service's role {user} is not in pg_roles")
    found = [name for name in ("superuser", "role_powers", "may_change", "owner") if powers[name]]
    if found:
        why = {
            "superuser": "is a superuser",
            "role_powers": "has CREATEROLE, REPLICATION or BYPASSRLS",
            "may_change": "may UPDATE, DELETE or TRUNCATE the audit log or its head",
            "owner": "owns the audit log (or is a member of its owner)",
        }
        raise ServiceRoleError(
            f"the service's database role {user} could rewrite the audit log: it "
            + ", ".join(why[name] for name in found)
            + "; run the service as a role without these powers "
            "(PLAINSIGHT_SERVICE_DATABASE_URL, or leave it unset to have one made)"
        )


async def _execute_formatted(conn: asyncpg.Connection, template: str, *values: str) -> None:
    # DDL takes no parameters: PostgreSQL's format() quotes names (%I) and literals (%L).
    statement: str = await conn.fetchval(
        f"select format($1, {', '.join(f'${n + 2}::text' for n in range(len(values)))})",
        template,
        *values,
    )
    await conn.execute(statement)
