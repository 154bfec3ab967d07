#!/usr/bin/env bash
# Worker benchmark: the first harvest of one source shared by 1, 2 and 4 `threddex worker`
# processes over a Postgres frontier, against a latency-bound simulated TDS.
#
# Starts the simulated TDS (release build) with a NEXRAD-like tree of >= 5,000 catalogs and 50 ms
# added to every response, then for each worker count: a fresh database, the source registered,
# N workers started with `--once` (each ends when the round is closed and nothing is due), and
# the wall time from their start to the last exit. The round's own duration (its crawl run,
# `started_at` to `finished_at` in the database) is printed too: it leaves out the processes'
# start and their last idle pass (up to two 2 s ticks).
#
#   bench/workers.sh                       # workers 1 2 4, 5,106 catalogs, 50 ms latency
#   WORKERS="1 2 4 8" bench/workers.sh
#
# Per-host limits are raised (--rate 1000000, --per-host PER_HOST) so that they bind only when
# N x CONCURRENCY exceeds PER_HOST: with the defaults, 1 and 2 workers are latency-bound
# (8 and 16 requests in flight) and 4 workers (32) would meet the shared in-flight limit of 24
# when the machine keeps up with them.
#
# Knobs (environment): PRODUCTS (5) STATIONS (20) DAYS (50) FILES_PER_DAY (24) LATENCY_MS (50)
# CONCURRENCY (8, per worker) PER_HOST (24, shared by all workers) WORKERS ("1 2 4")
# ADMIN (postgres://postgres@127.0.0.1:5432/postgres) PROFILE (release; debug to try the script).
set -euo pipefail
cd "$(dirname "$0")/.."
PRODUCTS=${PRODUCTS:-5} STATIONS=${STATIONS:-20} DAYS=${DAYS:-50} FILES_PER_DAY=${FILES_PER_DAY:-24}
LATENCY_MS=${LATENCY_MS:-50} CONCURRENCY=${CONCURRENCY:-8} PER_HOST=${PER_HOST:-24}
WORKERS=${WORKERS:-"1 2 4"}
ADMIN=${ADMIN:-postgres://postgres@127.0.0.1:5432/postgres}
PROFILE=${PROFILE:-release}
if [ "$PROFILE" = release ]; then cargo build --release -q -p threddex -p threddex-sim
else cargo build -q -p threddex -p threddex-sim; fi
bin=${CARGO_TARGET_DIR:-target}/$PROFILE

fifo=$(mktemp -u); mkfifo "$fifo"
"$bin/threddex-sim" --tree nexrad --products "$PRODUCTS" --stations "$STATIONS" --days "$DAYS" \
  --files-per-day "$FILES_PER_DAY" --latency-ms "$LATENCY_MS" --fixed-time 2024-01-08T23:59:59Z >"$fifo" &
sim=$!
pids=()
trap 'kill $sim "${pids[@]}" 2>/dev/null || true; rm -f "$fifo"' EXIT
read -r url <"$fifo"
catalogs=$((1 + PRODUCTS + PRODUCTS * STATIONS + PRODUCTS * STATIONS * DAYS))
echo "simulated TDS: $url ($catalogs catalogs, $((PRODUCTS * STATIONS * DAYS * FILES_PER_DAY)) granules, latency ${LATENCY_MS}ms)"
echo "commit $(git rev-parse --short HEAD), $(nproc) cores, load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-8s %-10s %-10s %-12s %-14s %s\n' workers wall_s round_s catalogs/s granules load_avg_1m
for n in $WORKERS; do
  name="threddex_bench_workers_$n"
  psql -q "$ADMIN" -c "DROP DATABASE IF EXISTS $name" -c "CREATE DATABASE $name" >/dev/null
  db="${ADMIN%/*}/$name"
  "$bin/threddex" -q sources add "$url" --name sim --every 1d --db "$db" >/dev/null
  start=$(date +%s.%N)
  pids=()
  for _ in $(seq "$n"); do
    "$bin/threddex" worker --db "$db" --once --ignore-robots --rate 1000000 \
      --per-host "$PER_HOST" --concurrency "$CONCURRENCY" &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p"; done
  pids=()
  end=$(date +%s.%N)
  read -r round granules status < <(psql -At -F ' ' "$db" -c \
    "SELECT extract(epoch FROM finished_at - started_at), granules_added, status FROM crawl_runs ORDER BY id DESC LIMIT 1")
  [ "$status" = ok ] || { echo "round status $status" >&2; exit 1; }
  awk -v n="$n" -v s="$start" -v e="$end" -v r="$round" -v c="$catalogs" -v g="$granules" \
      -v l="$(cut -d' ' -f1 /proc/loadavg)" \
    'BEGIN { printf "%-8d %-10.1f %-10.1f %-12.0f %-14d %s\n", n, e - s, r, c / r, g, l }'
  psql -q "$ADMIN" -c "DROP DATABASE $name" >/dev/null
done
