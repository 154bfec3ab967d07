-- Issue 5 (storage): compact granule rows (the Postgres counterpart of SQLite 0006 + 0007).
--
-- * Rows are keyed by (collection_key, id_hash), id_hash = hashtextextended(granule ID, 0), a
--   64-bit hash computed by Postgres itself (the writer passes the ID; it is hashed in SQL),
--   instead of the ID text: the unique index holds 16 bytes per granule, not the ID.
--   A hash already taken by another ID of the collection (a collision, ~2^-64 per pair) sends
--   the granule to the next free slot (id_hash + 1, ...); such a row keeps its ID and has flag
--   bit 2 (value 4, PROBED), found by ID through the partial index granules_probed.
-- * granule_id NULL: the ID is not stored; it is threddex_ids::render(collections.template,
--   start, end), and the writer only leaves it out when threddex_ids::renders_back holds (the
--   template renders exactly this ID from the row's own start and end). Never lossy: any
--   other ID is stored verbatim. A template, once set, never changes (the collection upsert
--   only fills a missing one).
-- * collections.path_template: the template of the collection's urlPaths (learnt by the
--   store from a granule whose urlPath it renders back exactly); flag bit 3 (value 8) marks a
--   urlPath rendered from it (url_path NULL); flag bit 1 (value 2): the urlPath equals the ID
--   (url_path NULL); flag bit 0 (value 1, as before): url_path holds a prefix of the urlPath,
--   the name completes it.
-- * flag bit 4 (value 16): `modified` equals the start time (modified NULL).
-- * Columns: 8-byte columns first, then the 4-byte collection key (collections.key is a
--   bigint, but a collection count past 2^31 would be an error here, never a wrong key) and
--   the 2-byte flags sharing one 8-byte slot, then the (usually NULL) text: a compact row is
--   a 32-byte header (null bitmap included) and 38 bytes of data, 72 bytes aligned.
-- * Indexes: the unique (collection_key, id_hash) (upsert by ID); (collection_key, start_time)
--   for the time window (listing order (start, ID) is made by the reader among rows of equal
--   start, whose IDs may not be stored); (catalog_key) (reconciliation, tree deletion; small:
--   b-tree deduplication). The old (collection_key, start_time, granule_id) index and the
--   text primary key are gone.
--
-- Rows of the old table are copied verbatim (IDs stored; old flags are bit 0 only): they read
-- back as before and take the compact form the next time they are written.
ALTER TABLE collections ADD COLUMN path_template text;

CREATE TABLE granules_v2 (
    id_hash        bigint   NOT NULL,
    start_time     timestamptz,
    catalog_key    bigint,
    end_time       timestamptz,
    size           bigint,
    modified       timestamptz,
    collection_key integer  NOT NULL,
    flags          smallint NOT NULL DEFAULT 0,
    granule_id     text COLLATE "C",
    name           text,
    url_path       text
);

-- Equal hashes within a collection (never seen in practice) take the following slots, in ID
-- order, and are marked PROBED; should such a slot be another row's home, the unique index
-- below fails the migration (nothing is lost).
INSERT INTO granules_v2 (collection_key, id_hash, start_time, catalog_key, end_time, size,
                         modified, flags, granule_id, name, url_path)
    SELECT collection_key, h + (n - 1), start_time, catalog_key, end_time, size, modified,
           flags | CASE WHEN n > 1 THEN 4 ELSE 0 END, granule_id, name, url_path
    FROM (SELECT g.*, hashtextextended(g.granule_id, 0) AS h,
                 row_number() OVER (PARTITION BY g.collection_key,
                                    hashtextextended(g.granule_id, 0)
                                    ORDER BY g.granule_id) AS n
          FROM granules g) AS old
    ORDER BY collection_key, start_time NULLS FIRST, granule_id;

DROP TABLE granules;
ALTER TABLE granules_v2 RENAME TO granules;
ALTER TABLE granules ADD CONSTRAINT granules_pkey PRIMARY KEY (collection_key, id_hash);
CREATE INDEX granules_time ON granules(collection_key, start_time NULLS FIRST);
CREATE INDEX granules_catalog ON granules(catalog_key);
CREATE INDEX granules_probed ON granules(collection_key, granule_id) WHERE flags & 4 <> 0;
