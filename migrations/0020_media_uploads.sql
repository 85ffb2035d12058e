-- Issue 15: a photos row may hold a video, and idempotency is keyed on the uploaded bytes.
--
-- content_type: what the stored (sanitised) blob is; duration_ms only for a video.
-- upload_digest: HMAC-SHA256 of the bytes as uploaded, keyed with a secret derived from the
-- receipt key (ReceiptSigner.derive_key("upload digest")): a keyed hash, so a dump of the
-- database alone cannot confirm that a given original was uploaded. The same report sent the
-- same bytes again is a replay (the stored answer); the same pixels with other metadata are a
-- new upload with their own provenance, sharing the blob (keyed, as before, by the sha256 of the
-- sanitised bytes, so several rows of one report may now name one blob).
-- Rows stored before this migration have no digest (their originals are gone): they never match
-- a replay by digest; storage/photos/store.py adopts one for a replay whose sanitised bytes and
-- provenance both equal it.
alter table photos
    add column content_type text not null default 'image/jpeg'
        check (content_type in ('image/jpeg', 'video/mp4', 'video/webm')),
    add column duration_ms integer check (duration_ms > 0),
    add column upload_digest text check (upload_digest ~ '^[0-9a-f]{64}$'),
    add constraint photos_duration_only_for_video
        check ((duration_ms is null) = (content_type = 'image/jpeg')),
    drop constraint photos_report_sha256_key,
    add constraint photos_report_upload_digest_key unique (report_id, upload_digest);
