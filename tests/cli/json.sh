#!/bin/bash
# json.sh: `sharena dump` and `sharena load --json` round-trip every type
# (numbers with NaN, infinities and -0, booleans, strings, bytes, maps,
# maps whose keys look like tags, vectors, structs with their shapes):
# dump, load into a new name, dump again: identical. A malformed or invalid
# file, or a name that exists, is refused with a clear error, exit 1, and
# no arena is created (or changed).
. "$(dirname "$0")/lib.sh"
start_broker

run 0 cli create all
"$CLI_HELPER" "$SOCK" alltypes all || fail "alltypes"
run 0 cli set all cfg '{"a": 1.5, "none": null, "list": [1, "two", null, [3, {}], []], "uni": "h\u00e9llo \u2603 \ud83d\ude00", "nested": {"deep": {"k": false}}, "big": 1e300, "tiny": -5e-324}'
run 0 cli --json dump all
cp "$T/out" "$T/all.json"
json_ok 'd["numbers"][:5] == [{"$number": "NaN"}, {"$number": "0x7ff4000000000001"}, {"$number": "0xfff8000000000000"}, {"$number": "Infinity"}, {"$number": "-Infinity"}]'
json_ok 'd["tags"] == {"$map": {"": False, "$bytes": "not bytes", "$map": 1}}'
json_ok 'd["points"]["first"]["$struct"]["raw"] == {"$bytes": "AP8BYWI=", "$size": 5} and d["points"]["first"]["$shape"] == d["pointShape"]["$shape"]'
json_ok 'd["big"]["$size"] == 100000 and "$truncated" not in d["big"]'
json_ok 'd["cfg"]["none"] is None and d["cfg"]["list"][2] is None'

# one line (--json) and indented: both load back to the same arena
run 0 cli load --json "$T/all.json" copy --mode 0640
json_ok 'd == {"name": "copy", "capacity": 64 << 20, "roots": 7}'
run 0 cli --json dump copy
cmp -s "$T/out" "$T/all.json" || fail "dump of the JSON-loaded arena differs: $(diff <(tr , '\n' <"$T/all.json") <(tr , '\n' <"$T/out") | head -20)"
run 0 cli dump all
cp "$T/out" "$T/all.pretty"
run 0 cli --json load "$T/all.pretty" copy2
json_ok 'd["name"] == "copy2" and d["roots"] == 7'
run 0 cli dump copy2
cmp -s "$T/out" "$T/all.pretty" || fail "indented dump differs after a load"
# the same objects: structs of one definition share the shape root
run 0 cli --json stat all
objs=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["objects"])' "$T/out")
run 0 cli --json stat copy
json_ok "d['objects'] == $objs and d['mode'] in ('0640', 0o640, 416)"
run 0 cli fsck copy
out_has "copy: consistent"
# from stdin
run 0 cli load --json - viastdin <"$T/all.json"
run 0 cli --json dump viastdin
cmp -s "$T/out" "$T/all.json" || fail "dump of the arena loaded from stdin differs"

# null in a nullable struct field round-trips with its shape's flag
printf '%s' '{"p": {"$struct": {"x": null, "y": 2}, "$shape": [{"name": "x", "type": "number", "nullable": true}, {"name": "y", "type": "number"}]}}' >"$T/nul.json"
run 0 cli load --json "$T/nul.json" nul
run 0 cli --json dump nul
cp "$T/out" "$T/nul2.json"
json_ok 'd["p"]["$struct"] == {"x": None, "y": 2} and d["p"]["$shape"][0] == {"name": "x", "type": "number", "nullable": True}'
run 0 cli load --json "$T/nul2.json" nul2
run 0 cli --json dump nul2
cmp -s "$T/out" "$T/nul2.json" || fail "a nullable struct field's null did not round-trip"

# the name exists: refused, the existing arena is as it was
run 1 cli load --json "$T/all.json" copy
err_has "arena 'copy' exists"
err_has "nothing was loaded"
run 0 cli --json dump copy
cmp -s "$T/out" "$T/all.json" || fail "a refused load changed the existing arena"

