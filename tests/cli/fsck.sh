#!/bin/bash
# fsck.sh: `sharena locks` and `sharena fsck` with dead lock holders (a
# broker client killed with SIGKILL, and a process without a broker slot
# that nobody recovers), a damaged counter, and random scribbles: problems
# are reported with exit 1, --repair restores a usable arena, and every
# command answers within its timeout with a status below 128.
. "$(dirname "$0")/lib.sh"
start_broker
run 0 cli create app --capacity 4M
run 0 cli set app cfg '{"a": 1, "list": [1, 2, 3], "name": "x"}'

run 0 cli fsck app
out_has "app: consistent"
run 0 cli --json fsck app
# (the roots, the map and the vector at least: the numbers in the vector's
# items are no objects)
json_ok 'd["ok"] and d["errors"] == 0 and d["problems"] == [] and d["objects"] >= 3'
run 0 cli --json locks app
json_ok 'd == []'
run 0 cli locks app
out_is "no locks held"

# ---- a broker client dies holding a lock ------------------------------------------
"$CLI_HELPER" "$SOCK" hold app cfg >"$T/hold.out" 2>&1 &
H=$!
wait_for grep -q locked "$T/hold.out" || fail "holder did not lock"
run 0 cli --json locks app
# the broker names the slot's process (CLIENTS)
json_ok "len(d) == 1 and d[0]['path'] == 'cfg' and d[0]['type'] == 'map' and d[0]['slot'] and d[0]['pid'] == $H and d[0]['command'] == 'cli_helper' and d[0]['alive'] and not d[0]['died']"
# for how long: the broker's lock clock ticks each second; after 2.5 s the
# hold shows at least 2 s (the stamp is never later than the lock)
sleep 2.5
run 0 cli --json locks app
json_ok "d[0]['held_exact'] and 2 <= d[0]['held_s'] < 600"
run 0 cli locks app
out_has "cfg (#"
out_has "pid $H (cli_helper)"
out_has "HELD"
kill -9 $H
wait $H 2>/dev/null
# the broker notices the closed connection and marks the lock owner-died
# (or recovers it at once): no live holder remains
no_live_lock() {
    cli --json locks app >"$T/l.json" 2>/dev/null &&
        python3 -c 'import json,sys; sys.exit(any(not l["died"] for l in json.load(open(sys.argv[1]))))' "$T/l.json"
}
wait_for no_live_lock || fail "the dead client's lock still looks live"
run 0 cli fsck app
out_has "app: consistent"
run 0 cli set app cfg/a 2 # the lock is usable again
run 0 cli get app cfg/a
out_is "2"
run 0 cli --json locks app
json_ok 'd == []'

# ---- a process without a broker slot dies holding a lock ---------------------------
# (a forked child maps the arena from its fd and locks as LOCAL|pid; the
# helper's parent reaps it, so the pid is really gone)
"$CLI_HELPER" "$SOCK" hold-local app cfg >"$T/local.out" 2>&1 &
H=$!
wait_for grep -q locked "$T/local.out" || fail "local holder did not lock"
LPID=$(awk '/locked/ {print $2}' "$T/local.out")
run 0 cli --json locks app
json_ok "len(d) == 1 and d[0]['pid'] == $LPID and d[0]['slot'] is None and d[0]['alive'] and d[0]['command'] == 'cli_helper' and d[0]['held_s'] is not None"
kill -9 "$LPID"
wait $H 2>/dev/null
run 0 cli --json locks app
json_ok "len(d) == 1 and d[0]['pid'] == $LPID and not d[0]['alive']"
run 0 cli locks app
out_has "gone"
run 0 cli --json fsck app # recovers it the way the next locker would
json_ok 'd["ok"] and d["recovered"] == 1 and d["errors"] == 0'
run 0 cli --json locks app
json_ok 'd == []'
run 0 cli set app cfg/a 3
run 0 cli get app cfg/a
out_is "3"

# ---- a damaged counter: found, repaired ---------------------------------------------
"$CLI_HELPER" "$SOCK" bad-used app || fail "bad-used"
run 1 cli fsck app
out_has "bytes used"
out_has "problem"
err_has "--repair"
run 1 cli --json fsck app
json_ok 'not d["ok"] and d["errors"] >= 1 and any("bytes used" in p for p in d["problems"])'
run 0 cli fsck app --repair
out_has "repaired"
run 0 cli fsck app
out_has "app: consistent"
run 2 cli fsck app --break-locks

# ---- random scribbles: bounded answers, repair restores a usable arena -----------------
# (fixed seeds: the same damage on every run of one build)
populate() {
    local i
    for i in 1 2 3 4; do
        cli set "$1" "r$i" '{"name": "root '$i'", "list": [1, 2, "three", {"x": [4, 5]}], "flag": true, "text": "some text to take room in the heap"}' || return 1
    done
    cli set "$1" vec '["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k"]'
}
any_answer() { # ARGS...: sharena ARGS exits 0 or 1, by itself, in time
    CHECKS=$((CHECKS + 1))
    timeout 30 "${CLI[@]}" "$@" >"$T/out" 2>"$T/err"
    local rc=$?
    if [ "$rc" -gt 1 ]; then
        fail "'$*' exited $rc"
        head -c 600 "$T/err" >&2
    fi
    if grep -q "Sanitizer\|runtime error:" "$T/err"; then
        fail "'$*': sanitizer report"
        head -40 "$T/err" >&2
    fi
    if grep -q "no answer within" "$T/err"; then
        fail "'$*' needed its watchdog"
    fi
    if [ -s "$T/out" ] && [[ " $* " == *" --json "* ]]; then
        python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$T/out" ||
            fail "'$*' printed invalid JSON"
    fi
    return 0
}
for seed in 1 2 3; do
    a=scrib$seed
    run 0 cli create $a --capacity 1M
    populate $a || fail "populate $a"
    "$CLI_HELPER" "$SOCK" scribble $a $seed 3000 || fail "scribble $a"
    any_answer --timeout 10 --json dump $a
    any_answer --timeout 10 get $a r1/list/3/x
    any_answer --timeout 10 --json locks $a
    any_answer --timeout 10 --json stat $a
    run 1 cli --timeout 10 fsck $a
    run 1 cli --timeout 10 --json fsck $a
    json_ok 'not d["ok"] and d["errors"] >= 1 and len(d["problems"]) >= 1'
    run 0 cli --timeout 10 fsck $a --repair --break-locks
    run 0 cli --timeout 10 fsck $a
    out_has "$a: consistent"
    any_answer --timeout 10 --json dump $a
    run 0 cli set $a fresh '{"v": [42]}'
    run 0 cli get $a fresh/v/0
    out_is "42"
    run 0 cli fsck $a
done

finish
