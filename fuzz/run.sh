#!/usr/bin/env bash
# Runs every fuzz target from its seed corpus: `fuzz/run.sh RUNS` (libFuzzer `-runs=RUNS` per
# target, default 2000: the brief check of .ci/run) or `fuzz/run.sh --seconds S` (`-max_total_time`
# per target: a campaign). Each input must finish within 1 s in at most 256 MB. Needs the
# nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz --locked`). Exit status: the
# first failing target's (its crash input is under fuzz/artifacts/TARGET/).
set -euo pipefail
cd "$(dirname "$0")/.."

limit="-runs=${1:-2000}"
if [ "${1:-}" = "--seconds" ]; then
  limit="-max_total_time=${2:?--seconds needs a number}"
fi
# The fuzz crate is not in the workspace: its build lives in fuzz/target (ignored by git), or
# in FUZZ_TARGET_DIR when set (.ci/run keeps it between runs, as it does the workspace's).
if [ -n "${FUZZ_TARGET_DIR:-}" ]; then
  export CARGO_TARGET_DIR="$FUZZ_TARGET_DIR"
else
  unset CARGO_TARGET_DIR
fi
python3 fuzz/seed-corpora.py >/dev/null
targets=$(cargo +nightly fuzz list)
cargo +nightly fuzz build -s none
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for t in $targets; do
  echo "== fuzz $t ($limit)"
  if ! cargo +nightly fuzz run -s none "$t" -- "$limit" -timeout=1 -rss_limit_mb=256 \
      -print_final_stats=1 >"$log" 2>&1; then
    tail -n 60 "$log" >&2
    echo "fuzz target $t failed: its input is under fuzz/artifacts/$t/" >&2
    exit 1
  fi
  grep -E '^stat::(number_of_executed_units|peak_rss_mb|new_units_added)' "$log" || true
done
