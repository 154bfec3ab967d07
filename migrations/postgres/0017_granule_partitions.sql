-- Issue 19: `granules` partitioned by a hash of `collection_key` into 64 partitions
-- (`granules_00` … `granules_63`), converted in place: rows are copied as they are, the
-- indexes and the `granule_days` triggers (0014) are made again on the partitioned table.
--
-- Why a hash of the collection and why 64 (docs/scaling.md, "Partitions"):
-- * every granule statement of the read path names one collection (`collection_key = $1`),
--   so the planner prunes to one partition and a lookup is the same index range scan as
--   before, on an index 1/64th the size;
-- * the unique key (collection_key, id_hash) contains the partition key, as Postgres requires:
--   the upserts (`ON CONFLICT (collection_key, id_hash)`) work unchanged; no constraint spans
--   collections, so the layout stays distributable by collection key;
-- * a fixed count: 100,000 collections make 64 partitions of ~1,600 collections each, not
--   100,000 tables (a partition per collection degrades planning and the catalog past tens of
--   thousands); at 1,000,000,000 granules a partition is ~16 M rows, a few GB, so vacuum and
--   REINDEX work on pieces of that size; 64 partitions add a few percent of planning time
--   (measured by bench/pg-partitioning.sql). A power of two: a partition of modulus 64 can later
--   be split into two of modulus 128 (detach, re-insert into two new ones) without touching
--   the other partitions.
--
-- Index names: each partition's indexes are named after the parent's with the partition
-- number (`granules_time_07` on `granules_07`), so plans say which index and which partition.
-- The copy runs in this migration's transaction (one pass over the old table, rows routed to
-- their partition); indexes are built after the copy.
CREATE TABLE granules_partitioned (LIKE granules INCLUDING DEFAULTS)
    PARTITION BY HASH (collection_key);

DO $$
BEGIN
    FOR r IN 0..63 LOOP
        EXECUTE format('CREATE TABLE granules_%s PARTITION OF granules_partitioned '
                       'FOR VALUES WITH (MODULUS 64, REMAINDER %s)', lpad(r::text, 2, '0'), r);
    END LOOP;
END $$;

INSERT INTO granules_partitioned SELECT * FROM granules;

DROP TABLE granules;
ALTER TABLE granules_partitioned RENAME TO granules;

DO $$
DECLARE
    p text;
BEGIN
    FOR r IN 0..63 LOOP
        p := lpad(r::text, 2, '0');
        EXECUTE format('CREATE INDEX granules_time_%s ON granules_%s '
                       '(collection_key, start_time NULLS FIRST)', p, p);
        EXECUTE format('CREATE INDEX granules_catalog_%s ON granules_%s (catalog_key)', p, p);
        EXECUTE format('CREATE INDEX granules_probed_%s ON granules_%s (collection_key, granule_id) '
                       'WHERE flags & 4 <> 0', p, p);
    END LOOP;
END $$;

-- On the parent: each finds and attaches its partitions' equal indexes (the primary key
-- builds its own, `granules_NN_pkey`).
ALTER TABLE granules ADD CONSTRAINT granules_pkey PRIMARY KEY (collection_key, id_hash);
CREATE INDEX granules_time ON granules (collection_key, start_time NULLS FIRST);
CREATE INDEX granules_catalog ON granules (catalog_key);
CREATE INDEX granules_probed ON granules (collection_key, granule_id) WHERE flags & 4 <> 0;

-- The triggers of 0014 went with the old table; the same ones on the partitioned table (a
-- statement trigger on the parent sees the rows of every partition in its transition table).
CREATE TRIGGER granule_days_insert AFTER INSERT ON granules
    REFERENCING NEW TABLE AS new_granules
    FOR EACH STATEMENT EXECUTE FUNCTION granule_days_inserted();
CREATE TRIGGER granule_days_delete AFTER DELETE ON granules
    REFERENCING OLD TABLE AS old_granules
    FOR EACH STATEMENT EXECUTE FUNCTION granule_days_deleted();
CREATE TRIGGER granule_days_update AFTER UPDATE OF start_time ON granules
    FOR EACH ROW WHEN (OLD.start_time IS DISTINCT FROM NEW.start_time)
    EXECUTE FUNCTION granule_days_moved();

-- An UPDATE that changed a row's partition key would move it to another partition as a
-- DELETE and an INSERT, which fire neither the row trigger above nor the statement triggers:
-- a granule never changes collection (the store never does it; this makes it an error).
CREATE FUNCTION granules_keep_collection() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'a granule cannot move to another collection (collection_key % to %)',
        OLD.collection_key, NEW.collection_key;
END $$;
CREATE TRIGGER granules_keep_collection BEFORE UPDATE OF collection_key ON granules
    FOR EACH ROW WHEN (OLD.collection_key IS DISTINCT FROM NEW.collection_key)
    EXECUTE FUNCTION granules_keep_collection();

ANALYZE granules;
