#!/usr/bin/env bash
# SSE fan-out benchmark: READERS concurrent `GET /changes/stream` readers on one `threddex serve`
# (SQLite, no scheduler), CHANGES change-log entries committed one every INTERVAL seconds by the
# load client (bench/py/sse_fanout.py appends them to the server's database as the store's write
# path does). Prints the latency from each entry's commit to its arrival at every reader
# (p50/p90/p99/max, share within 1 s) and the server's RSS idle, with the readers connected,
# during and after the changes.
#
#   bench/sse-fanout.sh                                  # 1,000 readers, 200 changes, 100 ms apart
#   READERS=2000 CHANGES=500 INTERVAL=0.02 bench/sse-fanout.sh
#
# Knobs (environment): READERS (1000) CHANGES (200) INTERVAL (0.1) POLL (250ms: changes.poll)
# PORT (18099) BIN (release threddex; built when unset) PYTHON (python3).
set -euo pipefail
cd "$(dirname "$0")/.."
READERS=${READERS:-1000} CHANGES=${CHANGES:-200} INTERVAL=${INTERVAL:-0.1} POLL=${POLL:-250ms}
PORT=${PORT:-18099} PYTHON=${PYTHON:-python3}
if [ -z "${BIN:-}" ]; then
  cargo build --release -q -p threddex
  BIN=${CARGO_TARGET_DIR:-target}/release/threddex
fi
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
dir=$(mktemp -d)
db="$dir/fanout.db"
"$BIN" -q migrate --db "sqlite://$db" >/dev/null
cat >"$dir/threddex.toml" <<TOML
[changes]
poll = "$POLL"
TOML
"$BIN" -q --config "$dir/threddex.toml" serve --db "sqlite://$db" --bind "127.0.0.1:$PORT" --no-scheduler \
  2>"$dir/serve.log" &
serve=$!
trap 'kill $serve 2>/dev/null || true; wait $serve 2>/dev/null || true; rm -rf "$dir"' EXIT
for _ in $(seq 100); do
  curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done
echo "threddex serve pid $serve on 127.0.0.1:$PORT (changes.poll $POLL); load average: $(cut -d' ' -f1-3 /proc/loadavg)"
"$PYTHON" bench/py/sse_fanout.py --port "$PORT" --db "$db" --serve-pid "$serve" \
  --readers "$READERS" --changes "$CHANGES" --interval "$INTERVAL"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
