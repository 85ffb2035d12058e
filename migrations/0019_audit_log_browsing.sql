-- Browsing the audit log (the console's /admin/audit, storage/audit/listing.py): newest first,
-- filtered by action or by a time range. Actor and subject filters already have their indexes
-- (0007); these serve "every account.disabled, newest first" and "what happened last week".
create index audit_log_action_idx on audit_log (action, id);
create index audit_log_at_idx on audit_log (at);
