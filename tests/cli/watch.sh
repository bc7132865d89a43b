#!/bin/bash
# watch.sh: `sharena watch` prints every change in order, one flushed line
# each (stdout is a file here), follows its path when the object there is
# replaced, and ends with status 0 on SIGINT and SIGTERM.
. "$(dirname "$0")/lib.sh"
start_broker
run 0 cli create app

# last_line_is FILE TEXT
last_line_is() {
    [ "$(tail -n 1 "$1" 2>/dev/null)" = "$2" ]
}

# ---- 100 changes in lockstep: each one must show up before the next ------------
run 0 cli set app n 0
"${CLI[@]}" watch app n >"$T/w.out" 2>"$T/w.err" &
W=$!
wait_for last_line_is "$T/w.out" 0 || fail "watch did not print the initial value"
for i in $(seq 1 100); do
    cli set app n "$i" || fail "set $i"
    wait_for last_line_is "$T/w.out" "$i" || { fail "change $i not seen"; break; }
done
seq 0 100 | cmp -s - "$T/w.out" || fail "watch lines are not exactly 0..100 in order"

# ---- it follows the path: replaced object, removed and re-created root ------------
cli set app n '{"a": 1}'
wait_for last_line_is "$T/w.out" '{"a":1}' || fail "replacement by a map not followed"
cli set app n/a 2
wait_for last_line_is "$T/w.out" '{"a":2}' || fail "change inside the new map not seen"
cli rm app n
wait_for grep -q "waiting for it to appear" "$T/w.err" || fail "removal not reported"
cli set app n '"back"'
wait_for last_line_is "$T/w.out" 'back' || fail "re-created root not followed"
cli set app n --string $'two\nlines'
wait_for last_line_is "$T/w.out" '"two\nlines"' || fail "a multi-line string is not one line"

kill -INT $W
wait $W
rc=$?
[ "$rc" = 0 ] || fail "watch ended with $rc after SIGINT, expected 0"

# ---- a writer faster than the watcher: values in order, the last one seen --------
run 0 cli set app fast 0
"${CLI[@]}" watch app fast >"$T/f.out" 2>"$T/f.err" &
W=$!
wait_for last_line_is "$T/f.out" 0 || fail "fast: no initial value"
"$CLI_HELPER" "$SOCK" writes app fast 1 2000 || fail "writer failed"
wait_for last_line_is "$T/f.out" 2000 || fail "fast: final value 2000 not seen"
python3 -c '
import sys
v = [int(l) for l in open(sys.argv[1])]
assert v == sorted(v) and len(set(v)) == len(v), "out of order or repeated"
assert v[0] == 0 and v[-1] == 2000
' "$T/f.out" || fail "fast: lines not strictly increasing 0..2000"
kill -TERM $W
wait $W
rc=$?
[ "$rc" = 0 ] || fail "watch ended with $rc after SIGTERM, expected 0"

# ---- --json: one JSON document per line; a nested change in a watched map ---------
run 0 cli set app cfg '{"servers": ["a"], "port": 80}'
"${CLI[@]}" --json watch app cfg >"$T/j.out" 2>"$T/j.err" &
W=$!
wait_for test -s "$T/j.out" || fail "json: no initial value"
cli set app cfg/port 81
cli set app cfg/servers/1 '"b"'
cli set app cfg/servers/0 '{"host": "x"}'
want='{"port":81,"servers":[{"host":"x"},"b"]}'
wait_for last_line_is "$T/j.out" "$want" || fail "json: final state not seen"
python3 -c '
import json, sys
docs = [json.loads(l) for l in open(sys.argv[1])]
assert docs[0] == {"servers": ["a"], "port": 80}, docs[0]
assert docs[-1] == {"port": 81, "servers": [{"host": "x"}, "b"]}, docs[-1]
' "$T/j.out" || fail "json: lines are not the expected JSON documents"
kill -TERM $W
wait $W || fail "json watch did not end with 0"

# ---- whole-arena watch, errors ---------------------------------------------
"${CLI[@]}" --json watch app >"$T/a.out" 2>"$T/a.err" &
W=$!
wait_for test -s "$T/a.out" || fail "arena watch: nothing printed"
cli set app added 1
wait_for grep -q '"added":1' "$T/a.out" || fail "arena watch: change not seen"
python3 -c '
import json, sys
for l in open(sys.argv[1]):
    json.loads(l)
' "$T/a.out" || fail "arena watch: a line is not JSON"
kill -INT $W
wait $W || fail "arena watch did not end with 0"

run 1 cli watch nope
err_has "no arena named 'nope'"
run 2 cli watch app 'a//b'
# a path under a scalar is an error at once (not a wait)
run 0 cli set app scalar 1
run 1 cli watch app scalar/x
err_has "holds no keys or indices"

finish
