#!/usr/bin/env bash
# API load benchmark: `/index` one-day lookups, `/collections?q=` searches and STAC item searches
# (`/stac/search` of one collection and one day) against
# `threddex serve` on Postgres holding >= 10 M granules over >= 1 000 collections, loaded over
# loopback by wrk (closed loop) and oha (open loop at fixed rates).
#
#   apt-get install -y wrk          # once
#   cargo install oha --locked      # once, for the open-loop runs (needs cmake: apt-get install -y cmake)
#   bench/api-load.sh               # fill (first run only), serve, load
#
# Two kinds of run per endpoint:
# - closed loop (wrk): 64 connections each send their next request as soon as the previous
#   answer arrives. This measures the most requests/s the machine serves; its latency is
#   queueing by construction (mean = 64 / throughput, Little's law).
# - open loop at a fixed rate (oha -q RATE --latency-correction, 64 connections): requests are
#   due on a fixed schedule whatever the answers' speed, and each latency is counted from the
#   moment its request was due, so a stall shows in the percentiles instead of slowing the
#   sender (no coordinated omission). This is the latency at a given load: the target
#   (p99 under 10 ms at >= 3,000 requests/s over 64 connections) is this run at RATE=3000.
#   Skipped when oha is not installed.
#
# Knobs (environment):
#   DB           postgres://postgres@127.0.0.1:5432/threddex_bench (created when missing)
#   COLLECTIONS  1000     GRANULES  10000 (per collection, hourly; 10 M in all)
#   CONNECTIONS  64       DURATION  20s    THREADS 1 (one wrk thread drives 64 connections
#                and leaves more of the 2 cores to the system under test)
#   RATES        "3000"   open-loop rates in requests/s, one run each per endpoint
#                (e.g. RATES="3000 4000 5000" to see where p99 gives way)
#   PREWARM=1    load the granule table and its time index into shared buffers first
#                (pg_prewarm) so the run measures a warm cache, not disk reads
#
# Postgres settings matter: Debian's default shared_buffers (128MB) holds a small part of the
# 2.7 GB database; the figures in docs/benchmarks.md give the setting they ran with
# (`ALTER SYSTEM SET shared_buffers = '4GB'` + restart, a quarter of this machine's RAM).
#   ENDPOINTS    "index search stac" (which request lists to run: index.txt, search.txt, and
#                stac.txt = each index.txt line as `/stac/search?collections=ID&datetime=DAY/DAY
#                23:59:59&limit=100`, the same collection and day as one STAC item search)
#   BIND         127.0.0.1:8099
#   REFILL=1     drop and refill the database
#
# The fill goes through the store's own write_batch (crates/api/benches/bench_fill.rs) and is
# skipped when the database already holds the granules. Figures go to docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
DB=${DB:-postgres://postgres@127.0.0.1:5432/threddex_bench}
COLLECTIONS=${COLLECTIONS:-1000} GRANULES=${GRANULES:-10000}
CONNECTIONS=${CONNECTIONS:-64} DURATION=${DURATION:-20s} THREADS=${THREADS:-1}
BIND=${BIND:-127.0.0.1:8099}
OUT=${OUT:-/tmp/threddex-bench}
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }

admin="${DB%/*}/postgres"
name="${DB##*/}"
if [ "${REFILL:-0}" = 1 ]; then
  psql -q "$admin" -c "DROP DATABASE IF EXISTS \"$name\" WITH (FORCE)"
fi
if ! psql -qtA "$admin" -c "SELECT 1 FROM pg_database WHERE datname = '$name'" | grep -q 1; then
  psql -q "$admin" -c "CREATE DATABASE \"$name\""
fi

echo "== fill $DB ($COLLECTIONS collections x $GRANULES granules)"
THREDDEX_BENCH_DB="$DB" THREDDEX_BENCH_COLLECTIONS="$COLLECTIONS" THREDDEX_BENCH_GRANULES="$GRANULES" \
  THREDDEX_BENCH_OUT="$OUT" cargo bench -q -p threddex-api --bench bench_fill
psql -q "$DB" -c "VACUUM ANALYZE granules" -c "VACUUM ANALYZE collections"
psql -qtA "$DB" -c "SELECT 'granules: ' || count(*) FROM granules" \
  -c "SELECT 'collections: ' || count(*) FROM collections" \
  -c "SELECT 'database size: ' || pg_size_pretty(pg_database_size(current_database()))" \
  -c "SELECT 'shared_buffers: ' || current_setting('shared_buffers')"
