"""``plainsight import``: NDJSON reports in the API schema, validated and minimised exactly as
``POST /v1/reports`` does, grouped into incidents and counted by the folder
(storage/incidents/folder.py) and stored, in one transaction.

The file is read in chunks that worker processes validate; accepted rows are copied into a
temporary staging table as they come, so memory holds only what grouping needs (cell, time
and client_id per report). Then, with new submissions held off by a table lock: client_ids
the importing account already used are skipped (same content) or rejected (different
content), the folder groups the new reports all at once with the stored ones before they are
stored (``folder.join_unstored``), and they are inserted with one statement, each with its
incident, already counted: written once, never rewritten by the folder. Locks are taken in
the folder's order: the folder's lock, then the table's, so an import and a running
service's folder queue instead of deadlocking. An interrupted import leaves nothing behind;
a rejected line never stops the others.

The reports are stored pending (the review queue's) unless the operator says they were vetted
elsewhere (``status``): then they are stored as reviewed by the importing account, and the
folder counts verified ones in the verified scope as it would after a review. Every import is
audited once (``report.imported``).
"""

from __future__ import annotations

import hashlib
import io
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import IO, Final

import asyncpg
import h3.api.basic_int as h3i
import msgspec
import numpy as np
import uuid_utils

from schemas.auth import Principal, Role
from schemas.codes import ReportStatus
from schemas.constraints import in_words
from schemas.report import COARSE_H3_RESOLUTION, ReportIn, minimise
from storage.audit.log import record
from storage.incidents import folder
from storage.incidents.bulk_grouping import microseconds
from storage.incidents.grouping import GroupingRule, classify, report_agency
from storage.reports.retained_content import decode_stored, matches_retained
from storage.reports.store import canonical_content, kind_of

CHUNK_LINES: Final = 20_000
# What an import may store its reports as: pending (the review queue's) unless they were
# vetted elsewhere, in which case the importing account vouches for the outcome.
IMPORT_STATUSES: Final = (ReportStatus.PENDING, ReportStatus.VERIFIED, ReportStatus.UNVERIFIED)
MAX_REASONS_KEPT: Final = 10_000
STAGING_COLUMNS: Final = (
    "line_no",
    "id",
    "client_id",
    "kind",
    "payload_sha256",
    "occurred_at",
    "h3_cell",
    "content",
    "identification",
    "masked",
    "agencies_claimed",
    "agencies_suspected",
    "agency",
)
CREATE_STAGING = """
drop table if exists pg_temp.import_staging, pg_temp.import_groups;
create temporary table import_staging (
    line_no integer not null, id uuid not null, client_id uuid not null, kind text not null,
    payload_sha256 text not null, occurred_at timestamptz not null, h3_cell bigint not null,
    content jsonb not null, identification text not null, masked text not null,
    agencies_claimed text[] not null, agencies_suspected text[] not null, agency text not null
) on commit drop;
create temporary table import_groups (
    line_no integer primary key, incident_id bigint not null
) on commit drop
"""
# Submissions wait while an import runs: one with a client_id the import is storing would
# fail the whole import. Taken after the folder's lock (the folder's order).
LOCK = "lock table reports in share row exclusive mode"
# A stored report that retention rewrote (cell coarser than res 9) has the hash of what it
# left: the staged content is compared after the same rewrite (storage.reports.retained_content).
ALREADY_PRESENT = f"""
select s.line_no, r.payload_sha256 = s.payload_sha256 as same, r.payload_sha256 as stored,
       case when ((r.h3_cell >> 52) & 15) <= {COARSE_H3_RESOLUTION}
            then s.content::text end as retained
from import_staging s join reports r on r.owner_id = $1 and r.client_id = s.client_id
"""  # noqa: S608 - the only value put in is a constant
# Stored already folded: the incident the folder chose (import_groups), counted as the folder
# says the status counts, not pending (storage.incidents.folder.join_unstored). A status other
# than pending is the importing account's review, made at the import's time: the report keeps
# it as it keeps a moderator's (reviewed_by, reviewed_at), and the audit log's report.imported
# entry says it came from an import.
INSERT_REPORTS = """
insert into reports (id, account_id, client_id, kind, received_at, payload_sha256,
                     receipt_signature, occurred_at, h3_cell, content, identification, masked,
                     agencies_claimed, agencies_suspected, agency, status, reviewed_by,
                     reviewed_at, incident_id, counted, fold_pending_since)
select s.id, $1, s.client_id, s.kind, $2, s.payload_sha256, null, s.occurred_at, s.h3_cell,
       s.content, s.identification, s.masked, s.agencies_claimed, s.agencies_suspected,
       s.agency, $3::text, case when $3::text <> 'pending' then $1::uuid end,
       case when $3::text <> 'pending' then $2::timestamptz end, g.incident_id, $4, null
from import_staging s join import_groups g using (line_no)
"""
# Indexes that back no constraint (the constraints' own stay: other tables refer to them).
PLAIN_INDEXES = """
select i.indexrelid::regclass::text as name, pg_get_indexdef(i.indexrelid) as definition
from pg_index i
where i.indrelid = 'reports'::regclass
  and not exists (select from pg_constraint c where c.conindid = i.indexrelid)
order by 1
"""
# Foreign keys check each inserted row with a query of their own; added back, they check all
# rows with one join.
FOREIGN_KEYS = """
select quote_ident(conname) as name, pg_get_constraintdef(oid) as definition
from pg_constraint where conrelid = 'reports'::regclass and contype = 'f'
order by 1
"""
SELECT_ROLE = "select role from accounts where id = $1"
STORED_UP_TO = "select count(*) from (select from reports limit $1) as r"
# Index builds sort: give them room, for this transaction only.
BUILD_MEMORY = "select set_config('maintenance_work_mem', '512MB', true)"
# The insert joins every staged report to its incident: in memory, not in batches on disk.
JOIN_MEMORY = "select set_config('work_mem', '256MB', true)"


