#!/usr/bin/env bash
# Webhook latency: a granule appears on the simulated TDS, a sync finds and commits it, the
# delivery worker of `serve` POSTs its event to a receiver on 127.0.0.1. Prints, per round and
# summarised (median, p95, max), the time from the sync's commit to the webhook's arrival and
# from the granule's appearance to the arrival (the latter includes the sync itself).
#
#   bench/webhook-latency.sh                      # SQLite in a temporary directory, 40 rounds
#   ROUNDS=100 bench/webhook-latency.sh
#   DB=postgres://postgres@127.0.0.1:5432/threddex_webhook_bench bench/webhook-latency.sh
#                                                 # an existing, empty Postgres database
#
# Release build (crates/api/benches/webhook_latency.rs); PROFILE=debug runs the debug build
# (quicker to build when the machine is busy). Figures go to docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "commit $(git rev-parse --short HEAD), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
if [ "${PROFILE:-release}" = debug ]; then
  exec cargo test -p threddex-api --bench webhook_latency --locked
fi
exec cargo bench -p threddex-api --bench webhook_latency --locked