# malformed and invalid files: exit 1, where and why, nothing created
# (each refused load has a name of its own; one `ls` at the end shows that
# none of them exists)
bad() { # NAME TEXT EXPECTED-MESSAGE
    printf '%s' "$2" >"$T/bad.json"
    run 1 cli load --json "$T/bad.json" "$1"
    err_has "$3"
    err_has "nothing was created"
}
head -c 3000 "$T/all.json" >"$T/trunc.json"
run 1 cli load --json "$T/trunc.json" b0
err_has "not valid JSON"
err_has "(line 1, column"
bad b1 '{"a": [1, 2,]}' 'not valid JSON'
bad b2 '[1, 2]' 'must be one JSON object of roots'
bad b3 '{"s": {"$struct": {"x": null}, "$shape": [{"name": "x", "type": "number"}]}}' 's/x: null for a field that is not nullable'
bad b3n '{"s": {"$shape": [{"name": "x", "type": "bytes", "size": 2, "nullable": true}]}}' 'a bytes field cannot be nullable'
bad b4 '{"a": {"$bytes": "AQID!", "$size": 4}}' 'a: "$bytes" is not base64'
bad b5 '{"a": {"$bytes": "AQID", "$size": 4}}' '"$size" does not match the 3 bytes'
bad b6 '{"a": {"$bytes": "AQI=", "$size": 2, "$truncated": true}}' 'cut short'
bad b7 '{"a": {"$wat": 1}}' 'unknown tag "$wat"'
bad b8 '{"a": {"x": 1, "x": 2}}' 'key "x" appears twice'
bad b9 '{"bad name": 1}' 'not a root name'
bad b10 '{"a": {"$number": "nan"}}' 'is not NaN, Infinity'
bad b11 '{"s": {"$struct": {"n": "text"}, "$shape": [{"name": "n", "type": "number"}]}}' 's/n: a number field needs a number'
bad b12 '{"s": {"$struct": {"b": {"$bytes": "AQI=", "$size": 2}}, "$shape": [{"name": "b", "type": "bytes", "size": 3}]}}' 's/b: 2 bytes for a field of 3'
bad b13 '{"s": {"$struct": {"z": 1}, "$shape": [{"name": "n", "type": "number"}]}}' 's/z: the shape has no such field'
bad b14 '{"s": {"$shape": [{"name": "n", "type": "map"}]}}' 'is not number, bool, string or bytes'
bad b15 '{"v": [1, {"$cycle": 12}]}' 'v/1: the dump marks a container that contains itself'
bad b16 '{"a": {"$error": "ECORRUPT"}}' 'could not read'
bad b17 '{"ok": 1, "later": [true, {"deep": {"$map": 5}}]}' 'later/1/deep: {"$map": {...}} takes one object'
# a dump with a cycle cannot come back
run 0 cli create typed
"$CLI_HELPER" "$SOCK" typed typed || fail "typed"
run 0 cli --json dump typed
cp "$T/out" "$T/typed.json"
run 1 cli load --json "$T/typed.json" b18
err_has 'loop/0/0: the dump marks a container that contains itself'
# too small for the data: the arena made is deleted again
python3 -c 'import json; print(json.dumps({"s%d" % i: "x" * 1000 for i in range(400)}))' >"$T/large.json"
run 1 cli load --json "$T/large.json" small --capacity 256K
err_has "give a larger --capacity"
err_has "nothing was created"
# a missing file; usage
run 1 cli load --json "$T/none.json" b19
err_has "No such file"
run 2 cli load "$T/all.json" b20 --capacity 1M
err_has "--capacity is for --json"
run 0 cli --json ls
json_ok 'not [a["name"] for a in d if a["name"] == "small" or a["name"][0] == "b" and a["name"][1:].isdigit()]'
json_ok 'sorted(a["name"] for a in d) == ["all", "copy", "copy2", "nul", "nul2", "typed", "viastdin"]'
finish
