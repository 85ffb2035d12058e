-- Photos attached to reports. Only the sanitised JPEG is stored (in the blob store, keyed by
-- its sha256) and only derived provenance signals are kept: no metadata of the upload.
create table photos (
    id uuid primary key,
    report_id uuid not null references reports (id),
    -- sha256 of the stored (sanitised) bytes, also the blob's key: two reports that upload the
    -- same picture share one blob, which is deleted only when no row refers to it any more.
    sha256 text not null check (sha256 ~ '^[0-9a-f]{64}$'),
    width integer not null check (width > 0),
    height integer not null check (height > 0),
    bytes integer not null check (bytes > 0),
    -- 64-bit perceptual hashes as signed bigints, so Hamming distance is bit_count of an XOR.
    phash bigint not null,
    dhash bigint not null,
    provenance jsonb not null,
    created_at timestamptz not null default now(),
    constraint photos_report_sha256_key unique (report_id, sha256)
);
create index photos_sha256_idx on photos (sha256);
