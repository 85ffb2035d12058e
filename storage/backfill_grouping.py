"""Group counted reports that belong to no incident: those stored before migration 0003
introduced grouping, which no statistic would otherwise count.

The migration runner calls this after migrating, while it holds its advisory lock. The work is
the bulk import's (storage/bulk_import.py), step for step: the ungrouped reports are grouped
together with the stored reports of their period, so they join, bridge and merge existing
incidents exactly as if they had been submitted one by one; then incidents, their facts and
the statistics change log are written set-based, in one transaction. The statistics cube takes
the changes in at its next fold (the background fold, or before a statistics query).
"""

from __future__ import annotations

import logging
from typing import Final

import asyncpg
import numpy as np

from storage.bulk_grouping import microseconds

# The import's own steps, reused rather than repeated.
from storage.bulk_import import (
    APPLY_MERGES,
    CREATE_STAGING,
    DROP_MERGED,
    INSERT_INCIDENTS,
    LOCK,
    LOG_MERGES,
    ImportSummary,
    Staged,
    group_staged,
)
from storage.incidents import GroupingRule

log = logging.getLogger(__name__)

GROUPING_VERSION: Final = 3
"""The migration that added incidents: before it there is nothing to group into."""

# The predicate is word for word that of the partial index of migration 0005, so the planner
# answers from that index, which is empty once everything is grouped.
ANY_UNGROUPED = """
select exists (select from reports
    where incident_id is null and status not in ('withdrawn', 'rejected')
      and content is not null and occurred_at is not null and h3_cell is not null)
"""
SELECT_UNGROUPED = """
select id, h3_cell, occurred_at from reports
where incident_id is null and status not in ('withdrawn', 'rejected')
  and content is not null and occurred_at is not null and h3_cell is not null
order by occurred_at, id
"""
# Which report each staged "line" is (the bulk import's grouping works on line numbers).
CREATE_LINES = """
drop table if exists pg_temp.backfill_lines;
create temporary table backfill_lines (
    line_no integer primary key, id uuid not null
) on commit drop
"""
# The incidents written or merged into: queued for the fold (and deleted if left empty).
REFRESH = """
select refresh_incidents(array(
    select distinct incident_id from import_groups
    union select survivor from import_merges))
"""
ASSIGN = """
update reports r set incident_id = g.incident_id
from backfill_lines b join import_groups g using (line_no)
where r.id = b.id
"""
# What ingest logs per report, after the merges (so with the surviving incident). Reports
# reviewed before 0003 may be verified already: they enter that scope's counts as well.
LOG_CHANGES = """
insert into stats_changes (incident_id, scope, report_sign, occurred_at, h3_cell, agency,
                           masked, kind, identification)
select r.incident_id, scope.name, 1, r.occurred_at, r.h3_cell, r.agency, r.masked, r.kind,
       r.identification
from backfill_lines b join reports r using (id)
cross join (values ('all'), ('verified')) as scope (name)
where scope.name = 'all' or r.status = 'verified'
"""


async def group_ungrouped(conn: asyncpg.Connection, rule: GroupingRule) -> int:
    """Put every counted report without an incident into one; returns how many there were.
    With none (every start after the first), this is one probe of an empty index."""
    if not await conn.fetchval(ANY_UNGROUPED):
        return 0
    async with conn.transaction():
        # Submissions wait, as for an import: one arriving meanwhile would not see these.
        await conn.execute(LOCK)
        rows = await conn.fetch(SELECT_UNGROUPED)
        if not rows:
            return 0
        summary = await _assign_incidents(conn, rule, rows)
        await conn.execute(APPLY_MERGES)
        await conn.execute(DROP_MERGED)
        await conn.execute(INSERT_INCIDENTS)
        await conn.execute(REFRESH)
        await conn.execute(LOG_CHANGES)
        await conn.execute(LOG_MERGES)
    log.info(
        "grouped reports stored without an incident",
        extra={
            "reports": summary.imported,
            "new_incidents": summary.incidents,
            "merged_incidents": summary.merged,
        },
    )
    return summary.imported


async def _assign_incidents(
    conn: asyncpg.Connection, rule: GroupingRule, rows: list[asyncpg.Record]
) -> ImportSummary:
    """The bulk import's grouping, with row positions as line numbers; fills import_groups
    (line → incident) and import_merges (stored incidents absorbed by others)."""
    await conn.execute(CREATE_STAGING)
    await conn.execute(CREATE_LINES)
    lines = list(range(len(rows)))
    await conn.copy_records_to_table(
        "backfill_lines", records=[(line, row["id"]) for line, row in zip(lines, rows, strict=True)]
    )
    collected = Staged(
        lines=lines,
        cells=[row["h3_cell"] for row in rows],
        times=[microseconds(row["occurred_at"]) for row in rows],
    )
    summary = ImportSummary()
    await group_staged(conn, rule, summary, collected, np.ones(len(rows), dtype=bool))
    await conn.execute(ASSIGN)
    return summary
