-- Probe for docs/scaling.md: the threddex granule table (schema of
-- migrations/postgres/0001_init.sql) plain vs hash-partitioned by collection_key, same rows.
-- Reports bytes per granule (table + indexes) and the time of one-day window lookups, and
-- shows that a lookup on the partitioned table touches one partition.
--
--   createdb -h 127.0.0.1 -U postgres threddex_partition_probe
--   psql -h 127.0.0.1 -U postgres -d threddex_partition_probe -v collections=200 -v per=10000 \
--        -v parts=64 -f bench/pg-partitioning.sql
--   dropdb -h 127.0.0.1 -U postgres threddex_partition_probe
--
-- collections × per granules, 5 minutes apart (per = 10000 is ~35 days), NEXRAD-like IDs.
\set ON_ERROR_STOP on
\timing off
SET client_min_messages = warning;
DROP TABLE IF EXISTS g_plain, g_hash CASCADE;

CREATE TABLE g_plain (
    collection_key bigint   NOT NULL,
    catalog_key    bigint,
    start_time     timestamptz,
    end_time       timestamptz,
    size           bigint,
    modified       timestamptz,
    flags          smallint NOT NULL DEFAULT 0,
    granule_id     text COLLATE "C" NOT NULL,
    name           text,
    url_path       text,
    PRIMARY KEY (collection_key, granule_id)
);
CREATE TABLE g_hash (LIKE g_plain INCLUDING DEFAULTS) PARTITION BY HASH (collection_key);
ALTER TABLE g_hash ADD PRIMARY KEY (collection_key, granule_id);
SELECT format('CREATE TABLE g_hash_%s PARTITION OF g_hash FOR VALUES WITH (MODULUS %s, REMAINDER %s)',
              r, :parts, r)
FROM generate_series(0, :parts - 1) AS r \gexec

-- Rows as the store writes them: name NULL (it is the ID's last segment), url_path stored as
-- its prefix (flags bit 0), catalog key per day folder.
INSERT INTO g_plain (collection_key, catalog_key, start_time, size, modified, flags, granule_id, url_path)
SELECT c, c * 1000 + (i / 288),
       t, 50000 + (i * 7919) % 150000, t + interval '1 minute', 1,
       format('NWS/NEXRAD3/N0Q/S%s/%s/Level3_S%s_N0Q_%s.nids', c, to_char(t, 'YYYYMMDD'), c,
              to_char(t, 'YYYYMMDD_HH24MI')),
       format('nexrad/level3/N0Q/S%s/%s/', c, to_char(t, 'YYYYMMDD'))
FROM generate_series(1, :collections) AS c,
     generate_series(0, :per - 1) AS i,
     LATERAL (SELECT timestamptz '2024-01-01 00:00:00+00' + i * interval '5 minutes') AS tt(t);
CREATE INDEX ON g_plain (collection_key, start_time NULLS FIRST, granule_id);
CREATE INDEX ON g_plain (catalog_key);
INSERT INTO g_hash SELECT * FROM g_plain;
CREATE INDEX ON g_hash (collection_key, start_time NULLS FIRST, granule_id);
CREATE INDEX ON g_hash (catalog_key);
VACUUM ANALYZE g_plain;
VACUUM ANALYZE g_hash;

\echo 'size (table + indexes), bytes per granule:'
SELECT 'plain' AS layout, count(*) AS granules,
       pg_size_pretty(pg_total_relation_size('g_plain')) AS total,
       round(pg_total_relation_size('g_plain')::numeric / count(*), 1) AS bytes_per_granule
FROM g_plain
UNION ALL
SELECT 'hash(' || :parts || ')', n.granules,
       pg_size_pretty(sum(pg_total_relation_size(inhrelid))),
       round(sum(pg_total_relation_size(inhrelid))::numeric / n.granules, 1)
FROM pg_inherits, (SELECT count(*) AS granules FROM g_hash) n
WHERE inhparent = 'g_hash'::regclass
GROUP BY n.granules;

\echo 'plan of a one-day lookup on the partitioned table (one partition scanned):'
EXPLAIN (COSTS OFF)
SELECT granule_id, start_time, size, url_path FROM g_hash
WHERE collection_key = 7 AND start_time >= '2024-01-05' AND start_time < '2024-01-06'
ORDER BY start_time NULLS FIRST, granule_id LIMIT 1000;

-- 2000 one-day lookups at pseudo-random collections and days, each fetching its rows.
CREATE OR REPLACE FUNCTION probe(tbl regclass, n int, collections int, days int)
RETURNS TABLE (p50_ms numeric, p99_ms numeric, rows_per_lookup numeric) LANGUAGE plpgsql AS $$
DECLARE
  t0 timestamptz; ms float8[] := '{}'; c bigint; d timestamptz; got bigint; total bigint := 0;
BEGIN
  FOR k IN 1..n LOOP
    c := 1 + (k * 7919) % collections;
    d := timestamptz '2024-01-01 00:00:00+00' + ((k * 104729) % days) * interval '1 day';
    t0 := clock_timestamp();
    EXECUTE format('SELECT count(s.*) FROM (SELECT granule_id, start_time, size, url_path FROM %s
                    WHERE collection_key = $1 AND start_time >= $2 AND start_time < $3
                    ORDER BY start_time NULLS FIRST, granule_id LIMIT 1000) s', tbl)
      INTO got USING c, d, d + interval '1 day';
    ms := ms || extract(epoch FROM clock_timestamp() - t0) * 1000;
    total := total + got;
  END LOOP;
  RETURN QUERY SELECT
    round((SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x) FROM unnest(ms) x)::numeric, 3),
    round((SELECT percentile_cont(0.99) WITHIN GROUP (ORDER BY x) FROM unnest(ms) x)::numeric, 3),
    round(total::numeric / n, 1);
END $$;

\echo 'one-day lookups (2000 each, server-side time, rows fetched in full):'
SELECT 'plain' AS layout, * FROM probe('g_plain', 2000, :collections, :per / 288)
UNION ALL
SELECT 'hash(' || :parts || ')', * FROM probe('g_hash', 2000, :collections, :per / 288);
