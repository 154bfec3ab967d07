#!/usr/bin/env bash
# threddex vs the fetch floor and the Python crawlers.
#
# Harvests the same generated NEXRAD tree from the simulated TDS (threddex-sim, 127.0.0.1 only)
# with:
#   floor            the fetch floor: crates/sim/examples/fetch_floor.rs, CONCURRENCY GETs in
#                    flight, reads each catalog and follows its catalogRefs, parses nothing else
#                    — the least any crawler needs on this tree and this machine;
#   threddex         `threddex harvest` into a fresh SQLite file;
#   threddex-pg      `threddex harvest` into a fresh Postgres database (PG_URL), schema included;
#   threddex-pg-migrated  the same into a fresh database whose schema `threddex migrate` made
#                    before the timed run (a deployment's database: the schema exists);
#   threddex-dry     `threddex harvest --dry-run` (no store; JSON lines to /dev/null);
#   siphon           bench/py/siphon_walk.py: a ThreadPoolExecutor walker, which is what a siphon
#                    user writes since TDSCatalog has no crawler;
#   thredds_crawler  bench/py/tc_crawl.py: `Crawl(url, workers=N)`;
#   tds2stac         bench/py/tds2stac_run.py: TDS2STACIntegrator with its fastest settings (no
#                    web-service requests; it has no concurrency setting);
# all at the same concurrency where the crawler has one, and prints wall time, × floor, × bound,
# requests the server saw, datasets found and peak memory for each. The simulated server is
# restarted for every run and writes its request counters on exit (`threddex-sim --stats-file`).
#
#   bench/python-compare.sh                       # 30,000 granules, 1,512 catalogs, 20 ms, 16
#   PRODUCTS=9 STATIONS=2 DAYS=10 FILES_PER_DAY=167 bench/python-compare.sh   # 30,060 granules, 209 catalogs
#   ONLY="floor threddex threddex-pg" bench/python-compare.sh
#
# Knobs (environment): PRODUCTS (10) STATIONS (30) DAYS (4) FILES_PER_DAY (25) LATENCY_MS (20)
# CONCURRENCY (16) VENV (/tmp/threddex-pybench-venv; created with pinned thredds_crawler 1.5.4
# and siphon 0.11.0 when missing) TDS2STAC_VENV (/tmp/threddex-tds2stac-venv; its own, since
# tds2stac pins old requests and lxml; created with tds2stac 3.1.25 when missing)
# PG_URL (postgres://postgres@127.0.0.1:5432; a database is created and dropped per run)
# ONLY (floor threddex threddex-pg siphon thredds_crawler tds2stac; also threddex-pg-migrated,
# threddex-dry) NO_BUILD (set: use the
# release binaries already built).
#
# Bound: a crawl that must read every catalog, each costing one round trip of LATENCY_MS, with
# CONCURRENCY in flight, and that cannot read a catalog before its parent, needs at least
#   catalogs × latency / concurrency + depth × latency
# seconds (depth = 5 catalog levels in the NEXRAD tree: root, level3, product, station, day).
# The floor is that bound measured: real round trips, real scheduling, this machine.
set -euo pipefail
cd "$(dirname "$0")/.."
PRODUCTS=${PRODUCTS:-10} STATIONS=${STATIONS:-30} DAYS=${DAYS:-4} FILES_PER_DAY=${FILES_PER_DAY:-25}
LATENCY_MS=${LATENCY_MS:-20} CONCURRENCY=${CONCURRENCY:-16}
VENV=${VENV:-/tmp/threddex-pybench-venv}
TDS2STAC_VENV=${TDS2STAC_VENV:-/tmp/threddex-tds2stac-venv}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432}
ONLY=${ONLY:-floor threddex threddex-pg siphon thredds_crawler tds2stac}
DEPTH=5
export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost

if [ -z "${NO_BUILD:-}" ]; then
  cargo build --release -q -p threddex -p threddex-sim
  cargo build --release -q -p threddex-sim --example fetch_floor
