#!/usr/bin/env bash
# Idempotent set-up for a fresh Debian machine: installs the system packages
# sharena needs (only those missing), then configures and builds the project.
#
#   scripts/bootstrap.sh [BUILD_DIR]        (default: build)
#
# Environment: CI=true turns warnings into errors (the CMake option follows).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-$here/build}

need=()
# libhiredis-dev: sharena export/import --redis; redis-server: their test
for p in cmake pkg-config libbsd-dev libseccomp-dev libcriterion-dev clang \
         libclang-rt-14-dev libhiredis-dev redis-server \
         clang-format-14; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
    || need+=("$p")
done
if ((${#need[@]})); then
  echo "bootstrap: installing ${need[*]}"
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

redis=()
# CI builds must have export/import --redis (elsewhere hiredis is optional)
[ "${CI:-}" = true ] && redis=(-DSHARENA_REDIS=ON)
cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo "${redis[@]}" >/dev/null
cmake --build "$build" -j"$(nproc)"
