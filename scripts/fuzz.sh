#!/usr/bin/env bash
# The long fuzz pass: scripts/fuzz.sh [CASES]
#
# Runs the fuzz targets of tests/tests/fuzz.rs (Cookie header parser, key card
# verification, codec decode, SessionConfig deserialization) with CASES
# generated inputs each (default 1,000,000), in release, and prints per target
# the cases run and the largest allocation seen. The normal suite runs the
# same targets with FUZZ_CASES (default 5,000).
set -euo pipefail
cd "$(dirname "$0")/.."
export FUZZ_CASES=${1:-${FUZZ_CASES:-1000000}}
echo "[fuzz.sh] $FUZZ_CASES cases per target (release build)" >&2
exec cargo test --release -p session-tests --test fuzz -- --nocapture --test-threads=2
