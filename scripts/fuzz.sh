#!/usr/bin/env bash
# Builds the libFuzzer target fuzz/ingest_fuzz (clang, -fsanitize=fuzzer,address,undefined) in its own build
# directory and runs it for a bounded time over collector/src/ingest: the bounded JSON parser, trace
# validation/normalisation and model/usage/search-text extraction (see fuzz/ingest_fuzz.cpp for the
# invariants it checks). Seeds come from fuzz/corpus; new inputs go to <build>/corpus, crashes to
# <build>/artifacts. Exit status: 0 when no crash, sanitizer report or broken invariant was found.
# Usage: scripts/fuzz.sh [seconds]   env: FUZZ_SECONDS (default 120), FUZZ_BUILD (default ./build-fuzz)
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
secs="${1:-${FUZZ_SECONDS:-120}}"
out="${FUZZ_BUILD:-$root/build-fuzz}"

if ! command -v clang++ >/dev/null 2>&1; then
  echo "fuzz: clang++ not found; install clang (Debian: apt-get install -y clang) for libFuzzer" >&2
  exit 1
fi

cmake -S "$root/fuzz" -B "$out" -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$out"

mkdir -p "$out/corpus" "$out/artifacts"
log="$out/fuzz.log"
echo "fuzz: running ingest_fuzz for ${secs} s (log: $log)"
set +e
"$out/ingest_fuzz" -max_total_time="$secs" -dict="$root/fuzz/json.dict" -max_len=65536 -timeout=10 \
  -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$out/artifacts/" \
  "$out/corpus" "$root/fuzz/corpus" >"$log" 2>&1
rc=$?
set -e

execs="$(grep -a 'stat::number_of_executed_units' "$log" | awk '{print $2}' | tail -1)"
peak="$(grep -a 'stat::peak_rss_mb' "$log" | awk '{print $2}' | tail -1)"
corpus="$(find "$out/corpus" -type f | wc -l)"
crashes="$(find "$out/artifacts" -type f | wc -l)"
echo "fuzz: ${execs:-0} executions in ${secs} s, corpus ${corpus} inputs, peak RSS ${peak:-?} MB, artifacts ${crashes}"
echo "RESULT {\"scenario\":\"fuzz\",\"seconds\":${secs},\"executions\":${execs:-0},\"corpus\":${corpus},\"artifacts\":${crashes},\"exit\":${rc}}"
if [ "$rc" -ne 0 ]; then
  echo "fuzz: FAIL (exit $rc); the last lines of the log:" >&2
  tail -40 "$log" >&2
  exit 1
fi
echo "fuzz: PASS"