@dataclass(frozen=True, slots=True)
class Rejected:
    line: int
    reason: str


@dataclass(slots=True)
class ImportSummary:
    lines: int = 0
    imported: int = 0
    already_present: int = 0
    rejected: int = 0
    reasons: list[Rejected] = field(default_factory=list)
    incidents: int = 0
    merged: int = 0

    def reject(self, line: int, reason: str) -> None:
        self.rejected += 1
        if len(self.reasons) < MAX_REASONS_KEPT:
            self.reasons.append(Rejected(line, reason))


_DECODER = msgspec.json.Decoder(ReportIn)


@dataclass(slots=True)
class Staged:
    """What grouping needs of each staged report, in staging order (a "line" is any number
    that names the report in import_groups: the file's line, or a position)."""

    lines: list[int] = field(default_factory=list)
    cells: list[int] = field(default_factory=list)
    times: list[int] = field(default_factory=list)
    """``occurred_at`` in microseconds since the epoch."""
    client_ids: list[int] = field(default_factory=list)

    def extend(self, other: Staged) -> None:
        self.lines.extend(other.lines)
        self.cells.extend(other.cells)
        self.times.extend(other.times)
        self.client_ids.extend(other.client_ids)


@dataclass(slots=True)
class Validated:
    """A validated chunk: its accepted rows in COPY's text format for the staging table (built in
    the worker, so the importing process only forwards bytes), what grouping needs of each,
    and the rejected lines."""

    text: bytes = b""
    staged: Staged = field(default_factory=Staged)
    rejected: list[Rejected] = field(default_factory=list)


