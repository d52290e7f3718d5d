#!/usr/bin/env bash
# loadtest/run.sh: end-to-end load test of keycard-sessions (this project, on
# axum and on actix-web) against tower-sessions, actix-session and the same
# app without sessions.
#
# HOW TO REPRODUCE
#   apt-get install -y wrk              # Debian package; also needs redis-server,
#                                       # redis-benchmark, PostgreSQL 15 (initdb,
#                                       # pg_ctl, pgbench, pg_stat_statements), curl,
#                                       # python3, taskset (util-linux)
#   loadtest/run.sh                     # everything, ~20 min on 2 cores
#   SOURCE=HEAD loadtest/run.sh         # benchmark the committed library (git
#                                       # archive HEAD), not the working tree
#   RUNS=1 PHASES="e2e" loadtest/run.sh # a quick look at the headline matrix
#   CONFIGS="ours postgres,tower postgres" PHASES=e2e loadtest/run.sh  # a subset
#   PHASES=near loadtest/run.sh         # near cache on/off vs memory and tower-sessions'
#                                       # caching store (NEAR="ours redis --near-cache on,..." a subset)
#   WAIT_QUIET=1 loadtest/run.sh        # after building, wait (<= 40 min) until no rustc
#                                       # runs and the 1-min load stays < 0.7 for 60 s
# Results: loadtest/results/<stamp>/ (raw.tsv, one line per measurement,
# report.md, every log); BENCHMARKS.md at the root explains the numbers.
#
# WHAT IT DOES
# * Builds loadtest-server (release, `nice -n 10`, CARGO_TARGET_DIR defaults
#   to /work/target-loadtest so the root workspace's build lock is never
#   taken): one binary, five variants (--variant ours|ours-actix|tower|actix|none) on
#   three stores (--store memory|redis|postgres), same routes and cookie
#   settings everywhere (see src/main.rs).
# * Starts throwaway backends on free loopback ports (the shared servers on
#   6379/5432 are never touched): redis-server (no persistence) and a
#   PostgreSQL cluster (initdb as the postgres user, fsync=off like
#   scripts/test.sh, pg_stat_statements preloaded), both pinned to CPU 1.
# * Per measurement: the server pinned to CPU 0 (`taskset -c 0`), 64
#   sessions logged in with curl, their cookies handed to wrk through
#   lua/sessions.lua (round robin, 32 connections over 64 sessions):
#   `taskset -c 1 wrk -t1 -c32 -d10s`. Reports req/s, p50/p99 latency,
#   server CPU per request (utime+stime from /proc/PID/stat before/after,
#   divided by the requests), backend CPU per request, and backend commands
#   per request: Redis `INFO commandstats` deltas (every command, including
#   those run inside Lua scripts) and PostgreSQL pg_stat_statements calls
#   (including BEGIN/COMMIT). Separately, round trips per request are
#   counted exactly on 20 sequential curl requests (Redis MONITOR:
#   client-sent commands vs `[lua]` ones; pg_stat_statements).
# * Phases (PHASES, default all): e2e (headline matrix, RUNS repetitions,
#   median), near (issue 18: the near cache on and off, the memory store and
#   tower-sessions' CachingSessionStore, RUNS repetitions), lost (issue 8: 32 connections on ONE session, /visits),
#   versions (issue 8: /visits over 64 sessions with the stores' version
#   check and without it, --versions off, RUNS repetitions; VERSION_STORES),
#   index (issue 9: set_user at login on/off, /visits and /login cost;
#   INDEX_STORES, INDEX_RUNS repetitions),
#   tls (issue 13: ours/redis /profile and /visits over plaintext and over
#   TLS to the same redis-server, RUNS repetitions; certificates made by the
#   openssl CLI for the run),
#   memory (RSS during/after a 10 s login storm, max_age 1 s), ceiling
#   (redis-benchmark / pgbench running the stores' own commands and SQL,
#   extracted from the session-redis / session-sqlx sources), micro
#   (criterion: session-core keycard/codec, session-memory store: create,
#   load, load + versioned save).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/work/target-loadtest}
DURATION=${DURATION:-10}
CONNS=${CONNS:-32}
SESSIONS=${SESSIONS:-64}
RUNS=${RUNS:-3}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
BACKEND_CPU=${BACKEND_CPU:-1}
PHASES=${PHASES:-"e2e near tls lost versions index memory ceiling micro"}
VERSION_STORES=${VERSION_STORES:-"redis postgres"}
INDEX_STORES=${INDEX_STORES:-"memory redis"}
INDEX_RUNS=${INDEX_RUNS:-1}
SOURCE=${SOURCE:-worktree}
STAMP=$(date +%Y%m%d-%H%M%S)
OUT=${OUT:-$HERE/results/$STAMP}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
RAW=$OUT/raw.tsv
TMP=$(mktemp -d /tmp/loadtest.XXXXXX)
chmod 755 "$TMP"
CLEANUP=()
SERVER_PID=
cleanup() {
  set +e
  [[ -n $SERVER_PID ]] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
  for ((i = ${#CLEANUP[@]} - 1; i >= 0; i--)); do eval "${CLEANUP[i]}" >/dev/null 2>&1; done
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" | tee -a "$OUT/run.log" >&2; }
die() { say "error: $*"; exit 1; }
has_phase() { [[ " $PHASES " == *" $1 "* ]]; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
need() { command -v "$1" >/dev/null || die "$1 is not installed ($2)"; }
find_bin() { command -v "$1" 2>/dev/null || ls /usr/lib/postgresql/*/bin/"$1" 2>/dev/null | tail -n 1; }

need wrk "apt-get install -y wrk"
need curl "apt-get install -y curl"
need python3 "apt-get install -y python3"
need taskset "apt-get install -y util-linux"
need redis-server "apt-get install -y redis-server"
need redis-benchmark "apt-get install -y redis-tools"
need psql "apt-get install -y postgresql-client"
need openssl "apt-get install -y openssl"

# ---------------------------------------------------------------- build
SRC=$ROOT
if [[ $SOURCE != worktree ]]; then
  rev=$(git -C "$ROOT" rev-parse --short "$SOURCE")
  SRC=/tmp/keycard-src-$rev
  if [[ ! -d $SRC ]]; then
    mkdir -p "$SRC.part" && git -C "$ROOT" archive "$SOURCE" | tar -x -C "$SRC.part" && mv "$SRC.part" "$SRC"
  fi
  # The harness itself always comes from the working tree.
  rm -rf "$SRC/loadtest" && mkdir -p "$SRC/loadtest"
  cp -r "$HERE/Cargo.toml" "$HERE/Cargo.lock" "$HERE/src" "$HERE/lua" "$SRC/loadtest/"
  say "library source: git $SOURCE ($rev), exported to $SRC"
else
  rev="$(git -C "$ROOT" rev-parse --short HEAD) + working tree"
  say "library source: working tree (HEAD $rev)"
fi
say "building loadtest-server (release)"
(cd "$SRC/loadtest" && nice -n 10 cargo build --release --quiet) || die "build failed"
BIN=$CARGO_TARGET_DIR/release/loadtest-server
if has_phase micro; then
  say "building the criterion benches (session-core, session-memory)"
  (cd "$SRC" && nice -n 10 cargo bench --quiet -p session-core -p session-memory --no-run >"$OUT/micro-build.log" 2>&1) ||
    say "warning: bench build failed, see micro-build.log"
fi
LUA=$HERE/lua

# ---------------------------------------------------------------- quiet machine
load1() { cut -d' ' -f1 /proc/loadavg; }
if [[ ${WAIT_QUIET:-0} == 1 ]]; then
  say "waiting for a quiet machine (no rustc, 1-min load < 0.7 for 60 s; at most 40 min)"
  quiet_since=-1 deadline=$((SECONDS + 2400))
  while ((SECONDS < deadline)); do
    if ! pgrep -x rustc >/dev/null && python3 -c "import sys; sys.exit(0 if $(load1) < 0.7 else 1)"; then
      ((quiet_since < 0)) && quiet_since=$SECONDS
      ((SECONDS - quiet_since >= 60)) && break
    else
      quiet_since=-1
    fi
    sleep 15
  done
  if ((quiet_since >= 0 && SECONDS - quiet_since >= 60)); then
    say "machine quiet (load $(load1))"; echo "quiet" >"$OUT/quiet.txt"
  else
    say "gave up waiting after 40 min: measuring anyway (load $(load1))"
    echo "not quiet: load $(cat /proc/loadavg) at start" >"$OUT/quiet.txt"
  fi
fi

{
  echo "date: $(date -Is)"
  echo "source: $rev"
  echo "kernel: $(uname -r)"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //') x $(nproc)"
  echo "mem: $(free -g | awk '/Mem:/ {print $2}') GiB"
  echo "rustc: $(rustc --version)"
  echo "wrk: $(wrk -v 2>&1 | head -1)"
  echo "redis: $(redis-server --version)"
  echo "postgres: $("$(find_bin postgres)" --version)"
  echo "load at start: $(cat /proc/loadavg)"
  echo "settings: DURATION=$DURATION CONNS=$CONNS SESSIONS=$SESSIONS RUNS=$RUNS SERVER_CPU=$SERVER_CPU CLIENT_CPU=$CLIENT_CPU BACKEND_CPU=$BACKEND_CPU"
  (cd "$SRC/loadtest" && cargo tree -e normal --depth 1 --prefix none 2>/dev/null | sort -u | sed 's/^/dep: /')
} >"$OUT/env.txt"

# ---------------------------------------------------------------- backends
# A throwaway CA and a certificate for 127.0.0.1: the same redis-server also
# serves TLS on REDIS_TLS_PORT (phase tls), so plaintext and TLS share one
# process, its CPU accounting and its INFO commandstats.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=loadtest-ca \
  -keyout "$TMP/ca.key" -out "$TMP/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=127.0.0.1 \
  -keyout "$TMP/redis.key" -out "$TMP/redis.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >"$TMP/redis.ext"
openssl x509 -req -in "$TMP/redis.csr" -CA "$TMP/ca.pem" -CAkey "$TMP/ca.key" -CAcreateserial -days 2 \
  -extfile "$TMP/redis.ext" -out "$TMP/redis.pem" 2>/dev/null || die "openssl could not make the test certificate"
REDIS_PORT=$(free_port)
REDIS_TLS_PORT=$(free_port)
taskset -c "$BACKEND_CPU" redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
  --tls-port "$REDIS_TLS_PORT" --tls-cert-file "$TMP/redis.pem" --tls-key-file "$TMP/redis.key" \
  --tls-ca-cert-file "$TMP/ca.pem" --tls-auth-clients no \
  --daemonize yes --dir "$TMP" --pidfile "$TMP/redis.pid" --logfile "$TMP/redis.log" >/dev/null
CLEANUP+=("redis-cli -p $REDIS_PORT shutdown nosave")
for _ in $(seq 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
REDIS_PID=$(cat "$TMP/redis.pid")
REDIS_URL=redis://127.0.0.1:$REDIS_PORT
rcli() { redis-cli -p "$REDIS_PORT" "$@"; }
say "Redis: throwaway server at $REDIS_URL (pid $REDIS_PID, CPU $BACKEND_CPU)"

PG_PORT=$(free_port)
PG_RUN=()
[[ $(id -u) == 0 ]] && PG_RUN=(runuser -u postgres --)
mkdir -p "$TMP/pg"
[[ $(id -u) == 0 ]] && chown -R postgres "$TMP/pg"
"${PG_RUN[@]}" "$(find_bin initdb)" -D "$TMP/pg/data" -U postgres --auth=trust >"$TMP/pg/initdb.log" 2>&1 ||
  die "initdb failed: $(tail -3 "$TMP/pg/initdb.log")"
taskset -c "$BACKEND_CPU" "${PG_RUN[@]}" "$(find_bin pg_ctl)" -D "$TMP/pg/data" -l "$TMP/pg/server.log" -w -t 60 start \
  -o "-p $PG_PORT -c listen_addresses=127.0.0.1 -k $TMP/pg -c fsync=off -c max_connections=100 \
      -c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all" >/dev/null ||
  die "PostgreSQL did not start: $(tail -5 "$TMP/pg/server.log")"
CLEANUP+=("${PG_RUN[*]} $(find_bin pg_ctl) -D $TMP/pg/data -m immediate stop")
"${PG_RUN[@]}" "$(find_bin createdb)" -h 127.0.0.1 -p "$PG_PORT" -U postgres test
PG_URL=postgres://postgres@127.0.0.1:$PG_PORT/test
pq() { psql -X -q -t -A -h 127.0.0.1 -p "$PG_PORT" -U postgres -d test -c "$1"; }
pq "CREATE EXTENSION IF NOT EXISTS pg_stat_statements"
PG_PID=$(head -1 "$TMP/pg/data/postmaster.pid")
say "PostgreSQL: throwaway server at $PG_URL (pid $PG_PID, CPU $BACKEND_CPU)"

# ---------------------------------------------------------------- helpers
CLK_TCK=$(getconf CLK_TCK)
# utime+stime of a process (all its threads), in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
# The same summed over the postmaster and all its children.
pg_ticks() {
  local t=0 p
  for p in $PG_PID $(pgrep -P "$PG_PID"); do t=$((t + $(cpu_ticks "$p"))); done
  echo "$t"
}
backend_ticks() {
  case $1 in
    redis) cpu_ticks "$REDIS_PID" ;;
    postgres) pg_ticks ;;
    *) echo 0 ;;
  esac
}
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

reset_backends() {
  rcli flushall >/dev/null
  pq "DO \$\$ BEGIN
        IF to_regclass('public.sessions') IS NOT NULL THEN TRUNCATE public.sessions; END IF;
        IF to_regclass('tower_sessions.session') IS NOT NULL THEN TRUNCATE tower_sessions.session; END IF;
      END \$\$" >/dev/null
}

SERVER_PORT=
CURRENT_VARIANT=
start_server() { # variant store [extra args...]
  local variant=$1 store=$2; shift 2
  CURRENT_VARIANT=$variant
  SERVER_PORT=$(free_port)
  local log="$OUT/logs/server-$variant-$store-$SERVER_PORT.log"
  mkdir -p "$OUT/logs"
  taskset -c "$SERVER_CPU" "$BIN" --variant "$variant" --store "$store" --port "$SERVER_PORT" \
    --redis-url "$REDIS_URL" --pg-url "$PG_URL" "$@" >"$log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 300); do
    curl -s -o /dev/null "http://127.0.0.1:$SERVER_PORT/profile" && return 0
    kill -0 "$SERVER_PID" 2>/dev/null || die "server $variant/$store exited: $(tail -5 "$log")"
    sleep 0.1
  done
  die "server $variant/$store did not answer"
}
stop_server() {
  [[ -n $SERVER_PID ]] || return 0
  kill "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=
}

# login N FILE: N sessions logged in with curl, one "session=..." line each.
login() {
  local n=$1 file=$2 i
  : >"$file"
  for ((i = 0; i < n; i++)); do
    curl -s -o /dev/null -D - -X POST "http://127.0.0.1:$SERVER_PORT/login" |
      sed -n 's/^[Ss]et-[Cc]ookie: \(session=[^;]*\).*/\1/p' | head -1 >>"$file"
  done
  # The no-session app sets no cookie: its requests carry a dummy one.
  if [[ $CURRENT_VARIANT == none ]]; then
    for ((i = 0; i < n; i++)); do echo "session=none"; done >"$file"
  fi
  [[ $(grep -c . "$file") == "$n" ]] || die "login gave $(grep -c . "$file") cookies, expected $n"
}

backend_reset_stats() {
  case $1 in
    redis) rcli config resetstat >/dev/null ;;
    postgres) pq "SELECT pg_stat_statements_reset()" >/dev/null ;;
  esac
}
# Backend commands since the last reset, per request: "total<TAB>name=x.xx,...".
backend_per_request() { # store requests
  local store=$1 n=$2
  case $store in
    redis)
      rcli info commandstats | tr -d '\r' | python3 -c '
import sys, re
n = int(sys.argv[1]); counts = {}
for line in sys.stdin:
    m = re.match(r"cmdstat_([^:]+):calls=(\d+)", line)
    if m and not m.group(1).startswith(("config", "info")):
        counts[m.group(1)] = int(m.group(2))
total = sum(counts.values())
detail = ",".join(f"{k}={v/n:.2f}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1]))
print(f"{total/n:.2f}\t" + (detail or "-"))' "$n"
      ;;
    postgres)
      pq "SELECT calls, regexp_replace(left(query, 60), '\s+', ' ', 'g') FROM pg_stat_statements
          WHERE query !~* 'pg_stat_statements|pg_catalog|to_regclass' ORDER BY calls DESC" | python3 -c '
import sys
n = int(sys.argv[1]); rows = []
for line in sys.stdin:
    calls, _, q = line.rstrip("\n").partition("|")
    if calls.strip(): rows.append((int(calls), q.replace(",", ";").replace("\t", " ")))
total = sum(c for c, _ in rows)
print(f"{total/n:.2f}\t" + (",".join(f"{q.strip()}={c/n:.2f}" for c, q in rows if c / n >= 0.01) or "-"))' "$n"
      ;;
    *) printf '0\t-\n' ;;
  esac
}

# Exact round trips per request on 20 sequential requests of ROUTE.
round_trips() { # store route cookies
  local store=$1 route=$2 cookies=$3 n=20 i
  # Warm-up on a session outside the sample: the first use of a Lua script
  # on a Redis costs a NOSCRIPT reply and a SCRIPT LOAD, once.
  curl -s -o /dev/null -b "$(tail -1 "$cookies")" "http://127.0.0.1:$SERVER_PORT$route"
  case $store in
    redis)
      redis-cli -p "$REDIS_PORT" monitor >"$TMP/monitor.txt" 2>&1 &
      local mon=$!
      sleep 0.3
      for ((i = 1; i <= n; i++)); do
        curl -s -o /dev/null -b "$(sed -n "${i}p" "$cookies")" "http://127.0.0.1:$SERVER_PORT$route"
      done
      sleep 0.3
      kill "$mon" 2>/dev/null; wait "$mon" 2>/dev/null || true
      python3 - "$TMP/monitor.txt" "$n" <<'PY'
import sys, re, collections
n = int(sys.argv[2]); top = collections.Counter(); lua = collections.Counter()
for line in open(sys.argv[1], errors="replace"):
    m = re.match(r'[\d.]+ \[\d+ ([^\]]+)\] "([^"]+)"', line)
    if not m: continue
    (lua if m.group(1) == "lua" else top)[m.group(2).lower()] += 1
fmt = lambda c: ",".join(f"{k}={v/n:.2f}" for k, v in sorted(c.items(), key=lambda kv: -kv[1])) or "-"
print(f"{sum(top.values())/n:.2f}\t{fmt(top)}\t{fmt(lua)}")
PY
      ;;
    postgres)
      pq "SELECT pg_stat_statements_reset()" >/dev/null
      for ((i = 1; i <= n; i++)); do
        curl -s -o /dev/null -b "$(sed -n "${i}p" "$cookies")" "http://127.0.0.1:$SERVER_PORT$route"
      done
      backend_per_request postgres "$n" | awk -F'\t' '{printf "%s\t%s\t-\n", $1, $2}'
      ;;
    *) printf '0\t-\t-\n' ;;
  esac
}

