-- The facts of the given incidents, per scope ('all' = every counted report, 'verified' = its
-- verified reports only), from their reports. Time, area and kind are those of the earliest
-- report (one DISTINCT ON sorts each incident's reports once); the classification is the
-- plurality of the reports' classifications (a tie is unclear); masked is the most often
-- reported known value (ties towards more masking); the agency is the most often claimed
-- code, else the most often suspected, else 'unknown' (ties in byte order). An incident
-- without reports in a scope has no row for it.
create or replace function incident_facts_of(p_incidents bigint[])
returns table (
    incident_id bigint, scope text, reports bigint, earliest_at timestamptz,
    earliest_report uuid, h3_cell bigint, kind text,
    identified bigint, not_identified bigint, unclear bigint,
    masked_all bigint, masked_some bigint, masked_none bigint,
    classification text, masked text, agency text
)
language sql stable as $$
    with members as (
        select r.incident_id, scope.name as scope, r.id, r.occurred_at, r.h3_cell, r.kind,
               r.identification, r.masked, r.agencies_claimed, r.agencies_suspected
        from unnest(p_incidents) as t (id)
        join reports r on r.incident_id = t.id
        cross join (values ('all'), ('verified')) as scope (name)
        where scope.name = 'all' or r.counted = 2
    ), earliest as (
        select distinct on (m.incident_id, m.scope) m.incident_id, m.scope, m.id, m.h3_cell,
               m.kind
        from members m
        order by m.incident_id, m.scope, m.occurred_at, m.id
    ), counts as (
        select m.incident_id, m.scope, count(*) as reports,
               min(m.occurred_at) as earliest_at,
               e.id as earliest_report, e.h3_cell, e.kind,
               count(*) filter (where m.identification = 'identified') as identified,
               count(*) filter (where m.identification = 'not_identified') as not_identified,
               count(*) filter (where m.identification = 'unclear') as unclear,
               count(*) filter (where m.masked = 'all') as masked_all,
               count(*) filter (where m.masked = 'some') as masked_some,
               count(*) filter (where m.masked = 'none') as masked_none
        from members m
        join earliest e using (incident_id, scope)
        group by m.incident_id, m.scope, e.id, e.h3_cell, e.kind
    ), agency_counts as (
        -- Claimed codes rank before suspected ones; 'unknown' names no agency.
        select m.incident_id, m.scope, code.name as code, code.rank, count(*) as n
        from members m
        cross join lateral (
            select c, 1 from unnest(m.agencies_claimed) as c
            union all
            select c, 2 from unnest(m.agencies_suspected) as c
        ) as code (name, rank)
        where code.name <> 'unknown'
        group by 1, 2, 3, 4
    ), agencies as (
        select distinct on (incident_id, scope) incident_id, scope, code as agency
        from agency_counts
        order by incident_id, scope, rank, n desc, code collate "C"
    )
    select c.incident_id, c.scope, c.reports, c.earliest_at, c.earliest_report, c.h3_cell,
           c.kind, c.identified, c.not_identified, c.unclear,
           c.masked_all, c.masked_some, c.masked_none,
           case
               when c.not_identified > c.identified and c.not_identified > c.unclear
                   then 'not_identified'
               when c.identified > c.not_identified and c.identified > c.unclear
                   then 'identified'
               else 'unclear'
           end,
           case
               when c.masked_all + c.masked_some + c.masked_none = 0 then 'unknown'
               when c.masked_all >= c.masked_some and c.masked_all >= c.masked_none then 'all'
               when c.masked_some >= c.masked_none then 'some'
               else 'none'
           end,
           coalesce(a.agency, 'unknown')
    from counts c
    left join agencies a on a.incident_id = c.incident_id and a.scope = c.scope
$$;
