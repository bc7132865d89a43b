#!/bin/bash
# basic.sh: every arena and data command, happy paths, errors, exit codes,
# and --json output read back by Python's json module.
. "$(dirname "$0")/lib.sh"

# ---- no broker, usage errors ------------------------------------------------
run 1 cli ls
err_has "no broker is listening on $SOCK"
run 2 "$SHARENA_CLI"
run 0 "$SHARENA_CLI" --help
out_has "sharena watch ARENA [PATH]"
run 2 cli frobnicate
err_has "unknown command 'frobnicate'"
run 0 cli get --help
out_has "usage: sharena"
run 0 cli help set
out_has "--string"
run 2 cli --timeout x ls
run 2 cli get app
run 2 cli ls extra
run 2 cli fsck app --bogus
err_has "unknown option '--bogus'"

start_broker

# ---- ls, create, stat ---------------------------------------------------------
run 0 cli ls
out_is "no arenas"
run 0 cli --json ls
json_ok 'd == []'
run 2 cli create 'bad name!'
err_has "not a valid arena name"
run 2 cli create app --capacity 12Q
# sizes: digits and a unit only (strtoull alone took "-1" as 2^64 - 1)
for bad in -1 " 1M" "+1M" "1.5G" "" "16777216T" "1MiBB"; do
    run 2 cli create app --capacity "$bad"
done
run 2 cli create app --mode 0999
run 0 cli create app --capacity 1M --mode 0640
run 1 cli create app
err_has "already exists"
run 0 cli create other
run 0 cli ls
out_has "app"
out_has "0640"
run 0 cli --json ls
json_ok '[a["name"] for a in d] == ["app", "other"]'
json_ok 'd[0]["capacity"] == 1048576 and d[0]["mode"] == "0640" and d[1]["mode"] == "0600"'
run 0 cli stat app
out_has "mode:      0640"
run 0 cli stat app --json
json_ok 'd["name"] == "app" and d["capacity"] == 1048576 and d["readable"] and d["roots"] == []'
run 1 cli stat nope
err_has "no arena named 'nope'"

# ---- set and get: scalars -------------------------------------------------------
run 0 cli set app counter 200
run 0 cli get app counter
out_is "200"
run 0 cli set app counter -5
run 0 cli get app counter
out_is "-5"
run 0 cli set app ratio 0.1
run 0 cli get app ratio
out_is "0.1"
run 0 cli set app big 1e300
run 0 cli get app big --json
json_ok 'd == 1e300'
run 2 cli set app title hello world   # three positional args only: error
run 0 cli set app title 'hello world'
run 0 cli get app title
out_is "hello world"
run 0 cli set app word plainword
run 0 cli get app word --json
json_ok 'd == "plainword"'
run 0 cli set app version 1.2.3
run 0 cli get app version
out_is "1.2.3"
run 0 cli set app quoted '"42"'
run 0 cli --json get app quoted
json_ok 'd == "42"'
run 0 cli set app flag true
run 0 cli get app flag
out_is "true"
run 0 cli set app raw --string '{"not": json'
run 0 cli get app raw
out_is '{"not": json'
run 0 cli set app uni '"h\u00e9llo \u2603 \ud83d\ude00"'
run 0 cli get app uni
out_is "héllo ☃ 😀"
run 0 cli --json set app flag false
json_ok 'd == {"ok": True}'

# ---- bad values --------------------------------------------------------------------
run 2 cli set app x '{"a":'
err_has "not valid JSON"
run 2 cli set app x '[1, 2'
run 2 cli set app x '"\ud800"'
run 2 cli set app x 1e400
err_has "number out of range"
run 2 cli set app x "$(python3 -c 'print("[" * 600 + "]" * 600)')"
err_has "nesting deeper"
run 1 cli get app x
err_has "no root named 'x'"

# ---- null is a value -------------------------------------------------------------------
run 0 cli set app nul null
run 0 cli get app nul
out_is "null"
run 0 cli set app withnull '{"a": [1, null], "b": null}'
run 0 cli --json get app withnull
json_ok 'd == {"a": [1, None], "b": None}'
run 0 cli get app withnull/b
out_is "null"
run 0 cli set app withnull/b 2 # a null is replaced by a value
run 0 cli --json dump app
json_ok 'd["nul"] is None and d["withnull"] == {"a": [1, None], "b": 2}'
run 0 cli set app withnull/b null
run 0 cli --json get app withnull
json_ok 'd == {"a": [1, None], "b": None}'
run 0 cli rm app withnull
run 0 cli rm app nul