def validate_chunk(first_line: int, lines: list[bytes]) -> Validated:
    """Decode, validate and minimise one chunk (runs in a worker process)."""
    out = Validated()
    text: list[str] = []
    for line_no, line in enumerate(lines, start=first_line):
        if not line.strip():
            continue
        try:
            report = _DECODER.decode(line)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            out.rejected.append(Rejected(line_no, in_words(str(exc))))
            continue
        content = minimise(report)
        body = canonical_content(content)
        cell = h3i.str_to_int(content.location.h3_cell)
        # COPY's text format: tab-separated, backslash the only character to escape (JSON
        # escapes tabs and newlines itself; the other fields are codes, numbers and times).
        fields = (
            str(line_no),
            str(uuid_utils.uuid7()),  # the Rust object: a stdlib UUID costs 10x to print
            str(content.client_id),
            kind_of(content),
            hashlib.sha256(body).hexdigest(),
            content.occurred_at.isoformat(),
            str(cell),
            body.decode().replace("\\", "\\\\"),
            classify(content.identification),
            content.agents.masked.value,
            _array([code.value for code in content.agents.agencies_claimed]),
            _array([code.value for code in content.agents.agencies_suspected]),
            report_agency(content.agents),
        )
        text.append("\t".join(fields))
        out.staged.lines.append(line_no)
        out.staged.cells.append(cell)
        out.staged.times.append(microseconds(content.occurred_at))
        out.staged.client_ids.append(content.client_id.int)
    text.append("")
    out.text = "\n".join(text).encode() if out.staged.lines else b""
    return out


def _array(codes: list[str]) -> str:
    """A PostgreSQL array literal of agency codes (letters and underscores: nothing to quote)."""
    return "{" + ",".join(codes) + "}"


def read_chunks(stream: IO[bytes]) -> Iterator[tuple[int, list[bytes]]]:
    line_no = 1
    while chunk := list(islice(stream, CHUNK_LINES)):
        yield line_no, chunk
        line_no += len(chunk)


async def import_reports(
    conn: asyncpg.Connection,
    path: Path,
    *,
    account_id: uuid.UUID,
    grouping: GroupingRule,
    time_zone: str,
    executor: Executor,
    status: ReportStatus = ReportStatus.PENDING,
    progress: Callable[[int], object] = lambda lines: None,
    phase: Callable[[str], object] = lambda name: None,
) -> ImportSummary:
    """Import ``path`` for ``account_id`` in one transaction; returns what happened. The new
    reports are stored as ``status`` (``IMPORT_STATUSES``: reports already present keep
    theirs); the import is audited as ``report.imported``. ``progress`` hears of every
    validated chunk (lines), ``phase`` of each step after."""
    if status not in IMPORT_STATUSES:
        raise ValueError(f"an import stores pending, verified or unverified reports, not {status}")
    summary = ImportSummary()
    received_at = datetime.now(UTC)
    collected = Staged()
    async with conn.transaction():
        await conn.execute(CREATE_STAGING)
        with path.open("rb") as stream:
            # Workers validate chunk n+1.. while this process copies chunk n.
            pending = []
            for first_line, lines in read_chunks(stream):
                pending.append(executor.submit(validate_chunk, first_line, lines))
                summary.lines += len(lines)
                if len(pending) > 2:
                    await _stage(conn, pending.pop(0).result(), summary, collected, progress)
            for future in pending:
                await _stage(conn, future.result(), summary, collected, progress)
        phase("waiting for the folder")
        await folder.lock(conn)
        phase("waiting for submissions to pause")
        await conn.execute(LOCK)
        phase("checking client_ids")
        keep = await _skip_known(conn, account_id, summary, collected)
        summary.imported = int(keep.sum())
        phase("grouping into incidents")
        # All at once, before storing: the folder chooses each report's incident, so the
        # reports are written once, settled, and the folder never reads, locks and rewrites
        # them (that cost more than storing them).
        chosen = np.flatnonzero(keep).tolist()
        membership = await folder.join_unstored(
            conn,
            grouping,
            [collected.cells[i] for i in chosen],
            [collected.times[i] for i in chosen],
        )
        await conn.copy_records_to_table(
            "import_groups",
            records=zip([collected.lines[i] for i in chosen], membership.incidents, strict=True),
        )
        await _store_reports(conn, account_id, received_at, status, summary.imported, phase)
        phase("updating statistics")
        await folder.log_stored(conn, account_id, received_at, time_zone)
        # Reports submitted before the import paused submissions are folded too, and the
        # cube takes every change in.
        folded = await folder.fold(conn, grouping, time_zone)
        assert folded is not None  # the lock is held
        summary.incidents = membership.new_incidents
        summary.merged = membership.merged_incidents
        # Last: the audit log serialises appenders until this transaction commits.
        await _audit(conn, account_id, received_at, status, summary)
        phase("committing")
    summary.reasons.sort(key=lambda rejected: rejected.line)
    return summary


