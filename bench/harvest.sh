#!/usr/bin/env bash
# Harvest benchmark: a harvest end to end, beside the fetch floor of the same server.
#
# Starts the simulated TDS as its own process with a generated NEXRAD-like tree, reads every
# catalog of it once with the fetch floor (crates/sim/examples/fetch_floor.rs: CONCURRENCY GETs in
# flight, follows catalogRefs, parses nothing else), then harvests it with the release `threddex`
# binary into a fresh store, and prints granules/s, catalogs/s, requests per granule, the
# harvester's peak memory (max RSS from /usr/bin/time) and CPU time, and the harvest's wall time
# over the floor's.
#
#   bench/harvest.sh                      # 1,000,000 granules, no added latency, concurrency 16
#   LATENCY_MS=20 bench/harvest.sh        # 20 ms added per response
#   STATIONS=10 bench/harvest.sh          # smaller tree (100,000 granules)
#   DB=postgres://postgres@127.0.0.1:5432/threddex_bench bench/harvest.sh   # Postgres (the
#                                         # database is dropped and created first)
#
# Knobs (environment): PRODUCTS (10) STATIONS (100) DAYS (4) FILES_PER_DAY (250) LATENCY_MS (0)
# CONCURRENCY (16) DB (sqlite:///tmp/threddex-bench.db, removed first) DRY_RUN (set: --dry-run,
# no store) NO_BUILD (set: use the release binaries already built).
set -euo pipefail
cd "$(dirname "$0")/.."
PRODUCTS=${PRODUCTS:-10} STATIONS=${STATIONS:-100} DAYS=${DAYS:-4} FILES_PER_DAY=${FILES_PER_DAY:-250}
LATENCY_MS=${LATENCY_MS:-0} CONCURRENCY=${CONCURRENCY:-16}
DB=${DB:-sqlite:///tmp/threddex-bench.db}
if [ -z "${NO_BUILD:-}" ]; then
  cargo build --release -q -p threddex -p threddex-sim
  cargo build --release -q -p threddex-sim --example fetch_floor
fi
bin=${CARGO_TARGET_DIR:-target}/release
case "$DB" in
  sqlite://*) rm -f "${DB#sqlite://}" "${DB#sqlite://}-wal" "${DB#sqlite://}-shm" ;;
  postgres://*)
    name=${DB##*/}
    psql -q "${DB%/*}/postgres" -c "DROP DATABASE IF EXISTS $name" -c "CREATE DATABASE $name"
    ;;
esac

fifo=$(mktemp -u); mkfifo "$fifo"
"$bin/threddex-sim" --tree nexrad --products "$PRODUCTS" --stations "$STATIONS" --days "$DAYS" \
  --files-per-day "$FILES_PER_DAY" --latency-ms "$LATENCY_MS" --fixed-time 2024-01-08T23:59:59Z >"$fifo" &
sim=$!
trap 'kill $sim 2>/dev/null || true; rm -f "$fifo"' EXIT
read -r url <"$fifo"
echo "simulated TDS: $url (products=$PRODUCTS stations=$STATIONS days=$DAYS files/day=$FILES_PER_DAY latency=${LATENCY_MS}ms)"
echo "machine: $(nproc) cores, $(uname -sr), load average $(cut -d' ' -f1-3 /proc/loadavg)"

floor=$("$bin/examples/fetch_floor" "$url" "$CONCURRENCY")
echo "$floor"
floor_s=$(sed -E 's/.* in ([0-9.]+) s .*/\1/' <<<"$floor")

log=$(mktemp)
target=(--db "$DB")
if [ -n "${DRY_RUN:-}" ]; then target=(--dry-run); fi
/usr/bin/time -v "$bin/threddex" -q harvest "$url" "${target[@]}" --ignore-robots --rate 1000000 \
  --concurrency "$CONCURRENCY" --per-host "$CONCURRENCY" 2>"$log" >/dev/null || { cat "$log"; exit 1; }
if grep -q '^progress:' "$log"; then echo "unexpected progress lines under -q" >&2; exit 1; fi
summary=$(grep '^harvest done' "$log" || true)
rss_kb=$(awk -F: '/Maximum resident set size/ {gsub(/ /,"",$2); print $2}' "$log")
user_s=$(awk -F: '/User time \(seconds\)/ {gsub(/ /,"",$2); print $2}' "$log")
sys_s=$(awk -F: '/System time \(seconds\)/ {gsub(/ /,"",$2); print $2}' "$log")
wall_s=$(awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, p, ":"); s = 0;
  for (i = 1; i <= n; i++) s = s * 60 + p[i]; printf "%.2f", s }' "$log")
echo "$summary"
granules=$(sed -E 's/.* ([0-9]+) granules \(.*/\1/' <<<"$summary")
requests=$(sed -E 's/.* ([0-9]+) requests \(.*/\1/' <<<"$summary")
awk -v g="$granules" -v r="$requests" -v kb="$rss_kb" -v w="$wall_s" -v f="$floor_s" -v u="$user_s" \
  -v s="$sys_s" 'BEGIN {
  printf "wall time (process): %.2f s, %.0f granules/s end to end; CPU %.2f s user + %.2f s system\n", w, g / (w > 0 ? w : 1), u, s
  printf "fetch floor: %.3f s; harvest / floor: %.2f×\n", f, w / (f > 0 ? f : 1)
  printf "requests per granule: %.5f\npeak memory (max RSS of threddex): %.1f MB\n", r / (g > 0 ? g : 1), kb / 1024 }'
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
