-- Receipt keys (storage/reports/receipt_keys.py): the public record of every key that ever
-- signed receipts, checkpoints, releases and evidence manifests, so that what each replica
-- publishes is the same and a retired key stays published. The private seeds never come here
-- (data_dir/keys or the settings). Rows are only ever added, and closed once (not_after).
create table receipt_keys (
    -- RFC 7638 thumbprint of the public key: 43 base64url characters.
    key_id text primary key check (key_id ~ '^[A-Za-z0-9_-]{43}$'),
    algorithm text not null check (algorithm = 'Ed25519'),
    public_key text not null unique check (public_key ~ '^[A-Za-z0-9_-]{43}$'),
    not_before timestamptz not null,
    -- Null while the key is current; set by `plainsight keys rotate` when it retires it.
    not_after timestamptz,
    -- The key current before this one, and its signature over this key's record
    -- (storage/reports/receipt_keys.py): a chain from the first key that someone who can
    -- write this table but holds no key cannot extend. Null for a key nobody endorsed.
    endorsed_by text references receipt_keys (key_id),
    endorsement text,
    constraint receipt_keys_period check (not_after is null or not_after >= not_before),
    constraint receipt_keys_endorsement_whole check ((endorsed_by is null) = (endorsement is null))
);

-- The key that signed a report's receipt; null for receipts signed before key ids existed
-- (their key is found by its signature: storage/reports/receipt_keys.py).
alter table reports add column receipt_key_id text;