async def _audit(
    conn: asyncpg.Connection,
    account_id: uuid.UUID,
    received_at: datetime,
    status: ReportStatus,
    summary: ImportSummary,
) -> None:
    """One entry for the whole import: the reports it stored are the account's with this
    ``received_at`` (and, unless pending, ``reviewed_by`` the account: the verification
    is the importer's, not a moderator's)."""
    role = await conn.fetchval(SELECT_ROLE, account_id)
    await record(
        conn,
        actor=Principal(id=account_id, role=Role(role)),
        action="report.imported",
        subject_type="account",
        subject_id=str(account_id),
        details={
            "status": status.value,
            "received_at": received_at.isoformat(),
            "imported": summary.imported,
            "already_present": summary.already_present,
            "rejected": summary.rejected,
        },
    )


async def _store_reports(
    conn: asyncpg.Connection,
    account_id: uuid.UUID,
    received_at: datetime,
    status: ReportStatus,
    count: int,
    phase: Callable[[str], object],
) -> None:
    """Insert the reports kept (import_groups). An import larger than what is stored (a first
    load, say) drops the plain indexes and the foreign keys first and builds them afresh
    afterwards, as pg_restore does: maintaining them row by row cost twice as much as the
    insert itself (200,000 reports: 7.4 s against 1.2 s plus 2.0 s of building). That takes
    the table's exclusive lock, so reads of reports wait until the import commits too."""
    await conn.execute(JOIN_MEMORY)
    if count == 0 or await conn.fetchval(STORED_UP_TO, count) >= count:
        phase("storing reports")
        await conn.execute(
            INSERT_REPORTS, account_id, received_at, status.value, folder.counted_as(status)
        )
        return
    indexes = await conn.fetch(PLAIN_INDEXES)
    keys = await conn.fetch(FOREIGN_KEYS)
    phase("dropping indexes (reads wait)")
    for row in keys:
        await conn.execute(f"alter table reports drop constraint {row['name']}")
    for row in indexes:
        await conn.execute(f"drop index {row['name']}")
    phase("storing reports")
    await conn.execute(
        INSERT_REPORTS, account_id, received_at, status.value, folder.counted_as(status)
    )
    phase("building indexes")
    await conn.execute(BUILD_MEMORY)
    for row in indexes:
        await conn.execute(row["definition"])
    for row in keys:
        await conn.execute(f"alter table reports add constraint {row['name']} {row['definition']}")


async def _stage(
    conn: asyncpg.Connection,
    chunk: Validated,
    summary: ImportSummary,
    collected: Staged,
    progress: Callable[[int], object],
) -> None:
    for item in chunk.rejected:
        summary.reject(item.line, item.reason)
    if chunk.staged.lines:
        await conn.copy_to_table(
            "import_staging", source=io.BytesIO(chunk.text), columns=STAGING_COLUMNS, format="text"
        )
        collected.extend(chunk.staged)
    progress(len(chunk.staged.lines) + len(chunk.rejected))


async def _skip_known(
    conn: asyncpg.Connection, account_id: uuid.UUID, summary: ImportSummary, c: Staged
) -> np.ndarray:
    """Which staged reports to import: not a repeat in the file, not stored before."""
    keep = np.ones(len(c.lines), dtype=bool)
    position = {line: i for i, line in enumerate(c.lines)}
    for row in await conn.fetch(ALREADY_PRESENT, account_id):
        keep[position[row["line_no"]]] = False
        retained = row["retained"]
        if row["same"] or (
            retained is not None and matches_retained(row["stored"], decode_stored(retained))
        ):
            summary.already_present += 1
        else:
            summary.reject(row["line_no"], "client_id already imported with different content")
    # A client_id used twice in the file: the first line wins, later ones are refused.
    first_line: dict[int, int] = {}
    for i, client_id in enumerate(c.client_ids):
        seen = first_line.setdefault(client_id, c.lines[i])
        if seen != c.lines[i] and keep[i]:
            keep[i] = False
            summary.reject(c.lines[i], f"client_id repeats line {seen}")
    return keep
