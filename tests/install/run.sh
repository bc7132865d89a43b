#!/usr/bin/env bash
# Install the build into a temporary prefix and build a tiny program against
# it both ways: pkg-config and find_package(sharena). Usage: run.sh BUILD_DIR
set -euo pipefail
build=${1:?usage: run.sh BUILD_DIR}
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
lib=$(ls -d "$tmp"/prefix/lib*/ | head -n1)
export PKG_CONFIG_PATH="$lib/pkgconfig"
# shellcheck disable=SC2046
cc -o "$tmp/hello_pc" "$here/hello.c" $(pkg-config --cflags --libs sharena)
out=$(LD_LIBRARY_PATH="$lib" "$tmp/hello_pc")
[ "$out" = hello ] || { echo "pkg-config build printed '$out'"; exit 1; }
cmake -S "$here" -B "$tmp/cm" -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
cmake --build "$tmp/cm" >/dev/null
out=$(LD_LIBRARY_PATH="$lib" "$tmp/cm/hello_cmake")
[ "$out" = hello ] || { echo "find_package build printed '$out'"; exit 1; }
for bin in sharenad sharena; do
  if [ -e "$build/broker/$bin" ] || [ -e "$build/tools/cli/$bin" ]; then
    [ -x "$tmp/prefix/bin/$bin" ] || { echo "$bin was not installed"; exit 1; }
  fi
done
echo "install: pkg-config and find_package builds work"
