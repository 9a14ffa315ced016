#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ (clang, -fsanitize=fuzzer,address,undefined) in their own build
# directory and runs each for a bounded time:
#   ingest_fuzz  collector/src/ingest: the bounded JSON parser, trace validation/normalisation and
#                model/usage/search-text extraction (seeds: fuzz/corpus)
#   otlp_fuzz    collector/src/otlp: the OTLP protobuf wire reader, the OTLP/JSON decoder and the GenAI
#                mapping (seeds: fuzz/corpus_otlp; the first byte of an input picks the decoder)
# See each .cpp for the invariants it checks. New inputs go to <build>/corpus[_otlp], crashes to
# <build>/artifacts[_otlp]. Exit status: 0 when no crash, sanitizer report or broken invariant was found.
# Usage: scripts/fuzz.sh [seconds per target]   env: FUZZ_SECONDS (default 120), FUZZ_BUILD (default ./build-fuzz),
#        FUZZ_TARGETS (default "ingest_fuzz otlp_fuzz")
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

fail=0
run_target() {
  local target="$1" seeds="$2" suffix="$3"
  local corpus="$out/corpus$suffix" artifacts="$out/artifacts$suffix" log="$out/$target.log"
  mkdir -p "$corpus" "$artifacts"
  echo "fuzz: running $target for ${secs} s (log: $log)"
  set +e
  "$out/$target" -max_total_time="$secs" -dict="$root/fuzz/json.dict" -max_len=65536 -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$artifacts/" \
    "$corpus" "$seeds" >"$log" 2>&1
  local rc=$?
  set -e
  local execs peak inputs crashes
  execs="$(grep -a 'stat::number_of_executed_units' "$log" | awk '{print $2}' | tail -1)"
  peak="$(grep -a 'stat::peak_rss_mb' "$log" | awk '{print $2}' | tail -1)"
  inputs="$(find "$corpus" -type f | wc -l)"
  crashes="$(find "$artifacts" -type f | wc -l)"
  echo "fuzz: $target: ${execs:-0} executions in ${secs} s, corpus ${inputs} inputs, peak RSS ${peak:-?} MB, artifacts ${crashes}"
  echo "RESULT {\"scenario\":\"fuzz\",\"target\":\"$target\",\"seconds\":${secs},\"executions\":${execs:-0},\"corpus\":${inputs},\"artifacts\":${crashes},\"exit\":${rc}}"
  if [ "$rc" -ne 0 ]; then
    echo "fuzz: $target FAIL (exit $rc); the last lines of the log:" >&2
    tail -40 "$log" >&2
    fail=1
  fi
}

for target in ${FUZZ_TARGETS:-ingest_fuzz otlp_fuzz}; do
  case "$target" in
    ingest_fuzz) run_target ingest_fuzz "$root/fuzz/corpus" "" ;;
    otlp_fuzz) run_target otlp_fuzz "$root/fuzz/corpus_otlp" "_otlp" ;;
    *) echo "fuzz: unknown target $target" >&2; exit 2 ;;
  esac
done
if [ "$fail" -ne 0 ]; then
  exit 1
fi
echo "fuzz: PASS"
