-- requires: audit_log_refuse
drop trigger if exists audit_log_no_update_delete on audit_log;
create trigger audit_log_no_update_delete before update or delete on audit_log
    for each row execute function audit_log_refuse();
