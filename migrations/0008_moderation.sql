-- Moderation: who reviewed a report, when, and why (storage/reviews.py). The history of
-- reviews is in the audit log; the report keeps the latest one, which the queue and the
-- incident view show.
alter table reports
    add column reviewed_at timestamptz,
    add column reviewed_by uuid references accounts (id),
    -- A codebook value (schemas.codes.ReviewReason); required for a rejection.
    add column review_reason text check (review_reason in (
        'duplicate', 'implausible', 'spam_or_test', 'contains_personal_data', 'off_topic',
        'revoked_device')),
    -- Not validated against existing rows: a report rejected before reasons existed (set
    -- directly in the database; no endpoint rejected before this) keeps none. New and
    -- changed rows are checked.
    add constraint reports_rejected_has_reason check (
        status <> 'rejected' or review_reason is not null) not valid,
    -- A rejected report counts nowhere: it belongs to no incident (counted reports are
    -- exactly the ones with an incident; the statistics checker relies on it).
    add constraint reports_rejected_ungrouped check (
        status <> 'rejected' or incident_id is null);

-- The review queue reads pending reports oldest first; reports_status_page_idx (status,
-- received_at desc, id desc) serves that scan backwards, so no new index is needed.

-- A moderator reverses a rejection: the report counts again and is grouped as ingest_report
-- groups a new one (0006), under the same advisory locks and the same re-read of candidate
-- incidents, joining (and merging) every incident in its neighbourhood. The caller has set
-- its status already. Returns the report's incident.
create function regroup_report(
    p_id uuid, p_neighbours bigint[], p_window interval, p_locks bigint[]
) returns bigint
language plpgsql as $$
declare
    v_key bigint;
    v_at timestamptz;
    v_candidates bigint[];
    v_locked bigint[];
    v_incident bigint;
begin
    foreach v_key in array p_locks loop
        perform pg_advisory_xact_lock(v_key);
    end loop;
    select occurred_at into strict v_at from reports where id = p_id;
    loop
        select coalesce(array_agg(distinct incident_id order by incident_id), '{}')
        into v_candidates
        from reports
        where h3_cell = any(p_neighbours)
          and occurred_at between v_at - p_window and v_at + p_window
          and incident_id is not null;
        exit when cardinality(v_candidates) = 0;
        select coalesce(array_agg(id order by id), '{}') into v_locked from (
            select id from incidents where id = any(v_candidates) order by id for update
        ) as locked;
        exit when v_locked = v_candidates;
    end loop;

    if cardinality(v_candidates) = 0 then
        insert into incidents default values returning id into v_incident;
    else
        v_incident := v_candidates[1];
    end if;
    update reports set incident_id = v_incident where id = p_id;
    insert into stats_changes (incident_id, scope, report_sign, occurred_at, h3_cell, agency,
                               masked, kind, identification)
    select v_incident, 'all', 1, occurred_at, h3_cell, agency, masked, kind, identification
    from reports where id = p_id;
    if cardinality(v_candidates) > 1 then
        update reports set incident_id = v_incident
        where incident_id = any(v_candidates[2:]);
        delete from incidents where id = any(v_candidates[2:]);
        insert into stats_changes (incident_id) select unnest(v_candidates[2:]);
    end if;
    return v_incident;
end
$$;
