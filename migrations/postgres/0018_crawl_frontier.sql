-- The shared crawl frontier (issue 19): several `threddex worker` processes (and `serve`)
-- crawl one database's sources together. See docs/crawl-model.md (Workers) and docs/scaling.md.
--
-- A catalog is *queued* (in the frontier) while `queued_at` is set: by the opening of a round
-- of its source (the due catalogs) or because a catalog read in a round listed it for the
-- first time. A worker *claims* queued catalogs in a short transaction (`FOR UPDATE SKIP
-- LOCKED`): `claimed_by`, `claim_expires` (database clock) and `fence`, a number that grows by
-- one at every claim of the catalog. The worker writes what it read only while `fence` is
-- still the one it claimed with (checked in the writing transaction, under the row lock), so
-- a worker whose claim expired and was taken over cannot overwrite the newer result. The
-- claim ends (`queued_at`, `claimed_by`, `claim_expires` cleared) once the result is written.
ALTER TABLE catalogs ADD COLUMN queued_at     timestamptz;
ALTER TABLE catalogs ADD COLUMN claimed_by    text;
ALTER TABLE catalogs ADD COLUMN claim_expires timestamptz;
ALTER TABLE catalogs ADD COLUMN fence         bigint NOT NULL DEFAULT 0;
-- Claims read the queued catalogs, shallowest first.
CREATE INDEX catalogs_frontier ON catalogs (depth, queued_at) WHERE queued_at IS NOT NULL;
-- Renewal of one worker's claims.
CREATE INDEX catalogs_claimed_by ON catalogs (claimed_by) WHERE claimed_by IS NOT NULL;

-- One open round (a harvest or sync spread over the workers) per source. The round holds the
-- source's sync lease under `lease_holder` (renewed by every worker while the round is open),
-- so a `threddex sync` of the same source waits for it, and the other way round. Counters are
-- added by the workers as their claims end; the worker that finds nothing queued any more
-- closes the round (deletes the row), records the run's end and releases the lease.
CREATE TABLE crawl_rounds (
    source_id         bigint      PRIMARY KEY REFERENCES sources(id) ON DELETE CASCADE,
    lease_holder      text        NOT NULL,
    run_id            bigint,
    opened_at         timestamptz NOT NULL DEFAULT clock_timestamp(),
    catalogs          bigint      NOT NULL DEFAULT 0,
    failed            bigint      NOT NULL DEFAULT 0,
    not_modified      bigint      NOT NULL DEFAULT 0,
    granules          bigint      NOT NULL DEFAULT 0,
    granules_inserted bigint      NOT NULL DEFAULT 0,
    granules_deleted  bigint      NOT NULL DEFAULT 0,
    catalogs_deleted  bigint      NOT NULL DEFAULT 0,
    requests          bigint      NOT NULL DEFAULT 0,
    -- Set by a write that deleted granules or catalogs: the closing worker then removes
    -- orphans and recomputes the statistics of all the source's collections.
    deletions         boolean     NOT NULL DEFAULT false
);

-- Politeness shared by every process of the database, per host (`scheme://host[:port]`).
-- Rate: a GCRA token bucket. `tat` is the theoretical arrival time of the next request; a
-- request reserves the slot `max(tat, now) + 1/rate - burst/rate` and moves `tat` on by
-- 1/rate, in one statement (the row lock serialises the reservations of all processes).
CREATE TABLE host_rate (
    host text        PRIMARY KEY,
    tat  timestamptz NOT NULL
);
-- In flight: at most `per_host` rows per host, each one request in flight, held by a worker
-- until the response is read and renewed with its claims (a killed worker's slots expire).
CREATE TABLE host_slots (
    host       text        NOT NULL,
    slot       integer     NOT NULL,
    holder     text        NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (host, slot)
);
CREATE INDEX host_slots_holder ON host_slots (holder);
