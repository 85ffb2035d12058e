"""``plainsight keys rotate`` and ``plainsight keys list``: the receipt keys
(storage/reports/receipt_keys.py for the published set, key_files.py for the seeds)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import datetime

import asyncpg
from nacl.utils import random as random_bytes

from schemas.settings import Settings
from storage.db.pool import connect
from storage.reports import key_files, receipt_keys
from storage.reports.receipts import SEED_BYTES, ReceiptSigner, b64url, key_id_of


def add_keys_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    keys = commands.add_parser("keys", help="the receipt signing keys")
    actions = keys.add_subparsers(required=True, metavar="ACTION")
    rotate = actions.add_parser(
        "rotate",
        help="make a new signing key and retire the current one (it stays published, so "
        "what it signed still verifies); restart the replicas afterwards",
    )
    rotate.set_defaults(handler=run_keys_rotate)
    listing = actions.add_parser(
        "list", help="every published key: id, validity period, the one that signs now"
    )
    listing.set_defaults(handler=run_keys_list)


def _time(at: datetime | None) -> str:
    return "-" if at is None else at.isoformat(timespec="seconds")


def run_keys_list(settings: Settings, args: argparse.Namespace) -> int:
    from api.app import apply_migrations, grouping_rule
    from api.cli import database_url

    async def run(dsn: str) -> list[receipt_keys.KeyRecord]:
        await apply_migrations(dsn, grouping_rule(settings))
        conn = await connect(dsn)
        try:
            return await receipt_keys.published(conn)
        finally:
            await conn.close()

    with database_url(settings) as dsn:
        keys = asyncio.run(run(dsn))
    if not keys:
        print("plainsight: no receipt key is published yet (`plainsight serve` publishes one)")
    for key in keys:
        state = "current" if key.not_after is None else "retired"
        print(
            f"{key.key_id} {key.algorithm} {state} {_time(key.not_before)} {_time(key.not_after)}"
        )
    return 0


def run_keys_rotate(settings: Settings, args: argparse.Namespace) -> int:
    from api.app import apply_migrations, grouping_rule
    from api.cli import database_url

    try:
        key_files.load_signer(settings)  # a corrupt key says so before anything changes
    except ValueError as exc:
        print(f"plainsight: {exc}", file=sys.stderr)
        return 1

    async def run(dsn: str) -> tuple[ReceiptSigner, receipt_keys.KeyRecord, list[str]]:
        await apply_migrations(dsn, grouping_rule(settings))
        conn = await connect(dsn)
        try:
            return await rotate(conn, settings)
        finally:
            await conn.close()

    try:
        with database_url(settings) as dsn:
            new, record, retired = asyncio.run(run(dsn))
    except (receipt_keys.KeyRetired, ValueError) as exc:
        print(f"plainsight: {exc}", file=sys.stderr)
        return 1
    print(f"new key {new.key_id} signs from {_time(record.not_before)}")
    for key_id in retired:
        print(f"retired {key_id} at {_time(record.not_before)}; it stays published")
    if key_files.uses_files(settings):
        print(
            "plainsight: restart every `plainsight serve` one at a time to sign with the new "
            "key (replicas with their own data directory need a copy of data_dir/keys first); "
            "until then they sign with the retired key, which still verifies",
            file=sys.stderr,
        )
    else:
        print(f"PLAINSIGHT_RECEIPT_SIGNING_KEY={b64url(new.seed)}")
        print(
            "plainsight: PLAINSIGHT_RECEIPT_KEY is set, so the new key's seed is printed above "
            f"(a copy is in {key_files.rotated_key_path(settings.data_path, new.key_id)}): put "
            "it in your secret store and every replica's environment as "
            "PLAINSIGHT_RECEIPT_SIGNING_KEY, keep PLAINSIGHT_RECEIPT_KEY unchanged (it derives "
            "the console and upload secrets), then restart the replicas one at a time; a "
            "replica restarted without it refuses to start",
            file=sys.stderr,
        )
    return 0


async def rotate(
    conn: asyncpg.Connection, settings: Settings
) -> tuple[ReceiptSigner, receipt_keys.KeyRecord, list[str]]:
    """Under the key set's lock: the new seed written to data_dir/keys (and made current
    there when the keys come from files), the set changed and audited, in one transaction.
    If the transaction fails, the files are put back as they were."""
    data_dir = settings.data_path
    written = None
    pointed_from: str | None = None
    root_id = ""
    try:
        async with conn.transaction():
            await receipt_keys.lock(conn)
            # Read under the lock: a rotation that finished meanwhile moved receipt-current.
            signer = key_files.load_signer(settings)
            root_id = key_id_of(signer.root_public_key_b64)
            new = signer.rotated(random_bytes(SEED_BYTES))
            # Kept in data_dir/keys in either mode: the copy a backup takes, and what the
            # operator can recover the seed from if the printed one is lost.
            written = key_files.store_rotated(data_dir, new)
            if key_files.uses_files(settings):
                pointed_from = signer.key_id
                key_files.point_current(data_dir, new.key_id)
            record, retired = await receipt_keys.rotate(conn, signer, new)
    except BaseException:
        if pointed_from is not None:
            key_files.point_current(data_dir, None if pointed_from == root_id else pointed_from)
        if written is not None:
            written.unlink(missing_ok=True)
        raise
    # A retired key signs nothing any more; the first seed stays (the derived secrets' root).
    for key_id in retired:
        if key_id != root_id:
            key_files.forget_rotated(data_dir, key_id)
    return new, record, retired
