-- The audit chain's head only moves forward and cannot be removed.
create or replace function audit_head_guard() returns trigger language plpgsql as $$
begin
    if tg_op = 'UPDATE' then
        if new.last_id >= old.last_id then
            return new;
        end if;
    end if;
    raise exception 'audit_head only moves forward: % refused', tg_op
        using errcode = 'insufficient_privilege';
end
$$;
