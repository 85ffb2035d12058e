-- One write path: ingest only appends a report; one folder (storage/folder.py) derives
-- incident membership, incident facts and the statistics cube from what changed, in batches.
--
-- reports.fold_pending_since: set by every write that changes what the folder derives from a
-- report (the ingest INSERT through the column default; withdrawal, review, retention), and
-- cleared by the folder once it has taken the report in.
-- reports.counted: what the statistics currently count of the report (0 nothing, 1 scope
-- 'all', 2 'all' and 'verified'); the folder logs the exact difference to what should count.
alter table reports
    add column fold_pending_since timestamptz,
    add column counted smallint not null default 0 check (counted between 0 and 2);

-- Counted reports were exactly those with an incident.
update reports
set counted = case when status = 'verified' then 2 else 1 end
where incident_id is not null;
-- Reports stored before incidents existed and never grouped: the folder groups them (this
-- replaces the grouping the migration runner did after migrating).
update reports set fold_pending_since = now()
where incident_id is null and status not in ('withdrawn', 'rejected')
  and content is not null and occurred_at is not null and h3_cell is not null;
-- Set after the backfill, so existing rows are not all marked pending.
alter table reports alter column fold_pending_since set default now();

-- A withdrawn report's content goes at once; what the statistics counted of it stays until
-- the folder takes it out of the counts (then it is purged: counted is 0 again).
alter table reports drop constraint reports_withdrawn_purged;
alter table reports add constraint reports_withdrawn_purged check (
    status <> 'withdrawn' or (
        content is null and (counted > 0 or (
            occurred_at is null and h3_cell is null and incident_id is null
            and identification is null and masked is null and agencies_claimed is null
            and agencies_suspected is null and agency is null)))
);
-- A rejected report leaves its incident when the folder takes it out of the counts.
alter table reports drop constraint reports_rejected_ungrouped;
alter table reports add constraint reports_rejected_ungrouped check (
    status <> 'rejected' or incident_id is null or counted > 0);

-- The per-report grouping in SQL is gone: the rule exists once, in storage/bulk_grouping.py.
drop function ingest_report(uuid, uuid, uuid, uuid, text, timestamptz, text, text, timestamptz,
                            bigint, jsonb, text, text, text[], text[], text, bigint[], interval,
                            bigint[]);
drop function regroup_report(uuid, bigint[], interval, bigint[]);
drop function lock_candidate_incidents(bigint[], timestamptz, interval, bigint[]);
drop function absorb_incidents(bigint, bigint[]);
drop function refresh_incident(bigint);
drop function refresh_incidents(bigint[]);
drop index reports_ungrouped_idx;

-- Indexes on reports, each with the query it serves (an index no query needs only costs
-- every insert):
-- reports_pkey (id): every read of one report.
-- reports_owner_client_key (owner_id, client_id): ingest's ON CONFLICT and its replay
--   (storage/reports.py INSERT_REPORT, SELECT_BY_CLIENT_ID).
-- reports_owner_page_idx (owner_id, received_at desc, id desc): GET /v1/reports for a
--   reporter (storage/reports.py SELECT_PAGE).
-- reports_status_page_idx (status, received_at desc, id desc): the moderation queue and
--   GET /v1/reports?status= (SELECT_PAGE, storage/moderation_queue.py).
-- reports_page_idx (received_at desc, id desc): GET /v1/reports for staff (SELECT_PAGE).
-- reports_grouping_idx (h3_cell, occurred_at) where incident_id is not null: the folder's
--   neighbour search (storage/folder.py NEIGHBOURS).
-- reports_incident_idx (incident_id) where incident_id is not null: an incident's members
--   (storage/folder.py MEMBERS, storage/incident_views.py, incident_facts_of).
-- reports_counted_time_idx (occurred_at) where incident_id is not null: report-unit
--   statistics over partial periods (storage/stats_cube.py, the reports source).
-- reports_fine_cell_idx (received_at) where the cell is finer than res 7: retention's
--   coarsening (storage/retention.py SELECT_COARSEN_BATCH).
-- The three partial indexes on incident_id cost ingest nothing: a new report has none yet.
-- reports_fold_pending_idx: the folder's batch (storage/folder.py PENDING_BATCH) and the
--   pending probe before statistics queries and in /metrics (PENDING_PROBE, FOLD_LAG).
create index reports_fold_pending_idx on reports (fold_pending_since)
    where fold_pending_since is not null;

-- current definition: incident_facts_of
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
-- end of current definition: incident_facts_of

-- current definition: fold_statistics
create or replace function fold_statistics(p_time_zone text) returns bigint
language plpgsql as $$
declare
    v_folded bigint;
    v_generation bigint;
    v_rebuild boolean;
