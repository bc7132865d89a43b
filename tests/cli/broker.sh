#!/bin/bash
# broker.sh: `sharena broker start|stop|status` on a private socket: start
# runs a daemonised sharenad with a pidfile and returns once it answers,
# stop asks it to exit (or signals the pid in the pidfile when the socket
# no longer answers), status tells whether one answers.
. "$(dirname "$0")/lib.sh"
export SHARENA_SHARENAD=$SHARENAD

run 1 cli broker status
out_has "no broker is running on $SOCK"
run 1 cli --json broker status
json_ok 'd == {"socket": "'"$SOCK"'", "running": False}'
run 0 cli broker stop
out_has "no broker is running"

run 0 cli broker start
out_has "broker started on $SOCK"
run 0 cli --json broker status
json_ok 'd["running"] and d["pid"] > 0'
PID=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["pid"])' "$T/out")
[ "$(cat "$SOCK.pid" 2>/dev/null)" = "$PID" ] || fail "pidfile $SOCK.pid does not hold $PID"
run 0 cli broker start
out_has "already running"
# the daemonised broker serves read-write and read-only opens
run 0 cli create a
run 0 cli set a x '{"y": [1, 2]}'
run 0 cli get a x/y/1
out_is "2"
run 0 cli --json dump a
json_ok 'd == {"x": {"y": [1, 2]}}'
run 0 cli broker stop
out_has "(pid $PID) stopped"
pid_running "$PID" && fail "broker pid $PID still exists after stop"
[ -e "$SOCK" ] && fail "the stopped broker left its socket behind"
[ -e "$SOCK.pid" ] && fail "the stopped broker left its pidfile behind"
run 1 cli broker status

# stop through the pidfile when the socket is gone
run 0 cli broker start
PID=$(cat "$SOCK.pid")
rm -f "$SOCK"
run 1 cli broker status
run 0 cli broker stop
out_has "(pid $PID) stopped"
pid_running "$PID" && fail "broker pid $PID still exists after stop by pidfile"
# a stale pidfile (nobody holds its lock) never gets a process signalled
sleep 1000 &
SLEEPER=$!
echo "$SLEEPER" >"$SOCK.pid"
run 0 cli broker stop
out_has "no broker is running"
pid_running "$SLEEPER" || fail "stop signalled the pid of a stale pidfile"
kill "$SLEEPER"
rm -f "$SOCK.pid"

# sharenad refuses a size that is not one (the CLI's rule, one parser)
for bad in -1 " 1T" "1.5T" "2^40"; do
    run 1 timeout 10 "$SHARENAD" --foreground --socket "$T/bad.sock" --max-capacity "$bad"
    err_has "bad value for --max-capacity"
done
run 1 timeout 10 "$SHARENAD" --foreground --socket "$T/bad.sock" --save-max-bytes -1
err_has "bad value for --save-max-bytes"

# sharenad options after --
run 0 cli broker start -- --max-arenas 1
run 0 cli create one
run 1 cli create two
run 0 cli broker stop
run 1 cli broker start -- --bogus-option
err_has "sharenad did not start"
run 1 cli broker status

# the watchdog: a sharenad that never comes up ends the command with 1
cat >"$T/slowd" <<EOF
#!/bin/sh
echo \$\$ >"$T/slowd.pid"
exec sleep 60
EOF
chmod +x "$T/slowd"
SHARENA_SHARENAD=$T/slowd run 1 cli --timeout 1 broker start
err_has "no answer within 1 s: sharenad did not come up"
[ -f "$T/slowd.pid" ] && kill "$(cat "$T/slowd.pid")"

# `broker start` runs the sharenad the library would start itself
# (sharena_broker_path): a copy of the tool in $T/tools, where the library
# looks in ../bin before PATH (the tool's own search once went to PATH
# first). Each candidate logs its name, then runs the real sharenad.
mkdir -p "$T/tools" "$T/bin" "$T/path"
cp "$SHARENA_CLI" "$T/tools/sharena"
for d in bin path; do
    printf '#!/bin/sh\necho %s >>"%s"\nexec "%s" "$@"\n' \
        "$d" "$T/started" "$SHARENAD" >"$T/$d/sharenad"
    chmod +x "$T/$d/sharenad"
done
AUTO=$T/auto.sock
(
    unset SHARENA_SHARENAD
    export PATH="$T/path:$PATH"
    # the library's autostart: a command on the default socket, no broker
    SHARENA_SOCKET=$AUTO SHARENA_AUTOSTART=1 "$T/tools/sharena" ls \
        >"$T/out" 2>"$T/err" || echo "autostart ls failed: $(cat "$T/err")" >&2
    "$T/tools/sharena" --socket "$SOCK" broker start >"$T/out" 2>"$T/err" ||
        echo "broker start failed: $(cat "$T/err")" >&2
)
STARTED=$(tr '\n' ' ' <"$T/started" 2>/dev/null)
[ "$STARTED" = "bin bin " ] ||
    fail "library autostart, then broker start ran: '$STARTED' (want 'bin bin ')"
run 0 cli --socket "$AUTO" broker stop
out_has "stopped"
run 0 cli broker stop
out_has "stopped"

# usage errors
run 2 cli broker
run 2 cli broker restart
run 2 cli broker stop -- --max-arenas 1
finish
