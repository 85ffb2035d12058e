-- Counted reports (not withdrawn, not rejected, with content, time and place) that belong to
-- no incident: those stored before 0003 introduced grouping. The migration runner groups them
-- after migrating (storage/backfill_grouping.py) and checks for them at every start, so this
-- index, empty once they are grouped, makes that check one probe instead of a table scan.
-- The predicate must stay word for word the one in storage/backfill_grouping.py.
create index reports_ungrouped_idx on reports (occurred_at)
    where incident_id is null and status not in ('withdrawn', 'rejected')
      and content is not null and occurred_at is not null and h3_cell is not null;
