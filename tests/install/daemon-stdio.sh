#!/usr/bin/env bash
# sharenad started in the background (as autostart and `sharena broker
# start` do) keeps none of its caller's stdout and stderr: a caller that
# reads them to EOF, such as $(...) or a subprocess capturing output, gets
# EOF once sharenad returns, not when the broker exits. (Its reopen helper
# held them, so a program whose autostart started the broker hung in $(...).)
# And started with its stdin, stdout and stderr closed (Node's are
# close-on-exec when its autostart runs sharenad), it still serves.
# usage: daemon-stdio.sh SHARENAD SHARENA
set -uo pipefail
sharenad=$1
sharena=$2
tmp=$(mktemp -d /tmp/sharena-stdio.XXXXXX)
cleanup() {
  for p in "$tmp"/*.pid; do [ -s "$p" ] && kill -9 "$(cat "$p")" 2>/dev/null; done
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

"$sharenad" --socket "$tmp/c" --pidfile "$tmp/c.pid" <&- >&- 2>&- ||
  { echo "FAIL: sharenad with 0, 1 and 2 closed exited $?"; exit 1; }
"$sharena" --socket "$tmp/c" broker status >/dev/null ||
  { echo "FAIL: sharenad started with 0, 1 and 2 closed does not answer"; exit 1; }
"$sharena" --socket "$tmp/c" broker stop >/dev/null || { echo "FAIL: broker stop"; exit 1; }
echo "sharenad in the background released the caller's stdout and stderr;"
echo "started with 0, 1 and 2 closed it serves"