begin
    perform pg_advisory_xact_lock(7351000101);
    -- A bulk import folds millions of changes: let the aggregation hash in memory.
    perform set_config('work_mem', '256MB', true);
    -- Whatever connection folds: compiling this statement cost 480 ms, running it 30.
    perform set_config('jit', 'off', true);
    v_rebuild := (select time_zone from stats_cube_settings) is distinct from p_time_zone;
    if v_rebuild then
        -- Start afresh and count every incident and counted report from the tables (what
        -- the folder has counted: reports.counted). Only the folder logs changes, and it
        -- holds this lock: the changes pending are counted with everything else.
        truncate stats_cube, stats_folded;
        delete from stats_changes;
        insert into stats_cube_settings as s (time_zone) values (p_time_zone)
        on conflict (singleton) do update
        set time_zone = excluded.time_zone, generation = s.generation + 1;
        -- Counts may move between months (another zone): every month has changed.
        update stats_cube_months set generation = (select generation from stats_cube_settings);
        -- Whole tables are read: hash joins, not an index probe per incident (the planner
        -- cannot tell from the array of incidents how many there are).
        perform set_config('enable_nestloop', 'off', true);
    end if;
    select generation + 1 into v_generation from stats_cube_settings;
    with logged as (
        delete from stats_changes returning *
    ), changes as (
        select incident_id, scope, report_sign, occurred_at, h3_cell, agency, masked, kind,
               identification
        from logged
        union all
        select id, 'all', 0, null, null, null, null, null, null
        from incidents where v_rebuild
        union all
        select r.incident_id, scope.name, 1, r.occurred_at, r.h3_cell, r.agency, r.masked,
               r.kind, r.identification
        from reports r cross join (values ('all'), ('verified')) as scope (name)
        where v_rebuild and r.counted > 0 and (scope.name = 'all' or r.counted = 2)
    ), dirty as (
        select distinct incident_id from changes where incident_id is not null
    ), facts as (
        select f.incident_id, f.scope, f.earliest_at, f.h3_cell, f.agency, f.masked, f.kind,
               f.classification
        from incident_facts_of(array(select incident_id from dirty)) f
    ), previous as (
        select p.* from stats_folded p join dirty using (incident_id)
    ), deltas (scope, unit, at, cell, agency, masked, kind, class, n) as (
        select scope, 'incident', earliest_at, h3_cell, agency, masked, kind, classification,
               -1
        from previous
        union all
        select scope, 'incident', earliest_at, h3_cell, agency, masked, kind, classification, 1
        from facts
        union all
        select scope, 'report', occurred_at, h3_cell, agency, masked, kind, identification,
               report_sign
        from changes where report_sign <> 0
    ), localised as (
        select scope, unit, (at at time zone p_time_zone)::date as day,
               h3_parent(cell, 7) as area, agency, masked, kind, class, n
        from deltas
    ), daily_attributes as (
        select scope, unit, day, agency, masked, kind,
               coalesce(sum(n) filter (where class = 'not_identified'), 0) as not_identified,
               coalesce(sum(n) filter (where class = 'identified'), 0) as identified,
               coalesce(sum(n) filter (where class = 'unclear'), 0) as unclear
        from localised
        group by 1, 2, 3, 4, 5, 6
    ), daily_areas as (
        select scope, unit, day, area,
               coalesce(sum(n) filter (where class = 'not_identified'), 0) as not_identified,
               coalesce(sum(n) filter (where class = 'identified'), 0) as identified,
               coalesce(sum(n) filter (where class = 'unclear'), 0) as unclear
        from localised
        group by 1, 2, 3, 4
    ), expanded (rollup, scope, unit, period, area, agency, masked, kind, not_identified,
                 identified, unclear) as (
        -- The rollups by id (stats_rollups): 5 day, 2 month and 4 week by attributes; 1
        -- month and 3 week by area. Months and weeks add up the days, not the changes again.
        select 5, scope, unit, day, 0, agency, masked, kind, not_identified, identified,
               unclear
        from daily_attributes
        union all
        select 2, scope, unit, date_trunc('month', day::timestamp)::date, 0, agency, masked,
               kind, sum(not_identified)::bigint, sum(identified)::bigint,
               sum(unclear)::bigint
        from daily_attributes group by 2, 3, 4, 6, 7, 8
        union all
        select 4, scope, unit, date_trunc('week', day::timestamp)::date, 0, agency, masked,
               kind, sum(not_identified)::bigint, sum(identified)::bigint,
               sum(unclear)::bigint
        from daily_attributes group by 2, 3, 4, 6, 7, 8
        union all
        select 1, scope, unit, date_trunc('month', day::timestamp)::date, area, '', '', '',
               sum(not_identified)::bigint, sum(identified)::bigint,
               sum(unclear)::bigint
        from daily_areas group by 2, 3, 4, 5
        union all
        select 3, scope, unit, date_trunc('week', day::timestamp)::date, area, '', '', '',
               sum(not_identified)::bigint, sum(identified)::bigint,
               sum(unclear)::bigint
        from daily_areas group by 2, 3, 4, 5
    ), applied as (
        insert into stats_cube as c (rollup, scope, unit, period, area, agency, masked, kind,
                                     not_identified, identified, unclear)
        select * from expanded
        on conflict (rollup, scope, unit, period, area, agency, masked, kind) do update set
            not_identified = c.not_identified + excluded.not_identified,
            identified = c.identified + excluded.identified,
            unclear = c.unclear + excluded.unclear
    ), remembered as (
        insert into stats_folded as p (incident_id, scope, earliest_at, h3_cell, agency, masked,
                                       kind, classification)
        select * from facts
        on conflict (incident_id, scope) do update set
            earliest_at = excluded.earliest_at, h3_cell = excluded.h3_cell,
            agency = excluded.agency, masked = excluded.masked, kind = excluded.kind,
            classification = excluded.classification
    ), touched as (
        insert into stats_cube_months as m (month, generation)
        select distinct date_trunc('month', day::timestamp)::date, v_generation from localised
        on conflict (month) do update set generation = excluded.generation
    ), forgotten as (
        delete from stats_folded p using previous x
        where p.incident_id = x.incident_id and p.scope = x.scope
          and not exists (select from facts f
                          where f.incident_id = x.incident_id and f.scope = x.scope)
    )
    select count(*) into v_folded from changes;
    if v_folded > 0 then
        update stats_cube_settings set generation = v_generation;
    end if;
    return v_folded;
end
$$;
-- end of current definition: fold_statistics
