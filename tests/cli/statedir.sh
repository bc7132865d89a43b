#!/bin/bash
# statedir.sh: sharenad --state-dir (docs/persistence.md). A clean stop and
# a start give back every arena with its name, owner, group, mode and
# contents; a broker killed with SIGKILL loses only what changed after the
# last save; an unwritable directory or a file over --save-max-bytes (a
# full disk, as far as the saver can tell) is a logged error and leaves the
# previous file whole; a corrupt file is set aside and the others served;
# a deleted arena's file goes. Saves are waited for by polling the files,
# never by timing.
. "$(dirname "$0")/lib.sh"
SD=$T/state
LOG=$T/broker.log

start_sd() {
    : >"$LOG"
    start_broker --state-dir "$SD" "$@"
}
# stop_clean: SIGTERM, and the broker exits 0
stop_clean() {
    CHECKS=$((CHECKS + 1))
    kill "$BROKER_PID"
    wait "$BROKER_PID"
    local rc=$?
    [ "$rc" = 0 ] || fail "the broker exited $rc after SIGTERM"
    BROKER_PID=
}
# kill_hard: SIGKILL the broker and its saver (no save at the end)
kill_hard() {
    local saver
    saver=$(saver_pid)
    kill -9 "$BROKER_PID"
    wait "$BROKER_PID" 2>/dev/null
    BROKER_PID=
    [ -n "$saver" ] && kill -9 "$saver" 2>/dev/null
    # the reopen helper and the saver go when they see EOF
    wait_for gone "$saver"
}
gone() { ! pid_running "$1"; }
saver_pid() {
    sed -n 's/.*state directory .* saver pid \([0-9]*\),.*/\1/p' "$LOG" | tail -1
}
log_has() { grep -qF -- "$1" "$LOG"; }
# wait_log TEXT: the broker's log says TEXT (bounded wait)
wait_log() {
    CHECKS=$((CHECKS + 1))
    wait_for log_has "$1" || fail "the log never said '$1': $(tail -5 "$LOG")"
}
# file_has FILE TEXT: the saved file holds TEXT (string values are stored
# as they are in the image)
file_has() { [ -f "$1" ] && grep -qaF -- "$2" "$1"; }
wait_file() {
    CHECKS=$((CHECKS + 1))
    wait_for file_has "$1" "$2" || fail "$1 never came to hold '$2'"
}

[ "$(id -u)" = 0 ] && setpriv --reuid=65534 --regid=65534 --clear-groups \
    "$SHARENA_CLI" --version >/dev/null 2>&1 && AS_NOBODY=1 || AS_NOBODY=
as_nobody() {
    setpriv --reuid=65534 --regid=65534 --clear-groups \
        "$SHARENA_CLI" --socket "$SOCK" "$@"
}

# --- option checks -----------------------------------------------------
run 1 "$SHARENAD" --socket "$SOCK" --foreground --save 60:1
err_has "need --state-dir"
run 1 "$SHARENAD" --socket "$SOCK" --foreground --state-dir "$SD" --save 60
err_has "bad value for --save"
# a file where the directory should be: a clear error, no broker
echo "not a directory" >"$T/file"
run 1 "$SHARENAD" --socket "$SOCK" --foreground --state-dir "$T/file"
err_has "cannot open the state directory $T/file: Not a directory"
[ -e "$SOCK" ] && fail "a broker that refused to start left its socket"

# --- a clean stop, then a start: everything comes back -------------------
start_sd --save off
[ "$(stat -c %a "$SD")" = 700 ] || fail "the state directory is not 0700"
# the saver: no capabilities, and under its own filter where the log says so
S=$(saver_pid)
[ -n "$S" ] || fail "the log names no saver: $(cat "$LOG")"
grep -q "^CapEff:[[:space:]]*0*$" "/proc/$S/status" ||
    fail "the saver has capabilities: $(grep ^Cap "/proc/$S/status")"
if log_has "saver pid $S, seccomp on"; then
    grep -q "^Seccomp:[[:space:]]*2$" "/proc/$S/status" ||
        fail "the log says the saver's filter is on, /proc says otherwise"
fi
run 0 cli create app --mode 0640
run 0 cli set app cfg '{"a": 1.5, "list": [1, "two"], "on": true}'
run 0 cli set app title --string 'clean-stop-title'
run 0 cli create other --mode 0600 --capacity 1M
run 0 cli set other n 42
if [ -n "$AS_NOBODY" ]; then
    run 0 as_nobody create mine --mode 0644
    run 0 as_nobody set mine who --string nobody-data