# ---- a full arena: the set fails and leaves nothing behind --------------------------
run 0 cli create small --capacity 256K
strings() { python3 -c 'import json,sys; print(json.dumps(["x" * 1000] * int(sys.argv[1])))' "$1"; }
run 0 cli set small a "$(strings 100)"
run 0 cli set small b "$(strings 100)"
run 0 cli --json stat small
json_ok 'd["objects"] == 203'
run 0 cli --json stat small
used=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["used_bytes"])' "$T/out")
run 1 cli set small c "$(strings 100)"
err_has "arena is full (EFULL)"
run 0 cli --json stat small
json_ok 'd["objects"] == 203'
json_ok "d['used_bytes'] == $used"
# replacing an element of a with a tree that does not fit: a stays as it was
run 1 cli set small a/0 "{\"k\": $(strings 100), \"n\": 1}"
err_has "arena is full (EFULL)"
run 0 cli --json stat small
json_ok 'd["objects"] == 203'
json_ok "d['used_bytes'] == $used"
run 0 cli --json get small a/0
json_ok 'd == "x" * 1000'
run 1 cli get small c
run 0 cli fsck small
run 0 cli rm small

# ---- nested values, paths ----------------------------------------------------------
run 0 cli set app config '{"servers": [{"host": "a", "port": 80}, {"host": "b", "port": 81}], "name": "prod", "limits": {"cpu": 2.5, "on": true}, "empty": {}, "none": []}'
run 0 cli get app config/servers/1/host
out_is "b"
run 0 cli get app config/servers/-1/port
out_is "81"
run 0 cli get app /config/limits/cpu
out_is "2.5"
run 0 cli --json get app config/servers
json_ok 'd == [{"host": "a", "port": 80}, {"host": "b", "port": 81}]'
run 0 cli get app config/limits          # containers print as JSON
json_ok 'd == {"cpu": 2.5, "on": True}'
run 1 cli get app nope
err_has "no root named 'nope'"
run 1 cli get app config/nope
err_has "no key 'nope' in config"
run 1 cli get app config/servers/5
err_has "out of range"
run 1 cli get app config/servers/-3
run 1 cli get app config/servers/x
err_has "not a number"
run 1 cli get app counter/x
err_has "holds no keys or indices"
run 2 cli get app config//servers
err_has "empty component"
run 2 cli get app 'bad root!'
err_has "not a valid root name"

# keys with '/' and '\' are escaped in paths
run 0 cli set app 'paths/a\/b' 1
run 0 cli set app 'paths/c\\d' 2
run 0 cli --json get app paths
json_ok 'd == {"a/b": 1, "c\\d": 2}'
run 0 cli get app 'paths/a\/b'
out_is "1"

# set creates missing maps, appends to vectors, replaces across types
run 0 cli set app deep/a/b/c 7
run 0 cli --json get app deep
json_ok 'd == {"a": {"b": {"c": 7}}}'
run 0 cli set app config/servers/2 '{"host": "c"}'
run 0 cli get app config/servers/2/host
out_is "c"
run 1 cli set app config/servers/9 1
err_has "out of range"
run 1 cli set app config/servers/9/x 1
run 1 cli set app counter/x 1
err_has "holds no keys or indices"
run 0 cli set app counter '{"now": "a map"}'
run 0 cli --json get app counter
json_ok 'd == {"now": "a map"}'
run 0 cli set app counter 3
run 0 cli get app counter
out_is "3"
run 0 cli set app config/servers/0 '"just a string"'
run 0 cli get app config/servers/0
out_is "just a string"

# ---- rm of paths ---------------------------------------------------------------------
run 0 cli rm app config/servers/0
run 0 cli --json get app config/servers
json_ok 'd == [{"host": "b", "port": 81}, {"host": "c"}]'
run 0 cli rm app config/name
run 1 cli rm app config/name
err_has "no key 'name'"
run 0 cli rm app paths
run 1 cli get app paths
run 1 cli rm app config/servers/7

run 0 cli --json stat app
json_ok '[r["name"] for r in d["roots"]][:3] == ["big", "config", "counter"] and d["roots"][1]["type"] == "map"'

# ---- dump ---------------------------------------------------------------------------
run 0 cli dump app
json_ok 'd["config"]["limits"] == {"cpu": 2.5, "on": True} and d["deep"]["a"]["b"]["c"] == 7'
run 0 cli --json dump app
json_ok 'd == {"big": 1e300, "config": {"empty": {}, "limits": {"cpu": 2.5, "on": True}, "none": [], "servers": [{"host": "b", "port": 81}, {"host": "c"}]}, "counter": 3, "deep": {"a": {"b": {"c": 7}}}, "flag": False, "quoted": "42", "ratio": 0.1, "raw": "{\"not\": json", "title": "hello world", "uni": "h\u00e9llo \u2603 \U0001F600", "version": "1.2.3", "word": "plainword"}'
[ "$(wc -l <"$T/out")" = 1 ] || fail "dump --json is not one line"
run 0 cli dump other
out_is "{}"

