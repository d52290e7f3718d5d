#!/usr/bin/env bash
# The one command that runs every test: scripts/test.sh
#
# Finds Redis, PostgreSQL and MariaDB/MySQL, in this order for each:
#   1. the URL in REDIS_URL / DATABASE_URL / MYSQL_URL (must answer, or we stop);
#   2. the default local port (6379, 5432, 3306 on 127.0.0.1);
#   3. `docker compose up -d --wait SERVICE` when a Docker engine answers;
#   4. a throwaway server started from locally installed binaries
#      (redis-server; initdb + pg_ctl; mariadb-install-db + mariadbd) in a
#      temp dir on a free loopback port, stopped on exit: started by the
#      launcher the tests use themselves (`throwaway-servers`, a binary of
#      test-support/, the session-test-support crate).
# If none works it stops with what to install or start. Nothing is skipped.
# The last line of the output is the total over every test binary and
# doctest run: "N passed, N failed".
# The Redis Cluster tests start their own 3-node cluster from redis-server
# (or use REDIS_CLUSTER_URLS).
#
# Usage:
#   scripts/test.sh                 # everything (cargo test --workspace --all-features,
#                                   # which includes the keycard CLI's tests)
#   scripts/test.sh memory          # one backend: memory | redis | postgres | mysql | sqlite
#   scripts/test.sh -- ARGS         # everything, passing ARGS to cargo test
# Set TEST_SERVERS=throwaway to skip steps 2 and 3 (used to test step 4).
set -euo pipefail
cd "$(dirname "$0")/.."

