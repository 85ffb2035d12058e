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
-- groups a new one (0006: the same locks and candidates), joining (and merging) every
-- incident in its neighbourhood. The caller has set its status already. Returns the report's
-- incident.
create function regroup_report(
    p_id uuid, p_neighbours bigint[], p_window interval, p_locks bigint[]
) returns bigint
language plpgsql as $$
declare
    v_at timestamptz;
    v_candidates bigint[];
    v_incident bigint;
begin
    select occurred_at into strict v_at from reports where id = p_id;
    v_candidates := lock_candidate_incidents(p_neighbours, v_at, p_window, p_locks);
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
        perform absorb_incidents(v_incident, v_candidates[2:]);
    end if;
    return v_incident;
end
$$;
