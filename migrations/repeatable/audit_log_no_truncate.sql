-- requires: audit_log_refuse
drop trigger if exists audit_log_no_truncate on audit_log;
create trigger audit_log_no_truncate before truncate on audit_log
    for each statement execute function audit_log_refuse();
