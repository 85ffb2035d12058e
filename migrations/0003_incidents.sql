-- Incidents: reports close in space and time are grouped at ingest, in the report's own
-- transaction (storage/incidents.py explains the rule and the locking). Per-incident facts are
-- kept up to date in the same transaction; every change is also appended to stats_changes,
-- which migration 0004 folds into the statistics cube off the ingest path.

-- What statistics need of a report, derived from its content at ingest and purged with it.
alter table reports
    add column incident_id bigint,
    add column identification text
        check (identification in ('identified', 'not_identified', 'unclear')),
    add column masked text,
    add column agencies_claimed text[],
    add column agencies_suspected text[],
    -- The report's own agency for report-unit statistics: the first claimed code in byte
    -- order, else the first suspected, else 'unknown' (the incident rule for one report).
    add column agency text;

update reports
set identification = case
        when content -> 'identification' ->> 'verbal' = 'yes'
          or content -> 'identification' ->> 'badge_shown' = 'yes'
          or content -> 'identification' ->> 'insignia_visible' = 'yes' then 'identified'
        when content -> 'identification' ->> 'verbal' = 'no'
         and content -> 'identification' ->> 'badge_shown' = 'no'
         and content -> 'identification' ->> 'insignia_visible' = 'no' then 'not_identified'
        else 'unclear'
    end,
    masked = content -> 'agents' ->> 'masked',
    agencies_claimed = array(
        select jsonb_array_elements_text(content -> 'agents' -> 'agencies_claimed')),
    agencies_suspected = array(
        select jsonb_array_elements_text(content -> 'agents' -> 'agencies_suspected')),
    agency = coalesce(
        (select min(code collate "C") from jsonb_array_elements_text(
            content -> 'agents' -> 'agencies_claimed') as code where code <> 'unknown'),
        (select min(code collate "C") from jsonb_array_elements_text(
            content -> 'agents' -> 'agencies_suspected') as code where code <> 'unknown'),
        'unknown')
where content is not null;

-- Bulk-imported reports carry no receipt: nobody submitted them from a phone to keep one.
alter table reports alter column receipt_signature drop not null;

alter table reports drop constraint reports_withdrawn_purged;
alter table reports add constraint reports_withdrawn_purged check (
    status <> 'withdrawn' or (
        content is null and occurred_at is null and h3_cell is null and incident_id is null
        and identification is null and masked is null
        and agencies_claimed is null and agencies_suspected is null and agency is null
    )
);
-- Counted reports (not withdrawn, not rejected) always belong to an incident; the partial
-- index is the neighbourhood search of grouping: one probe per H3 cell of the grid disk.
create index reports_grouping_idx on reports (h3_cell, occurred_at) include (incident_id)
    where incident_id is not null;
create index reports_incident_idx on reports (incident_id) where incident_id is not null;
-- Report-unit statistics over date ranges the statistics cube does not hold whole.
create index reports_counted_time_idx on reports (occurred_at) where incident_id is not null;

create table incidents (
    id bigint generated always as identity primary key,
    created_at timestamptz not null default now()
);

-- The parent of an H3 cell at a coarser resolution, from the index's bit layout (resolution
-- in bits 52-55, one 3-bit digit per resolution below it, unused digits all ones): statistics
-- group by area at resolution 5 to 7 without an H3 extension in the server.
create function h3_parent(cell bigint, resolution integer) returns bigint
immutable strict parallel safe language sql as $$
    select (cell & ~(15::bigint << 52) & ~((1::bigint << (3 * (15 - resolution))) - 1))
           | (resolution::bigint << 52) | ((1::bigint << (3 * (15 - resolution))) - 1)
$$;

-- Every change the statistics cube has not absorbed yet: an incident whose facts changed
-- (report_sign 0), or a report entering (+1) or leaving (-1) the counts of a scope, with the
-- dimensions it counts under. Append-only between folds, so it has no index.
create table stats_changes (
    incident_id bigint,
    scope text not null default 'all',
    report_sign smallint not null default 0,
    occurred_at timestamptz,
    h3_cell bigint,
    agency text,
    masked text,
    kind text,
    identification text
);

