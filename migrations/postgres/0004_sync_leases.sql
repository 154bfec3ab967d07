-- Sync leases (issue 4): at most one sync per source at a time, across processes and machines
-- sharing the database. A row exists while a run holds (or held, if it was killed) the lease;
-- release deletes it. Taking a lease is one conditional INSERT … ON CONFLICT DO UPDATE … WHERE
-- expired, so two contenders can never both win.
CREATE TABLE sync_leases (
    source_id   bigint      PRIMARY KEY REFERENCES sources(id) ON DELETE CASCADE,
    holder      text        NOT NULL,
    acquired_at timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL
);

-- Sync planning reads a source's catalogs by class and due time.
CREATE INDEX catalogs_source_next_visit ON catalogs(source_id, class, next_visit);
