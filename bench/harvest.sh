#!/usr/bin/env bash
# Harvest benchmark: a harvest end to end.
#
# Starts the simulated TDS as its own process with a generated NEXRAD-like tree, harvests it with
# the release `threddex` binary into a fresh SQLite file, and prints granules/s, catalogs/s,
# requests per granule and the harvester's peak memory (max RSS from /usr/bin/time).
#
#   bench/harvest.sh                      # 1,000,000 granules, no added latency, concurrency 16
#   LATENCY_MS=20 bench/harvest.sh        # 20 ms added per response
#   STATIONS=10 bench/harvest.sh          # smaller tree (100,000 granules)
#
# Knobs (environment): PRODUCTS (10) STATIONS (100) DAYS (4) FILES_PER_DAY (250) LATENCY_MS (0)
# CONCURRENCY (16) DB (sqlite:///tmp/threddex-bench.db, removed first).
set -euo pipefail
cd "$(dirname "$0")/.."
PRODUCTS=${PRODUCTS:-10} STATIONS=${STATIONS:-100} DAYS=${DAYS:-4} FILES_PER_DAY=${FILES_PER_DAY:-250}
LATENCY_MS=${LATENCY_MS:-0} CONCURRENCY=${CONCURRENCY:-16}
DB=${DB:-sqlite:///tmp/threddex-bench.db}
cargo build --release -q -p threddex -p threddex-sim
bin=${CARGO_TARGET_DIR:-target}/release
case "$DB" in sqlite://*) rm -f "${DB#sqlite://}" "${DB#sqlite://}-wal" "${DB#sqlite://}-shm" ;; esac

fifo=$(mktemp -u); mkfifo "$fifo"
"$bin/threddex-sim" --tree nexrad --products "$PRODUCTS" --stations "$STATIONS" --days "$DAYS" \
  --files-per-day "$FILES_PER_DAY" --latency-ms "$LATENCY_MS" --fixed-time 2024-01-08T23:59:59Z >"$fifo" &
sim=$!
trap 'kill $sim 2>/dev/null || true; rm -f "$fifo"' EXIT
read -r url <"$fifo"
echo "simulated TDS: $url (products=$PRODUCTS stations=$STATIONS days=$DAYS files/day=$FILES_PER_DAY latency=${LATENCY_MS}ms)"

log=$(mktemp)
/usr/bin/time -v "$bin/threddex" -q harvest "$url" --db "$DB" --ignore-robots --rate 1000000 \
  --concurrency "$CONCURRENCY" --per-host "$CONCURRENCY" 2>"$log" || { cat "$log"; exit 1; }
summary=$(grep '^harvest done' "$log" || true)
rss_kb=$(awk -F: '/Maximum resident set size/ {gsub(/ /,"",$2); print $2}' "$log")
echo "$summary"
granules=$(sed -E 's/.* ([0-9]+) granules \(.*/\1/' <<<"$summary")
requests=$(sed -E 's/.* ([0-9]+) requests \(.*/\1/' <<<"$summary")
awk -v g="$granules" -v r="$requests" -v kb="$rss_kb" 'BEGIN {
  printf "requests per granule: %.5f\npeak memory (max RSS of threddex): %.1f MB\n", r / (g > 0 ? g : 1), kb / 1024 }'