# a closed pipe ends the command quietly, never with SIGPIPE's status
for i in $(seq 1 300); do echo "\"item $i with some padding to make it long\""; done |
    paste -sd, | sed 's/^/[/; s/$/]/' >"$T/long.json"
run 0 cli set app long "$(cat "$T/long.json")"
cli dump app | head -c 10 >/dev/null
rc=${PIPESTATUS[0]}
[ "$rc" -lt 128 ] || fail "dump into a closed pipe ended with status $rc"

# ---- structs, bytes, shapes, cycles (made by a C client) -----------------------------
run 0 cli create typed
"$CLI_HELPER" "$SOCK" typed typed || fail "typed"
run 0 cli --json dump typed
json_ok 'd["st"]["$struct"] == {"count": 7, "on": False, "label": "lbl", "blob": {"$bytes": "AQIDBA==", "$size": 4}, "maybe": None} and d["st"]["$shape"] == d["shape"]["$shape"]'
json_ok 'd["blob"] == {"$bytes": "aGVsbG8=", "$size": 5}'
json_ok 'd["loop"] == [[{"$cycle": d["loop"][0][0]["$cycle"]}]] and d["loop"][0][0]["$cycle"] > 0'
err_has 'container(s) reach themselves'
json_ok '[f["name"] for f in d["shape"]["$shape"]] == ["count", "on", "label", "blob", "maybe"] and d["shape"]["$shape"][3] == {"name": "blob", "type": "bytes", "size": 4}'
json_ok 'd["shape"]["$shape"][4] == {"name": "maybe", "type": "number", "nullable": True}'
run 0 cli get typed st/count
out_is "7"
run 0 cli get typed st/label
out_is "lbl"
run 0 cli get typed blob # bytes come out raw
out_is "hello"
run 0 cli --json get typed st/blob
json_ok 'd == {"$bytes": "AQIDBA==", "$size": 4}'
run 0 cli set typed st/count 8.5
run 0 cli set typed st/on true
run 0 cli set typed st/label '"new label"'
run 0 cli --json get typed st
json_ok 'd["count"] == 8.5 and d["on"] is True and d["label"] == "new label"'
run 1 cli set typed st/count '"text"'
err_has "holds a number"
run 1 cli set typed st/blob 1
# null: only into a nullable field; elsewhere refused, and nothing changes
run 0 cli get typed st/maybe
out_is "null"
run 0 cli set typed st/maybe 3
run 0 cli get typed st/maybe
out_is "3"
run 0 cli set typed st/maybe null
run 0 cli --json get typed st/maybe
json_ok 'd is None'
run 1 cli set typed st/count null
err_has "not nullable"
run 0 cli get typed st/count
out_is "8.5"
run 1 cli get typed st/nope
run 1 cli set typed st/nope 1
run 1 cli rm typed st/count
err_has "struct fields cannot be removed"
run 0 cli fsck typed

# ---- unknown arena for every command -------------------------------------------------
for c in "get nope x" "set nope x 1" "dump nope" "fsck nope" "locks nope" \
    "watch nope" "rm nope x"; do
    run 1 cli $c
    err_has "no arena named 'nope'"
done

# ---- values stored in map entries ------------------------------------------------------
# numbers, booleans, null and strings of up to 16 bytes live in the map's
# entry: set, get, dump and watch read them there (the CLI opens read-only
# for reads) and make no objects
run 0 cli set app inl '{"n": 1.5, "b": true, "z": null, "s": "sixteen bytes!!!"}'
run 0 cli --json stat app
objs=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["objects"])' "$T/out")
run 0 cli get app inl/n
out_is "1.5"
run 0 cli get app inl/s
out_is "sixteen bytes!!!"
run 0 cli --json get app inl/z
out_is "null"
run 0 cli set app inl/n 2
run 0 cli set app inl/s "now a string of more than sixteen bytes"
run 0 cli set app inl/s '"short"'
run 0 cli --json dump app
json_ok 'd["inl"] == {"n": 2, "b": True, "z": None, "s": "short"}'
run 0 cli --json stat app
# one object more: the long string's (setting "short" over it updated that
# object in place, so whoever holds its id sees the change)
json_ok 'd["objects"] == '"$objs"' + 1'
run 0 cli fsck app
run 0 cli rm app inl

# ---- rm of an arena ------------------------------------------------------------------
run 0 cli rm other
run 1 cli rm other
err_has "no arena named 'other'"
run 1 cli get other x
run 0 cli --json ls
json_ok '[a["name"] for a in d] == ["app", "typed"]'

finish
