-- The change log (docs/storage.md, "Change log"): one row per (transaction, collection, kind
-- of change), appended by the transaction that makes the change, as its last statement.
--
-- Positions follow commit order: an appending transaction takes its positions by updating
-- the single row of change_log_head, whose row lock it then holds until it commits. A
-- concurrent appender waits on that lock and continues from the committed value, so a
-- position is never visible before a lower one (a plain sequence would hand out positions in
-- the order transactions reach the insert, not the order they commit).
CREATE TABLE change_log (
    seq bigint PRIMARY KEY,
    at timestamptz NOT NULL,
    collection_id text COLLATE "C" NOT NULL,
    -- collection.created | collection.updated | collection.removed | granules.added |
    -- granules.removed
    kind text NOT NULL,
    count bigint NOT NULL,
    start_time timestamptz,
    end_time timestamptz,
    -- JSON array of granule IDs when few (NULL otherwise).
    granule_ids jsonb
);
CREATE INDEX change_log_collection ON change_log (collection_id, seq);

-- seq: the last position handed out; pruned_through: entries up to here may have been
-- removed by retention (a cursor below it cannot be continued).
CREATE TABLE change_log_head (
    one integer PRIMARY KEY CHECK (one = 1),
    seq bigint NOT NULL,
    pruned_through bigint NOT NULL
);
INSERT INTO change_log_head (one, seq, pruned_through) VALUES (1, 0, 0);
