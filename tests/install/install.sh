#!/usr/bin/env bash
# Install the build tree into a temporary prefix and build a tiny program
# against the installed library both ways: pkg-config and find_package.
# usage: install.sh BUILD_DIR
set -euo pipefail
build=$1
tmp=$(mktemp -d /tmp/sharena-install.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
cmake --install "$build" --prefix "$prefix" >/dev/null

fail() { echo "FAIL: $*" >&2; exit 1; }
for f in include/sharena.h include/sharena_broker.h bin/sharenad bin/sharena; do
  [ -e "$prefix/$f" ] || fail "$f not installed"
done
libdir=$(dirname "$(find "$prefix" -name 'libsharena.so*' | head -1)")
[ -e "$libdir/libsharena.a" ] || fail "static library not installed"
[ -e "$libdir/pkgconfig/sharena.pc" ] || fail "sharena.pc not installed"
[ -e "$libdir/cmake/sharena/sharenaConfig.cmake" ] || fail "CMake package not installed"
for unit in user/sharenad.service user/sharenad.socket system/sharenad.service \
            system/sharenad.socket; do
  [ -e "$prefix/lib/systemd/$unit" ] || fail "systemd unit $unit not installed"
done
# (ExecStart names the configured prefix's sharenad, not this --prefix's)
grep -q "^ExecStart=/.*/sharenad --foreground" "$prefix/lib/systemd/system/sharenad.service" ||
  fail "the system unit does not run sharenad"
grep -q "ListenSequentialPacket=/run/sharena/broker.sock" \
  "$prefix/lib/systemd/system/sharenad.socket" || fail "system socket path"
"$prefix/bin/sharena" --help | grep -q 'usage: sharena' || fail "sharena --help"
"$prefix/bin/sharenad" --help 2>&1 | grep -qi 'usage' || fail "sharenad --help"

cat >"$tmp/app.c" <<'C'
#include <sharena.h>
#include <stdio.h>
#include <string.h>
int main(void)
{
    /* the library loaded is the release of the header compiled against */
    if (strcmp(sharena_library_version(), SHARENA_VERSION_STRING) != 0 ||
        sharena_protocol_version() < 1)
        return 2;
    sharena_arena *a;
    sharena_id m, v;
    double n;
    if (sharena_arena_create("installed", 0, &a) ||
        sharena_root_ensure(a, "m", SHARENA_T_MAP, 0, &m, NULL) ||
        sharena_map_set_number(a, m, "k", 1, 41) ||
        sharena_map_get(a, m, "k", 1, &v) || sharena_number_add(a, v, 1, &n))
        return 1;
    printf("%g\n", n);
    sharena_arena_close(a);
    return 0;
}
C

# 1. pkg-config (the .pc file is relocatable: found from its own path)
export PKG_CONFIG_PATH=$libdir/pkgconfig
cc -std=gnu11 "$tmp/app.c" -o "$tmp/app-pc" $(pkg-config --cflags --libs sharena) \
  -Wl,-rpath,"$libdir"
[ "$("$tmp/app-pc")" = 42 ] || fail "pkg-config build does not run"
cc -std=gnu11 "$tmp/app.c" -o "$tmp/app-static" $(pkg-config --cflags sharena) \
  "$libdir/libsharena.a" $(pkg-config --static --libs-only-l sharena | sed 's/-lsharena//')
[ "$("$tmp/app-static")" = 42 ] || fail "static build does not run"

# 2. find_package(sharena)
mkdir -p "$tmp/proj"
cp "$tmp/app.c" "$tmp/proj/"
cat >"$tmp/proj/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.25)
project(app C)
find_package(sharena 0.1 REQUIRED)
add_executable(app app.c)
target_link_libraries(app PRIVATE sharena::sharena)
CM
cmake -S "$tmp/proj" -B "$tmp/proj/build" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$tmp/proj/build" >/dev/null
[ "$("$tmp/proj/build/app")" = 42 ] || fail "find_package build does not run"
echo "installed: library, header, sharena.pc, CMake package, sharenad, sharena, units;"
echo "a program builds and runs against it with pkg-config (shared, static) and find_package"
