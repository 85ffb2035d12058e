"""``plainsight evidence export REPORT_ID [--out PATH]``: one report's evidence bundle
(storage/evidence/export.py), with a progress bar on stderr and one plain line on failure."""

from __future__ import annotations

import argparse
import asyncio
import sys
import uuid
from pathlib import Path

from schemas.settings import Settings
from storage.db.pool import connect

EXIT_USAGE = 2


def add_evidence_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    evidence = commands.add_parser(
        "evidence", help="sealed originals: export a report's evidence bundle"
    )
    actions = evidence.add_subparsers(required=True, metavar="ACTION")
    export = actions.add_parser(
        "export",
        help="write a tar of a report's sealed originals, sanitised copies, signed receipt and "
        "signed manifest (audited as evidence.exported)",
    )
    export.add_argument("report_id", metavar="REPORT_ID", help="the report's id (a UUID)")
    export.add_argument(
        "--out",
        type=Path,
        metavar="PATH",
        help="the bundle to write (never overwritten); an existing directory gets "
        "evidence-REPORT_ID.tar inside it. Default: evidence-REPORT_ID.tar here",
    )
    export.set_defaults(handler=run_evidence_export)


def bundle_path(out: Path | None, report_id: uuid.UUID) -> Path:
    name = f"evidence-{report_id}.tar"
    if out is None:
        return Path.cwd() / name
    return out / name if out.is_dir() else out


def run_evidence_export(settings: Settings, args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from api.app import apply_migrations, grouping_rule, receipt_signer
    from api.cli import database_url
    from storage.errors import NotFound
    from storage.evidence.export import BundleExists, ExportSummary, export_report
    from storage.evidence.store import open_sealed_store
    from storage.photos.blobs import open_blob_store
    from storage.reports import receipt_keys

    try:
        report_id = uuid.UUID(args.report_id)
    except ValueError:
        print(f"plainsight: REPORT_ID must be a UUID, not {args.report_id!r}", file=sys.stderr)
        return EXIT_USAGE
    out = bundle_path(args.out, report_id)
    signer = receipt_signer(settings)

    async def run(dsn: str) -> ExportSummary:
        await apply_migrations(dsn, grouping_rule(settings))
        blobs = open_blob_store(settings)
        sealed = open_sealed_store(settings)
        conn = await connect(dsn)
        try:
            await receipt_keys.register(conn, signer)
            with tqdm(desc="exporting", unit="B", unit_scale=True, file=sys.stderr, total=0) as bar:

                def advance(count: int) -> None:
                    bar.update(count)

                def set_total(count: int) -> None:
                    bar.total = count
                    bar.refresh()

                return await export_report(
                    conn,
                    report_id=report_id,
                    out=out,
                    blobs=blobs,
                    sealed=sealed,
                    signer=signer,
                    progress=advance,
                    total=set_total,
                )
        finally:
            await conn.close()
            await blobs.close()
            await sealed.close()

    try:
        with database_url(settings) as dsn:
            summary = asyncio.run(run(dsn))
    except (NotFound, BundleExists) as exc:
        detail = exc.detail if isinstance(exc, NotFound) else str(exc)
        print(f"plainsight: {detail}", file=sys.stderr)
        return 1
    print(
        f"plainsight: wrote {summary.path} ({summary.bytes} bytes): {summary.files} files, "
        f"{summary.sealed} sealed originals; manifest sha256 {summary.manifest_sha256}"
    )
    return 0
