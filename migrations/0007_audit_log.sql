-- Tamper-evident audit trail (storage/audit.py): who read, reviewed, exported or changed what.
-- Append-only and hash-chained: every entry carries the hash of the one before it. No IP
-- address, no token, no e-mail address, no report content is ever written here.

create table audit_log (
    -- Contiguous from 1: ids are handed out from audit_head inside the appending transaction,
    -- so a rolled-back append leaves no gap and a missing id means a deleted entry.
    id bigint primary key check (id > 0),
    at timestamptz not null,
    actor_id uuid,
    actor_role text check (actor_role in ('observer', 'officer', 'researcher', 'moderator', 'admin')),
    action text not null check (action ~ '^[a-z_]+(\.[a-z_]+)+$'),
    subject_type text,
    subject_id text,
    details jsonb not null default '{}' check (jsonb_typeof(details) = 'object'),
    prev_hash text not null check (prev_hash ~ '^[0-9a-f]{64}$'),
    hash text not null check (hash ~ '^[0-9a-f]{64}$'),
    constraint audit_log_actor_whole check ((actor_id is null) = (actor_role is null))
);
-- "Who looked at report X", "what did account Y do".
create index audit_log_subject_idx on audit_log (subject_type, subject_id, id);
create index audit_log_actor_idx on audit_log (actor_id, id);

-- The chain's head: the last id handed out and the last hash. Appenders lock this one row
-- (UPDATE ... RETURNING) until they commit, so concurrent appends form one linear chain. An
-- UPDATE that waited re-reads the committed head; under REPEATABLE READ it fails instead of
-- forking the chain. `plainsight audit verify` also checks that the log ends where the head
-- says, so entries deleted from the end are noticed.
create table audit_head (
    singleton boolean primary key default true check (singleton),
    last_id bigint not null,
    last_hash text not null check (last_hash ~ '^[0-9a-f]{64}$')
);
insert into audit_head (last_id, last_hash) values (0, repeat('0', 64));

create function audit_log_refuse() returns trigger language plpgsql as $$
begin
    raise exception 'audit_log is append-only: % refused', tg_op
        using errcode = 'insufficient_privilege',
              hint = 'audit entries can be neither changed nor removed';
end
$$;

create trigger audit_log_no_update_delete before update or delete on audit_log
    for each row execute function audit_log_refuse();
create trigger audit_log_no_truncate before truncate on audit_log
    for each statement execute function audit_log_refuse();

-- The head only moves forward and cannot be removed.
create function audit_head_guard() returns trigger language plpgsql as $$
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

create trigger audit_head_forward_only before update or delete on audit_head
    for each row execute function audit_head_guard();
create trigger audit_head_no_truncate before truncate on audit_head
    for each statement execute function audit_head_guard();
