#!/usr/bin/env bash
# Runs today's hardening tests (tests/reliability/hardening_tests.cpp) against the collector as it was before
# the hardening work (issue 13), to show which tests fail on the old code. Not part of `make test` (it builds
# a second collector: ~10 min on 2 cores).
#
#   scripts/prefix_check.sh <build dir> [old commit]
#
# <build dir>: a configured build of this tree (its hardening_tests is built if missing).
# [old commit]: default: where the branch merged as "Merge branch 'harden'" left main (the merge base of that
# merge's two parents).
#
# The old tree is exported with `git archive` into a temporary directory outside the repository (no worktree
# is registered, so an interrupted run leaves nothing in .git), its llmtrace-collector is built there, and
# every hardening test case runs on its own with LLMTRACE_TEST_COLLECTOR_BIN pointing at the old binary (the
# tests then start that binary instead of the in-process server). Prints one line per test case:
# PASS / FAIL / N/A (the case needs a setting the old binary has no flag for, or cannot start it), and a
# closing "N passed, N failed" line. Keep the temporary tree with KEEP=1; reuse one with PREFIX_DIR=dir.
set -euo pipefail

build=${1:?usage: scripts/prefix_check.sh <build dir> [old commit]}
build=$(cd "$build" && pwd)
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

old=${2:-}
if [[ -z $old ]]; then
  merge=$(git log --merges --format='%H %s' | awk '/Merge branch .harden./ {h=$1} END {print h}')
  [[ -n $merge ]] || { echo "no \"Merge branch 'harden'\" commit found; pass the old commit" >&2; exit 2; }
  old=$(git merge-base "$merge^1" "$merge^2")
fi
old=$(git rev-parse --verify "$old^{commit}")
echo "old collector: $(git log -1 --format='%h %s' "$old")"

dir=${PREFIX_DIR:-${TMPDIR:-/tmp}/llmtrace-prefix-${old:0:12}}
cleanup() { [[ ${KEEP:-0} == 1 || -n ${PREFIX_DIR:-} ]] || rm -rf "$dir"; }
trap cleanup EXIT
mkdir -p "$dir/src"
if [[ ! -f $dir/src/CMakeLists.txt ]]; then
  git archive "$old" | tar -x -C "$dir/src"
fi
if [[ ! -x $dir/build/collector/llmtrace-collector ]]; then
  cmake -S "$dir/src" -B "$dir/build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLLMTRACE_BUILD_UI=OFF \
    -DLLMTRACE_BUILD_BENCH=OFF >"$dir/configure.log" 2>&1 || { tail -20 "$dir/configure.log"; exit 1; }
  cmake --build "$dir/build" -j2 --target llmtrace-collector >"$dir/build.log" 2>&1 ||
    { tail -20 "$dir/build.log"; exit 1; }
fi
bin=$dir/build/collector/llmtrace-collector
cmake --build "$build" -j2 --target hardening_tests >/dev/null
tests=$build/tests/reliability/hardening_tests

passed=0 failed=0 na=0
while IFS= read -r name; do
  [[ $name == security:* || $name == reliability:* ]] || continue
  log=$dir/case.log
  # doctest's -tc takes a filter where ',' separates patterns: each one is matched with '?' in its place.
  filter=${name//,/?}
  if LLMTRACE_TEST_COLLECTOR_BIN=$bin timeout 300 "$tests" -tc="$filter" >"$log" 2>&1; then
    verdict=PASS
    passed=$((passed + 1))
  elif grep -q 'NOT RUNNABLE AGAINST A BINARY' "$log"; then
    verdict=N/A
    na=$((na + 1))
  else
    verdict=FAIL
    failed=$((failed + 1))
  fi
  why=$(grep -m1 -E 'NOT RUNNABLE AGAINST A BINARY|ERROR: CHECK|ERROR: REQUIRE|unknown option|did not start' "$log" |
    sed -E 's/^[^ ]*: //' | cut -c1-160 || true)
  printf '%-5s %s\n' "$verdict" "$name"
  [[ $verdict == PASS || -z $why ]] || printf '      %s\n' "$why"
done < <("$tests" --list-test-cases --no-version 2>/dev/null | sed -n 's/^\(security:\|reliability:\)/&/p')
echo "old collector $old: $passed passed, $failed failed, $na not runnable against a binary"
