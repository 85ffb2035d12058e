-- The service appends to the audit log through audit_claim and audit_append, which run with
-- the owner's rights and only ever add entries that continue the chain, so its role needs no
-- UPDATE on audit_head and no INSERT into audit_log (storage/db/roles.py grants EXECUTE).
--
-- Hand out the next p_count ids. The head row stays locked until the caller's transaction
-- ends, so concurrent appenders queue here.
create or replace function audit_claim(p_count integer)
returns table (last_id bigint, last_hash text, at timestamptz)
language plpgsql security definer
set search_path = pg_catalog, public, pg_temp
as $$
begin
    if p_count is null or p_count < 1 then
        raise exception 'audit_claim: at least one id must be claimed'
            using errcode = 'invalid_parameter_value';
    end if;
    return query
        update public.audit_head as h set last_id = h.last_id + p_count
        returning h.last_id, h.last_hash, clock_timestamp();
end
$$;

-- Only the owner and the roles storage/db/roles.py names may append.
revoke execute on function audit_claim(integer) from public;
