-- Append the entries whose ids were just claimed (audit_claim): they must be exactly the last
-- ids the head handed out, each linked to the one before (the first to the head's hash). The
-- head then records the last hash. Whether each hash matches its entry is what `audit verify`
-- checks. Runs with the owner's rights; storage/db/roles.py grants EXECUTE to the service.
create or replace function audit_append(
    p_at timestamptz,
    p_ids bigint[],
    p_actor_ids uuid[],
    p_actor_roles text[],
    p_actions text[],
    p_subject_types text[],
    p_subject_ids text[],
    p_details text[],
    p_prev_hashes text[],
    p_hashes text[]
) returns void
language plpgsql security definer
set search_path = pg_catalog, public, pg_temp
as $$
declare
    v_count integer := coalesce(array_length(p_ids, 1), 0);
    v_head_id bigint;
    v_head_hash text;
    v_prev_hash text;
begin
    if v_count = 0
       or coalesce(array_length(p_hashes, 1), 0) <> v_count
       or coalesce(array_length(p_prev_hashes, 1), 0) <> v_count
       or coalesce(array_length(p_actions, 1), 0) <> v_count
       or coalesce(array_length(p_details, 1), 0) <> v_count
       or coalesce(array_length(p_actor_ids, 1), 0) <> v_count
       or coalesce(array_length(p_actor_roles, 1), 0) <> v_count
       or coalesce(array_length(p_subject_types, 1), 0) <> v_count
       or coalesce(array_length(p_subject_ids, 1), 0) <> v_count then
        raise exception 'audit_append: the entry arrays must be non-empty and of one length'
            using errcode = 'invalid_parameter_value';
    end if;
    select h.last_id, h.last_hash into v_head_id, v_head_hash
    from public.audit_head as h for update;
    v_prev_hash := v_head_hash;
    for i in 1 .. v_count loop
        if p_ids[i] is distinct from v_head_id - v_count + i then
            raise exception 'audit_append: entry % is not one of the ids just claimed', p_ids[i]
                using errcode = 'invalid_parameter_value';
        end if;
        if p_prev_hashes[i] is distinct from v_prev_hash then
            raise exception 'audit_append: entry % does not link to the entry before', p_ids[i]
                using errcode = 'invalid_parameter_value';
        end if;
        v_prev_hash := p_hashes[i];
    end loop;
    insert into public.audit_log (id, at, actor_id, actor_role, action, subject_type,
                                  subject_id, details, prev_hash, hash)
    select e.id, p_at, e.actor_id, e.actor_role, e.action, e.subject_type, e.subject_id,
           e.details::jsonb, e.prev_hash, e.hash
    from unnest(p_ids, p_actor_ids, p_actor_roles, p_actions, p_subject_types, p_subject_ids,
                p_details, p_prev_hashes, p_hashes)
         as e (id, actor_id, actor_role, action, subject_type, subject_id, details, prev_hash,
               hash);
    update public.audit_head set last_hash = p_hashes[v_count];
end
$$;

-- Only the owner and the roles storage/db/roles.py names may append.
revoke execute on function audit_append(timestamptz, bigint[], uuid[], text[], text[], text[],
                                        text[], text[], text[], text[]) from public;
