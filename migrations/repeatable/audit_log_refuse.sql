-- The audit log is append-only: its triggers refuse every update, delete and truncate.
create or replace function audit_log_refuse() returns trigger language plpgsql as $$
begin
    raise exception 'audit_log is append-only: % refused', tg_op
        using errcode = 'insufficient_privilege',
              hint = 'audit entries can be neither changed nor removed';
end
$$;
