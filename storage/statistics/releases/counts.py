"""The exact counts a release starts from: incidents of one month, as their reports received
by a given time make them, per table cell and class.

An incident's facts follow the rules of ``incident_facts_of`` (migrations/repeatable): its
month and area are those of its earliest report, its class the plurality of its reports'
classes (a tie is unclear), its masking the most often reported known value (ties towards
more masking), its agency the most often claimed code, else the most often suspected, else
'unknown'. Here only the reports counted in the release's scope and received by the cut-off
take part, so a report received later cannot change a published version: it waits for a
correction.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

import asyncpg
import h3.api.basic_int as h3i

from schemas.stats import StatusScope

CLASSES = ("not_identified", "identified", "unclear")
RELEASE_AREA_RESOLUTION = 6

# $1, $2: the month's first instant and the next month's; $3: the receipt cut-off; $4: true
# for verified reports only; $5: the areas' H3 resolution. Candidates are the incidents with
# a counted report in the month (the earliest report of an incident of the month is one).
EXACT_COUNTS = """
with candidates as (
    select distinct r.incident_id
    from reports r
    where r.incident_id is not null and r.occurred_at >= $1 and r.occurred_at < $2
), members as (
    select r.incident_id, r.id, r.occurred_at, r.h3_cell, r.identification, r.masked,
           r.agencies_claimed, r.agencies_suspected
    from candidates c
    join reports r on r.incident_id = c.incident_id
    where r.received_at <= $3 and (not $4 or r.counted = 2)
), earliest as (
    select distinct on (incident_id) incident_id, occurred_at, h3_cell
    from members
    order by incident_id, occurred_at, id
), counts as (
    select incident_id,
           count(*) filter (where identification = 'identified') as identified,
           count(*) filter (where identification = 'not_identified') as not_identified,
           count(*) filter (where identification = 'unclear') as unclear,
           count(*) filter (where masked = 'all') as masked_all,
           count(*) filter (where masked = 'some') as masked_some,
           count(*) filter (where masked = 'none') as masked_none
    from members
    group by incident_id
), agency_counts as (
    select m.incident_id, code.name as code, code.rank, count(*) as n
    from members m
    cross join lateral (
        select c, 1 from unnest(m.agencies_claimed) as c
        union all
        select c, 2 from unnest(m.agencies_suspected) as c
    ) as code (name, rank)
    where code.name <> 'unknown'
    group by 1, 2, 3
), agencies as (
    select distinct on (incident_id) incident_id, code as agency
    from agency_counts
    order by incident_id, rank, n desc, code collate "C"
), facts as (
    select h3_parent(e.h3_cell, $5) as area,
           case
               when c.not_identified > c.identified and c.not_identified > c.unclear
                   then 'not_identified'
               when c.identified > c.not_identified and c.identified > c.unclear
                   then 'identified'
               else 'unclear'
           end as class,
           case
               when c.masked_all + c.masked_some + c.masked_none = 0 then 'unknown'
               when c.masked_all >= c.masked_some and c.masked_all >= c.masked_none then 'all'
               when c.masked_some >= c.masked_none then 'some'
               else 'none'
           end as masked,
           coalesce(a.agency, 'unknown') as agency
    from earliest e
    join counts c using (incident_id)
    left join agencies a using (incident_id)
    where e.occurred_at >= $1 and e.occurred_at < $2
)
select area, agency, masked, class, count(*) as n
from facts
group by area, agency, masked, class
"""


@dataclass(slots=True)
class ExactCounts:
    """Incidents per class, per key of each table (never published as they are)."""

    national: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CLASSES, 0))
    agency: defaultdict[str, dict[str, int]] = field(
        default_factory=lambda: defaultdict(lambda: dict.fromkeys(CLASSES, 0))
    )
    masked: defaultdict[str, dict[str, int]] = field(
        default_factory=lambda: defaultdict(lambda: dict.fromkeys(CLASSES, 0))
    )
    area: defaultdict[str, dict[str, int]] = field(
        default_factory=lambda: defaultdict(lambda: dict.fromkeys(CLASSES, 0))
    )

    @property
    def incidents(self) -> int:
        return sum(self.national.values())

    def digest(self) -> str:
        """Changes exactly when a count does: whether a new version is due."""
        parts = [
            repr(sorted(self.national.items())),
            *(repr(sorted((k, sorted(v.items())) for k, v in t.items())) for t in self.tables()),
        ]
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()

    def tables(self) -> tuple[dict[str, dict[str, int]], ...]:
        return dict(self.agency), dict(self.masked), dict(self.area)


async def exact_counts(
    conn: asyncpg.Connection,
    start: datetime,
    end: datetime,
    received_through: datetime,
    status: StatusScope,
) -> ExactCounts:
    rows = await conn.fetch(
        EXACT_COUNTS,
        start,
        end,
        received_through,
        status is StatusScope.VERIFIED,
        RELEASE_AREA_RESOLUTION,
    )
    counts = ExactCounts()
    for row in rows:
        cls, n = row["class"], row["n"]
        area = h3i.int_to_str(row["area"])
        counts.national[cls] += n
        counts.agency[row["agency"]][cls] += n
        counts.masked[row["masked"]][cls] += n
        counts.area[area][cls] += n
    return counts