fi
run 0 cli dump app
cp "$T/out" "$T/dump.app"
run 0 cli --json stat app
cp "$T/out" "$T/stat.app"
# --save off: nothing is written before the stop
[ -e "$SD/0-app.snap" ] && fail "a save happened under --save off"
stop_clean
wait_log "saved "
[ -f "$SD/0-app.snap" ] || fail "no file for app after a clean stop"
[ -f "$SD/0-other.snap" ] || fail "no file for other after a clean stop"
[ "$(stat -c %a "$SD/0-app.snap")" = 600 ] || fail "a state file is not 0600"
ls -a "$SD" | grep -q '\.tmp$' && fail "a temporary file is left: $(ls -a "$SD")"
start_sd --save off
run 0 cli dump app
cmp -s "$T/out" "$T/dump.app" || fail "app's dump differs after the restart: $(diff "$T/dump.app" "$T/out")"
run 0 cli --json stat app
json_ok 'd["mode"] == "0640" and d["uid"] == 0 and d["gid"] == 0 and d["capacity"] == 67108864'
run 0 cli --json stat other
json_ok 'd["mode"] == "0600" and d["capacity"] == 1048576'
run 0 cli get other n
out_is 42
run 0 cli --json stat app
json_ok "d['created_ns'] == $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["created_ns"])' "$T/stat.app")"
run 0 cli fsck app
out_has "consistent"
if [ -n "$AS_NOBODY" ]; then
    # still nobody's, in nobody's namespace
    run 0 as_nobody get mine who
    out_is nobody-data
    run 0 cli --json stat 65534:mine
    json_ok 'd["uid"] == 65534 and d["gid"] == 65534 and d["mode"] == "0644"'
    [ -f "$SD/65534-mine.snap" ] || fail "no file 65534-mine.snap"
fi
# a deleted arena's file goes
run 0 cli rm other
CHECKS=$((CHECKS + 1))
wait_for test ! -e "$SD/0-other.snap" ||
    fail "the file of a deleted arena is still there"
stop_clean

# --- SIGKILL between saves: only what came after the last save is lost ---
start_sd --save 1:1 --log-level debug
run 0 cli set app title --string 'saved-before-the-crash'
wait_file "$SD/0-app.snap" 'saved-before-the-crash'
# hold the saver still: nothing after this is saved
kill -STOP "$(saver_pid)"
run 0 cli set app title --string 'lost-in-the-crash'
# a save is asked for and never answered: the broker serves on meanwhile
# (it waits for the saver in its epoll loop, never in a request)
save_pending() {
    [ "$(grep -c "saving arena 'app'" "$LOG")" -gt \
      "$(grep -c "arena 'app' (uid 0) saved to\|saving arena 'app' (uid 0) to .* failed" "$LOG")" ]
}
CHECKS=$((CHECKS + 1))
wait_for save_pending || fail "no save was asked for: $(tail -5 "$LOG")"
run 0 cli set app extra 1
run 0 cli create during-save
run 0 cli --json ls
json_ok 'sorted(a["name"] for a in d if a["uid"] == 0) == ["app", "during-save"]'
save_pending || fail "the save under way was answered while the saver was stopped"
kill_hard
file_has "$SD/0-app.snap" 'lost-in-the-crash' && fail "the change after the last save was saved"
start_sd --save 1:1
run 0 cli get app title
out_is saved-before-the-crash
run 1 cli get app extra
err_has "no root named 'extra'"
# made after the last save, so never saved: gone with the crash
run 1 cli --json stat during-save
[ -e "$SD/0-during-save.snap" ] && fail "an arena made after the last save has a file"
run 0 cli fsck app
out_has "consistent"

# --- a live arena beats its file: a client that holds it read-write across
# a broker crash brings it back, and the older file is not loaded ---------
run 0 cli set app lk 1
"$CLI_HELPER" "$SOCK" hold app lk >"$T/hold.out" 2>&1 &
H=$!
wait_for grep -q locked "$T/hold.out" || fail "the holder did not lock"
kill -STOP "$(saver_pid)"
run 0 cli set app title --string 'only-in-memory'
kill_hard
file_has "$SD/0-app.snap" 'only-in-memory' && fail "the change was saved after SIGSTOP"
start_sd --save 1:1
wait_log "arena 'app' (uid 0) was taken back live after the restart: $SD/0-app.snap is not loaded"
run 0 cli get app title
out_is only-in-memory
log_has "loaded from $SD/0-app.snap" && fail "the older file was loaded over the live arena"
kill -9 "$H"
wait "$H" 2>/dev/null
# ... and is saved again from the live arena
wait_file "$SD/0-app.snap" 'only-in-memory'
run 0 cli set app title --string 'saved-before-the-crash'
wait_file "$SD/0-app.snap" 'saved-before-the-crash'

