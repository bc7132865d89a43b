# lib.sh: shared by the CLI tests (sourced). Each test gets a private
# directory and its own sharenad on a socket in it; both go away on exit.
#
# Environment (set by ctest, see CMakeLists.txt): SHARENA_CLI, SHARENAD,
# CLI_HELPER.
set -u
: "${SHARENA_CLI:?}" "${SHARENAD:?}" "${CLI_HELPER:?}"

T=$(mktemp -d /tmp/sharena-cli.XXXXXX)
chmod 755 "$T" # other users may reach the socket (permission tests)
SOCK=$T/broker.sock
BROKER_PID=
FAILED=0
CHECKS=0
export SHARENA_AUTOSTART=0 # a test never starts a broker by accident
# In sanitizer builds a report must not pass for the tool's own status 1.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}exitcode=86"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}print_stacktrace=1:exitcode=87"
unset SHARENA_FD
export SHARENA_SOCKET=$T/no-such-broker.sock # only --socket reaches one

cleanup() {
    local pids
    pids=$(jobs -p)
    [ -n "$pids" ] && kill $pids 2>/dev/null
    if [ -n "$BROKER_PID" ]; then
        kill "$BROKER_PID" 2>/dev/null
        wait "$BROKER_PID" 2>/dev/null
    fi
    # a broker started with `sharena broker start` is not our child
    if [ -f "$SOCK.pid" ]; then
        kill "$(cat "$SOCK.pid")" 2>/dev/null
    fi
    wait 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

fail() {
    echo "FAIL: $*" >&2
    FAILED=$((FAILED + 1))
}

# sharena with the test's socket. Start background commands with
# "${CLI[@]}" ... & (not the function: $! would be a subshell, which ignores
# SIGINT and does not pass signals on).
CLI=("$SHARENA_CLI" --socket "$SOCK")
cli() {
    "$SHARENA_CLI" --socket "$SOCK" "$@"
}

# pid_running PID: the process exists and is not a zombie (where PID 1
# does not reap, a daemon that exited stays one).
pid_running() {
    local st
    st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)
    [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

# Wait (bounded) until CONDITION (a command) succeeds.
wait_for() {
    local i
    for i in $(seq 1 1500); do
        "$@" && return 0
        sleep 0.01
    done
    return 1
}

start_broker() {
    "$SHARENAD" --socket "$SOCK" --foreground "$@" 2>>"$T/broker.log" &
    BROKER_PID=$!
    wait_for cli broker status >/dev/null 2>&1 ||
        { echo "broker did not start:" >&2; cat "$T/broker.log" >&2; exit 1; }
}

# run RC CMD...: run CMD with stdout in $T/out and stderr in $T/err and
# check its exit status.
run() {
    local want=$1 rc
    shift
    CHECKS=$((CHECKS + 1))
    "$@" >"$T/out" 2>"$T/err"
    rc=$?
    if grep -q "Sanitizer\|runtime error:" "$T/err"; then
        fail "'$*': sanitizer report"
        head -40 "$T/err" >&2
    fi
    if [ "$rc" -ge 128 ]; then
        fail "'$*' ended with status $rc (a signal status)"
    elif [ "$rc" != "$want" ]; then
        fail "'$*' exited $rc, expected $want"
        sed 's/^/    stdout: /' "$T/out" | head -20 >&2
        sed 's/^/    stderr: /' "$T/err" | head -20 >&2
    fi
    return 0
}

# out_is TEXT: stdout of the last run is exactly TEXT (plus a newline).
out_is() {
    local got
    got=$(cat "$T/out")
    [ "$got" = "$1" ] || fail "stdout is '$got', expected '$1'"
}

# err_has TEXT: stderr of the last run contains TEXT.
err_has() {
    grep -qF -- "$1" "$T/err" || fail "stderr lacks '$1': $(cat "$T/err")"
}

# out_has TEXT: stdout of the last run contains TEXT.
out_has() {
    grep -qF -- "$1" "$T/out" || fail "stdout lacks '$1': $(head -c 2000 "$T/out")"
}

# json_ok EXPR: stdout of the last run is JSON and the Python expression
# EXPR (over `d`) holds.
json_ok() {
    CHECKS=$((CHECKS + 1))
    python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
ok = eval(sys.argv[2])
if not ok:
    sys.exit("expression %s is false for %r" % (sys.argv[2], d))
' "$T/out" "$1" || fail "json check '$1'"
}

finish() {
    if [ "$FAILED" -ne 0 ]; then
        echo "$FAILED of $CHECKS checks failed" >&2
        exit 1
    fi
    echo "all $CHECKS checks passed"
    exit 0
}
