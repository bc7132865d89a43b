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

# usage errors
run 2 cli broker
run 2 cli broker restart
run 2 cli broker stop -- --max-arenas 1
finish
