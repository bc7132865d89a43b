#!/usr/bin/env bash
# sharenad started in the background (as autostart and `sharena broker
# start` do) keeps none of its caller's stdout and stderr: a caller that
# reads them to EOF, such as $(...) or a subprocess capturing output, gets
# EOF once sharenad returns, not when the broker exits. (Its reopen helper
# held them, so a program whose autostart started the broker hung in $(...).)
# usage: daemon-stdio.sh SHARENAD
set -uo pipefail
sharenad=$1
tmp=$(mktemp -d /tmp/sharena-stdio.XXXXXX)
cleanup() {
  [ -s "$tmp/s.pid" ] && kill -9 "$(cat "$tmp/s.pid")" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
mkfifo "$tmp/out"
"$sharenad" --socket "$tmp/s" --pidfile "$tmp/s.pid" >"$tmp/out" 2>&1 &
# cat ends at EOF, when every holder of the pipe closed it; timeout bounds
# the wait so that the failure is a failure, not a hang.
timeout 60 cat "$tmp/out" >"$tmp/said"
rc=$?
wait $!
status=$?
[ -s "$tmp/s.pid" ] || { echo "FAIL: no pidfile; sharenad said: $(cat "$tmp/said")"; exit 1; }
[ "$status" = 0 ] || { echo "FAIL: sharenad exited $status: $(cat "$tmp/said")"; exit 1; }
[ "$rc" = 0 ] || { echo "FAIL: the caller's output pipe stayed open after sharenad returned"; exit 1; }
pid=$(cat "$tmp/s.pid")
kill -TERM "$pid"
for _ in $(seq 500); do kill -0 "$pid" 2>/dev/null || break; sleep 0.01; done
! kill -0 "$pid" 2>/dev/null || { echo "FAIL: sharenad did not exit"; exit 1; }
echo "sharenad in the background released the caller's stdout and stderr"