# --- an unwritable directory: a clear error, the previous file kept ------
# (the saver drops every capability: mode bits bind it even as root)
# (a save may still be under way with the same contents: what must hold is
# that the file keeps the last saved value and never gets the new one)
run 0 cli set app before --string 'saved-before-chmod'
wait_file "$SD/0-app.snap" 'saved-before-chmod'
chmod 0500 "$SD"
run 0 cli set app title --string 'not-writable'
wait_log "saving arena 'app' (uid 0) to $SD/0-app.snap failed"
wait_log "create .0-app.snap.tmp: permission denied"
log_has "the previous snapshot is kept" || fail "the error does not say the previous snapshot is kept"
file_has "$SD/0-app.snap" 'saved-before-chmod' || fail "the previous file lost its contents"
file_has "$SD/0-app.snap" 'not-writable' && fail "a save into an unwritable directory changed the file"
ls -a "$SD" | grep -q '\.tmp$' && fail "a failed save left its temporary file: $(ls -a "$SD")"
chmod 0700 "$SD"
# once writable, the retry saves it
wait_file "$SD/0-app.snap" 'not-writable'
kill_hard

# --- a file over --save-max-bytes (a full disk): same -------------------
start_sd --save 1:1 --save-max-bytes 256K
run 0 cli get app title
out_is not-writable
run 0 cli set app small --string 'fits-in-the-limit'
wait_file "$SD/0-app.snap" 'fits-in-the-limit'
for i in 1 2 3; do
    run 0 cli set app "big$i" --string "BIG-VALUE-$i-$(head -c 90000 /dev/urandom | base64 -w0)"
done
wait_log "file too large"
log_has "the previous snapshot is kept" || fail "the full-disk error does not say the previous snapshot is kept"
file_has "$SD/0-app.snap" 'fits-in-the-limit' || fail "the previous file lost its contents"
file_has "$SD/0-app.snap" 'BIG-VALUE-3' && fail "a save over the limit changed the file"
ls -a "$SD" | grep -q '\.tmp$' && fail "a failed save left its temporary file: $(ls -a "$SD")"
stop_clean

# --- a corrupt file is set aside, the others are served -----------------
start_sd --save off
run 0 cli create second
run 0 cli set second v --string 'second-survives'
run 0 cli create third
run 0 cli set third v 3
run 0 cli create fourth
run 0 cli set fourth v 4
stop_clean
# a byte of app's image body, and third's record
size=$(stat -c %s "$SD/0-app.snap")
printf '\xff' | dd of="$SD/0-app.snap" bs=1 seek=$((size - 100)) conv=notrunc 2>/dev/null
printf 'X' | dd of="$SD/0-third.snap" bs=1 seek=20 conv=notrunc 2>/dev/null
# fourth's image says another arena format (an older release's), with a
# valid header checksum (after the 512-byte record: the version at 16, the
# header hash of bytes 0..119 at 120, as lib/src/snapshot.c makes them)
python3 - "$SD/0-fourth.snap" <<'PY'
import struct, sys
M = (1 << 64) - 1
with open(sys.argv[1], "r+b") as f:
    f.seek(512)
    h = bytearray(f.read(128))
    v = struct.unpack_from("<I", h, 16)[0]
    struct.pack_into("<I", h, 16, v - 1)
    x = 0x736861726e617631
    for i in range(0, 120, 8):
        x = ((x ^ struct.unpack_from("<Q", h, i)[0]) * 0x9e3779b97f4a7c15) & M
        x ^= x >> 31
    struct.pack_into("<Q", h, 120, x)
    f.seek(512)
    f.write(h)
PY
start_sd --save off
run 0 cli get second v
out_is second-survives
wait_log "arena 'app' (uid 0) not loaded from $SD/0-app.snap"
wait_log "set aside as 0-app.snap.corrupt"
log_has "0-third.snap: its record's checksum does not match; set aside as 0-third.snap.corrupt" ||
    fail "the damaged record was not reported: $(cat "$LOG")"
[ -f "$SD/0-app.snap.corrupt" ] || fail "app's file was not set aside"
[ -e "$SD/0-app.snap" ] && fail "app's corrupt file is still in place"
[ -f "$SD/0-third.snap.corrupt" ] || fail "third's file was not set aside"
wait_log "set aside as 0-fourth.snap.foreign"
log_has "image of arena format" || fail "the other format was not named: $(cat "$LOG")"
[ -f "$SD/0-fourth.snap.foreign" ] || fail "fourth's file was not set aside as foreign"
[ -e "$SD/0-fourth.snap" ] && fail "fourth's foreign file is still in place"
run 1 cli get app title
err_has "no such arena"
run 0 cli --json ls
json_ok 'sorted(a["name"] for a in d if a["uid"] == 0) == ["second"]'
# the name is free again, and a new arena of it is saved anew
run 0 cli create app
run 0 cli set app fresh --string 'a-new-app'
stop_clean
file_has "$SD/0-app.snap" 'a-new-app' || fail "the new arena of a set-aside name was not saved"
finish
