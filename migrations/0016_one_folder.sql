-- One write path: ingest only appends a report; one folder (storage/incidents/folder.py) derives
-- incident membership, incident facts and the statistics cube from what changed, in batches.
--
-- reports.fold_pending_since: set by every write that changes what the folder derives from a
-- report (the ingest INSERT through the column default; withdrawal, review, retention), and
-- cleared by the folder once it has taken the report in.
-- reports.counted: what the statistics currently count of the report (0 nothing, 1 scope
-- 'all', 2 'all' and 'verified'); the folder logs the exact difference to what should count.
alter table reports
    add column fold_pending_since timestamptz,
    add column counted smallint not null default 0 check (counted between 0 and 2);

-- Counted reports were exactly those with an incident.
update reports
set counted = case when status = 'verified' then 2 else 1 end
where incident_id is not null;
-- Reports stored before incidents existed and never grouped: the folder groups them (this
-- replaces the grouping the migration runner did after migrating).
update reports set fold_pending_since = now()
where incident_id is null and status not in ('withdrawn', 'rejected')
  and content is not null and occurred_at is not null and h3_cell is not null;
-- Set after the backfill, so existing rows are not all marked pending.
alter table reports alter column fold_pending_since set default now();

-- A withdrawn report's content goes at once; what the statistics counted of it stays until
-- the folder takes it out of the counts (then it is purged: counted is 0 again).
alter table reports drop constraint reports_withdrawn_purged;
alter table reports add constraint reports_withdrawn_purged check (
    status <> 'withdrawn' or (
        content is null and (counted > 0 or (
            occurred_at is null and h3_cell is null and incident_id is null
            and identification is null and masked is null and agencies_claimed is null
            and agencies_suspected is null and agency is null)))
);
-- A rejected report leaves its incident when the folder takes it out of the counts.
alter table reports drop constraint reports_rejected_ungrouped;
alter table reports add constraint reports_rejected_ungrouped check (
    status <> 'rejected' or incident_id is null or counted > 0);

-- The per-report grouping in SQL is gone: the rule exists once, in storage/incidents/bulk_grouping.py.
drop function ingest_report(uuid, uuid, uuid, uuid, text, timestamptz, text, text, timestamptz,
                            bigint, jsonb, text, text, text[], text[], text, bigint[], interval,
                            bigint[]);
drop function regroup_report(uuid, bigint[], interval, bigint[]);
drop function lock_candidate_incidents(bigint[], timestamptz, interval, bigint[]);
drop function absorb_incidents(bigint, bigint[]);
drop function refresh_incident(bigint);
drop function refresh_incidents(bigint[]);
drop index reports_ungrouped_idx;

-- Indexes on reports, each with the query it serves (an index no query needs only costs
-- every insert):
-- reports_pkey (id): every read of one report.
-- reports_owner_client_key (owner_id, client_id): ingest's ON CONFLICT and its replay
--   (storage/reports/store.py INSERT_REPORT, SELECT_BY_CLIENT_ID).
-- reports_owner_page_idx (owner_id, received_at desc, id desc): GET /v1/reports for a
--   reporter (storage/reports/store.py SELECT_PAGE).
-- reports_status_page_idx (status, received_at desc, id desc): the moderation queue and
--   GET /v1/reports?status= (SELECT_PAGE, storage/moderation/queue.py).
-- reports_page_idx (received_at desc, id desc): GET /v1/reports for staff (SELECT_PAGE).
-- reports_grouping_idx (h3_cell, occurred_at) where incident_id is not null: the folder's
--   neighbour search (storage/incidents/folder.py NEIGHBOURS).
-- reports_incident_idx (incident_id) where incident_id is not null: an incident's members
--   (storage/incidents/folder.py MEMBERS, storage/incidents/views.py, incident_facts_of).
-- reports_counted_time_idx (occurred_at) where incident_id is not null: report-unit
--   statistics over partial periods (storage/statistics/cube.py, the reports source).
-- reports_fine_cell_idx (received_at) where the cell is finer than res 7: retention's
--   coarsening (storage/reports/retention.py SELECT_COARSEN_BATCH).
-- The three partial indexes on incident_id cost ingest nothing: a new report has none yet.
-- reports_fold_pending_idx: the folder's batch (storage/incidents/folder.py PENDING_BATCH) and the
--   pending probe before statistics queries and in /metrics (PENDING_PROBE, FOLD_LAG).
create index reports_fold_pending_idx on reports (fold_pending_since)
    where fold_pending_since is not null;