-- One row per incident and scope ('all' = every counted report, 'verified' = its verified
-- reports only), kept current by ingest with one upsert of plain counts. A row with no
-- reports left is a tombstone until the next fold of the statistics cube deletes it. Time,
-- area and kind are those of the earliest report; the classification is the plurality of the
-- reports' classifications (a tie is unclear); masked is the most often reported known value
-- (ties towards more masking). The incident's agency is worked out by the fold (0004).
create table incident_facts (
    incident_id bigint not null,
    scope text not null check (scope in ('all', 'verified')),
    reports integer not null check (reports >= 0),
    earliest_at timestamptz not null,
    earliest_report uuid not null,
    h3_cell bigint not null,
    kind text not null,
    identified integer not null,
    not_identified integer not null,
    unclear integer not null,
    masked_all integer not null,
    masked_some integer not null,
    masked_none integer not null,
    classification text not null generated always as (
        case
            when not_identified > identified and not_identified > unclear then 'not_identified'
            when identified > not_identified and identified > unclear then 'identified'
            else 'unclear'
        end
    ) stored,
    masked text not null generated always as (
        case
            when masked_all + masked_some + masked_none = 0 then 'unknown'
            when masked_all >= masked_some and masked_all >= masked_none then 'all'
            when masked_some >= masked_none then 'some'
            else 'none'
        end
    ) stored,
    primary key (incident_id, scope)
);

-- Recompute incidents' facts from their reports (after a merge, split, withdrawal, review or
-- bulk import), set-based. Scopes left without reports become tombstones; an incident without
-- counted reports is deleted (its facts stay as tombstones until the cube takes them out).
create function refresh_incidents(p_incidents bigint[]) returns void
language plpgsql as $$
begin
    update incident_facts f set reports = 0
    from unnest(p_incidents) as t (id) where f.incident_id = t.id;
    with members as (
        select r.incident_id, scope.name as scope, r.id, r.occurred_at, r.h3_cell, r.kind,
               r.identification, r.masked
        from unnest(p_incidents) as t (id)
        join reports r on r.incident_id = t.id
        cross join (values ('all'), ('verified')) as scope (name)
        where scope.name = 'all' or r.status = 'verified'
    )
    insert into incident_facts as f (
        incident_id, scope, reports, earliest_at, earliest_report, h3_cell, kind,
        identified, not_identified, unclear, masked_all, masked_some, masked_none)
    select m.incident_id, m.scope, count(*),
           min(m.occurred_at),
           (array_agg(m.id order by m.occurred_at, m.id))[1],
           (array_agg(m.h3_cell order by m.occurred_at, m.id))[1],
           (array_agg(m.kind order by m.occurred_at, m.id))[1],
           count(*) filter (where m.identification = 'identified'),
           count(*) filter (where m.identification = 'not_identified'),
           count(*) filter (where m.identification = 'unclear'),
           count(*) filter (where m.masked = 'all'),
           count(*) filter (where m.masked = 'some'),
           count(*) filter (where m.masked = 'none')
    from members m
    group by m.incident_id, m.scope
    on conflict (incident_id, scope) do update set
        reports = excluded.reports,
        earliest_at = excluded.earliest_at,
        earliest_report = excluded.earliest_report,
        h3_cell = excluded.h3_cell,
        kind = excluded.kind,
        identified = excluded.identified,
        not_identified = excluded.not_identified,
        unclear = excluded.unclear,
        masked_all = excluded.masked_all,
        masked_some = excluded.masked_some,
        masked_none = excluded.masked_none;
    delete from incidents i using unnest(p_incidents) as t (id)
    where i.id = t.id and not exists (select from reports r where r.incident_id = i.id);
    insert into stats_changes (incident_id) select unnest(p_incidents);
