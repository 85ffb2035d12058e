"""``plainsight backup`` and ``plainsight restore`` (storage/backup/): the parsers, progress
bars on stderr and one plain line on failure."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime
from pathlib import Path

from schemas.evidence import parse_recipients
from schemas.settings import Settings

EXIT_USAGE = 2
MISSING_SHOWN = 20


def add_backup_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    backup = commands.add_parser(
        "backup",
        help="write one archive of the database, receipt keys, audit checkpoints and photos "
        "(or the list of the S3 objects), optionally encrypted to age recipients",
    )
    backup.add_argument(
        "--out",
        type=Path,
        metavar="PATH",
        help="the archive to write (never overwritten); an existing directory gets "
        "plainsight-backup-TIME.tar[.age] inside it. Default: that name here",
    )
    backup.add_argument(
        "--recipient",
        action="append",
        default=[],
        metavar="AGE_RECIPIENT",
        help="encrypt the archive to this age public key (age1...); repeatable",
    )
    backup.add_argument(
        "--recipients-file",
        type=Path,
        metavar="FILE",
        help="encrypt to the age public keys in FILE (one a line, # comments)",
    )
    backup.set_defaults(handler=run_backup)

    restore = commands.add_parser(
        "restore",
        help="restore an archive of `plainsight backup` into an empty data directory "
        "(or, with DATABASE_URL, an empty database); all or nothing",
    )
    restore.add_argument("archive", type=Path, metavar="ARCHIVE")
    restore.add_argument(
        "--identity",
        action="append",
        default=[],
        type=Path,
        metavar="FILE",
        help="an age identity file (from age-keygen) to decrypt an encrypted archive; repeatable",
    )
    # The embedded database is made by the restore, in the data directory.
    restore.set_defaults(handler=run_restore, creates_database=True)


def archive_path(out: Path | None, encrypted: bool, now: datetime) -> Path:
    name = f"plainsight-backup-{now:%Y%m%dT%H%M%SZ}.tar" + (".age" if encrypted else "")
    if out is None:
        return Path.cwd() / name
    return out / name if out.is_dir() else out


def recipient_keys(args: argparse.Namespace) -> tuple[str, ...]:
    """The recipients given; ValueError (naming the bad entry) for a bad one."""
    texts = list(args.recipient)
    if args.recipients_file is not None:
        try:
            lines = args.recipients_file.read_text().splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"cannot read {args.recipients_file}: {exc}") from None
        listed = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
        if not listed:
            raise ValueError(f"{args.recipients_file} lists no recipient")
        texts += listed
    return parse_recipients(" ".join(texts)) if texts else ()


def run_backup(settings: Settings, args: argparse.Namespace) -> int:
    from pyrage import x25519
    from tqdm import tqdm

    from api.app import package_version
    from api.cli import database_url
    from storage.backup.archive import ArchiveError
    from storage.backup.create import BackupSummary, create_backup
    from storage.backup.pgtools import DatabaseToolError

    try:
        keys = recipient_keys(args)
    except ValueError as exc:
        print(f"plainsight: recipients: {exc}", file=sys.stderr)
        return EXIT_USAGE
    recipients = [x25519.Recipient.from_str(key) for key in keys]
    out = archive_path(args.out, bool(recipients), datetime.now(UTC))
    if settings.receipt_key is not None:
        print(
            "plainsight: warning: the receipt key comes from PLAINSIGHT_RECEIPT_KEY and is not "
            "in the archive; keep it with the backup, receipts cannot be verified without it",
            file=sys.stderr,
        )

    async def run(dsn: str) -> BackupSummary:
        with tqdm(desc="backing up", unit="B", unit_scale=True, file=sys.stderr, total=0) as bar:

            def set_total(count: int) -> None:
                bar.total = count
                bar.refresh()

            return await create_backup(
                settings,
                dsn,
                out,
                recipients,
                version=package_version(),
                progress=bar.update,
                total=set_total,
            )

    try:
        with database_url(settings) as dsn:
            summary = asyncio.run(run(dsn))
    except (ArchiveError, DatabaseToolError) as exc:
        print(f"plainsight: {exc}", file=sys.stderr)
        return 1
    if summary.vanished:
        print(
            f"plainsight: warning: {len(summary.vanished)} files were deleted while the backup "
            f"ran (withdrawn or collected meanwhile) and are not in it, e.g. {summary.vanished[0]}",
            file=sys.stderr,
        )
    photos = (
        f"{summary.s3_objects} S3 objects listed"
        if summary.s3_objects is not None
        else "photos as files"
    )
    print(
        f"plainsight: wrote {summary.path} ({summary.bytes} bytes"
        f"{', encrypted' if recipients else ''}): database at migration {summary.migration}, "
        f"{summary.files} files of the data directory, {photos}"
    )
    return 0


def run_restore(settings: Settings, args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from api.app import apply_migrations, grouping_rule
    from storage.backup.archive import ArchiveError, is_encrypted, read_identities
    from storage.backup.manifest import ManifestError
    from storage.backup.pgtools import DatabaseToolError
    from storage.backup.restore import (
        MissingObjects,
        RestoreIncomplete,
        RestoreProgress,
        RestoreSummary,
        TargetNotEmpty,
        check_target,
        restore_backup,
    )
    from storage.db.roles import prepare_service_database

    try:
        identities = [key for path in args.identity for key in read_identities(path)]
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        print(f"plainsight: --identity: {exc}", file=sys.stderr)
        return EXIT_USAGE

    async def prepare(dsn: str, data_dir: Path) -> None:
        # What serve does at start: migrations (a newer code's), then the service's role.
        await apply_migrations(dsn, grouping_rule(settings))
        await prepare_service_database(dsn, data_dir, settings.service_database_url)

    async def run() -> RestoreSummary:
        with tqdm(desc="reading the archive", unit="B", unit_scale=True, file=sys.stderr) as bar:

            def stage(name: str, total: int | None) -> None:
                bar.reset()
                bar.total = total  # None: unknown (reset keeps the old one)
                bar.set_description(name)
                bar.refresh()

            return await restore_backup(
                settings,
                args.archive,
                identities,
                prepare=prepare,
                progress=RestoreProgress(advance=bar.update, stage=stage),
            )

    try:
        # Refused before any progress bar: the common mistakes say so in one line.
        if args.archive.is_file() and is_encrypted(args.archive) and not identities:
            raise ArchiveError("the archive is encrypted: give its age identity with --identity")
        asyncio.run(check_target(settings))
        summary = asyncio.run(run())
    except MissingObjects as exc:
        print(f"plainsight: {exc}", file=sys.stderr)
        for key in exc.missing[:MISSING_SHOWN]:
            print(f"  missing: {key}", file=sys.stderr)
        if len(exc.missing) > MISSING_SHOWN:
            print(f"  ... and {len(exc.missing) - MISSING_SHOWN} more", file=sys.stderr)
        return 1
    except (
        ArchiveError,
        ManifestError,
        TargetNotEmpty,
        DatabaseToolError,
        RestoreIncomplete,
    ) as exc:
        print(f"plainsight: {exc}", file=sys.stderr)
        return 1
    manifest = summary.manifest
    photos = (
        f"{summary.s3_objects} S3 objects present"
        if summary.s3_objects is not None
        else "photos as files"
    )
    print(
        f"plainsight: restored into {settings.data_path.resolve()}"
        + (" and DATABASE_URL" if settings.database_url is not None else "")
        + f" the backup of {manifest.created_at:%Y-%m-%d %H:%M:%S} UTC "
        f"(Plainsight {manifest.plainsight_version}, migration {manifest.migration}): "
        f"{summary.files} files of the data directory, {photos}"
    )
    if manifest.receipt_key == "setting":
        print(
            "plainsight: warning: the receipt key was PLAINSIGHT_RECEIPT_KEY and is not in the "
            "archive: set it to the same key before `plainsight serve`",
            file=sys.stderr,
        )
    return 0
