#!/usr/bin/env bash
# Storage at scale on the partitioned granule table (migration 0017): fill rate through the
# store's own write_batch, bytes per granule (table + indexes, summed over the 64 partitions),
# then the API load benchmark (bench/api-load.sh: /index one-day lookups and /collections?q=,
# closed loop with wrk and open loop with oha at RATES) on the same database.
#
#   bench/pg-scale.sh                                   # 100,000 collections x 1,000 granules
#   COLLECTIONS=10000 GRANULES=1000 bench/pg-scale.sh   # 10 M
#
# The database runs in a private PostgreSQL cluster this script creates and starts (initdb as
# the postgres user when run as root, in CLUSTER_DIR, on PORT), so its settings are the ones
# stated here and the shared cluster on 5432 is not touched:
#   shared_buffers 4GB (a quarter of the machine's RAM), max_wal_size 16GB and
#   checkpoint_timeout 30min (a bulk fill is not checkpoint-bound), everything else default
#   (fsync and synchronous_commit on).
# Stop it afterwards: pg_ctl -D "$CLUSTER_DIR" stop (as postgres).
#
# Knobs (environment):
#   COLLECTIONS 100000   GRANULES 1000 (per collection, hourly)   WRITERS 4 (batches at once)
#   CLUSTER_DIR /var/tmp/threddex-scale-pg   PORT 5441   RATES "3000"   DURATION 20s
#   LOAD=0       fill and measure storage only (no API load)
#   REFILL=1     drop and refill the database
set -euo pipefail
cd "$(dirname "$0")/.."
COLLECTIONS=${COLLECTIONS:-100000} GRANULES=${GRANULES:-1000} WRITERS=${WRITERS:-4}
CLUSTER_DIR=${CLUSTER_DIR:-/var/tmp/threddex-scale-pg} PORT=${PORT:-5441}
BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)}
DB=postgres://postgres@127.0.0.1:$PORT/threddex_scale
OUT=${OUT:-/tmp/threddex-scale}

as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
if [ ! -s "$CLUSTER_DIR/PG_VERSION" ]; then
  mkdir -p "$CLUSTER_DIR"
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$CLUSTER_DIR"
  as_pg "$BIN/initdb" -A trust -U postgres -D "$CLUSTER_DIR" >/dev/null
fi
if ! as_pg "$BIN/pg_ctl" -D "$CLUSTER_DIR" status >/dev/null 2>&1; then
  as_pg "$BIN/pg_ctl" -D "$CLUSTER_DIR" -w -t 120 -l "$CLUSTER_DIR/server.log" \
    -o "-p $PORT -k $CLUSTER_DIR -c listen_addresses=127.0.0.1 -c shared_buffers=4GB \
        -c max_wal_size=16GB -c checkpoint_timeout=30min" start >/dev/null
fi
admin="postgres://postgres@127.0.0.1:$PORT/postgres"
if [ "${REFILL:-0}" = 1 ]; then
  psql -q "$admin" -c "DROP DATABASE IF EXISTS threddex_scale WITH (FORCE)"
fi
if ! psql -qtA "$admin" -c "SELECT 1 FROM pg_database WHERE datname = 'threddex_scale'" | grep -q 1; then
  psql -q "$admin" -c "CREATE DATABASE threddex_scale"
fi

echo "== machine: $(nproc) cores, $(free -g | awk '/Mem/ {print $2}') GB RAM; commit $(git rev-parse --short HEAD); load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== fill $DB ($COLLECTIONS collections x $GRANULES granules, $WRITERS writers)"
THREDDEX_BENCH_DB="$DB" THREDDEX_BENCH_COLLECTIONS="$COLLECTIONS" THREDDEX_BENCH_GRANULES="$GRANULES" \
  THREDDEX_BENCH_WRITERS="$WRITERS" THREDDEX_BENCH_OUT="$OUT" \
  cargo bench -q --locked -p threddex-api --bench bench_fill
echo "== load average after the fill: $(cut -d' ' -f1-3 /proc/loadavg)"
psql -q "$DB" -c "VACUUM ANALYZE granules" -c "VACUUM ANALYZE collections"

echo "== storage (table + indexes of every partition)"
psql -qtA "$DB" <<'SQL'
WITH parts AS (
  SELECT relid FROM pg_partition_tree('granules') WHERE isleaf
), sizes AS (
  SELECT sum(pg_relation_size(relid))::numeric AS heap,
         sum(pg_indexes_size(relid))::numeric AS idx,
         sum(pg_total_relation_size(relid))::numeric AS total
  FROM parts
), n AS (SELECT count(*)::numeric AS granules FROM granules)
SELECT format('granules %s in %s partitions; heap %s, indexes %s, total %s; %s bytes/granule (heap %s, indexes %s)',
              n.granules, (SELECT count(*) FROM parts),
              pg_size_pretty(heap), pg_size_pretty(idx), pg_size_pretty(total),
              round(total / n.granules, 1), round(heap / n.granules, 1), round(idx / n.granules, 1))
FROM sizes, n;
SELECT format('largest partition %s rows, smallest %s (of %s collections)',
              max(c), min(c), (SELECT count(*) FROM collections))
FROM (SELECT count(*) AS c FROM granules GROUP BY tableoid) p;
SELECT 'database size: ' || pg_size_pretty(pg_database_size(current_database()));
SQL

if [ "${LOAD:-1}" = 1 ]; then
  DB="$DB" COLLECTIONS="$COLLECTIONS" GRANULES="$GRANULES" OUT="$OUT" bench/api-load.sh
fi
