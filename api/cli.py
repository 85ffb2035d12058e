"""The ``plainsight`` command: serve, migrate, gc, import, users create, users reset, audit
verify, audit checkpoint, retention run, releases make, evidence export, backup, restore, keys
rotate, keys list."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from types import FrameType

import msgspec

from api.backup_command import add_backup_parsers
from api.evidence_export import add_evidence_parser
from api.keys_cli import add_keys_parser
from api.logs import configure_logging
from schemas.auth import ACCOUNT_ROLES, AccountCreate, Role
from schemas.codes import ReportStatus
from schemas.settings import Settings, SettingsError, load_settings
from storage.accounts import password_resets, totp
from storage.accounts import store as accounts
from storage.audit import log as audit
from storage.db.embedded import EmbeddedPostgres
from storage.db.pool import connect
from storage.errors import Conflict, MigrationError, NotFound
from storage.reports.receipts import ReceiptSigner

EXIT_USAGE = 2

log = logging.getLogger("api.cli")  # not __main__ under `python -m api.cli`


SERVICE_FACTORY = "api.server:app_from_environment"


def main(argv: list[str] | None = None, *, app_factory: str = SERVICE_FACTORY) -> int:
    """``app_factory``: what ``serve`` runs (the ingest benchmark starts a variant of it)."""
    parser = build_parser(app_factory)
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"plainsight: {exc}", file=sys.stderr)
        return EXIT_USAGE
    configure_logging(settings.log_level)
    missing = None if args.creates_database else missing_database(settings)
    if missing is not None:
        print(f"plainsight: {missing}", file=sys.stderr)
        return EXIT_USAGE
    try:
        result: int = args.handler(settings, args)
    except MigrationError as exc:  # edited file, database newer than the code: say so plainly
        print(f"plainsight: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # anything else: one plain line; the traceback only at DEBUG
        log.debug("command failed", exc_info=True)
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"plainsight: the command failed: {reason}", file=sys.stderr)
        return 1
    return result


def build_parser(app_factory: str = SERVICE_FACTORY) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="plainsight",
        description="Plainsight: field reports on agents' identification, honest statistics.",
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")
    # Only serve and migrate may create the embedded database; the others refuse to start one.
    parser.set_defaults(creates_database=False)

    serve = commands.add_parser("serve", help="apply migrations and start the HTTP service")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    serve.set_defaults(handler=run_serve, creates_database=True, app_factory=app_factory)

    migrate = commands.add_parser("migrate", help="apply pending database migrations and exit")
    migrate.set_defaults(handler=run_migrate, creates_database=True)

    gc = commands.add_parser(
        "gc", help="delete stored photos that no report refers to (left by crashes)"
    )
    gc.add_argument(
        "--temp-age-minutes",
        type=int,
        default=60,
        help="also delete unfinished uploads and spooled upload and video files older than "
        "this (filesystem store and data_dir/spool; default 60)",
    )
    gc.add_argument(
        "--sealed-orphan-minutes",
        type=int,
        default=60,
        help="delete sealed originals that no photo refers to once they are this old "
        "(default 60; a younger one may belong to an upload still being processed)",
    )
    gc.set_defaults(handler=run_gc)

    importer = commands.add_parser(
        "import",
        help="import NDJSON reports (API schema) for an account, then fold them into incidents",
    )
    importer.add_argument("file", type=Path, help="one report per line, as POST /v1/reports")
    importer.add_argument(
        "--account",
        required=True,
        metavar="EMAIL",
        help="the admin or moderator account the reports are attributed to",
    )
    importer.add_argument(
        "--workers", type=int, default=0, help="validating processes (default: one per CPU)"
    )
    # Checked by run_import, not by argparse's choices: a bad value is one plain line.
    importer.add_argument(
        "--status",
        metavar="verified|unverified",
        help="store the reports as already reviewed by the account (vetted elsewhere): out of"
        " the review queue; verified ones count in the verified statistics. Default: pending,"
        " in the review queue",
    )
    importer.set_defaults(handler=run_import)

    fold = commands.add_parser(
        "fold",
        help="group pending reports into incidents and update the statistics once, then exit",
    )
    fold.set_defaults(handler=run_fold)

    users = commands.add_parser("users", help="manage staff accounts")
    users_commands = users.add_subparsers(required=True, metavar="ACTION")
    create = users_commands.add_parser(
        "create", help="create an account; the password is read from stdin or a prompt"
    )
    create.add_argument("--email", required=True)
    create.add_argument("--role", required=True, choices=[role.value for role in ACCOUNT_ROLES])
    create.set_defaults(handler=run_users_create)
    reset = users_commands.add_parser(
        "reset",
        help="print a one-time password reset code for an account (shown once; "
        "redeemed at POST /v1/password-resets)",
    )
    reset.add_argument("--email", required=True)
    reset.add_argument(
        "--remove-totp",
        action="store_true",
        help="also remove the account's TOTP second factor (its holder lost the phone)",
    )
    reset.set_defaults(handler=run_users_reset)

    audit_parser = commands.add_parser("audit", help="the tamper-evident audit trail")
    audit_commands = audit_parser.add_subparsers(required=True, metavar="ACTION")
    verify = audit_commands.add_parser(
        "verify", help="check the audit log's hash chain; exit 1 naming the first broken entry"
    )
    verify.add_argument(
        "--expect",
        action="append",
        default=[],
        type=_anchor,
        metavar="ID:HASH",
        help="also require entry ID with this hash (as printed by an earlier verify); repeatable",
    )
    verify.add_argument(
        "--checkpoint",
        action="append",
        default=[],
        type=Path,
        metavar="FILE",
        help="also require the entry a signed checkpoint names, with its hash; repeatable",
    )
    verify.set_defaults(handler=run_audit_verify)
    checkpoint = audit_commands.add_parser(
        "checkpoint",
        help="verify the chain, then print and save its head signed with the receipt key",
    )
    checkpoint.set_defaults(handler=run_audit_checkpoint)

    retention = commands.add_parser(
        "retention", help="coarsen old reports' locations, purge rejected and withdrawn data"
    )
    retention_commands = retention.add_subparsers(required=True, metavar="ACTION")
    retain = retention_commands.add_parser(
        "run",
        help="apply retention now (PLAINSIGHT_RETENTION_DAYS; serve also runs it hourly)",
    )
    retain.add_argument(
        "--dry-run", action="store_true", help="count what would change, change nothing"
    )
    retain.add_argument(
        "--batch-size", type=_positive, default=5000, help="rows per transaction (default 5000)"
    )
    retain.set_defaults(handler=run_retention_command)

    releases = commands.add_parser("releases", help="the public statistics releases")
    releases_commands = releases.add_subparsers(required=True, metavar="ACTION")
    make = releases_commands.add_parser(
        "make",
        help="publish every release and correction that is due now (serve also does, "
        "every PLAINSIGHT_RELEASE_CHECK_MINUTES)",
    )
    make.set_defaults(handler=run_releases_make)

    add_evidence_parser(commands)
    add_backup_parsers(commands)
    add_keys_parser(commands)
    return parser


def _anchor(text: str) -> tuple[int, str]:
    entry, _, digest = text.partition(":")
    if not entry.isdigit() or int(entry) < 1 or not audit.HASH_TEXT.fullmatch(digest):
        raise argparse.ArgumentTypeError(
            "must be ID:HASH, an entry id and its 64-character lowercase hex hash"
        )
    return int(entry), digest


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


@contextmanager
def database_url(settings: Settings) -> Iterator[str]:
    """The configured server, or the embedded one (started here, stopped on the way out)."""
    if settings.database_url is not None:
        yield settings.database_url
        return
    embedded = EmbeddedPostgres(settings.data_path / "postgres")
    try:
        yield embedded.start()
    finally:
        embedded.stop()


def missing_database(settings: Settings) -> str | None:
    """Why a command that needs an existing database cannot run, or None. With the default
    relative data directory, a command run from another directory would otherwise start a new,
    empty embedded database there and report on it."""
    if settings.database_url is not None:
        return None
    pgdata = settings.data_path / "postgres"
    if (pgdata / "PG_VERSION").is_file():
        return None
    return (
        f"no database: DATABASE_URL is not set and there is no embedded database in {pgdata}; "
        "set PLAINSIGHT_DATA_DIR to the data directory `plainsight serve` uses (or set "
        "DATABASE_URL), or create the database there with `plainsight migrate` or `serve`"
    )


def _exit_on_signal(signum: int, frame: FrameType | None) -> None:
    # uvicorn shuts down gracefully on SIGTERM/SIGINT, restores the previous handler and raises
    # the signal again: exit through this handler, so the `finally` blocks (stopping the embedded
    # PostgreSQL) run and a requested stop exits 0 (SIGINT: 130) instead of dying by the signal.
    raise SystemExit(0 if signum == signal.SIGTERM else 128 + signum)


def run_serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from api.app import apply_migrations, grouping_rule

    signal.signal(signal.SIGTERM, _exit_on_signal)
    signal.signal(signal.SIGINT, _exit_on_signal)
    with database_url(settings) as dsn:
        applied = asyncio.run(apply_migrations(dsn, grouping_rule(settings)))
        log.info("database ready", extra={"migrations_applied": len(applied)})
        # Workers read settings from the environment; hand them the resolved database.
        os.environ["DATABASE_URL"] = dsn
        uvicorn.run(
            args.app_factory,
            factory=True,
            host=args.host,
            port=args.port,
            workers=args.workers,
            access_log=False,  # access logs carry client addresses
            # No WebSocket route exists, and uvicorn logs each WebSocket handshake with the
            # client's address, path and query string: upgrades are refused as plain HTTP.
            ws="none",
            log_config=None,
            server_header=False,
            # PLAINSIGHT_TRUSTED_PROXIES is applied inside the app (api.middleware.forwarded);
            # uvicorn's own option would trust 127.0.0.1 by default and apply it twice.
            proxy_headers=False,
        )
    return 0


def run_migrate(settings: Settings, args: argparse.Namespace) -> int:
    from api.app import apply_migrations, grouping_rule

    with database_url(settings) as dsn:
        applied = asyncio.run(apply_migrations(dsn, grouping_rule(settings)))
    names = ", ".join(f"{v:04d}" for v in applied) or "none (already up to date)"
    print(f"plainsight: migrations applied: {names}")
    return 0


def run_gc(settings: Settings, args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from api.app import apply_migrations, grouping_rule
    from api.media_ingest import sweep_spool
    from storage.evidence.sealer import SealedGarbage, collect_sealed_garbage
    from storage.evidence.store import open_sealed_store
    from storage.photos.blobs import open_blob_store
    from storage.photos.store import collect_garbage
    from storage.uploads.area import open_upload_area
    from storage.uploads.sweep import sweep_uploads

    async def collect(dsn: str) -> tuple[int, int, int, int, int, SealedGarbage]:
        await apply_migrations(dsn, grouping_rule(settings))
        blobs = open_blob_store(settings)
        sealed = open_sealed_store(settings)
        conn = await connect(dsn)
        try:
            swept = await blobs.sweep_temporary(timedelta(minutes=args.temp_age_minutes))
            # Uploads spooled to a file and sanitised videos a crash left in the spool.
            spooled = await asyncio.to_thread(
                sweep_spool, settings, timedelta(minutes=args.temp_age_minutes)
            )
            # Resumable uploads past their expiry, and their bytes (bytes without a row once
            # they are as old as an upload can get).
            expired = await sweep_uploads(
                conn,
                open_upload_area(settings),
                orphan_age=timedelta(hours=settings.upload_expiry_hours),
            )
            with tqdm(desc="checking stored photos", unit=" blobs", file=sys.stderr) as bar:

                def progress(checked: int, deleted: int) -> None:
                    bar.update(1)
                    bar.set_postfix(deleted=deleted, refresh=False)

                checked, deleted = await collect_garbage(conn, blobs, progress=progress)
            with tqdm(desc="checking sealed originals", unit=" blobs", file=sys.stderr) as bar:

                def sealed_progress(checked: int, deleted: int) -> None:
                    bar.update(1)
                    bar.set_postfix(deleted=deleted, refresh=False)

                sealed_summary = await collect_sealed_garbage(
                    conn,
                    sealed,
                    orphan_age=timedelta(minutes=args.sealed_orphan_minutes),
                    scratch_age=timedelta(minutes=args.temp_age_minutes),
                    progress=sealed_progress,
                )
        finally:
            await conn.close()
            await blobs.close()
            await sealed.close()
        return checked, deleted, swept, expired, spooled, sealed_summary

    if args.sealed_orphan_minutes < 0 or args.temp_age_minutes < 0:
        print("plainsight: ages in minutes must not be negative", file=sys.stderr)
        return EXIT_USAGE
    with database_url(settings) as dsn:
        checked, deleted, swept, expired, spooled, sealed_summary = asyncio.run(collect(dsn))
    print(
        f"plainsight: checked {checked} stored photos, deleted {deleted} orphans "
        f"and {swept} unfinished uploads; deleted {expired} expired resumable uploads "
        f"and {spooled} spooled files"
    )
    print(
        f"plainsight: checked {sealed_summary.checked} sealed originals, deleted "
        f"{sealed_summary.orphans} orphans, {sealed_summary.purged} purged with their photos "
        f"and {sealed_summary.scratch} unfinished seals"
    )
    return 0


IMPORTERS = frozenset({Role.admin, Role.moderator})
REASONS_SHOWN = 20
SELECT_IMPORTER = (
    "select id, role from accounts where lower(email) = lower($1) and disabled_at is null"
)


def import_status(given: str | None) -> ReportStatus | None:
    """``--status``: absent is pending (the review queue); None for anything else."""
    if given is None:
        return ReportStatus.PENDING
    if given in (ReportStatus.VERIFIED, ReportStatus.UNVERIFIED):
        return ReportStatus(given)
    return None


def run_import(settings: Settings, args: argparse.Namespace) -> int:
    from concurrent.futures import ProcessPoolExecutor

    from tqdm import tqdm

    from api.app import apply_migrations, grouping_rule
    from storage.incidents import folder
    from storage.reports.bulk_import import import_reports

    status = import_status(args.status)
    if status is None:
        print(
            f"plainsight: --status must be verified or unverified, not {args.status!r}",
            file=sys.stderr,
        )
        return EXIT_USAGE
    path: Path = args.file
    if not path.is_file():
        print(f"plainsight: {path} is not a readable file", file=sys.stderr)
        return EXIT_USAGE
    with path.open("rb") as stream:
        total_lines = sum(1 for _ in stream)

    async def run(dsn: str) -> int:
        await apply_migrations(dsn, grouping_rule(settings))
        conn = await connect(dsn)
        try:
            account = await conn.fetchrow(SELECT_IMPORTER, args.account)
            if account is None or Role(account["role"]) not in IMPORTERS:
                print(
                    f"plainsight: {args.account} is not an active admin or moderator account",
                    file=sys.stderr,
                )
                return EXIT_USAGE
            rule = grouping_rule(settings)
            workers = args.workers or os.cpu_count() or 1
            with (
                ProcessPoolExecutor(workers) as executor,
                tqdm(total=total_lines, desc="validating", unit=" lines", file=sys.stderr) as bar,
            ):
                summary = await import_reports(
                    conn,
                    path,
                    account_id=account["id"],
                    grouping=rule,
                    time_zone=settings.timezone,
                    executor=executor,
                    status=status,
                    progress=bar.update,
                )
            # Committed: now the statistics groups of every family, so the first researcher
            # query after a large import reads them instead of placing a family's months.
            stats_families = folder.families(settings.suppression_threshold)
            with tqdm(
                total=len(stats_families),
                desc="placing statistics",
                unit=" families",
                file=sys.stderr,
            ) as bar:
                for family in stats_families:
                    await folder.place(conn, family, None, None)
                    bar.update()
        finally:
            await conn.close()
        print(
            f"plainsight: {summary.lines} lines: {summary.imported} reports imported as "
            f"{status.value} into "
            f"{summary.incidents} new incidents ({summary.merged} stored incidents merged), "
            f"{summary.already_present} already present, {summary.rejected} rejected"
        )
        for rejected in summary.reasons[:REASONS_SHOWN]:
            print(f"  line {rejected.line}: {rejected.reason}", file=sys.stderr)
        if summary.rejected > REASONS_SHOWN:
            print(f"  ... and {summary.rejected - REASONS_SHOWN} more", file=sys.stderr)
        return 1 if summary.rejected else 0

    try:
        with database_url(settings) as dsn:
            return asyncio.run(run(dsn))
    except Exception as exc:  # one plain line for the operator; the traceback goes to the log
        log.error("import failed", exc_info=True)
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(
            f"plainsight: the import failed and nothing was imported ({reason}); "
            "fix the cause and run it again",
            file=sys.stderr,
        )
        return 1


def run_fold(settings: Settings, args: argparse.Namespace) -> int:
    """Run the folder once (what ``serve`` does twice a second) and say what it did."""
    from api.app import grouping_rule
    from storage.db.migrations import migrate
    from storage.incidents import folder

    async def run(dsn: str) -> folder.FoldSummary:
        conn = await connect(dsn)
        try:
            await migrate(conn)  # without folding: this command's one fold says what it did
            summary = await folder.fold(conn, grouping_rule(settings), settings.timezone)
        finally:
            await conn.close()
        assert summary is not None  # waited for the lock
        return summary

    with database_url(settings) as dsn:
        summary = asyncio.run(run(dsn))
    print(
        f"plainsight: folded {summary.reports} reports in {summary.batches} batches: "
        f"{summary.new_incidents} new incidents, {summary.merged_incidents} merged away, "
        f"{summary.split_incidents} split off; {summary.changes} statistics changes"
    )
    return 0


def run_users_create(settings: Settings, args: argparse.Namespace) -> int:
    password = read_password()
    try:
        request = msgspec.convert(
            {"email": args.email, "role": args.role, "password": password}, AccountCreate
        )
    except msgspec.ValidationError as exc:
        print(f"plainsight: {exc}", file=sys.stderr)
        return EXIT_USAGE

    async def create(dsn: str) -> None:
        from api.app import apply_migrations, grouping_rule

        await apply_migrations(dsn, grouping_rule(settings))
        conn = await connect(dsn)
        try:
            async with conn.transaction():
                account = await accounts.create_account(
                    conn, email=request.email, role=Role(request.role), password=request.password
                )
                # No actor: whoever runs the command at the server's shell.
                await audit.record(
                    conn,
                    actor=None,
                    action="account.created",
                    subject_type="account",
                    subject_id=str(account.id),
                    details={"role": account.role.value, "via": "cli"},
                )
        finally:
            await conn.close()
        print(f"created {account.role} account {account.email} ({account.id})")

    with database_url(settings) as dsn:
        try:
            asyncio.run(create(dsn))
        except Conflict as exc:
            print(f"plainsight: {exc.detail}", file=sys.stderr)
            return 1
    return 0


def run_users_reset(settings: Settings, args: argparse.Namespace) -> int:
    """For an operator at the server's shell, e.g. when the only admin is locked out."""

    async def reset(dsn: str) -> password_resets.IssuedReset:
        from api.app import apply_migrations, grouping_rule

        await apply_migrations(dsn, grouping_rule(settings))
        conn = await connect(dsn)
        try:
            async with conn.transaction():
                account_id = await conn.fetchval(
                    "select id from accounts where lower(email) = lower($1)", args.email.strip()
                )
                if account_id is None:
                    raise NotFound(f"no account has the e-mail address {args.email}")
                issued = await password_resets.issue_reset(
                    conn, account_id, lifetime=timedelta(hours=settings.password_reset_hours)
                )
                entries = [
                    audit.Entry(
                        actor=None,
                        action="account.reset_issued",
                        subject_type="account",
                        subject_id=str(account_id),
                        details={"role": issued.role.value, "via": "cli"},
                    )
                ]
                if args.remove_totp and await totp.remove(conn, account_id):
                    await accounts.notify_revoked(conn, account_id)
                    entries.append(
                        audit.Entry(
                            actor=None,
                            action="account.totp_removed",
                            subject_type="account",
                            subject_id=str(account_id),
                            details={"via": "cli"},
                        )
                    )
                await audit.record_many(conn, entries)
        finally:
            await conn.close()
        return issued

    with database_url(settings) as dsn:
        try:
            issued = asyncio.run(reset(dsn))
        except (NotFound, Conflict) as exc:
            print(f"plainsight: {exc.detail}", file=sys.stderr)
            return 1
    print(f"one-time reset code for {args.email}: {issued.code}")
    until = f"{issued.expires_at:%Y-%m-%d %H:%M} UTC"
    print(f"valid until {until}; redeem it with POST /v1/password-resets")
    return 0


