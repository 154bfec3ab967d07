-- Probe for docs/scaling.md: the granule table as migrations/postgres leave it (0017: 64 hash
-- partitions of collection_key) filled with :collections x :per rows in the store's compact
-- form, written by SQL (not through the store: this measures the layout, not the writer).
-- Reports bytes per granule (table + indexes over all partitions) and the time of one-day
-- window lookups as the store runs them (collection key bound, one partition), inside the
-- server.
--
--   createdb threddex_partition_scale
--   for f in migrations/postgres/*.sql; do psql -q -d threddex_partition_scale -f "$f"; done
--   psql -d threddex_partition_scale -v collections=100000 -v per=100 \
--        -f bench/pg-partitions-scale.sql
--
-- Rows: hourly granules from 2020-01-01 with IDs `m<c>_<YYYYMMDDTHH>.nc` stored (no template),
-- the urlPath stored as its prefix `model<c>/` (flag 1), one catalog per collection, as the
-- API benchmark's fill (crates/api/benches/bench_fill.rs) writes them.
\set ON_ERROR_STOP on
\timing off
SET client_min_messages = warning;
INSERT INTO sources (name, url) VALUES ('probe', 'http://127.0.0.1:9/thredds/catalog.xml');
INSERT INTO collections (key, id, source_id, title, max_span_us)
SELECT c, format('bench:model%s/hourly', c), 1, format('Model m%s hourly', c), 3600000000
FROM generate_series(1, :collections) AS c;
INSERT INTO catalogs (key, source_id, url, status)
SELECT c, 1, format('http://127.0.0.1:9/thredds/catalog/model%s/catalog.xml', c), 'ok'
FROM generate_series(1, :collections) AS c;
\echo 'fill (granule_days triggers on):'
\timing on
INSERT INTO granules (collection_key, id_hash, start_time, catalog_key, end_time, size, flags,
                      granule_id, url_path)
SELECT c, hashtextextended(id, 0), t, c, t + interval '1 hour', 1000000 + i, 1, id,
       format('model%s/', c)
FROM generate_series(1, :collections) AS c,
     generate_series(0, :per - 1) AS i,
     LATERAL (SELECT timestamptz '2020-01-01 00:00:00+00' + i * interval '1 hour') AS tt(t),
     LATERAL (SELECT format('m%s_%s.nc', c, to_char(t, 'YYYYMMDD"T"HH24'))) AS ii(id);
\timing off
VACUUM ANALYZE granules;

\echo 'size (table + indexes of every partition), bytes per granule:'
WITH parts AS (SELECT relid FROM pg_partition_tree('granules') WHERE isleaf),
     n AS (SELECT count(*)::numeric AS granules FROM granules)
SELECT n.granules, count(*) AS partitions,
       pg_size_pretty(sum(pg_relation_size(relid))) AS heap,
       pg_size_pretty(sum(pg_indexes_size(relid))) AS indexes,
       round(sum(pg_total_relation_size(relid)) / n.granules, 1) AS bytes_per_granule,
       round(sum(pg_relation_size(relid)) / n.granules, 1) AS heap_per_granule,
       round(sum(pg_indexes_size(relid)) / n.granules, 1) AS indexes_per_granule
FROM parts, n GROUP BY n.granules;
SELECT max(c) AS largest_partition, min(c) AS smallest_partition
FROM (SELECT count(*) AS c FROM granules GROUP BY tableoid) p;

\echo 'plan of a one-day lookup with the key bound, as the store runs it (one partition):'
PREPARE day(int8, timestamptz, timestamptz) AS
SELECT g.granule_id, g.start_time, g.end_time, g.size, g.url_path FROM granules g
WHERE g.collection_key = $1 AND COALESCE(g.end_time, g.start_time) >= $2
  AND g.start_time >= $2 - interval '1 hour' AND g.start_time < $3
ORDER BY g.start_time NULLS FIRST LIMIT 1001;
EXPLAIN (COSTS OFF) EXECUTE day(7, '2020-01-02', '2020-01-03');

CREATE OR REPLACE FUNCTION probe(n int, collections int, days int)
RETURNS TABLE (p50_ms numeric, p99_ms numeric, rows_per_lookup numeric) LANGUAGE plpgsql AS $$
DECLARE
  t0 timestamptz; ms float8[] := '{}'; c bigint; d timestamptz; got bigint; total bigint := 0;
BEGIN
  FOR k IN 1..n LOOP
    c := 1 + (k * 7919) % collections;
    d := timestamptz '2020-01-01 00:00:00+00' + ((k * 31) % days) * interval '1 day';
    t0 := clock_timestamp();
    SELECT count(*) INTO got FROM (
      SELECT g.granule_id, g.start_time, g.end_time, g.size, g.url_path FROM granules g
      WHERE g.collection_key = c AND COALESCE(g.end_time, g.start_time) >= d
        AND g.start_time >= d - interval '1 hour' AND g.start_time < d + interval '1 day'
      ORDER BY g.start_time NULLS FIRST LIMIT 1001) x;
    ms := ms || extract(epoch FROM clock_timestamp() - t0) * 1000;
    total := total + got;
  END LOOP;
  RETURN QUERY SELECT
    round((SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY v) FROM unnest(ms) v)::numeric, 3),
    round((SELECT percentile_cont(0.99) WITHIN GROUP (ORDER BY v) FROM unnest(ms) v)::numeric, 3),
    round(total::numeric / n, 1);
END $$;
\echo '2000 one-day lookups at spread collections and days (server time, cold then warm):'
SELECT * FROM probe(2000, :collections, greatest(:per / 24, 1));
SELECT * FROM probe(2000, :collections, greatest(:per / 24, 1));
