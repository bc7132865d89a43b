#!/bin/bash
# socket.sh: the broker's socket and its directory (docs/security.md,
# section 2): a missing directory is made 0700; a directory others could
# write without the sticky bit, or one another user owns, is refused; a
# live socket is never replaced (a clear message), a stale one is;
# socket activation (LISTEN_FDS) serves on the inherited socket; a
# connection that never says HELLO is dropped after --hello-timeout; an
# explicit socket path never autostarts a broker.
. "$(dirname "$0")/lib.sh"

# ---- a missing directory is created 0700 ------------------------------------
"$SHARENAD" --foreground --socket "$T/made/broker.sock" 2>>"$T/broker.log" &
P=$!
wait_for test -S "$T/made/broker.sock" || fail "no socket in a made directory"
mode=$(stat -c %a "$T/made")
[ "$mode" = 700 ] || fail "made directory has mode $mode, not 700"
# a second broker on the live socket refuses, saying why, and leaves it be
"$SHARENAD" --foreground --socket "$T/made/broker.sock" >"$T/out" 2>"$T/err"
rc=$?
[ $rc = 1 ] || fail "second broker exited $rc, not 1"
grep -q "already running" "$T/err" || fail "second broker: $(cat "$T/err")"
"$SHARENA_CLI" --socket "$T/made/broker.sock" ls >/dev/null ||
    fail "the first broker stopped serving"
kill -9 "$P"
wait "$P" 2>/dev/null
# its socket is stale now: the next broker replaces it
"$SHARENAD" --foreground --socket "$T/made/broker.sock" 2>>"$T/broker.log" &
P=$!
wait_for "$SHARENA_CLI" --socket "$T/made/broker.sock" ls >/dev/null 2>&1 ||
    fail "a stale socket was not replaced"
kill "$P"
wait "$P" 2>/dev/null

# ---- directories that others could tamper with are refused -------------------
mkdir -m 0777 "$T/open"
chmod 0777 "$T/open" # (umask)
"$SHARENAD" --foreground --socket "$T/open/broker.sock" >"$T/out" 2>"$T/err"
[ $? = 1 ] || fail "a world-writable directory was accepted"
grep -qi "writable" "$T/err" || fail "world-writable directory: $(cat "$T/err")"
[ -e "$T/open/broker.sock" ] && fail "a socket was made in a world-writable directory"
chmod 1777 "$T/open" # the sticky bit: like /tmp, others cannot replace it
"$SHARENAD" --foreground --socket "$T/open/broker.sock" 2>>"$T/broker.log" &
P=$!
wait_for test -S "$T/open/broker.sock" || fail "a sticky directory was refused"
kill "$P"
wait "$P" 2>/dev/null
if [ "$(id -u)" = 0 ]; then
    mkdir -m 0700 "$T/theirs"
    chown 65534 "$T/theirs"
    "$SHARENAD" --foreground --socket "$T/theirs/broker.sock" >"$T/out" 2>"$T/err"
    [ $? = 1 ] || fail "another user's directory was accepted"
    grep -q "belongs to uid 65534" "$T/err" || fail "other owner: $(cat "$T/err")"
fi

# ---- socket activation: the inherited socket is used as it is ----------------
python3 - "$SHARENAD" "$T/activated.sock" "$T/activated.log" <<'PY' &
import os, socket, sys
sharenad, path, log = sys.argv[1:]
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.bind(path)
s.listen(16)
os.dup2(s.fileno(), 3)  # fd 3, as systemd passes it
os.environ["LISTEN_FDS"] = "1"
os.environ["LISTEN_PID"] = str(os.getpid())  # exec keeps the pid
err = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
os.dup2(err, 2)
os.execv(sharenad, [sharenad, "--foreground", "--socket", path])
PY
P=$!
wait_for grep -q "socket-activated" "$T/activated.log" ||
    fail "no socket-activated start: $(cat "$T/activated.log")"
ACT=("$SHARENA_CLI" --socket "$T/activated.sock")
"${ACT[@]}" create act >/dev/null || fail "create on the activated broker"
"${ACT[@]}" set act k '"v"' >/dev/null || fail "set on the activated broker"
[ "$("${ACT[@]}" get act k)" = v ] || fail "get on the activated broker"
kill "$P"
wait "$P"
rc=$?
[ $rc = 0 ] || fail "the activated broker exited $rc on SIGTERM"
# an activated broker does not unlink a socket it did not make
[ -S "$T/activated.sock" ] || fail "the activated broker removed systemd's socket"

# ---- a connection that never says HELLO is dropped --------------------------
start_broker --hello-timeout 1
python3 - "$SOCK" <<'PY' || fail "a silent connection was not dropped"
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.connect(sys.argv[1])
s.settimeout(30)  # a hang guard: the broker drops it after about a second
sys.exit(0 if s.recv(64) == b"" else 1)  # end of stream: the broker closed it
PY
grep -q "no HELLO within 1 s" "$T/broker.log" || fail "the drop was not logged"
run 0 cli ls # and it goes on serving

# ---- an explicit socket path never starts a broker --------------------------
unset SHARENA_AUTOSTART
run 1 cli --socket "$T/nobody/broker.sock" ls
[ -e "$T/nobody" ] && fail "something was started for an explicit socket path"
export SHARENA_AUTOSTART=0

finish
