#!/usr/bin/env bash
# Builds the llmtrace Python wheel with libllmtrace_c.so inside, for machines without the library (`make wheel`).
# The bundled library still needs its system libraries at run time (Debian: libcpp-httplib0.11, libssl3, libstdc++6).
# Usage: packaging/build-wheel.sh <path/to/libllmtrace_c.so> <output dir> [<package source, default bindings/python>]
# Offline: setuptools and wheel come from the system (Debian: python3-setuptools python3-wheel python3-pip).
set -euo pipefail

lib="$1"
out="$2"
src="${3:-$(cd "$(dirname "$0")/.." && pwd)/bindings/python}"
[ -f "$lib" ] || { echo "build-wheel: $lib: no such file (build the llmtrace_c target first)" >&2; exit 1; }

py="${PYTHON:-}"
if [ -z "$py" ]; then
  for candidate in /usr/bin/python3 python3; do
    if "$candidate" -c 'import setuptools, wheel, pip' >/dev/null 2>&1; then py="$candidate"; break; fi
  done
fi
[ -n "$py" ] || { echo "build-wheel: needs a Python with pip, setuptools and wheel (make deps-test)" >&2; exit 1; }

# Build from a copy: setuptools writes build/ and *.egg-info beside the sources.
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp -r "$src" "$work/python"
rm -rf "$work/python/build" "$work/python/"*.egg-info
# A stripped copy: the debug info of a RelWithDebInfo build is most of the file.
cp "$(realpath "$lib")" "$work/libllmtrace_c.so"
strip --strip-unneeded "$work/libllmtrace_c.so" 2>/dev/null || true
mkdir -p "$out"
LLMTRACE_BUNDLE_LIB="$work/libllmtrace_c.so" PIP_DISABLE_PIP_VERSION_CHECK=1 \
  "$py" -m pip wheel -q --no-index --no-build-isolation --no-deps -w "$out" "$work/python"
ls "$out"/llmtrace-*.whl
