#!/usr/bin/env bash
# Show sharena working: sets the machine up (packages, build), then
#   1. two C processes share one arena through a passed memfd (no broker);
# Takes well under a minute after set-up.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"

echo "== set-up (installs what is missing, builds) =="
scripts/bootstrap.sh "$here/build" >/dev/null
echo "built in $here/build"

echo
echo "== 1. two processes, one arena, one passed file descriptor =="
build/examples/fd_share
