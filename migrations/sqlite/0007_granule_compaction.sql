-- Issue 5 (storage): granule rows of a few dozen bytes.
--
-- * The table is clustered on (collection_key, start_time, id_hash) (WITHOUT ROWID): the time
--   index is the table itself, no rowid, no separate time index.
-- * start_time is NOT NULL (a primary key column): a granule without a start time has
--   start_time = -9007199254740992 (-2^53, before any time chrono represents); reads map it
--   back to "no start" and it sorts first, as NULL did.
-- * id_hash = 0: the granule ID is not stored (granule_id NULL): it is rendered back from the
--   collection's template and the granule's start (and end) time (threddex_ids::render), and
--   reading the time back from it gives the start again (threddex_ids::renders_back), so the
--   row of such an ID can only be at (collection_key, start of the ID, 0). At most one row per
--   (collection, start) takes slot 0; other rows keep the hash of their (stored) ID as before
--   (migration 0006; 0 is never used as a hash slot), unique per collection through the
--   partial index granules_id_hash.
-- * collections.path_template: the template of the collection's urlPaths (learnt by the store
--   from a granule whose urlPath it renders back exactly); flags bit 4 (value 16) marks a
--   urlPath rendered from it (url_path NULL).
-- * flags bit 5 (value 32): the `modified` time equals the start time (modified NULL).
-- * Bits 4 and 5 are stored inverted (the column holds flags XOR 48), so the usual compact row
--   stores 0, which takes no payload byte; rows copied here have neither (stored: 48).
-- * flags bit 3 (value 8): a row copied here in its old form; the store rewrites such rows in
--   the compact form right after the migrations run (SqliteStore::connect / migrate), using
--   the partial index granules_legacy. Reads handle both forms.
-- * A template, once set, never changes (the collection upsert only fills a missing one):
--   rows without a stored ID depend on it.
ALTER TABLE collections ADD COLUMN path_template TEXT;

CREATE TABLE granules_v3 (
    collection_key INTEGER NOT NULL REFERENCES collections(key) ON DELETE CASCADE,
    start_time     INTEGER NOT NULL,
    id_hash        INTEGER NOT NULL,
    flags          INTEGER NOT NULL DEFAULT 0,
    catalog_key    INTEGER REFERENCES catalogs(key) ON DELETE CASCADE,
    size           INTEGER,
    end_time       INTEGER,
    modified       INTEGER,
    granule_id     TEXT,
    name           TEXT,
    url_path       TEXT,
    PRIMARY KEY (collection_key, start_time, id_hash)
) WITHOUT ROWID;
-- Rows of migration 0006 all have their hash (the store fills them in before this runs);
-- a hash of 0 (never seen) becomes 1 and is marked as away from its home slot (flags 4).
INSERT INTO granules_v3 (collection_key, start_time, id_hash, flags, catalog_key, size,
                         end_time, modified, granule_id, name, url_path)
    SELECT collection_key, coalesce(start_time, -9007199254740992),
           CASE WHEN id_hash = 0 THEN 1 ELSE id_hash END,
           flags | 8 | 48 | CASE WHEN id_hash = 0 THEN 4 ELSE 0 END,
           catalog_key, size, end_time, modified, granule_id, name, url_path
    FROM granules;
DROP TABLE granules;
ALTER TABLE granules_v3 RENAME TO granules;
-- complete-listing reconciliation and catalog tree deletion.
CREATE INDEX granules_catalog ON granules(catalog_key);
-- granules by ID (rows with a stored ID).
CREATE UNIQUE INDEX granules_id_hash ON granules(collection_key, id_hash) WHERE id_hash <> 0;
-- rows away from their home hash slot (after a collision), by ID.
CREATE INDEX granules_probed ON granules(collection_key, granule_id) WHERE flags & 4 <> 0;
-- rows still in the form of migration 0006.
CREATE INDEX granules_legacy ON granules(collection_key) WHERE flags & 8 <> 0;
