-- The cube's rollup column was a foreign key to stats_rollups: every row a fold inserted ran
-- a referential-integrity query, a quarter of the fold's time (a bulk import of 200,000
-- reports folded in 12.5 s with it, 9.5 s without). stats_rollups never changes after 0004,
-- so a check over its ids guards the column as well.
alter table stats_cube drop constraint stats_cube_rollup_fkey;
alter table stats_cube add constraint stats_cube_rollup_known check (rollup between 1 and 5);