TMP=$(mktemp -d "${TMPDIR:-/tmp}/keycard-test.XXXXXX")
CLEANUP=()
cleanup() {
  local i
  for ((i = ${#CLEANUP[@]} - 1; i >= 0; i--)); do eval "${CLEANUP[$i]}" >/dev/null 2>&1 || true; done
  rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

say() { printf '[test.sh] %s\n' "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }

# tcp_open HOST PORT: true when something accepts TCP connections there.
tcp_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }
# host_port URL: prints "HOST PORT" of a URL like scheme://user@host:port/db.
host_port() {
  local rest=${1#*://}; rest=${rest##*@}; rest=${rest%%/*}; rest=${rest%%\?*}
  printf '%s %s\n' "${rest%%:*}" "${rest##*:}"
}
docker_ok() { command -v docker >/dev/null && docker info >/dev/null 2>&1 && docker compose version >/dev/null 2>&1; }

# provide NAME VAR DEFAULT_URL SERVICE THROWAWAY: steps 1 to 3, else
# THROWAWAY (redis, postgres or mysql) joins the servers of step 4.
THROWAWAY=()
provide() {
  local name=$1 var=$2 default=$3 service=$4 throwaway=$5 hp
  if [[ -n "${!var:-}" ]]; then
    read -r -a hp <<<"$(host_port "${!var}")"
    tcp_open "${hp[0]}" "${hp[1]}" || die "$var=${!var} does not answer; start $name there or unset $var"
    say "$name: using $var"
    return
  fi
  read -r -a hp <<<"$(host_port "$default")"
  if [[ "${TEST_SERVERS:-}" != throwaway ]] && tcp_open "${hp[0]}" "${hp[1]}"; then
    export "$var=$default"; say "$name: using the local server at $default"; return
  fi
  if [[ "${TEST_SERVERS:-}" != throwaway ]] && docker_ok; then
    say "$name: starting docker compose service $service"
    docker compose up -d --wait "$service" || die "docker compose could not start $service"
    export "$var=$default"; return
  fi
  THROWAWAY+=("$throwaway")
}

# Step 4: `throwaway-servers KIND...` prints VAR=URL lines, then "ready",
# and keeps the servers until its stdin closes (when this script exits).
# A missing binary ends it with the package to install.
start_throwaway() {
  local line out
  say "starting throwaway servers from the installed binaries: $*"
  coproc SERVERS { exec cargo run -q -p session-test-support --features redis,postgres,mysql \
    --bin throwaway-servers -- "$@"; }
  # Our own copy of its stdout: bash drops SERVERS when the process ends.
  exec {out}<&"${SERVERS[0]}"
  CLEANUP+=("exec ${SERVERS[1]}>&-; wait $SERVERS_PID")
  while read -r line <&"$out"; do
    if [[ $line == ready ]]; then return; fi
    export "${line?}"; say "throwaway server: $line"
  done
  die "the throwaway servers did not start (see above): start the servers \
(docker compose up -d --wait), set REDIS_URL / DATABASE_URL / MYSQL_URL, or install what is named above"
}

# The browser test (tests/tests/browser.rs, in every backend's run) drives
# headless Chromium through chromedriver. Found like the servers, in order:
#   1. CHROMIUM / CHROMEDRIVER (must be executable files, or we stop);
#   2. `chromium` (or `chromium-browser`) and `chromedriver` on PATH;
#   3. with CI=true only: `apt-get install -y chromium chromium-driver`.
# Else it stops naming what to install; the test itself fails loudly too.
browser_found() {
  CHROMIUM=${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}
  CHROMEDRIVER=${CHROMEDRIVER:-$(command -v chromedriver || true)}
  [[ -n $CHROMIUM && -n $CHROMEDRIVER ]]
}
provide_browser() {
  local var apt=(env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver)
  for var in CHROMIUM CHROMEDRIVER; do
    [[ -z ${!var:-} || (-f ${!var} && -x ${!var}) ]] ||
      die "$var=${!var} is not an executable file: point it at the binary or unset it"
  done
  if ! browser_found && [[ ${CI:-} == true ]]; then
    say "browser: not found; CI=true, so: apt-get install -y chromium chromium-driver"
    "${apt[@]}" >&2 || { apt-get update -q >&2 && "${apt[@]}" >&2; } ||
      die "apt-get could not install chromium chromium-driver"
  fi
  browser_found || die "headless Chromium is not available for the browser test: install it \
(Debian: apt-get install chromium chromium-driver) or set CHROMIUM and CHROMEDRIVER to the binaries"
  export CHROMIUM CHROMEDRIVER
  say "browser: $CHROMIUM, driven by $CHROMEDRIVER"
}

backend=all
if [[ $# -gt 0 && $1 != -- ]]; then backend=$1; shift; fi
[[ ${1:-} == -- ]] && shift

need_redis=0 need_pg=0 need_my=0
case $backend in
  all) need_redis=1 need_pg=1 need_my=1 ;;
  redis) need_redis=1 ;;
  postgres) need_pg=1 ;;
  mysql) need_my=1 ;;
  memory | sqlite) ;;
  *) die "unknown backend '$backend': use memory, redis, postgres, mysql or sqlite" ;;
esac
((need_redis)) && provide Redis REDIS_URL redis://127.0.0.1:6379 redis redis
((need_pg)) && provide PostgreSQL DATABASE_URL postgres://postgres@127.0.0.1:5432/test postgres postgres
((need_my)) && provide MariaDB MYSQL_URL mysql://root@127.0.0.1:3306/test mariadb mysql
((${#THROWAWAY[@]} == 0)) || start_throwaway "${THROWAWAY[@]}"
provide_browser

export RUST_BACKTRACE=${RUST_BACKTRACE:-1}
# Every cargo test's output also goes to $RESULTS; on exit, however the run
# ends, the last line printed is the sum of its "test result:" lines.
RESULTS="$TMP/results"
: >"$RESULTS"
total() {
  local status=$? passed failed
  passed=$(grep -E '^test result: ' "$RESULTS" 2>/dev/null | grep -Eo '[0-9]+ passed' | awk '{s += $1} END {print s + 0}')
  failed=$(grep -E '^test result: ' "$RESULTS" 2>/dev/null | grep -Eo '[0-9]+ failed' | awk '{s += $1} END {print s + 0}')
  if ((status != 0 && failed == 0)); then
    say "cargo test failed before every test ran (see the errors above)"
  fi
  cleanup
  echo "$passed passed, $failed failed"
  exit "$status"
}
trap total EXIT
run() { say "running: $*"; "$@" 2>&1 | tee -a "$RESULTS"; }
case $backend in
  all) run cargo test --workspace --all-features --no-fail-fast "$@" ;;
  memory)
    run cargo test -p session-core --features conformance "$@"
    run cargo test -p session-memory "$@"
    run cargo test -p session-cookie --features metrics "$@"
    run cargo test -p session-actix "$@"
    run cargo test -p session-stores "$@"
    run cargo test -p session-tests "$@"
    run cargo test -p keycard --no-default-features "$@"
    ;;
  redis)
    run cargo test -p session-redis --features tls "$@"
    run cargo test -p session-tests --features redis,tls "$@"
    run cargo test -p keycard --no-default-features --features redis,tls "$@"
    ;;
  sqlite)
    run cargo test -p session-sqlx --features sqlite "$@"
    run cargo test -p session-tests --features sqlite "$@"
    run cargo test -p keycard --no-default-features --features sqlite "$@"
    ;;
  *) # postgres, mysql: with TLS, so the TLS tests run too
    run cargo test -p session-sqlx --features "$backend,tls" "$@"
    run cargo test -p session-tests --features "$backend,tls" "$@"
    run cargo test -p keycard --no-default-features --features "$backend,tls" "$@"
    ;;
esac
