-- Sync leases (issue 4): at most one sync per source at a time, across processes sharing the
-- database. A row exists while a run holds (or held, if it was killed) the lease; release
-- deletes it. Times are unix seconds like everywhere else in this schema.
CREATE TABLE sync_leases (
    source_id   INTEGER PRIMARY KEY REFERENCES sources(id) ON DELETE CASCADE,
    holder      TEXT    NOT NULL,
    acquired_at INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
);

-- Sync planning reads a source's catalogs by class and due time.
CREATE INDEX catalogs_source_next_visit ON catalogs(source_id, class, next_visit);
