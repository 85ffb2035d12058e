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