def run_audit_verify(settings: Settings, args: argparse.Namespace) -> int:
    from storage.audit.checkpoints import CheckpointError, ConflictingAnchors

    try:
        result, anchors = _verified(settings, list(args.expect), list(args.checkpoint))
    except CheckpointError as exc:
        print(f"plainsight: {exc}", file=sys.stderr)
        return 1
    except ConflictingAnchors as exc:
        print(f"plainsight: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if not result.ok:
        return _report_broken(result)
    print(
        f"plainsight: audit log OK: {result.checked} entries checked; "
        f"last entry {result.last_id}, hash {result.last_hash}"
        + (f"; {len(anchors)} recorded hashes match" if anchors else "")
    )
    return 0


def run_audit_checkpoint(settings: Settings, args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from api.app import receipt_signer
    from storage.audit.checkpoints import encode, sign_checkpoint, write_checkpoint

    signer = receipt_signer(settings)
    result, _ = _verified(settings, [], [], register=signer)
    if not result.ok:
        return _report_broken(result)
    checkpoint = sign_checkpoint(signer, result.last_id, result.last_hash, datetime.now(UTC))
    path = write_checkpoint(settings.data_path, checkpoint)
    print(encode(checkpoint).decode())
    print(
        f"plainsight: checkpoint of entry {result.last_id} written to {path}; keep a copy "
        "where the database's administrators cannot write",
        file=sys.stderr,
    )
    return 0


def _verified(
    settings: Settings,
    expect: list[tuple[int, str]],
    checkpoints: list[Path],
    *,
    register: ReceiptSigner | None = None,
) -> tuple[audit.VerifyResult, dict[int, str]]:
    """The whole chain verified as the owner (with a progress bar), with the ``expect`` pairs
    and the entries the ``checkpoints`` name as anchors. Checkpoints are checked against the
    receipt keys this installation trusts (its own and those their endorsements lead to, any
    rotation ago). ``register``: a key about to sign, published first (KeyRetired if retired).
    """
    from tqdm import tqdm

    from api.app import apply_migrations, grouping_rule, receipt_signer
    from storage.audit.checkpoints import anchors_of, read_checkpoint
    from storage.reports import receipt_keys

    async def run(dsn: str) -> tuple[audit.VerifyResult, dict[int, str]]:
        await apply_migrations(dsn, grouping_rule(settings))
        conn = await connect(dsn)
        try:
            if register is not None:
                await receipt_keys.register(conn, register)
            sources = list(expect)
            if checkpoints:
                trusted = await receipt_keys.trusted_keys(conn, receipt_signer(settings))
                for path in checkpoints:
                    checkpoint = read_checkpoint(path, trusted)
                    sources.append((checkpoint.last_id, checkpoint.last_hash))
            anchors = anchors_of(sources)
            total = await audit.chain_length(conn)
            with tqdm(total=total, desc="verifying", unit=" entries", file=sys.stderr) as bar:
                return await audit.verify(conn, progress=bar.update, anchors=anchors), anchors
        finally:
            await conn.close()

    with database_url(settings) as dsn:
        return asyncio.run(run(dsn))


def _report_broken(result: audit.VerifyResult) -> int:
    at = "-" if result.broken_at is None else audit.format_time(result.broken_at)
    print(
        f"plainsight: audit log BROKEN at entry {result.broken_id} "
        f"(time {at}, action {result.broken_action or '-'}): {result.reason}; "
        f"{result.checked} entries before it are intact",
        file=sys.stderr,
    )
    return 1


def run_retention_command(settings: Settings, args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from tqdm import tqdm

    from api.app import apply_migrations, grouping_rule
    from storage.evidence.store import open_sealed_store
    from storage.incidents import folder
    from storage.photos.blobs import open_blob_store
    from storage.reports.retention import RetentionBusy, RetentionSummary, pending, run_retention

    async def run(dsn: str) -> tuple[RetentionSummary, bool] | None:
        await apply_migrations(dsn, grouping_rule(settings))
        blobs = open_blob_store(settings)
        sealed = open_sealed_store(settings)
        conn = await connect(dsn)
        now = datetime.now(UTC)
        try:
            todo = await pending(conn, now=now, days=settings.retention_days)
            if args.dry_run:
                return todo, True
            with tqdm(total=todo.total, desc="retention", unit=" rows", file=sys.stderr) as bar:

                def progress(step: str, count: int) -> None:
                    bar.set_postfix(step=step, refresh=False)
                    bar.update(count)

                done = await run_retention(
                    conn,
                    blobs,
                    now=now,
                    days=settings.retention_days,
                    batch_size=args.batch_size,
                    progress=progress,
                    sealed=sealed,
                )
            # The folder re-derives the coarsened reports' incident facts now, so no fine cell
            # is left in what the statistics remember of them.
            await folder.fold(conn, grouping_rule(settings), settings.timezone)
            return done, False
        except RetentionBusy:
            return None
        finally:
            await conn.close()
            await blobs.close()
            await sealed.close()

    with database_url(settings) as dsn:
        result = asyncio.run(run(dsn))
    if result is None:
        print("plainsight: another retention run is in progress; try again later", file=sys.stderr)
        return 1
    summary, dry_run = result
    verb = "would coarsen" if dry_run else "coarsened"
    blobs_part = "" if dry_run else f", {summary.blobs_deleted} blobs deleted"
    print(
        f"plainsight: retention ({settings.retention_days} days){' dry run' if dry_run else ''}: "
        f"{verb} {summary.reports_coarsened} reports to H3 res 7, "
        f"{summary.narratives_purged} narratives purged, "
        f"{summary.photos_purged} photos purged{blobs_part}"
    )
    return 0


def run_releases_make(settings: Settings, args: argparse.Namespace) -> int:
    """Make the releases that are due once (what ``serve`` does every few minutes) and say
    what was published."""
    from api.app import apply_migrations, grouping_rule, receipt_signer
    from storage.reports import receipt_keys
    from storage.statistics.releases.maker import Published, ReleasePolicy, make_releases

    signer = receipt_signer(settings)

    async def run(dsn: str) -> list[Published]:
        await apply_migrations(dsn, grouping_rule(settings))
        conn = await connect(dsn)
        try:
            await receipt_keys.register(conn, signer)
            policy = ReleasePolicy.from_settings(settings)
            made = await make_releases(conn, policy, signer, grouping_rule(settings))
        finally:
            await conn.close()
        assert made is not None  # waited for the lock
        return made

    with database_url(settings) as dsn:
        published = asyncio.run(run(dsn))
    for release in published:
        print(
            f"plainsight: published {release.month:%Y-%m} v{release.version} "
            f"({release.areas} areas listed; ε {release.epsilon:g}, "
            f"{release.month_epsilon:g} for the month so far)"
        )
    if not published:
        print("plainsight: no release is due")
    return 0


def read_password() -> str:
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password (at least 12 characters): ")
    if getpass.getpass("Repeat the password: ") != first:
        print("plainsight: the passwords do not match", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)
    return first


if __name__ == "__main__":
    raise SystemExit(main())
