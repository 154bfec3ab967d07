-- The change log (docs/storage.md, "Change log"): one row per (transaction, collection, kind
-- of change), appended by the transaction that makes the change. Positions come from the
-- single row of change_log_head, which each appending transaction updates: SQLite has one
-- writer at a time, so positions follow commit order.
CREATE TABLE change_log (
    seq INTEGER PRIMARY KEY,
    -- Unix seconds (with a microsecond fraction) of the append.
    at REAL NOT NULL,
    collection_id TEXT NOT NULL,
    -- collection.created | collection.updated | collection.removed | granules.added |
    -- granules.removed
    kind TEXT NOT NULL,
    count INTEGER NOT NULL,
    start_time REAL,
    end_time REAL,
    -- JSON array of granule IDs when few (NULL otherwise).
    granule_ids TEXT
);
CREATE INDEX change_log_collection ON change_log (collection_id, seq);

-- seq: the last position handed out; pruned_through: entries up to here may have been
-- removed by retention (a cursor below it cannot be continued).
CREATE TABLE change_log_head (
    one INTEGER PRIMARY KEY CHECK (one = 1),
    seq INTEGER NOT NULL,
    pruned_through INTEGER NOT NULL
);
INSERT INTO change_log_head (one, seq, pruned_through) VALUES (1, 0, 0);
