#!/usr/bin/env bash
# The long reliability runs (`make stress`): the kill -9 crash loop (20 kills while 4 clients ingest 10k
# records), 60 s of load (8 producers at full speed, UI-like queries, 16 event streams, a small ingest
# admission limit so overload and back-off happen), then the ingest fuzzer. About 10 minutes on 2 cores.
# Usage: scripts/stress.sh <build dir>   env: STRESS_LOAD_SECONDS (60), STRESS_FUZZ_SECONDS (300),
#        STRESS_KILLS (20), STRESS_RECORDS (10000)
# Writes every run's RESULT line to <build dir>/stress-results.jsonl; exits non-zero if any run failed.
set -uo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build}"
case "$build" in /*) ;; *) build="$root/$build" ;; esac
bin="$build/tests/reliability/reliability_stress"
results="$build/stress-results.jsonl"

if [ ! -x "$bin" ]; then
  cmake --build "$build" --target reliability_stress || exit 1
fi
: >"$results"
failed=0
start=$(date +%s)

run() {
  local name="$1"; shift
  echo "=== stress: $name"
  local log="$build/stress-$name.log"
  "$@" 2>&1 | tee "$log" | grep -v '^RESULT '
  local rc=${PIPESTATUS[0]}
  grep '^RESULT ' "$log" | sed 's/^RESULT //' >>"$results"
  if [ "$rc" -ne 0 ]; then
    echo "=== stress: $name FAILED (exit $rc, log $log)"
    failed=1
  fi
}

run crash-loop "$bin" crash-loop --kills "${STRESS_KILLS:-20}" --records "${STRESS_RECORDS:-10000}"
run load "$bin" load --seconds "${STRESS_LOAD_SECONDS:-60}" --producers 8 --streams 16 --inflight 4
run fuzz "$root/scripts/fuzz.sh" "${STRESS_FUZZ_SECONDS:-300}"

echo "=== stress: done in $(( $(date +%s) - start )) s; results in $results"
if [ "$failed" -ne 0 ]; then
  echo "=== stress: FAIL"
  exit 1
fi
echo "=== stress: PASS"