fi
bin=${CARGO_TARGET_DIR:-target}/release
wants() { case " $ONLY " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
if wants siphon || wants thredds_crawler; then
  if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
  fi
  "$VENV/bin/pip" install -q --disable-pip-version-check thredds_crawler==1.5.4 siphon==0.11.0
fi
if wants tds2stac; then
  if [ ! -x "$TDS2STAC_VENV/bin/python" ]; then
    python3 -m venv "$TDS2STAC_VENV"
  fi
  "$TDS2STAC_VENV/bin/pip" install -q --disable-pip-version-check tds2stac==3.1.25
fi
py=$VENV/bin/python

work=$(mktemp -d /tmp/threddex-pycompare.XXXXXX)
sim=""
pgdb=threddex_pycompare_$$
cleanup() {
  if [ -n "$sim" ]; then kill "$sim" 2>/dev/null || true; fi
  if wants threddex-pg || wants threddex-pg-migrated; then
    psql -q "$PG_URL/postgres" -c "DROP DATABASE IF EXISTS $pgdb" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

start_sim() { # $1 = run name; sets $sim and $url
  : >"$work/sim.url"
  "$bin/threddex-sim" --tree nexrad --products "$PRODUCTS" --stations "$STATIONS" --days "$DAYS" \
    --files-per-day "$FILES_PER_DAY" --latency-ms "$LATENCY_MS" --fixed-time 2024-01-08T23:59:59Z \
    --stats-file "$work/$1.stats" >"$work/sim.url" 2>"$work/sim.err" &
  sim=$!
  for _ in $(seq 200); do
    [ -s "$work/sim.url" ] && break
    sleep 0.05
  done
  url=$(head -n1 "$work/sim.url")
  [ -n "$url" ] || { cat "$work/sim.err"; exit 1; }
}

stop_sim() {
  kill -TERM "$sim"
  wait "$sim" || true
  sim=""
}

json_field() { # $1 = file, $2 = key
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"
}

run() { # $1 = run name, rest = command (@URL@ = the root catalog URL); leaves $work/$name.{out,time,mem,stats}
  local name=$1; shift
  start_sim "$name"
  local args=() a
  for a in "$@"; do
    if [ "$a" = @URL@ ]; then args+=("$url"); else args+=("$a"); fi
  done
  /usr/bin/time -v "${args[@]}" >"$work/$name.out" 2>"$work/$name.time" &
  local tpid=$!
  python3 bench/py/treemem.py "$tpid" --interval 0.1 >"$work/$name.mem" &
  local mpid=$!
  local rc=0
  wait "$tpid" || rc=$?
  wait "$mpid" || true
  stop_sim
  if [ "$rc" != 0 ]; then
    echo "$name failed (exit $rc):" >&2
    tail -n 30 "$work/$name.time" >&2
    exit 1
  fi
}

# Seconds from /usr/bin/time's "Elapsed (wall clock) time (h:mm:ss or m:ss): 0:04.93".
wall_s() {
  awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, p, ":"); s = 0;
    for (i = 1; i <= n; i++) s = s * 60 + p[i]; printf "%.2f", s }' "$1"
}
maxrss_mb() {
  awk -F': ' '/Maximum resident set size/ { printf "%.0f", $2 / 1024 }' "$1"
}

# Peak PSS of the process tree (bench/py/treemem.py), or max RSS when the run ended before the
# first sample.
tree_mb() {
  local kb
  kb=$(cat "$1.mem")
  if [ "${kb:-0}" -gt 0 ]; then echo $((kb / 1024)); else maxrss_mb "$1.time"; fi
}

digest_names() { # stdin: one name per line -> the same digest the Python scripts print
  python3 -c 'import hashlib,sys; n=sorted(l.rstrip("\n") for l in sys.stdin);
print(hashlib.sha256("\n".join(n).encode()).hexdigest()[:16], len(n))'
}

# The tree's size, from the simulated server's banner.
start_sim probe
stop_sim
catalogs=$(sed -E 's/^threddex-sim: ([0-9]+) catalogs, ([0-9]+) granules.*/\1/' "$work/sim.err")
granules=$(sed -E 's/^threddex-sim: ([0-9]+) catalogs, ([0-9]+) granules.*/\2/' "$work/sim.err")
collections=$((PRODUCTS * STATIONS))
bound=$(awk -v c="$catalogs" -v l="$LATENCY_MS" -v n="$CONCURRENCY" -v d="$DEPTH" \
  'BEGIN { printf "%.2f", c * l / 1000 / n + d * l / 1000 }')

echo "tree: nexrad products=$PRODUCTS stations=$STATIONS days=$DAYS files/day=$FILES_PER_DAY:" \
  "$catalogs catalogs, $granules granules, $collections collections; latency ${LATENCY_MS} ms;" \
  "concurrency $CONCURRENCY"
echo "bound: $catalogs × ${LATENCY_MS} ms / $CONCURRENCY + $DEPTH × ${LATENCY_MS} ms = ${bound} s"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)," \
  "$(uname -sr), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo

