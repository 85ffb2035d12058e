-- Staff account security: a TOTP second factor and admin-issued one-time password resets.
--
-- totp_secret is the active base32 secret (null: no second factor); totp_pending_secret holds
-- a secret shown at enrolment until a first code confirms it; totp_last_step is the 30-second
-- step of the last accepted code, so a code is never accepted twice.
alter table accounts
    add column totp_secret text,
    add column totp_pending_secret text,
    add column totp_last_step bigint;

-- A reset code is shown once to the admin who issued it; only its SHA-256 is kept (the code
-- carries 120 random bits, so a fast hash is enough). At most one unused code per account.
create table password_resets (
    code_hash bytea primary key,
    account_id uuid not null references accounts (id) on delete cascade,
    created_at timestamptz not null default now(),
    expires_at timestamptz not null,
    used_at timestamptz
);
create unique index password_resets_unused_key on password_resets (account_id)
    where used_at is null;
