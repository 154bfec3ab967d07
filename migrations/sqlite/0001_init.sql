-- threddex SQLite schema, version 1.
--
-- Times are unix seconds: INTEGER when whole, REAL (microsecond fraction) otherwise. Columns
-- have INTEGER affinity, so whole-second values always take the compact integer encoding
-- (4 bytes for current dates) and integer/real values compare numerically.

CREATE TABLE sources (
    id              INTEGER PRIMARY KEY,
    name            TEXT    NOT NULL UNIQUE,
    url             TEXT    NOT NULL UNIQUE,
    authority       TEXT,
    every_secs      INTEGER,
    select_json     TEXT    NOT NULL DEFAULT '[]',
    skip_json       TEXT    NOT NULL DEFAULT '[]',
    rules_json      TEXT    NOT NULL DEFAULT '[]',
    created_at      INTEGER NOT NULL,
    last_sync_at    INTEGER,
    last_success_at INTEGER
);

-- Crawl state: one row per catalog (node of a source's tree).
CREATE TABLE catalogs (
    key           INTEGER PRIMARY KEY,
    url           TEXT    NOT NULL UNIQUE,
    source_id     INTEGER NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
    parent_url    TEXT,
    depth         INTEGER NOT NULL DEFAULT 0,
    class         TEXT    NOT NULL DEFAULT 'live',
    status        TEXT    NOT NULL DEFAULT 'pending',
    last_fetch    INTEGER,
    etag          TEXT,
    last_modified TEXT,
    content_hash  TEXT,
    last_changed  INTEGER,
    granule_count INTEGER NOT NULL DEFAULT 0,
    error         TEXT,
    next_visit    INTEGER,
    expires       INTEGER
);
CREATE INDEX catalogs_source ON catalogs(source_id);
CREATE INDEX catalogs_parent ON catalogs(parent_url);

CREATE TABLE collections (
    key           INTEGER PRIMARY KEY,
    id            TEXT    NOT NULL UNIQUE,
    source_id     INTEGER NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
    title         TEXT    NOT NULL DEFAULT '',
    template      TEXT,
    catalog_url   TEXT    NOT NULL DEFAULT '',
    services      TEXT    NOT NULL DEFAULT '[]',
    metadata      TEXT    NOT NULL DEFAULT 'null',
    summary       TEXT,
    keywords      TEXT    NOT NULL DEFAULT '[]',  -- JSON array of strings
    west          REAL,                           -- bbox; all four NULL when unknown
    south         REAL,
    east          REAL,
    north         REAL,
    granule_count INTEGER NOT NULL DEFAULT 0,
    start_time    INTEGER,
    end_time      INTEGER,
    -- Upper bound (seconds) of end_time - start_time over its granules; lets "overlaps
    -- [a, b)" use the index range start_time >= a - max_span. Grows on writes, exact after
    -- a stats refresh.
    max_span      REAL    NOT NULL DEFAULT 0,
    iso_record    TEXT,
    updated_at    INTEGER NOT NULL
);
CREATE INDEX collections_source ON collections(source_id);

-- Full-text index over the descriptive text of collections (kept in sync by triggers).
CREATE VIRTUAL TABLE collections_fts USING fts5(
    title, summary, keywords,
    content = 'collections', content_rowid = 'key',
    tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TRIGGER collections_fts_insert AFTER INSERT ON collections BEGIN
    INSERT INTO collections_fts (rowid, title, summary, keywords)
    VALUES (new.key, new.title, new.summary, new.keywords);
END;
CREATE TRIGGER collections_fts_delete AFTER DELETE ON collections BEGIN
    INSERT INTO collections_fts (collections_fts, rowid, title, summary, keywords)
    VALUES ('delete', old.key, old.title, old.summary, old.keywords);
END;
CREATE TRIGGER collections_fts_update AFTER UPDATE OF title, summary, keywords ON collections BEGIN
    INSERT INTO collections_fts (collections_fts, rowid, title, summary, keywords)
    VALUES ('delete', old.key, old.title, old.summary, old.keywords);
    INSERT INTO collections_fts (rowid, title, summary, keywords)
    VALUES (new.key, new.title, new.summary, new.keywords);
END;

-- Granules: the big table, kept compact.
-- * collection and catalog are integer keys, not repeated strings;
-- * `name` is NULL when it equals the last '/'-segment of `granule_id` (the usual case);
-- * `flags` bit 0 set: `url_path` holds only a prefix and the full urlPath is prefix || name.
-- A rowid table was measured smaller than WITHOUT ROWID here (secondary indexes carry the
-- 1-4 byte rowid instead of the long granule_id); see crates/store-sqlite/README.md.
CREATE TABLE granules (
    collection_key INTEGER NOT NULL REFERENCES collections(key) ON DELETE CASCADE,
    granule_id     TEXT    NOT NULL,
    name           TEXT,
    flags          INTEGER NOT NULL DEFAULT 0,
    start_time     INTEGER,
    end_time       INTEGER,
    url_path       TEXT,
    size           INTEGER,
    modified       INTEGER,
    catalog_key    INTEGER REFERENCES catalogs(key) ON DELETE CASCADE,
    UNIQUE (collection_key, granule_id)
);
-- "granules of collection X overlapping [a, b) ordered by start".
CREATE INDEX granules_time ON granules(collection_key, start_time);
-- complete-listing reconciliation and catalog tree deletion.
CREATE INDEX granules_catalog ON granules(catalog_key);
