#!/usr/bin/env bash
# Build the Node addon in node/ (npm install runs the project's CMake build of
# the addon against the installed Node headers). Idempotent.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
command -v node >/dev/null || { echo "setup-node: node is not installed" >&2; exit 1; }
cd "$here/node"
npm install --no-audit --no-fund --loglevel=error
