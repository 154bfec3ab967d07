#!/usr/bin/env bash
# Granule timeline of a 1,000,000-granule collection on SQLite and Postgres (store call and
# HTTP endpoint). Figures: docs/benchmarks.md#granule-timeline-get-collectionsidtimeline.
#   GRANULES=1000000 RUNS=50 BACKENDS="sqlite postgres" bench/timeline.sh
# Postgres: THREDDEX_TEST_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/test); a
# fresh database is created beside it and dropped after.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
cargo run --release --locked -p threddex-e2e --example timeline
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
