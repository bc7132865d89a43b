#!/usr/bin/env bash
# Show sharena working. Sets the machine up (packages, C build, Node addon,
# Python package), then:
#   1. two C processes share one arena through a passed memfd (no broker);
#   2. a broker on a private socket; a Node process publishes a job board
#      into the named arena "jobboard"; two Python processes claim and do the
#      jobs in place; the C CLI shows the arena; Node sees every change live;
#   3. the broker stops and the demo says what happened.
# Takes well under a minute after set-up.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"

echo "== set-up (installs what is missing, builds) =="
scripts/bootstrap.sh "$here/build" >/dev/null
scripts/setup-node.sh >/dev/null
scripts/setup-python.sh "$here/build/venv" >/dev/null
echo "built in $here/build, node/build and build/venv"

echo
echo "== 1. two processes, one arena, one passed file descriptor =="
build/examples/fd_share

echo
echo "== 2. Node, Python and C on one named arena =="
dir=$(mktemp -d /tmp/sharena-demo.XXXXXX)
export SHARENA_SOCKET=$dir/broker.sock SHARENA_AUTOSTART=0
sharena=build/tools/sharena
node_pid=
cleanup() {
  [ -n "$node_pid" ] && kill "$node_pid" 2>/dev/null
  "$sharena" broker stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT
"$sharena" broker start -- --pidfile "$dir/broker.pid" >/dev/null
echo "broker: sharenad (pid $(cat "$dir/broker.pid")) on $SHARENA_SOCKET"

mkfifo "$dir/node.out"
node examples/node/jobboard.js >"$dir/node.out" &
node_pid=$!
exec 3<"$dir/node.out"
while IFS= read -r line <&3; do
  [ "$line" = READY ] && break
  echo "$line"
done

echo "c:      sharena stat jobboard"
"$sharena" stat jobboard | sed 's/^/          /'
echo "c:      sharena get jobboard jobs/job-1"
"$sharena" get jobboard jobs/job-1 | sed 's/^/          /'

build/venv/bin/python examples/python/worker.py alice &
build/venv/bin/python examples/python/worker.py bob &
wait %2 %3 2>/dev/null || wait

while IFS= read -r line <&3; do echo "$line"; done
wait "$node_pid"
node_pid=
echo "c:      sharena get jobboard stats; sharena get jobboard jobs/job-5"
"$sharena" get jobboard stats | sed 's/^/          /'
"$sharena" get jobboard jobs/job-5 | sed 's/^/          /'

echo
echo "== 3. done =="
"$sharena" broker stop
echo "One arena, three languages: Node published, Python claimed and did the"
echo "jobs in place (locks and an atomic counter), C read it, and nothing was"
echo "copied through a socket."
