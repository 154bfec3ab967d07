-- Crawl runs (issue 8, admin endpoints): one row per harvest, sync or refresh of a source,
-- written when it starts (status 'running') and updated when it ends. `errors_json` holds the
-- first 100 failures as a JSON array of {"url", "error"}. Times are unix seconds like
-- everywhere else in this schema. Runs go with their source; each source keeps its newest 1000.
CREATE TABLE crawl_runs (
    id               INTEGER PRIMARY KEY,
    source_id        INTEGER NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
    kind             TEXT    NOT NULL,
    started_at       INTEGER NOT NULL,
    finished_at      INTEGER,
    status           TEXT    NOT NULL DEFAULT 'running',
    catalogs         INTEGER NOT NULL DEFAULT 0,
    granules_added   INTEGER NOT NULL DEFAULT 0,
    granules_removed INTEGER NOT NULL DEFAULT 0,
    failed           INTEGER NOT NULL DEFAULT 0,
    errors_json      TEXT    NOT NULL DEFAULT '[]',
    holder           TEXT
);
CREATE INDEX crawl_runs_source ON crawl_runs(source_id, id);
