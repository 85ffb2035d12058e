-- requires: refresh_incidents
-- refresh_incidents for one incident.
create or replace function refresh_incident(p_incident bigint) returns void
language sql as $$ select refresh_incidents(array[p_incident]) $$;