if [ "${PREWARM:-1}" = 1 ]; then
  psql -qtA "$DB" -c "CREATE EXTENSION IF NOT EXISTS pg_prewarm" \
    -c "SELECT 'prewarmed blocks: ' || (SELECT sum(pg_prewarm(relid)) FROM pg_partition_tree('granules') WHERE isleaf) + (SELECT coalesce(sum(pg_prewarm(indexrelid::regclass)), 0) FROM pg_index WHERE indrelid IN (SELECT relid FROM pg_partition_tree('granules') WHERE isleaf))" \
    || echo "warning: pg_prewarm failed; the first requests read from disk" >&2
fi

cargo build --release -q -p threddex
bin=${CARGO_TARGET_DIR:-target}/release/threddex
"$bin" serve --db "$DB" --bind "$BIND" --no-scheduler -q &
server=$!
trap 'kill -TERM $server 2>/dev/null || true; wait $server 2>/dev/null || true' EXIT
for _ in $(seq 1 300); do
  curl -fsS "http://$BIND/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fsS "http://$BIND/healthz" >/dev/null

lua=$(mktemp --suffix .lua)
cat >"$lua" <<'LUA'
-- Each request takes a random path from the file named by $PATHS.
local paths = {}
for line in io.lines(os.getenv("PATHS")) do paths[#paths + 1] = line end
math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
request = function()
  return wrk.format("GET", paths[math.random(#paths)])
end
done = function(summary, latency, requests)
  io.write(string.format("non-2xx/3xx: %d, socket errors: %d\n",
    summary.errors.status, summary.errors.connect + summary.errors.read +
    summary.errors.write + summary.errors.timeout))
end
LUA

run() {
  local title=$1 paths=$2
  echo
  echo "== $title: wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency"
  # Warm the connection pool and caches briefly first.
  PATHS="$paths" wrk -t"$THREADS" -c"$CONNECTIONS" -d3s -s "$lua" "http://$BIND" >/dev/null
  PATHS="$paths" wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s "$lua" "http://$BIND"
}
sed -E 's#^/index\?collection=([^&]*)&start=([0-9-]*)&end=.*$#/stac/search?collections=\1\&datetime=\2T00:00:00Z/\2T23:59:59Z\&limit=100#' \
  "$OUT/index.txt" >"$OUT/stac.txt"
ENDPOINTS=${ENDPOINTS:-index search stac}
declare -A TITLES=([index]="/index, one day of a random collection" [search]="/collections?q="
  [stac]="/stac/search, one day of a random collection")
echo "sample /index answer: $(curl -fsS "http://$BIND$(head -1 "$OUT/index.txt")" | head -c 300)…"
echo "sample /stac/search answer: $(curl -fsS "http://$BIND$(head -1 "$OUT/stac.txt")" | head -c 300)…"
for e in $ENDPOINTS; do
  run "${TITLES[$e]}" "$OUT/$e.txt"
done

open_run() {
  local title=$1 paths=$2 rate=$3 urls
  urls=$(mktemp --suffix .urls)
  sed "s|^|http://$BIND|" "$paths" >"$urls"
  echo
  echo "== $title: oha -c$CONNECTIONS -q$rate --latency-correction -z$DURATION (open loop)"
  oha --no-tui -c "$CONNECTIONS" -q "$rate" -z 3s --urls-from-file "$urls" --output-format quiet
  oha --no-tui -c "$CONNECTIONS" -q "$rate" --latency-correction -z "$DURATION" \
    --urls-from-file "$urls" |
    grep -E "Success rate|Requests/sec|Slowest|Average| (50|90|99)\.00% in| 99\.9[09]% in|\[[0-9]{3}\] [0-9]+ responses|aborted|Error"
  rm -f "$urls"
}
if command -v oha >/dev/null; then
  for rate in ${RATES:-3000}; do
    for e in $ENDPOINTS; do
      open_run "${TITLES[$e]}" "$OUT/$e.txt" "$rate"
    done
  done
else
  echo "oha is missing (cargo install oha --locked): open-loop runs skipped" >&2
fi
rm -f "$lua"
