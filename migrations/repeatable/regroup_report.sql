-- requires: lock_candidate_incidents, absorb_incidents
-- A moderator reverses a rejection: the report counts again and is grouped as ingest_report
-- groups a new one (the same locks and candidates), joining (and merging) every incident in
-- its neighbourhood. The caller has set its status already. Returns the report's incident.
create or replace function regroup_report(
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