printf 'phase\trun\tvariant\tstore\troute\textra\trps\tp50_ms\tp99_ms\tserver_cpu_us_per_req\tserver_cpu_pct\tbackend_cpu_us_per_req\tbackend_cmds_per_req\tbackend_detail\tnon2xx\tsocket_errors\trequests\tsent\trustc_secs\n' >"$RAW"

# wrk_run PHASE RUN VARIANT STORE ROUTE EXTRA SCRIPT [COOKIES]: one measurement, one raw.tsv line.
wrk_run() {
  local phase=$1 run=$2 variant=$3 store=$4 route=$5 extra=$6 script=$7 cookies=${8:-}
  local c0 c1 b0 b1 out res
  backend_reset_stats "$store"
  # Seconds of the run during which some rustc was running (another
  # engineer compiling): such a measurement is flagged in the report.
  echo 0 >"$TMP/rustc_secs"
  ( n=0; while sleep 1; do pgrep -x rustc >/dev/null && n=$((n + 1)); echo "$n" >"$TMP/rustc_secs"; done ) &
  local busy=$!
  c0=$(cpu_ticks "$SERVER_PID"); b0=$(backend_ticks "$store")
  out=$(taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNS" -d"${DURATION}s" --timeout 5s -s "$LUA/$script" \
    "http://127.0.0.1:$SERVER_PORT$route" ${cookies:+-- "$cookies"} 2>&1) || die "wrk failed: $out"
  c1=$(cpu_ticks "$SERVER_PID"); b1=$(backend_ticks "$store")
  kill "$busy" 2>/dev/null; wait "$busy" 2>/dev/null || true
  local rustc_secs; rustc_secs=$(cat "$TMP/rustc_secs")
  echo "$out" >>"$OUT/logs/wrk-$phase-$variant-$store-${route#/}.log"
  res=$(grep '^RESULT' <<<"$out") || die "no RESULT from wrk: $out"
  local requests rps p50 p99 non2xx sock sent
  eval "$(sed 's/^RESULT //; s/\([a-z0-9_]*\)=\([^ ]*\)/local w_\1=\2;/g' <<<"$res")"
  requests=$w_requests; rps=$w_rps; non2xx=$w_non2xx; sent=$w_sent
  sock=$((w_err_connect + w_err_read + w_err_write + w_err_timeout))
  p50=$(python3 -c "print(f'{$w_p50_us/1000:.3f}')"); p99=$(python3 -c "print(f'{$w_p99_us/1000:.3f}')")
  local cpu_us cpu_pct bcpu_us backend
  cpu_us=$(python3 -c "print(f'{($c1-$c0)*1e6/$CLK_TCK/max($requests,1):.1f}')")
  cpu_pct=$(python3 -c "print(f'{($c1-$c0)*100/$CLK_TCK/($w_duration_us/1e6):.0f}')")
  bcpu_us=$(python3 -c "print(f'{($b1-$b0)*1e6/$CLK_TCK/max($requests,1):.1f}')")
  backend=$(backend_per_request "$store" "$requests")
  local fields=("$phase" "$run" "$variant" "$store" "$route" "$extra" "$rps" "$p50" "$p99" "$cpu_us" "$cpu_pct"
    "$bcpu_us" "$(cut -f1 <<<"$backend")" "$(cut -f2 <<<"$backend")" "$non2xx" "$sock" "$requests" "$sent" "$rustc_secs")
  (IFS=$'\t'; echo "${fields[*]}") >>"$RAW"
  say "  $phase#$run $variant/$store $route $extra: $rps req/s, p50 $p50 ms, p99 $p99 ms, server ${cpu_us} us/req (${cpu_pct}%), backend $(cut -f1 <<<"$backend")/req, non-2xx $non2xx$( ((rustc_secs > 0)) && echo ", rustc running ${rustc_secs} s")"
}

# ---------------------------------------------------------------- phases
E2E_CONFIGS=(
  "ours memory" "ours-actix memory" "tower memory" "none memory"
  "ours redis" "ours-actix redis" "tower redis" "actix redis"
  "ours postgres" "tower postgres"
)
# CONFIGS="ours postgres,tower postgres" runs a subset of the matrix.
if [[ -n ${CONFIGS:-} ]]; then IFS=, read -r -a E2E_CONFIGS <<<"$CONFIGS"; fi

if has_phase e2e; then
  say "phase e2e: $RUNS run(s) of ${#E2E_CONFIGS[@]} configurations x /profile, /visits"
  for ((run = 1; run <= RUNS; run++)); do
    for cfg in "${E2E_CONFIGS[@]}"; do
      read -r variant store <<<"$cfg"
      reset_backends
      start_server "$variant" "$store"
      login "$SESSIONS" "$TMP/cookies.txt"
      if ((run == 1)) && [[ $store != memory ]]; then
        for route in /profile /visits; do
          printf '%s\t%s\t%s\t%s\n' "$variant" "$store" "$route" "$(round_trips "$store" "$route" "$TMP/cookies.txt")" >>"$OUT/round_trips.tsv"
        done
      fi
      for route in /profile /visits; do
        wrk_run e2e "$run" "$variant" "$store" "$route" - sessions.lua "$TMP/cookies.txt"
      done
      stop_server
    done
  done
fi

# Issue 18: the near cache. "variant store [extra args]" per line.
NEAR_CONFIGS=(
  "ours memory"
  "ours redis"
  "ours redis --near-cache on"
  "tower-cached redis"
  "ours postgres"
  "ours postgres --near-cache on"
  "tower postgres"
  "tower-cached postgres"
)
if [[ -n ${NEAR:-} ]]; then IFS=, read -r -a NEAR_CONFIGS <<<"$NEAR"; fi
if has_phase near; then
  say "phase near: $RUNS run(s) of ${#NEAR_CONFIGS[@]} configurations x /profile, /visits"
  for ((run = 1; run <= RUNS; run++)); do
    for cfg in "${NEAR_CONFIGS[@]}"; do
      read -r variant store extra <<<"$cfg"
      reset_backends
      # shellcheck disable=SC2086 # extra holds separate arguments
      start_server "$variant" "$store" $extra
      login "$SESSIONS" "$TMP/cookies.txt"
      label=${extra:+near}
      for route in /profile /visits; do
        wrk_run near "$run" "$variant" "$store" "$route" "${label:--}" sessions.lua "$TMP/cookies.txt"
      done
      stop_server
    done
  done
fi

if has_phase tls; then
  say "phase tls: ours/redis over plaintext and over TLS (same redis-server), $RUNS run(s) x /profile, /visits"
  for ((run = 1; run <= RUNS; run++)); do
    for mode in plaintext tls; do
      reset_backends
      if [[ $mode == tls ]]; then
        start_server ours redis --redis-url "rediss://127.0.0.1:$REDIS_TLS_PORT" --redis-ca "$TMP/ca.pem"
      else
        start_server ours redis
      fi
      login "$SESSIONS" "$TMP/cookies.txt"
      for route in /profile /visits; do
        wrk_run tls "$run" ours redis "$route" "$mode" sessions.lua "$TMP/cookies.txt"
      done
      stop_server
    done
  done
fi

if has_phase lost; then
  say "phase lost (issue 8): $CONNS connections on ONE session, GET /visits"
  # LOST_CONFIGS="ours-actix redis,actix redis" runs a subset.
  lost_configs=("ours memory" "ours-actix memory" "tower memory" "ours redis" "ours-actix redis" "tower redis" "actix redis")
  if [[ -n ${LOST_CONFIGS:-} ]]; then IFS=, read -r -a lost_configs <<<"$LOST_CONFIGS"; fi
  for cfg in "${lost_configs[@]}"; do
    read -r variant store <<<"$cfg"
    reset_backends
    start_server "$variant" "$store"
    login 1 "$TMP/one.txt"
    wrk_run lost 1 "$variant" "$store" /visits shared-session sessions.lua "$TMP/one.txt"
    sleep 1
    # The counter as stored: one more request reads it (and adds 1).
    final=$(curl -s -b "$(cat "$TMP/one.txt")" "http://127.0.0.1:$SERVER_PORT/visits" | python3 -c 'import sys, json; print(json.load(sys.stdin)["visits"] - 1)')
    line=$(tail -1 "$RAW")
    IFS=$'\t' read -r -a f <<<"$line"
    ok=$((f[16] - f[14]))
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$variant" "$store" "${f[6]}" "$ok" "$final" "$((ok - final))" "$((f[17] - f[16]))" >>"$OUT/lost.tsv"
    say "  lost: $variant/$store: $ok responses 200, counter $final, lost $((ok - final)) (in flight at the end: $((f[17] - f[16])))"
    stop_server
  done
fi

if has_phase versions; then
  say "phase versions (issue 8): the version check on/off, /visits over $SESSIONS sessions"
  for ((run = 1; run <= RUNS; run++)); do
    for store in $VERSION_STORES; do
      for versions in on off; do
        reset_backends
        start_server ours "$store" --versions "$versions"
        login "$SESSIONS" "$TMP/cookies.txt"
        wrk_run versions "$run" ours "$store" /visits "versions=$versions" sessions.lua "$TMP/cookies.txt"
        stop_server
      done
    done
  done
fi

if has_phase index; then
  say "phase index (issue 9): set_user at login on/off"
  for store in $INDEX_STORES; do
    for ((run = 1; run <= INDEX_RUNS; run++)); do
      for index in on off; do
        reset_backends
        start_server ours "$store" --index "$index"
        login "$SESSIONS" "$TMP/cookies.txt"
        if [[ $store == redis && $run == 1 ]]; then
          for route in /profile /visits; do
            printf '%s\t%s\t%s\t%s\n' "ours" "$store" "$route index=$index" "$(round_trips "$store" "$route" "$TMP/cookies.txt")" >>"$OUT/round_trips.tsv"
          done
        fi
        wrk_run index "$run" ours "$store" /visits "index=$index" sessions.lua "$TMP/cookies.txt"
        wrk_run index "$run" ours "$store" /login "index=$index" login.lua
        stop_server
      done
    done
    # Login cost when every login is a different user (the runs above bind
    # every session to the one demo user, whose index then grows all run).
    reset_backends
    start_server ours "$store" --index on --users distinct
    wrk_run index 1 ours "$store" /login "index=on,distinct-users" login.lua
    stop_server
  done
fi

if has_phase memory; then
  say "phase memory: RSS around a ${DURATION}s login storm, max_age 1 s"
  # The third run is a diagnostic: ours with its sweeper every 60 s (the
  # default before the sweep interval became 1 s) instead of every second.
  for cfg in "ours" "tower" "ours --sweep-secs 60"; do
    read -r variant sweep_args <<<"$cfg"
    # shellcheck disable=SC2086
    start_server "$variant" memory --max-age 1 $sweep_args
    sleep 1
    rss0=$(rss_kb "$SERVER_PID")
    ( peak=0; while kill -0 "$SERVER_PID" 2>/dev/null; do r=$(rss_kb "$SERVER_PID"); ((r > peak)) && peak=$r; echo "$peak" >"$TMP/peak"; sleep 0.25; done ) &
    sampler=$!
    wrk_run memory 1 "$variant" memory /login "storm${sweep_args:+ sweep=60s}" login.lua
    kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null || true
    peak=$(cat "$TMP/peak")
    end=$(rss_kb "$SERVER_PID")
    samples=""
    for t in ${MEM_SAMPLES:-5 30 65}; do
      sleep $((t - ${last:-0})); last=$t
      samples+="$(rss_kb "$SERVER_PID")	"
    done
    last=0
    printf '%s\t%s\t%s\t%s\t%s\n' "$variant${sweep_args:+ (sweep 60 s)}" "$rss0" "$peak" "$end" "${samples%	}" >>"$OUT/memory.tsv"
    say "  RSS $variant: start ${rss0} kB, peak ${peak} kB, storm end ${end} kB, +5/+30/+65 s: ${samples%	} kB"
    stop_server
  done
fi

if has_phase ceiling; then
  say "phase ceiling: the stores' own commands straight at the backends (client on CPU $SERVER_CPU)"
  # Redis: a live record under a real key, then GET (the load) and EVALSHA of
  # session-redis's save script (version check + SET XX) with the same
  # arguments the store sends; the version field is kept equal so every call
  # writes.
  reset_backends
  start_server ours redis
  login 1 "$TMP/one.txt"
  stop_server
  key=$(rcli --scan --pattern 'session:*' | head -1)
  # The save script as the store loads it: the prelude of constants
  # (scripts.rs PRELUDE_LUA, with the codec's offsets), then the Lua
  # constants the `static SAVE` definition names.
  python3 - "$SRC"/session-redis/src/scripts.rs "$SRC"/session-core/src/codec.rs >"$TMP/save.lua" <<'PY' || die "save script not found in session-redis"
import re, sys
scripts, codec = (open(f).read() for f in sys.argv[1:])
consts = dict(re.findall(r'const (\w+_LUA): &str = r"(.*?)";', scripts, re.S))
names = re.findall(r'\b(\w+_LUA)\b', re.search(r'static SAVE\b.*?script\(&\[(.*?)\]\)', scripts, re.S).group(1))
num = lambda pat, text: int(re.search(pat, text).group(1))
expiry = num(r'pub const EXPIRY_OFFSET: usize = (\d+);', codec)
version = num(r'pub const VERSION_OFFSET: usize = (\d+);', codec)
user = num(r'pub const USER_LEN_OFFSET: usize = (\d+);', codec) + num(r'pub const USER_OFFSET: usize = USER_LEN_OFFSET \+ (\d+);', codec)
head = user + num(r'pub\(crate\) const HEAD_LEN: usize = codec::USER_OFFSET \+ (\d+);', scripts)
assert 'local EXPIRY_AT, VERSION_AT, HEAD_LEN = {}, {}, {}' in scripts, "the prelude changed"
sys.stdout.write(f"local EXPIRY_AT, VERSION_AT, HEAD_LEN = {expiry}, {version}, {head}\n")
sys.stdout.write("".join(consts[n] for n in names))
PY
  sha=$(rcli script load "$(cat "$TMP/save.lua")")
  # A typical envelope (format 3, 5 keys, ~190 bytes, bound to nobody as in
  # the headline runs) without NUL bytes, so that it fits in argv: expiry,
  # version and created_at fields are 0x0101...; the script reads only the
  # header.
  python3 - >"$TMP/value.bin" <<'PY'
import sys
b = lambda s: s.encode()
def fixstr(s): return bytes([0xa0 | len(s)]) + b(s)
def str_(s): return fixstr(s) if len(s) < 32 else bytes([0xd9, len(s)]) + b(s)
def bin_(v): return bytes([0xc4, len(v)]) + v
data = [("cart", bytes([0x93]) + fixstr("tea") + fixstr("scones") + fixstr("jam")),
        ("email", str_("guest@example.com")), ("user_agent", str_("Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0")),
        ("user_id", bytes([0x2a])), ("visits", bytes([0x07]))]
body = bytes([0x92, 0xcf]) + b"\x01" * 8 + bytes([0x80 | len(data)])
for k, v in data: body += fixstr(k) + bin_(v)
env = bytes([3]) + b"\x01" * 8 + b"\x01" * 8 + b"\xff" * 4 + body
assert b"\x00" not in env and not env.endswith(b"\n")
sys.stdout.buffer.write(env)
PY
  value=$(cat "$TMP/value.bin")
  ver=$'\x01\x01\x01\x01\x01\x01\x01\x01'
  pxat=$(($(date +%s) * 1000 + 14400000))
  rcli set "$key" "$value" pxat "$pxat" >/dev/null
  save_ok=$(rcli evalsha "$sha" 1 "$key" "$value" "$pxat" "$ver" | head -1)
  [[ $save_ok == 1 ]] || say "  warning: the save script answered '$save_ok' (its arguments changed?); its ceiling is not meaningful"
  say "  Redis value: $(wc -c <"$TMP/value.bin") bytes; save script: $(wc -c <"$TMP/save.lua") bytes of Lua"
  for cmd in get evalsha; do
    if [[ $cmd == get ]]; then args=(GET "$key"); else args=(EVALSHA "$sha" 1 "$key" "$value" "$pxat" "$ver"); fi
    res=$(taskset -c "$SERVER_CPU" redis-benchmark -p "$REDIS_PORT" -c "$CONNS" -n 300000 -q "${args[@]}" 2>&1 | tr '\r' '\n' | grep -o '[0-9.]* requests per second' | tail -1)
    printf 'redis\t%s\t%s\n' "$cmd" "${res%% *}" >>"$OUT/ceiling.tsv"
    say "  redis-benchmark $cmd: $res"
  done
  # PostgreSQL: session-sqlx's own load and versioned save statements on
  # rows written by the store itself, 10 connections (sqlx's default pool).
  reset_backends
  start_server ours postgres
  login "$SESSIONS" "$TMP/cookies.txt"
  stop_server
  pg_src=$(cat "$SRC"/session-sqlx/src/postgres.rs)
  grep -q 'SELECT data, expires_at FROM {t} WHERE id = \$1 AND expires_at > \$2' <<<"$pg_src" ||
    say "  warning: the load statement in session-sqlx/src/postgres.rs changed; update the pgbench scripts"
  grep -q 'UPDATE {t} SET data = \$1, expires_at = \$2, version = \$3' <<<"$pg_src" ||
    say "  warning: the save statement in session-sqlx/src/postgres.rs changed; update the pgbench scripts"
  pq "UPDATE public.sessions s SET id = 'bench-' || x.n FROM
        (SELECT id, row_number() OVER () AS n FROM public.sessions) x WHERE s.id = x.id" >/dev/null
  cat >"$TMP/load.sql" <<SQL
\set n random(1, $SESSIONS)
SELECT data, expires_at FROM "public"."sessions" WHERE id = 'bench-' || :n AND expires_at > 0;
SQL
  cat >"$TMP/visits.sql" <<SQL
\set n random(1, $SESSIONS)
SELECT data, expires_at FROM "public"."sessions" WHERE id = 'bench-' || :n AND expires_at > 0;
UPDATE "public"."sessions" SET data = data, expires_at = expires_at, version = version + 1 WHERE id = 'bench-' || :n AND expires_at > 0 AND version >= 0;
SQL
  chmod 644 "$TMP"/*.sql
  # Twice: the client on the other CPU (PostgreSQL alone on its CPU), and
  # the client on PostgreSQL's CPU, as wrk is end to end ("-shared").
  for script in load visits; do
    for cpu in "$SERVER_CPU" "$BACKEND_CPU"; do
      name=$script; [[ $cpu == "$BACKEND_CPU" ]] && name=$script-shared
      res=$(taskset -c "$cpu" pgbench -h 127.0.0.1 -p "$PG_PORT" -U postgres -n -M prepared -c 10 -j 1 \
        -T "$DURATION" -f "$TMP/$script.sql" test 2>&1 | grep -o 'tps = [0-9.]*' | tail -1)
      printf 'postgres\t%s\t%s\n' "$name" "${res#tps = }" >>"$OUT/ceiling.tsv"
      say "  pgbench $name: $res"
    done
  done
fi

if has_phase micro; then
  say "phase micro: criterion (session-core keycard/codec, session-memory store), pinned to CPU $SERVER_CPU"
  (cd "$SRC" && taskset -c "$SERVER_CPU" cargo bench --quiet -p session-core --bench keycard_codec -- \
    --warm-up-time 1 --measurement-time 3 --noplot 2>&1 | tee "$OUT/micro-session-core.txt" | grep -E 'time:|thrpt:|typical' || true)
  (cd "$SRC" && cargo bench --quiet -p session-memory --bench memory_store -- \
    --warm-up-time 1 --measurement-time 3 --noplot 2>&1 | tee "$OUT/micro-session-memory.txt" | grep -E 'time:|thrpt:' || true)
fi

python3 "$HERE/report.py" "$OUT" >"$OUT/report.md"
say "done: $OUT/report.md"
cat "$OUT/report.md"
