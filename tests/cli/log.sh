#!/bin/bash
# log.sh: sharenad's event log (one line per event on stderr, with a level)
# and its once-a-second repair of an arena's live-client set that a client
# scribbled (a lock naming a dead slot marked live would otherwise hang its
# waiters forever).
. "$(dirname "$0")/lib.sh"
LOG=$T/broker.log

# a bad level is refused with the list of levels
"$SHARENAD" --socket "$SOCK" --foreground --log-level loud 2>"$T/bad.err"
[ $? -eq 1 ] || fail "--log-level loud: exit status"
grep -qF "silent, error, warning, info or debug" "$T/bad.err" || fail "no level list: $(cat "$T/bad.err")"

start_broker --log-level debug
run 0 cli create app --capacity 4M
run 0 cli set app cfg '{"a": 1}'
run 0 cli set app n 1

# a client dies holding a lock: a warning names it and the arena
"$CLI_HELPER" "$SOCK" hold app cfg >"$T/hold.out" 2>&1 &
H=$!
wait_for grep -q locked "$T/hold.out" || fail "holder did not lock"
kill -9 $H
wait $H 2>/dev/null
wait_for grep -q "went away holding 1 lock in arena 'app'" "$LOG" ||
    fail "no warning for the dead holder: $(cat "$LOG")"
grep -q "warning: client slot [0-9]* (pid $H, uid $(id -u)) went away" "$LOG" ||
    fail "the warning does not name pid $H"

# a scribbled live-client set: cfg's lock names slot 4000, marked live.
# The broker restores the set within about a second; the waiter then sees
# the owner is gone and takes the lock over, so the write below completes.
"$CLI_HELPER" "$SOCK" fake-holder app cfg 4000 || fail "fake-holder"
run 0 cli --timeout 20 set app cfg/new 2 # a new key: needs cfg's lock
run 0 cli get app cfg/new
out_is "2"
run 0 cli --json locks app
json_ok 'd == []' 
grep -q "warning: arena 'app': its live-client set was overwritten by a client; restored" "$LOG" ||
    fail "no warning for the restored live-client set: $(cat "$LOG")"

run 0 cli rm app
# SIGTERM: says what happens to the arenas, exits 0
kill -TERM "$BROKER_PID"
wait "$BROKER_PID"
rc=$?
BROKER_PID=
[ $rc -eq 0 ] || fail "sharenad exited $rc after SIGTERM"
for want in "info: listening on $SOCK" \
            "info: arena 'app' created by pid" \
            "info: arena 'app' deleted by pid" \
            "debug: connection from pid" \
            "info: stopping on SIGTERM from pid $$" \
            "recorded in $SOCK.state.0/.1" \
            "info: exiting"; do
    grep -qF -- "$want" "$LOG" || fail "log lacks '$want'"
done
# every line: TIME sharenad[PID] LEVEL: text
bad=$(grep -Ev '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z sharenad\[[0-9]+\] (error|warning|info|debug): .+$' "$LOG")
[ -z "$bad" ] || fail "malformed log lines: $bad"

# the default level leaves out debug; silent leaves out everything
: >"$LOG"
start_broker
run 0 cli ls
kill -TERM "$BROKER_PID"; wait "$BROKER_PID"; BROKER_PID=
grep -q "info: listening" "$LOG" || fail "default level lacks info"
grep -q "debug:" "$LOG" && fail "default level shows debug lines"
: >"$LOG"
start_broker --log-level silent
run 0 cli ls
kill -TERM "$BROKER_PID"; wait "$BROKER_PID"; BROKER_PID=
[ -s "$LOG" ] && fail "silent level wrote: $(cat "$LOG")"

# stderr a pipe nobody reads: once it is full the broker drops log lines
# instead of blocking (it would stop serving everyone)
mkfifo "$T/fifo"
sleep 600 <"$T/fifo" & # holds the read end open, never reads
HOLDER=$!
"$SHARENAD" --socket "$SOCK" --foreground --log-level debug 2>"$T/fifo" &
BROKER_PID=$!
wait_for cli broker status >/dev/null 2>&1 || fail "broker behind a full pipe did not start"
slow=0
for i in $(seq 1 500); do # ~2 debug lines of ~100 bytes each: > 64 KiB
    cli --timeout 10 ls >/dev/null 2>&1 || slow=$((slow + 1))
done
[ "$slow" -eq 0 ] || fail "$slow of 500 requests failed behind a full stderr pipe"
run 0 cli --timeout 10 create after-full
kill -TERM "$BROKER_PID"; wait "$BROKER_PID"; BROKER_PID=
kill "$HOLDER" 2>/dev/null; wait "$HOLDER" 2>/dev/null
finish
