-- The statistics cube: pre-aggregated counts that the statistics endpoints read instead of
-- incidents or reports. Ingest only appends to stats_changes (0003); fold_statistics moves
-- those changes into the cube in one set-based statement, before each statistics query and
-- every second in the background, so the hot path never touches a shared counter row.

-- The fold also decides each incident's agency (the most often claimed, else suspected):
-- counting codes per incident on every report would cost ingest more than everything else.

-- Each rollup keeps one time grain (periods are local dates in the configured time zone) and
-- either the area (H3 res 7; coarser areas are its parents) or the attributes (agency, masked,
-- kind). Area and attributes together are nearly one row per incident, no smaller than the
-- incident facts, so such queries read those instead (storage/stats_cube.py); so do the
-- partial periods at the ends of a date range, except that attribute-only queries take them
-- from the day rollup.
create table stats_rollups (
    id smallint primary key,
    grain text not null check (grain in ('month', 'week', 'day')),
    with_area boolean not null,
    with_attributes boolean not null,
    check (with_area <> with_attributes)
);
insert into stats_rollups (id, grain, with_area, with_attributes) values
    (1, 'month', true, false), (2, 'month', false, true),
    (3, 'week', true, false), (4, 'week', false, true),
    (5, 'day', false, true);

-- Text keys compare byte-wise ("C"): the fold sorts and indexes millions of them.
create table stats_cube (
    rollup smallint not null references stats_rollups (id),
    scope text collate "C" not null,
    unit text collate "C" not null check (unit in ('incident', 'report')),
    period date not null,
    area bigint not null,
    agency text collate "C" not null,
    masked text collate "C" not null,
    kind text collate "C" not null,
    not_identified integer not null,
    identified integer not null,
    unclear integer not null,
    primary key (rollup, scope, unit, period, area, agency, masked, kind)
);

-- What the cube currently counts for each incident: the fold takes this back out and adds the
-- incident's current facts. Only the fold touches it, so it never waits for ingest.
create table stats_folded (
    incident_id bigint not null,
    scope text not null,
    earliest_at timestamptz not null,
    h3_cell bigint not null,
    agency text not null,
    masked text not null,
    kind text not null,
    classification text not null,
    primary key (incident_id, scope)
);
-- Incident statistics the cube cannot answer read this, by time.
create index stats_folded_time_idx on stats_folded (scope, earliest_at);

-- The time zone the cube's periods are in (a different configured zone rebuilds the cube),
-- and a generation that every fold which changed something advances: tables computed from
-- the cube stay valid, and may be cached, while it stays the same.
create table stats_cube_settings (
    singleton boolean primary key default true check (singleton),
    time_zone text not null,
    generation bigint not null default 0
);

-- Move every pending change into the cube. One statement, so one snapshot: a change committed
-- later stays for the next fold, and the facts read belong to exactly the changes consumed
-- (ingest writes both in one transaction). Nothing here locks what ingest writes.
create function fold_statistics(p_time_zone text) returns bigint
language plpgsql as $$
declare
    v_folded bigint;
begin
    perform pg_advisory_xact_lock(7351000101);
    -- A bulk import folds millions of changes: let the aggregation hash in memory.
    perform set_config('work_mem', '256MB', true);
    if (select time_zone from stats_cube_settings) is distinct from p_time_zone then
        perform reset_statistics(p_time_zone);
    end if;
    with changes as (
        delete from stats_changes returning *
    ), dirty as (
        select distinct incident_id from changes where incident_id is not null
    ), agency_counts as (
        -- Claimed codes rank before suspected ones; 'unknown' names no agency.
        select r.incident_id, scope.name as scope, code.name as code, code.rank,
               count(*) as n
        from dirty d
        join reports r on r.incident_id = d.incident_id
        cross join (values ('all'), ('verified')) as scope (name)
        cross join lateral (
            select c, 1 from unnest(r.agencies_claimed) as c
            union all
            select c, 2 from unnest(r.agencies_suspected) as c
        ) as code (name, rank)
        where code.name <> 'unknown' and (scope.name = 'all' or r.status = 'verified')
        group by 1, 2, 3, 4
    ), agencies as (
        -- The most often claimed, else most often suspected; ties in byte order.
        select distinct on (incident_id, scope) incident_id, scope, code as agency
        from agency_counts
        order by incident_id, scope, rank, n desc, code collate "C"
    ), facts as (
        select f.incident_id, f.scope, f.earliest_at, f.h3_cell,
               coalesce(a.agency, 'unknown') as agency, f.masked, f.kind, f.classification
        from incident_facts f
        join dirty using (incident_id)
        left join agencies a on a.incident_id = f.incident_id and a.scope = f.scope
        where f.reports > 0
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
    ), forgotten as (
        delete from stats_folded p using previous x
        where p.incident_id = x.incident_id and p.scope = x.scope
          and not exists (select from facts f
                          where f.incident_id = x.incident_id and f.scope = x.scope)
    ), purged as (
        -- Tombstones, once taken out (a concurrent refresh that revives one wins: the delete
        -- re-checks the row it waited for).
        delete from incident_facts f using dirty d
        where f.incident_id = d.incident_id and f.reports = 0
    )
    select count(*) into v_folded from changes;
    if v_folded > 0 then
        update stats_cube_settings set generation = generation + 1;
    end if;
    return v_folded;
end
$$;

-- Empty the cube and queue everything counted as changes, for the next fold to add back in
-- (a new time zone, or after a bulk import). Ingest is held off meanwhile: a report committed
-- between these statements would be queued twice.
create function reset_statistics(p_time_zone text) returns void
language plpgsql as $$
begin
    lock table stats_changes in share row exclusive mode;
    -- Truncate, not delete: a million dead keys would slow every insert of the refill.
    truncate stats_cube, stats_folded;
    delete from stats_changes;
    delete from incident_facts where reports = 0;
    insert into stats_changes (incident_id) select distinct incident_id from incident_facts;
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
end
$$;
