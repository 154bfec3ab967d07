#!/usr/bin/env bash
# STAC-GeoParquet export benchmark: the export rate in granules (items) per second.
#
# Makes a store with bench/harvest.sh (a NEXRAD-like tree from the simulated TDS harvested
# into SQLite; same knobs), then runs the release `threddex export --format stac-geoparquet`
# over it and prints items/s, output size, the exporter's CPU time (items per CPU second
# depend less on what else the machine runs) and peak memory (max RSS from /usr/bin/time). The load average is printed before and after: figures taken with a load
# above the core count are lower bounds.
#
#   bench/export-geoparquet.sh                          # 1,000 collections × 1,000 granules
#   PRODUCTS=1 STATIONS=1 DAYS=400 FILES_PER_DAY=2500 bench/export-geoparquet.sh
#                                                       # one collection of 1,000,000 granules
#   KEEP_DB=1 bench/export-geoparquet.sh                # export the existing $DB again
#
# Knobs (environment): those of bench/harvest.sh (PRODUCTS, STATIONS, DAYS, FILES_PER_DAY),
# DB (sqlite:///tmp/threddex-bench-export.db), KEEP_DB (skip the harvest),
# OUT (/tmp/threddex-bench-parquet, emptied first).
set -euo pipefail
cd "$(dirname "$0")/.."
DB=${DB:-sqlite:///tmp/threddex-bench-export.db}
OUT=${OUT:-/tmp/threddex-bench-parquet}
export DB
if [ -z "${KEEP_DB:-}" ]; then
  bench/harvest.sh
else
  cargo build --release -q -p threddex
fi
bin=${CARGO_TARGET_DIR:-target}/release
rm -rf "$OUT"

echo "load before: $(uptime | sed 's/.*load average/load average/')"
log=$(mktemp)
/usr/bin/time -v "$bin/threddex" -q export --format stac-geoparquet --out "$OUT" --db "$DB" \
  2>"$log" || { cat "$log"; exit 1; }
echo "load after:  $(uptime | sed 's/.*load average/load average/')"
summary=$(grep '^wrote ' "$log" || true)
echo "$summary"
rss_kb=$(awk -F: '/Maximum resident set size/ {gsub(/ /,"",$2); print $2}' "$log")
cpu=$(awk -F: '/User time|System time/ {s += $2} END {print s}' "$log")
items=$(sed -E 's/^wrote ([0-9]+) STAC items.*/\1/' <<<"$summary")
bytes=$(du -sb "$OUT" | cut -f1)
awk -v n="$items" -v b="$bytes" -v kb="$rss_kb" -v cpu="$cpu" 'BEGIN {
  printf "output: %.1f MB, %.1f bytes per item\n", b / 1e6, b / (n > 0 ? n : 1)
  printf "CPU time (user + system): %.1f s, %.0f items per CPU second\n", cpu, n / (cpu > 0 ? cpu : 1)
  printf "peak memory (max RSS of threddex): %.1f MB\n", kb / 1024 }'
