-- Public releases: each month's public statistics, computed once with differential privacy,
-- signed and stored as the exact bytes served; a report received later goes into a numbered
-- correction (version 2, 3...), never into an earlier version.
create table public_releases (
    month date not null check (extract(day from month) = 1),
    version integer not null check (version >= 1),
    published_at timestamptz not null,
    -- Every report counted was received at or before this time (now minus the delay).
    received_through timestamptz not null,
    epsilon double precision not null check (epsilon > 0),
    delta double precision not null check (delta >= 0 and delta < 1),
    -- sha256 of the exact (noise-free) tables: a new version is made only when they change.
    -- Never published: with the noisy figures it would let anyone confirm a guessed count.
    exact_digest text not null,
    etag text not null,
    document bytea not null,
    primary key (month, version)
);

-- The last time each month was looked at, so a check reads only months whose counts changed
-- (the fold's generation) or that gained reports now past the delay.
create table public_release_checks (
    month date primary key,
    generation bigint not null,
    received_through timestamptz not null
);
