-- The researcher tier's kept groups, stored (storage/statistics/disclosure.py explains the base
-- grid). Placing a month's groups reads every incident (or report) of the month; stored, a
-- table over any period is one sum over them instead of a read of the incidents. Only the
-- folder (storage/incidents/folder.py) writes these tables.

-- One row per family (threshold, time unit kind, scope, unit) and local month: the cube
-- generation of the month (stats_cube_months) its groups were placed at. A month whose
-- generation has moved on since is placed again before anything reads it.
create table stats_placed_months (
    threshold integer not null check (threshold >= 1),
    period text collate "C" not null check (period in ('month', 'week')),
    scope text collate "C" not null check (scope in ('all', 'verified')),
    unit text collate "C" not null check (unit in ('incident', 'report')),
    month date not null check (extract(day from month) = 1),
    generation bigint not null,
    placed_at timestamptz not null,
    primary key (threshold, period, scope, unit, month)
);

-- Each kept group: its time unit (the month, or the ISO week cut at the month's ends), the
-- level it was kept at (an index into disclosure.LEVELS), what that level knows of it (the
-- area at res 7, 6 and 5 and the attributes; null where the level is coarser) and its counts.
create table stats_placed_groups (
    threshold integer not null,
    period text collate "C" not null,
    scope text collate "C" not null,
    unit text collate "C" not null,
    unit_start date not null,
    level smallint not null check (level >= 0),
    a7 bigint,
    a6 bigint,
    a5 bigint,
    agency text collate "C",
    masked text collate "C",
    kind text collate "C",
    not_identified integer not null,
    identified integer not null,
    unclear integer not null
);
-- A table reads one family's units in a period (and the folder replaces a month's).
create index stats_placed_groups_unit_idx
    on stats_placed_groups (threshold, period, scope, unit, unit_start);
