-- requires: lock_candidate_incidents, absorb_incidents
-- Store one report and group it, in one round trip: the report's change row queues its
-- incident for the fold. Returns the report's incident, or null when the submitter already
-- used this client_id (the caller then replays or refuses).
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
