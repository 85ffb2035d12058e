-- The incidents a report at p_at joins: every incident with a counted report among
-- p_neighbours within p_window, locked, oldest first.
--
-- p_locks are advisory-lock keys for every (coarse cell, time bucket) the neighbourhood
-- touches, sorted: two reports that could group share at least one key, so they are
-- serialised and the second one sees the first. The incident rows are then locked, and the
-- candidates re-read until stable, so a concurrent merge elsewhere cannot be missed.
create or replace function lock_candidate_incidents(
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
