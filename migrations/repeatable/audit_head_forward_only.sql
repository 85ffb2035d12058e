-- requires: audit_head_guard
drop trigger if exists audit_head_forward_only on audit_head;
create trigger audit_head_forward_only before update or delete on audit_head
    for each row execute function audit_head_guard();
