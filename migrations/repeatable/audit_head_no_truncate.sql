-- requires: audit_head_guard
drop trigger if exists audit_head_no_truncate on audit_head;
create trigger audit_head_no_truncate before truncate on audit_head
    for each statement execute function audit_head_guard();
