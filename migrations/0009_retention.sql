-- Retention (storage/retention.py): reports whose H3 cell is still finer than resolution 7,
-- by age. A report leaves the index once retention coarsens it, so each run reads only the
-- reports that crossed the cutoff since the last one, not the whole table.
create index reports_fine_cell_idx on reports (received_at)
    where ((h3_cell >> 52) & 15) > 7;
