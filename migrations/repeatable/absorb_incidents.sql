-- A report bridged several incidents: the others become the first (the oldest), and are
-- queued for the fold.
create or replace function absorb_incidents(p_survivor bigint, p_absorbed bigint[]) returns void
language sql as $$
    update reports set incident_id = p_survivor where incident_id = any(p_absorbed);
    delete from incidents where id = any(p_absorbed);
    insert into stats_changes (incident_id) select unnest(p_absorbed);
$$;
