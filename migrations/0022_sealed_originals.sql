-- Sealed originals (storage/evidence): with PLAINSIGHT_EVIDENCE_RECIPIENTS set, the bytes of
-- every upload as received are encrypted to the organisation's age keys and kept in the blob
-- store under ``blob_key``; the server cannot decrypt them. One row per photo (or video) row,
-- written in the upload's transaction; a sealed blob without a row is an orphan that
-- ``plainsight gc`` removes once it is an hour old. Without recipients no row is ever written.
create table sealed_originals (
    -- Deleting a photo (withdrawal, retention) deletes its row; the trigger below queues the
    -- blob for deletion after the commit.
    photo_id uuid primary key references photos (id) on delete cascade,
    -- 32 lowercase hex digits, random: the ciphertext of the same upload differs every time.
    blob_key text not null unique check (blob_key ~ '^[0-9a-f]{32}$'),
    -- Of the original (plaintext) bytes. Kept only when the organisation keeps originals.
    original_sha256 text not null check (original_sha256 ~ '^[0-9a-f]{64}$'),
    original_bytes bigint not null check (original_bytes > 0),
    sealed_bytes bigint not null check (sealed_bytes > original_bytes),
    uploaded_at timestamptz not null,
    -- sha256 of the sorted recipients' public keys: which set of secret keys opens the blob.
    recipients_fingerprint text not null check (recipients_fingerprint ~ '^[0-9a-f]{64}$'),
    recipient_count integer not null check (recipient_count >= 1)
);

-- Sealed blobs whose rows are gone, to delete from the blob store after the deleting
-- transaction commits (the withdrawal or retention run does at once; ``plainsight gc`` does
-- whatever a crash left). Filled by a trigger, so every way a photo row is deleted is covered.
create table sealed_purges (
    blob_key text primary key check (blob_key ~ '^[0-9a-f]{32}$'),
    queued_at timestamptz not null default now()
);
