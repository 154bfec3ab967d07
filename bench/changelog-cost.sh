#!/usr/bin/env bash
# Cost of the change log on ingest: the bench/harvest.sh harvest (1,000,000 granules from the
# simulated NEXRAD tree, no added latency, concurrency 16) with two builds of `threddex`, on
# SQLite and on Postgres, alternating the builds RUNS times each so that load drifts hit both:
#
#   BEFORE  the build of the commit just before the change log (594b4fa^: no log)
#   AFTER   the build of the commit that added it (594b4fa: the log appended by every write
#           transaction, migration 0013); nothing else differs between the two.
#
# There is no switch to turn the log off (it is written in the same transaction as the change,
# by design), so the two commits are built in worktrees of their own:
#
#   git worktree add --detach /tmp/cl-before 594b4fa^ && git worktree add --detach /tmp/cl-after 594b4fa
#   (cd /tmp/cl-before && cargo build --release -p threddex -p threddex-sim) && cp target/release/threddex{,-sim} ...
#   BEFORE=…/threddex-before AFTER=…/threddex-after SIM=…/threddex-sim bench/changelog-cost.sh
#
# Prints one line per run (backend, build, seconds, granules/s) and the median of each.
# Knobs: RUNS (3) BACKENDS ("sqlite postgres") PG (postgres://postgres@127.0.0.1:5432)
# PRODUCTS STATIONS DAYS FILES_PER_DAY CONCURRENCY as in bench/harvest.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${BEFORE:?path of the threddex build before the change log}" "${AFTER:?path of the build with it}"
: "${SIM:?path of threddex-sim}"
RUNS=${RUNS:-3} BACKENDS=${BACKENDS:-"sqlite postgres"} PG=${PG:-postgres://postgres@127.0.0.1:5432}
PRODUCTS=${PRODUCTS:-10} STATIONS=${STATIONS:-100} DAYS=${DAYS:-4} FILES_PER_DAY=${FILES_PER_DAY:-250}
CONCURRENCY=${CONCURRENCY:-16}

fifo=$(mktemp -u); mkfifo "$fifo"
"$SIM" --tree nexrad --products "$PRODUCTS" --stations "$STATIONS" --days "$DAYS" \
  --files-per-day "$FILES_PER_DAY" --fixed-time 2024-01-08T23:59:59Z >"$fifo" &
sim=$!
trap 'kill $sim 2>/dev/null || true; rm -f "$fifo"' EXIT
read -r url <"$fifo"
echo "simulated TDS: $url (products=$PRODUCTS stations=$STATIONS days=$DAYS files/day=$FILES_PER_DAY)"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"

results=$(mktemp)
run() { # backend build binary
  local db
  case "$1" in
    sqlite) db=/tmp/threddex-clcost.db; rm -f "$db" "$db-wal" "$db-shm"; db="sqlite://$db" ;;
    postgres)
      psql -q "$PG/postgres" -c 'DROP DATABASE IF EXISTS threddex_clcost' -c 'CREATE DATABASE threddex_clcost'
      db="$PG/threddex_clcost" ;;
  esac
  local log t0 t1
  log=$(mktemp)
  t0=$(date +%s.%N)
  "$3" -q harvest "$url" --db "$db" --ignore-robots --rate 1000000 \
    --concurrency "$CONCURRENCY" --per-host "$CONCURRENCY" 2>"$log" || { cat "$log"; exit 1; }
  t1=$(date +%s.%N)
  local granules
  granules=$(sed -nE 's/^harvest done.* ([0-9]+) granules \(.*/\1/p' "$log")
  awk -v b="$1" -v k="$2" -v s="$(echo "$t1 - $t0" | bc)" -v g="$granules" -v l="$(cut -d' ' -f1 /proc/loadavg)" \
    'BEGIN { printf "%-8s %-6s %7.2f s  %8d granules  %9.0f granules/s  load %s\n", b, k, s, g, g / s, l }' | tee -a "$results"
  rm -f "$log"
}
for backend in $BACKENDS; do
  for i in $(seq "$RUNS"); do
    if [ $((i % 2)) = 1 ]; then run "$backend" before "$BEFORE"; run "$backend" after "$AFTER"
    else run "$backend" after "$AFTER"; run "$backend" before "$BEFORE"; fi
  done
done
echo "medians (seconds):"
for backend in $BACKENDS; do
  b=$(awk -v x="$backend" '$1 == x && $2 == "before" { print $3 }' "$results" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
  a=$(awk -v x="$backend" '$1 == x && $2 == "after" { print $3 }' "$results" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
  awk -v x="$backend" -v b="$b" -v a="$a" 'BEGIN { printf "%-8s before %.2f s  after %.2f s  cost %+.1f %%\n", x, b, a, (a / b - 1) * 100 }'
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
