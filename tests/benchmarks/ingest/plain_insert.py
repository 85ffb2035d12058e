"""The service with ``storage.reports.submit_report`` replaced by one plain INSERT of the same row.

Everything else is the service as deployed (authentication, validation, H3, receipt signing,
middleware, the pool): only the grouping in the transaction (the ``ingest_report`` function's
advisory locks, incident rows and change-log row) is left out, which is what ingest becomes once
the folder derives incidents. The difference to the ``service`` run is what that saves.

    python -m tests.benchmarks.ingest.plain_insert serve --host 127.0.0.1 --port P --workers N
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import asyncpg
import h3
from litestar import Litestar
from uuid_utils.compat import uuid7

import storage.reports
from api import cli, server
from schemas.auth import Principal
from schemas.receipts import Receipt, ReportCreated, receipt_fields
from schemas.report import ReportContent
from storage.incidents import GroupingRule, classify, report_agency
from storage.receipts import ReceiptSigner
from storage.reports import Submission, canonical_content, kind_of

FACTORY = "tests.benchmarks.ingest.plain_insert:app_from_environment"
# The row ingest_report stores, without incident_id: the folder would set it later.
INSERT_REPORT = """
insert into reports (id, device_id, account_id, client_id, kind, received_at, payload_sha256,
                     receipt_signature, occurred_at, h3_cell, content, identification, masked,
                     agencies_claimed, agencies_suspected, agency)
values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
on conflict (owner_id, client_id) do nothing
returning id
"""


async def submit_plain(
    conn: asyncpg.Connection,
    *,
    principal: Principal,
    content: ReportContent,
    signer: ReceiptSigner,
    grouping: GroupingRule,
) -> Submission:
    """``storage.reports.submit_report`` with the same hashing, signing and replay, one INSERT."""
    del grouping  # the folder's business
    body = canonical_content(content)
    payload_sha256 = hashlib.sha256(body).hexdigest()
    report_id = uuid7()
    received_at = datetime.now(UTC)
    signature = signer.sign(
        receipt_fields(report_id, content.client_id, payload_sha256, received_at)
    )
    kind = kind_of(content)
    stored = await conn.fetchval(
        INSERT_REPORT,
        report_id,
        principal.id if principal.is_device else None,
        None if principal.is_device else principal.id,
        content.client_id,
        kind,
        received_at,
        payload_sha256,
        signature,
        content.occurred_at,
        h3.str_to_int(content.location.h3_cell),
        body.decode(),
        classify(content.identification),
        content.agents.masked.value,
        list(content.agents.agencies_claimed),
        list(content.agents.agencies_suspected),
        report_agency(content.agents),
    )
    if stored is None:
        return await storage.reports._replay(conn, principal, content, payload_sha256)
    receipt = Receipt(
        report_id=report_id,
        client_id=content.client_id,
        payload_sha256=payload_sha256,
        received_at=received_at,
        signature=signature,
    )
    created = ReportCreated(
        id=report_id,
        client_id=content.client_id,
        kind=kind,
        status="pending",
        received_at=received_at,
        receipt=receipt,
    )
    return Submission(created, replayed=False)


def app_from_environment() -> Litestar:
    # The route calls storage.reports.submit_report through the module: replace it there.
    storage.reports.submit_report = submit_plain
    return server.app_from_environment()


if __name__ == "__main__":
    raise SystemExit(cli.main(app_factory=FACTORY))
