-- requires: h3_parent, incident_facts_of
-- Move every pending change into the statistics cube. One statement, so one snapshot: a change
-- committed later stays for the next fold, and the facts read belong to exactly the changes
-- consumed. Nothing here locks what ingest writes.
--
-- The facts (agency included) are worked out from the changed incidents' reports, and the
-- months the changes fall in are marked with the fold's generation. The changes are summed per
-- day twice, once by attributes and once by area, and the months and weeks are summed from
-- those days (grouping every change once per rollup hashed five times as many rows).
--
-- A cube built afresh (the first fold, another configured time zone, a first bulk import)
-- reads the tables themselves with hash joins instead of queueing every incident and counted
-- report as a change (for 5,000,000 imported reports that was 7.4 million change rows).
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
