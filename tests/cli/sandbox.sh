#!/bin/bash
# The broker's own sandbox: what the log says about seccomp is true,
# --require-seccomp refuses to run unfiltered, the read-only reopen helper
# survives its launcher's process group and its death is loud, and the
# socket is removed at exit by the helper (the broker may not unlink).
. "$(dirname "$0")/lib.sh"

# helper_of PID: the broker's reopen helper (its only child in the
# foreground).
helper_of() {
    ps -o pid= --ppid "$1" | tr -d ' ' | head -1
}

# 1. filters unavailable (a filter of cli_helper's own makes seccomp() fail):
# --require-seccomp refuses to start and says why
run 1 "$CLI_HELPER" - no-seccomp "$SHARENAD" --foreground --socket "$SOCK" \
    --require-seccomp
grep -q -- "--require-seccomp: .*\(seccomp filter could not be loaded\|sanitizer build\)" \
    "$T/err" || fail "no reason given: $(cat "$T/err")"
[ -e "$SOCK" ] && fail "a refused broker left its socket"
run 1 "$SHARENAD" --foreground --socket "$SOCK" --require-seccomp --no-sandbox
# ...and without the flag it starts, and the log does not claim a filter
"$CLI_HELPER" - no-seccomp "$SHARENAD" --foreground --socket "$SOCK" \
    2>"$T/nofilter.log" &
BROKER_PID=$!
wait_for cli broker status >/dev/null 2>&1 || fail "unfiltered broker did not start"
grep -q "warning: listening on .*; seccomp off (the filter could not be loaded" \
    "$T/nofilter.log" || fail "log does not say the filter is off: $(cat "$T/nofilter.log")"
grep -q "reopen helper's filter could not be loaded\|reopen helper runs unfiltered" \
    "$T/nofilter.log" || fail "log does not say the helper's filter is off"
grep -q "seccomp on" "$T/nofilter.log" && fail "log claims seccomp on"
kill -TERM "$BROKER_PID"; wait "$BROKER_PID"; BROKER_PID=

# 2. a normal start says "on", and is (Seccomp: 2)
start_broker
grep -q "; seccomp on" "$T/broker.log" || fail "log: $(cat "$T/broker.log")"
wait_for grep -q "^Seccomp:[[:space:]]*2" "/proc/$BROKER_PID/status" ||
    fail "broker not under a seccomp filter"
H=$(helper_of "$BROKER_PID")
[ -n "$H" ] || fail "no reopen helper"
# (a sanitizer build gives the helper no filter, and says so)
grep -q "reopen helper runs unfiltered (sanitizer build)" "$T/broker.log" ||
    grep -q "^Seccomp:[[:space:]]*2" "/proc/$H/status" || fail "helper unfiltered"

# 3. the helper dies: the broker says so at once, read-only opens it can no
# longer make fail with EIO, everything else goes on
run 0 cli create early
run 0 cli create late
run 0 "$CLI_HELPER" "$SOCK" open-ro early # its read-only fd is kept
kill -9 "$H"
wait_for grep -q "the read-only reopen helper (pid $H) is gone" "$T/broker.log" ||
    fail "the helper's death was not logged: $(cat "$T/broker.log")"
run 1 "$CLI_HELPER" "$SOCK" open-ro late
grep -q "input/output error\|I/O error\|EIO" "$T/out" || fail "not EIO: $(cat "$T/out")"
run 0 "$CLI_HELPER" "$SOCK" open-ro early
run 0 cli set late k 1 # read-write opens need no helper
run 1 cli get late k     # `get` opens read-only: told why it cannot
err_has "input/output error"
run 0 cli set early k 2
run 0 cli get early k    # its read-only fd was made before
out_is 2
run 0 cli ls
pid_running "$BROKER_PID" || fail "the broker died with its helper"
# without its helper the socket stays at exit, and the log says so
kill -TERM "$BROKER_PID"; wait "$BROKER_PID"; BROKER_PID=
grep -q "is left behind: the reopen helper, which removes it, is gone" \
    "$T/broker.log" || fail "no word about the socket left behind"
rm -f "$SOCK"

# 4. a broker killed outright: its helper removes the socket it leaves
start_broker
H=$(helper_of "$BROKER_PID")
kill -9 "$BROKER_PID"; wait "$BROKER_PID" 2>/dev/null; BROKER_PID=
wait_for test ! -e "$SOCK" || fail "the socket of a killed broker stayed"
wait_for sh -c "! kill -0 $H 2>/dev/null" || fail "the helper outlived its broker"

# 5. started in the background from a process group that is then killed
# (a terminal closing, kill -- -PGID): the helper is not in that group, and
# read-only opens keep working
if command -v setsid >/dev/null; then
    setsid "$SHARENAD" --socket "$SOCK" 2>/dev/null &
    L=$!
    wait "$L" || fail "background start failed"
    wait_for cli broker status >/dev/null 2>&1 || fail "daemon not answering"
    BROKER_PID=$(cli broker status | grep -o '[0-9][0-9]*' | tail -1) # cleanup
    kill -KILL -- "-$L" 2>/dev/null # whatever is left in the launcher's group
    run 0 cli create bg
    run 0 "$CLI_HELPER" "$SOCK" open-ro bg
    run 0 cli broker stop
    wait_for test ! -e "$SOCK" || fail "the daemon's socket stayed after stop"
    wait_for sh -c "! kill -0 $BROKER_PID 2>/dev/null" || fail "daemon still runs"
    BROKER_PID=
fi

finish
