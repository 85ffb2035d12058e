-- A deleted sealed_originals row queues its blob for deletion (storage/evidence/sealer.py
-- drains the queue after the commit).
create or replace function sealed_originals_queue_purge() returns trigger language plpgsql as $$
begin
    insert into sealed_purges (blob_key) values (old.blob_key) on conflict do nothing;
    return old;
end
$$;
