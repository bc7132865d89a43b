#!/usr/bin/env bash
# The Debian package (CPack, DEB generator) made from the build tree: its
# metadata (Depends on libc6, libseccomp2 and libbsd0; a postinst that
# enables nothing) and its contents (broker, CLI, shared and static library,
# header, pkg-config file, CMake package, systemd units); then dpkg installs
# it into a scratch root, where `sharena --version` and `sharenad --version`
# print the package's version.
# usage: deb.sh BUILD_DIR PROJECT_VERSION
set -euo pipefail
build=$1
version=$2
fail() { echo "FAIL: $*" >&2; exit 1; }
command -v dpkg-deb >/dev/null || { echo "dpkg-deb not found: skipped"; exit 77; }
tmp=$(mktemp -d /tmp/sharena-deb.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

(cd "$build" && cpack -G DEB -B "$tmp/out" >"$tmp/cpack.log" 2>&1) ||
  { cat "$tmp/cpack.log"; fail "cpack -G DEB"; }
deb=$(ls "$tmp"/out/sharena_*.deb)
[ "$(basename "$deb")" = "sharena_${version}_$(dpkg --print-architecture).deb" ] ||
  fail "package file name: $deb"

# metadata
field() { dpkg-deb -f "$deb" "$1"; }
[ "$(field Package)" = sharena ] || fail "Package: $(field Package)"
[ "$(field Version)" = "$version" ] || fail "Version: $(field Version)"
depends=$(field Depends)
for d in libc6 libseccomp2 libbsd0; do
  grep -qE "(^|, )$d( |,|$)" <<<"$depends" || fail "Depends lacks $d: $depends"
done
dpkg-deb -I "$deb" postinst >"$tmp/postinst" || fail "no postinst"
# the postinst may reload systemd but never enables or starts a unit
grep -qE 'systemctl[^#]*(enable|start|restart)' <(grep -v '^#' "$tmp/postinst") &&
  fail "the postinst enables or starts something"
dpkg-deb -I "$deb" triggers | grep -q 'activate-noawait ldconfig' || fail "no ldconfig trigger"

# contents, relative to the configured prefix
prefix=$(sed -n 's/^CMAKE_INSTALL_PREFIX:PATH=//p' "$build/CMakeCache.txt")
dpkg-deb -c "$deb" | awk '{print $NF}' | sed 's|^\./|/|' >"$tmp/files"
has() { grep -qE "^$1\$" "$tmp/files" || fail "not in the package: $1"; }
has "$prefix/bin/sharenad"
has "$prefix/bin/sharena"
has "$prefix/include/sharena.h"
has "$prefix/include/sharena_broker.h"
has "$prefix/lib/.*libsharena\.so\.${version}"
has "$prefix/lib/.*libsharena\.a"
has "$prefix/lib/.*pkgconfig/sharena\.pc"
has "$prefix/lib/.*cmake/sharena/sharenaConfig\.cmake"
has "$prefix/lib/.*cmake/sharena/sharenaConfigVersion\.cmake"
for unit in user/sharenad.service user/sharenad.socket system/sharenad.service \
            system/sharenad.socket; do
  has "$prefix/lib/systemd/$unit"
done

# dpkg into an empty scratch root: the missing dependencies are named, then
# (forced past them: the host's libraries serve) it configures, and the
# installed commands run.
root=$tmp/root
mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates"
: >"$root/var/lib/dpkg/status"
dpk() { dpkg --root="$root" --force-script-chrootless --force-not-root --log=/dev/null "$@"; }
if dpk -i "$deb" >"$tmp/dpkg.log" 2>&1; then
  fail "installed without its dependencies"
fi
grep -q 'libseccomp2' "$tmp/dpkg.log" || { cat "$tmp/dpkg.log"; fail "missing libseccomp2 not reported"; }
dpk --force-depends -i "$deb" >"$tmp/dpkg.log" 2>&1 || { cat "$tmp/dpkg.log"; fail "dpkg -i"; }
dpkg --root="$root" -s sharena | grep -q '^Status: install ok installed' || fail "not configured"
out=$("$root$prefix/bin/sharena" --version)
[ "$out" = "sharena $version" ] || fail "sharena --version: $out"
out=$("$root$prefix/bin/sharenad" --version)
[[ $out == "sharenad $version "* ]] || fail "sharenad --version: $out"
dpk -r sharena >"$tmp/dpkg.log" 2>&1 || { cat "$tmp/dpkg.log"; fail "dpkg -r"; }
[ ! -e "$root$prefix/bin/sharenad" ] || fail "dpkg -r left sharenad"
echo "sharena_${version}.deb: Depends: $depends; contents complete; installs into a scratch root, sharena --version: sharena $version"
