#!/usr/bin/env bash
# Installs the system packages llmtrace needs, only those missing, through apt-get (sudo when not root).
# Usage: scripts/install-deps.sh [build|test|fuzz]
#   test adds the browser, a CJK font and Google Benchmark; fuzz adds clang and its libFuzzer/sanitizer runtimes.
set -euo pipefail

profile="${1:-build}"
build_pkgs=(
  build-essential cmake ninja-build pkg-config git
  libcpp-httplib-dev nlohmann-json3-dev libsqlitecpp-dev libspdlog-dev libconcurrentqueue-dev
  libsqlite3-dev libssl-dev zlib1g-dev libbrotli-dev doctest-dev libpq-dev
  python3 curl ca-certificates ccache
)
# python3-venv/pip/setuptools/wheel: offline pip install of bindings/python; dpkg-dev: .deb Depends (dpkg-shlibdeps).
# postgresql-15: the throwaway server the PostgreSQL store tests start (tests/support/pg_test_server.py).
test_pkgs=(chromium fonts-wqy-microhei openssl libbenchmark-dev procps postgresql-15
  python3-venv python3-pip python3-setuptools python3-wheel dpkg-dev)

pkgs=("${build_pkgs[@]}")
fuzz_pkgs=(clang libclang-rt-dev)
case "$profile" in
  build) ;;
  test) pkgs+=("${test_pkgs[@]}") ;;
  fuzz) pkgs+=("${test_pkgs[@]}" "${fuzz_pkgs[@]}") ;;
  *) echo "install-deps: unknown profile '$profile' (build, test or fuzz)" >&2; exit 2 ;;
esac
# Node.js 20+ and npm build the UI. Use the machine's node when it is new enough, else Debian's.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  pkgs+=(nodejs npm)
fi

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps: all ${#pkgs[@]} system packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "install-deps: not root and no sudo; install: ${missing[*]}" >&2; exit 1; }
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