end
$$;

create function refresh_incident(p_incident bigint) returns void
language sql as $$ select refresh_incidents(array[p_incident]) $$;

-- Store one report and group it, in one round trip. Returns the report's incident, or null
-- when the submitter already used this client_id (the caller then replays or refuses).
--
-- p_locks are advisory-lock keys for every (coarse cell, time bucket) the report's
-- neighbourhood touches, sorted: two reports that could group share at least one key, so they
-- are serialised and the second one sees the first. Incident rows are then locked, and the
-- candidates re-read until stable, so a concurrent merge elsewhere cannot be missed.
create function ingest_report(
    p_id uuid, p_device uuid, p_account uuid, p_client uuid, p_kind text,
    p_received timestamptz, p_sha text, p_signature text, p_at timestamptz, p_cell bigint,
    p_content jsonb, p_identification text, p_masked text, p_claimed text[],
    p_suspected text[], p_agency text, p_neighbours bigint[], p_window interval,
    p_locks bigint[]
) returns bigint
language plpgsql as $$
declare
    v_key bigint;
    v_candidates bigint[];
    v_locked bigint[];
    v_incident bigint;
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
        exit when cardinality(v_candidates) = 0;
        select coalesce(array_agg(id order by id), '{}') into v_locked from (
            select id from incidents where id = any(v_candidates) order by id for update
        ) as locked;
        exit when v_locked = v_candidates;
    end loop;

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
    -- One change row: the report counts from now on, and its incident's facts change.
    insert into stats_changes (incident_id, scope, report_sign, occurred_at, h3_cell, agency,
                               masked, kind, identification)
    values (v_incident, 'all', 1, p_at, p_cell, p_agency, p_masked, p_kind, p_identification);

    if cardinality(v_candidates) = 0 then
        insert into incidents (id) overriding system value values (v_incident);
    end if;
    if cardinality(v_candidates) > 1 then
        -- The report bridges several incidents: they become the oldest one.
        update reports set incident_id = v_incident
        where incident_id = any(v_candidates[2:]);
        delete from incidents where id = any(v_candidates[2:]);
        update incident_facts set reports = 0 where incident_id = any(v_candidates[2:]);
        insert into stats_changes (incident_id) select unnest(v_candidates[2:]);
        perform refresh_incident(v_incident);
        return v_incident;
    end if;

    insert into incident_facts as f (
        incident_id, scope, reports, earliest_at, earliest_report, h3_cell, kind,
        identified, not_identified, unclear, masked_all, masked_some, masked_none)
    values (
        v_incident, 'all', 1, p_at, p_id, p_cell, p_kind,
        (p_identification = 'identified')::integer,
        (p_identification = 'not_identified')::integer,
        (p_identification = 'unclear')::integer,
        (p_masked = 'all')::integer, (p_masked = 'some')::integer,
        (p_masked = 'none')::integer)
    on conflict (incident_id, scope) do update set
        reports = f.reports + 1,
        earliest_at = least(f.earliest_at, excluded.earliest_at),
        earliest_report = case when (excluded.earliest_at, excluded.earliest_report)
                                    < (f.earliest_at, f.earliest_report)
                               then excluded.earliest_report else f.earliest_report end,
        h3_cell = case when (excluded.earliest_at, excluded.earliest_report)
                            < (f.earliest_at, f.earliest_report)
                       then excluded.h3_cell else f.h3_cell end,
        kind = case when (excluded.earliest_at, excluded.earliest_report)
                         < (f.earliest_at, f.earliest_report)
                    then excluded.kind else f.kind end,
        identified = f.identified + excluded.identified,
        not_identified = f.not_identified + excluded.not_identified,
        unclear = f.unclear + excluded.unclear,
        masked_all = f.masked_all + excluded.masked_all,
        masked_some = f.masked_some + excluded.masked_some,
        masked_none = f.masked_none + excluded.masked_none;
    return v_incident;
end
$$;
