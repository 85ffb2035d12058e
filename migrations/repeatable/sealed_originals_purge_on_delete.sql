-- requires: sealed_originals_queue_purge
drop trigger if exists sealed_originals_purge_on_delete on sealed_originals;
create trigger sealed_originals_purge_on_delete after delete on sealed_originals
    for each row execute function sealed_originals_queue_purge();
