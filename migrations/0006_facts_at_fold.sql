-- Incident facts are worked out by the fold, from the reports of the incidents that changed,
-- instead of being kept current by every ingest. Keeping them cost each submission about as
-- much database time as storing the report itself (measured with ingest_report alone: 0.45 ms
-- of backend CPU per call with the upsert, 0.31 ms without), while only the fold reads them.
-- Ingest now writes the report, its incident and one change row.

-- The facts of the given incidents, per scope ('all' = every counted report, 'verified' = its
-- verified reports only), from their reports. Time, area and kind are those of the earliest
-- report; the classification is the plurality of the reports' classifications (a tie is
-- unclear); masked is the most often reported known value (ties towards more masking); the
-- agency is the most often claimed code, else the most often suspected, else 'unknown' (ties
-- in byte order). An incident without reports in a scope has no row for it.
create function incident_facts_of(p_incidents bigint[])
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
        where scope.name = 'all' or r.status = 'verified'
    ), counts as (
        select m.incident_id, m.scope, count(*) as reports,
               min(m.occurred_at) as earliest_at,
               (array_agg(m.id order by m.occurred_at, m.id))[1] as earliest_report,
               (array_agg(m.h3_cell order by m.occurred_at, m.id))[1] as h3_cell,
               (array_agg(m.kind order by m.occurred_at, m.id))[1] as kind,
               count(*) filter (where m.identification = 'identified') as identified,
               count(*) filter (where m.identification = 'not_identified') as not_identified,
               count(*) filter (where m.identification = 'unclear') as unclear,
               count(*) filter (where m.masked = 'all') as masked_all,
               count(*) filter (where m.masked = 'some') as masked_some,
               count(*) filter (where m.masked = 'none') as masked_none
        from members m
        group by m.incident_id, m.scope
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

drop table incident_facts;
-- Every incident's facts, for operators and tests; the fold asks only for the ones it needs.
create view incident_facts as
select * from incident_facts_of(array(select id from incidents));

-- An incident's membership changed (merge, split, withdrawal, review, bulk import): queue it
-- for the fold, and delete the incident if no counted report is left in it.
create or replace function refresh_incidents(p_incidents bigint[]) returns void
language plpgsql as $$
begin
    delete from incidents i using unnest(p_incidents) as t (id)
    where i.id = t.id and not exists (select from reports r where r.incident_id = i.id);
    insert into stats_changes (incident_id) select unnest(p_incidents);
end
$$;

-- The incidents a report at p_at joins: every incident with a counted report among
-- p_neighbours within p_window, locked, oldest first.
--
-- p_locks are advisory-lock keys for every (coarse cell, time bucket) the neighbourhood
-- touches, sorted: two reports that could group share at least one key, so they are
-- serialised and the second one sees the first. The incident rows are then locked, and the
-- candidates re-read until stable, so a concurrent merge elsewhere cannot be missed.
create function lock_candidate_incidents(
    p_neighbours bigint[], p_at timestamptz, p_window interval, p_locks bigint[]
) returns bigint[]
language plpgsql as $$
declare
    v_key bigint;
    v_candidates bigint[];
    v_locked bigint[];
begin
    foreach v_key in array p_locks loop
        perform pg_advisory_xact_lock(v_key);
    end loop;
    loop
        select coalesce(array_agg(distinct incident_id order by incident_id), '{}')
        into v_candidates
        from reports
        where h3_cell = any(p_neighbours)
          and occurred_at between p_at - p_window and p_at + p_window
          and incident_id is not null;
        if cardinality(v_candidates) = 0 then
            return v_candidates;
        end if;
        select coalesce(array_agg(id order by id), '{}') into v_locked from (
            select id from incidents where id = any(v_candidates) order by id for update
        ) as locked;
        if v_locked = v_candidates then
            return v_candidates;
        end if;
    end loop;
end
$$;

-- A report bridged several incidents: the others become the first (the oldest), and are
-- queued for the fold.
create function absorb_incidents(p_survivor bigint, p_absorbed bigint[]) returns void
language sql as $$
    update reports set incident_id = p_survivor where incident_id = any(p_absorbed);
    delete from incidents where id = any(p_absorbed);
    insert into stats_changes (incident_id) select unnest(p_absorbed);
$$;

-- As in 0003, without the facts: the report's change row queues its incident for the fold.
-- Returns the report's incident, or null when the submitter already used this client_id.
create or replace function ingest_report(
    p_id uuid, p_device uuid, p_account uuid, p_client uuid, p_kind text,
    p_received timestamptz, p_sha text, p_signature text, p_at timestamptz, p_cell bigint,
    p_content jsonb, p_identification text, p_masked text, p_claimed text[],
    p_suspected text[], p_agency text, p_neighbours bigint[], p_window interval,
    p_locks bigint[]
) returns bigint
language plpgsql as $$
declare
    v_candidates bigint[];
    v_incident bigint;
begin
    v_candidates := lock_candidate_incidents(p_neighbours, p_at, p_window, p_locks);
    if cardinality(v_candidates) = 0 then
        -- Only a number for now: the incident row is created once the report is in.
        v_incident := nextval(pg_get_serial_sequence('incidents', 'id'));
    else
        v_incident := v_candidates[1];
    end if;

    insert into reports (id, device_id, account_id, client_id, kind, received_at,
                         payload_sha256, receipt_signature, occurred_at, h3_cell, content,
                         incident_id, identification, masked, agencies_claimed,
                         agencies_suspected, agency)
    values (p_id, p_device, p_account, p_client, p_kind, p_received, p_sha, p_signature,
            p_at, p_cell, p_content, v_incident, p_identification, p_masked, p_claimed,
            p_suspected, p_agency)
    on conflict (owner_id, client_id) do nothing;
    if not found then
        return null;
    end if;
    insert into stats_changes (incident_id, scope, report_sign, occurred_at, h3_cell, agency,
                               masked, kind, identification)
    values (v_incident, 'all', 1, p_at, p_cell, p_agency, p_masked, p_kind, p_identification);

    if cardinality(v_candidates) = 0 then
        insert into incidents (id) overriding system value values (v_incident);
    elsif cardinality(v_candidates) > 1 then
        perform absorb_incidents(v_incident, v_candidates[2:]);
    end if;
    return v_incident;
end
$$;

-- The generation at which each local month's counts last changed. A published table depends
-- only on the months its date range covers, so it stays valid, and cached, while those do not
-- change: a table of last year is not recomputed for every fold of this week's reports.
create table stats_cube_months (
    month date primary key,
    generation bigint not null
);

-- As in 0004, with the facts (agency included) worked out here from the changed incidents'
-- reports, and the months the changes fall in marked with the fold's generation.
create or replace function fold_statistics(p_time_zone text) returns bigint
language plpgsql as $$
declare
    v_folded bigint;
    v_generation bigint;
begin
    perform pg_advisory_xact_lock(7351000101);
    -- A bulk import folds millions of changes: let the aggregation hash in memory.
    perform set_config('work_mem', '256MB', true);
    -- Whatever connection folds: compiling this statement cost 480 ms, running it 30.
    perform set_config('jit', 'off', true);
    if (select time_zone from stats_cube_settings) is distinct from p_time_zone then
        perform reset_statistics(p_time_zone);
    end if;
    select generation + 1 into v_generation from stats_cube_settings;
    with changes as (
        delete from stats_changes returning *
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
    ), expanded as (
        select r.id as rollup, l.scope, l.unit,
               case r.grain
                   when 'month' then date_trunc('month', l.day::timestamp)::date
                   when 'week' then date_trunc('week', l.day::timestamp)::date
                   else l.day
               end as period,
               case when r.with_area then l.area else 0 end as area,
               case when r.with_attributes then l.agency else '' end as agency,
               case when r.with_attributes then l.masked else '' end as masked,
               case when r.with_attributes then l.kind else '' end as kind,
               coalesce(sum(l.n) filter (where l.class = 'not_identified'), 0) as not_identified,
               coalesce(sum(l.n) filter (where l.class = 'identified'), 0) as identified,
               coalesce(sum(l.n) filter (where l.class = 'unclear'), 0) as unclear
        from localised l cross join stats_rollups r
        group by 1, 2, 3, 4, 5, 6, 7, 8
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

-- Five rows, never enough for autovacuum to analyse: without statistics the planner takes the
-- fold's expansion by rollup to be 250 times larger than it is.
analyze stats_rollups;

-- As in 0004: every incident is queued through stats_changes, not through stored facts, and
-- every month is marked changed.
create or replace function reset_statistics(p_time_zone text) returns void
language plpgsql as $$
begin
    lock table stats_changes in share row exclusive mode;
    -- Truncate, not delete: a million dead keys would slow every insert of the refill.
    truncate stats_cube, stats_folded;
    delete from stats_changes;
    insert into stats_changes (incident_id) select id from incidents;
    insert into stats_changes (scope, report_sign, occurred_at, h3_cell, agency, masked, kind,
                               identification)
    select scope.name, 1, r.occurred_at, r.h3_cell, r.agency, r.masked, r.kind,
           r.identification
    from reports r
    cross join (values ('all'), ('verified')) as scope (name)
    where r.incident_id is not null and (scope.name = 'all' or r.status = 'verified');
    insert into stats_cube_settings as s (time_zone) values (p_time_zone)
    on conflict (singleton) do update
    set time_zone = excluded.time_zone, generation = s.generation + 1;
    -- Counts may move between months (another zone): every month has changed.
    update stats_cube_months set generation = (select generation from stats_cube_settings);
end
$$;