threddex_digest() { # $1 = SQLite file -> "digest count"
  # The SQLite store keeps a granule's name only when it differs from its ID's last segment.
  sqlite3 -separator $'\t' "$1" 'SELECT granule_id, name FROM granules' |
    awk -F'\t' '{ if ($2 != "") print $2; else { n = split($1, p, "/"); print p[n] } }' | digest_names
}
harvest_flags=(--ignore-robots --rate 1000000 --concurrency "$CONCURRENCY" --per-host "$CONCURRENCY")

rows=()
for name in $ONLY; do
  case "$name" in
    floor)
      run floor "$bin/examples/fetch_floor" @URL@ "$CONCURRENCY"
      found=0 digest=-
      ;;
    threddex)
      db=$work/threddex.db
      run threddex "$bin/threddex" -q harvest @URL@ --db "sqlite://$db" "${harvest_flags[@]}"
      read -r digest found < <(threddex_digest "$db")
      ;;
    threddex-pg | threddex-pg-migrated)
      psql -q "$PG_URL/postgres" -c "DROP DATABASE IF EXISTS $pgdb" -c "CREATE DATABASE $pgdb"
      if [ "$name" = threddex-pg-migrated ]; then "$bin/threddex" -q migrate --db "$PG_URL/$pgdb"; fi
      run "$name" "$bin/threddex" -q harvest @URL@ --db "$PG_URL/$pgdb" "${harvest_flags[@]}"
      found=$(psql -tA "$PG_URL/$pgdb" -c 'SELECT count(*) FROM granules')
      digest=-
      ;;
    threddex-dry)
      run threddex-dry "$bin/threddex" -q harvest @URL@ --dry-run "${harvest_flags[@]}"
      found=$(wc -l <"$work/threddex-dry.out")
      digest=-
      ;;
    siphon)
      run siphon "$py" bench/py/siphon_walk.py @URL@ --workers "$CONCURRENCY"
      found=$(json_field "$work/siphon.out" datasets)
      digest=$(json_field "$work/siphon.out" names_digest)
      ;;
    thredds_crawler)
      run thredds_crawler "$py" bench/py/tc_crawl.py @URL@ --workers "$CONCURRENCY"
      found=$(json_field "$work/thredds_crawler.out" datasets)
      digest=$(json_field "$work/thredds_crawler.out" names_digest)
      ;;
    tds2stac)
      run tds2stac "$TDS2STAC_VENV/bin/python" bench/py/tds2stac_run.py @URL@ --out "$work/stac"
      found=$(json_field "$work/tds2stac.out" datasets)
      digest=$(json_field "$work/tds2stac.out" names_digest)
      ;;
    *) echo "unknown crawler $name" >&2; exit 2 ;;
  esac
  rows+=("$name $(wall_s "$work/$name.time") $(json_field "$work/$name.stats" requests) \
$found $digest $(maxrss_mb "$work/$name.time") $(tree_mb "$work/$name")")
done

printf '%s\n' "${rows[@]}" | awk -v bound="$bound" -v cat="$catalogs" -v col="$collections" \
  -v gran="$granules" '
  { name[NR] = $1; wall[NR] = $2; req[NR] = $3; found[NR] = $4; dig[NR] = $5; rss[NR] = $6;
    tree[NR] = $7; if ($1 == "threddex") t = NR; if ($1 == "floor") f = NR }
  END {
    printf "| crawler | wall time | × floor | × bound | requests | requests / (catalogs + collections) | datasets found | names digest | peak RSS (largest process) | peak memory (PSS, process tree) |\n"
    printf "|---|---|---|---|---|---|---|---|---|---|\n"
    for (i = 1; i <= NR; i++) {
      xf = f ? sprintf("%.2f×", wall[i] / wall[f]) : "-"
      printf "| %s | %.2f s | %s | %.2f× | %d | %.3f | %d | `%s` | %d MB | %d MB |\n", name[i], wall[i],
        xf, wall[i] / bound, req[i], req[i] / (cat + col), found[i], dig[i], rss[i], tree[i]
    }
    printf "\nbound %.2f s; expected datasets %d; catalogs + collections = %d\n", bound, gran, cat + col
    if (t) for (i = 1; i <= NR; i++) if (i != t && i != f)
      printf "%s / threddex: wall %.1f×, requests %.1f×, peak memory (tree) %.1f×\n", name[i],
        wall[i] / wall[t], req[i] / req[t], tree[i] / (tree[t] > 0 ? tree[t] : 1)
  }'
