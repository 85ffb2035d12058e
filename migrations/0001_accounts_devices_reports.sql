-- Accounts (officer, researcher, moderator, admin), observer devices, sessions, reports.
-- Principle 1: no IP address, no raw coordinates, no observer identity beyond a random device.

create table accounts (
    id uuid primary key,
    email text not null,
    role text not null check (role in ('officer', 'researcher', 'moderator', 'admin')),
    password_hash text not null,
    created_at timestamptz not null default now(),
    disabled_at timestamptz
);
create unique index accounts_email_key on accounts (lower(email));

-- An observer's phone: a random id and the hash of its bearer token, nothing else.
create table devices (
    id uuid primary key,
    token_hash bytea not null unique,
    created_at timestamptz not null default now(),
    revoked_at timestamptz
);

create table sessions (
    token_hash bytea primary key,
    account_id uuid not null references accounts (id) on delete cascade,
    created_at timestamptz not null default now(),
    expires_at timestamptz not null
);
create index sessions_account_idx on sessions (account_id);
create index sessions_expires_idx on sessions (expires_at);

create table reports (
    id uuid primary key,
    device_id uuid references devices (id),
    account_id uuid references accounts (id),
    owner_id uuid generated always as (coalesce(device_id, account_id)) stored,
    client_id uuid not null,
    kind text not null check (kind in ('observer_report', 'officer_note')),
    status text not null default 'pending'
        check (status in ('pending', 'verified', 'unverified', 'rejected', 'withdrawn')),
    received_at timestamptz not null,
    -- sha256 of the canonical minimised content; decides replay (200) versus conflict (409).
    payload_sha256 text not null,
    receipt_signature text not null,
    -- Purged (set to null) when the report is withdrawn; the row stays as a tombstone so a
    -- re-send of the same client_id answers 410 instead of creating the report again.
    occurred_at timestamptz,
    h3_cell bigint,
    content jsonb,
    withdrawn_at timestamptz,
    constraint reports_one_owner check ((device_id is null) <> (account_id is null)),
    constraint reports_withdrawn_purged check (
        status <> 'withdrawn' or (content is null and occurred_at is null and h3_cell is null)
    )
);
create unique index reports_owner_client_key on reports (owner_id, client_id);
create index reports_owner_page_idx on reports (owner_id, received_at desc, id desc);
create index reports_status_page_idx on reports (status, received_at desc, id desc);
create index reports_page_idx on reports (received_at desc, id desc);
