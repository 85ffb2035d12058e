-- Resumable (tus 1.0) uploads in progress. The bytes never come here: they are in a temporary
-- area of the blob store (a file under the data directory, or an S3 multipart upload and a
-- short tail object). A row says how many bytes of the upload are durably stored (its offset),
-- to which report and owner the upload belongs, and when it expires (plainsight gc deletes
-- expired rows and their bytes). No file name or type a client sends is kept.
create table uploads (
    id uuid primary key,
    report_id uuid not null references reports (id) on delete cascade,
    -- The device or account that created the upload (reports.owner_id at creation): no one
    -- else may see or continue it.
    owner_id uuid not null,
    length bigint not null check (length > 0),
    "offset" bigint not null default 0 check ("offset" >= 0 and "offset" <= length),
    -- Where the bytes are: 'filesystem' (data_dir/uploads/<id>.part) or 's3'.
    store text not null check (store in ('filesystem', 's3')),
    -- S3 only: the multipart upload, its parts (JSON [{"n": 1, "etag": "...", "size": 5242880},
    -- ...], each at least 5 MiB) and the bytes after the last part, kept in a tail object.
    s3_upload_id text,
    s3_parts jsonb not null default '[]',
    -- A PATCH (or the completion) holds the upload until lease_until; another one meanwhile
    -- is refused with 409, so two writers never interleave bytes.
    lease_token uuid,
    lease_until timestamptz,
    -- Set once the complete upload was stored as a photo: HEAD then names it.
    photo_id uuid,
    created_at timestamptz not null default now(),
    expires_at timestamptz not null,
    check (store = 's3' or s3_upload_id is null),
    check (photo_id is null or "offset" = length)
);
-- Uploads in flight per owner (the limit checked at creation).
create index uploads_owner_idx on uploads (owner_id) where photo_id is null;
-- The expired-upload sweep of plainsight gc.
create index uploads_expires_idx on uploads (expires_at);
