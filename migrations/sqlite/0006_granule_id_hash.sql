-- Issue 5 (storage): smaller granule rows. The UNIQUE (collection_key, granule_id) text index
-- (about 100 bytes per granule: it repeats the whole ID) is replaced by a unique index on a
-- 64-bit hash of the granule ID (about 20 bytes per granule).
--
-- * id_hash is computed by the store (FNV-1a 64 with a splitmix finaliser, as a signed
--   integer). Rows copied here get NULL and are filled in by the store right after the
--   migrations run (SqliteStore::connect / migrate), using the partial index below.
-- * Collisions: a granule whose hash slot is held by another ID of the same collection takes
--   the next free slot (hash + 1, …) and gets flags bit 2 (value 4); such rows, and rows not
--   hashed yet, are found by ID through the small partial index granules_probed.
-- * flags bit 1 (value 2) marks a urlPath equal to the granule ID (url_path NULL); written by
--   the store from this version on, no data change needed.
CREATE TABLE granules_v2 (
    collection_key INTEGER NOT NULL REFERENCES collections(key) ON DELETE CASCADE,
    id_hash        INTEGER,
    granule_id     TEXT    NOT NULL,
    name           TEXT,
    flags          INTEGER NOT NULL DEFAULT 0,
    start_time     INTEGER,
    end_time       INTEGER,
    url_path       TEXT,
    size           INTEGER,
    modified       INTEGER,
    catalog_key    INTEGER REFERENCES catalogs(key) ON DELETE CASCADE
);
INSERT INTO granules_v2 (rowid, collection_key, id_hash, granule_id, name, flags, start_time,
                         end_time, url_path, size, modified, catalog_key)
    SELECT rowid, collection_key, NULL, granule_id, name, flags, start_time, end_time, url_path,
           size, modified, catalog_key
    FROM granules;
DROP TABLE granules;
ALTER TABLE granules_v2 RENAME TO granules;
CREATE UNIQUE INDEX granules_id_hash ON granules(collection_key, id_hash);
CREATE INDEX granules_time ON granules(collection_key, start_time);
CREATE INDEX granules_catalog ON granules(catalog_key);
CREATE INDEX granules_probed ON granules(collection_key, granule_id)
    WHERE id_hash IS NULL OR flags & 4 <> 0;
