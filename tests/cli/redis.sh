#!/bin/bash
# redis.sh: `sharena export --redis` and `sharena import --redis` against a
# real redis-server that this test starts on a Unix socket in its private
# directory (no TCP port). Round trip: export, delete the arena, import:
# the dump is identical. The mapping is the documented one (hashes, lists,
# strings, a $types hash); an export to a used prefix, of an arena with a
# cycle, and an import that fails half way (a bad value deep inside, a
# name taken, an arena too small) change nothing.
. "$(dirname "$0")/lib.sh"
if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
    [ "${CI:-}" = true ] && { echo "FAIL: redis-server/redis-cli missing in CI" >&2; exit 1; }
    echo "skip: redis-server not installed"
    exit 77
fi
RSOCK=$T/redis.sock
redis-server --port 0 --unixsocket "$RSOCK" --unixsocketperm 700 --dir "$T" \
    --save '' --appendonly no --daemonize no >"$T/redis.log" 2>&1 &
wait_for test -S "$RSOCK" || { cat "$T/redis.log" >&2; exit 1; }
URL=unix://$RSOCK
rcli() { redis-cli -s "$RSOCK" "$@"; }
start_broker

run 0 cli create all
"$CLI_HELPER" "$SOCK" alltypes all || fail "alltypes"
run 0 cli set all cfg '{"port": 8080, "hosts": ["a", "b"], "deep": [1, {"x/y": {"\\": true}}, {}, []], "uni": "h\u00e9llo", "none": null, "opt": [null, 2]}'
run 0 cli --json dump all
cp "$T/out" "$T/all.json"

run 0 cli export all --redis "$URL"
out_has "exported arena 'all'"
# the mapping, as a Redis client sees it
[ "$(rcli HGET sharena:all:cfg port)" = 8080 ] || fail "cfg/port is not the string 8080"
[ "$(rcli HGET sharena:all cfg)" = sharena:all:cfg ] || fail "a root map is not named by its key"
[ "$(rcli TYPE sharena:all:cfg)" = hash ] || fail "a map is not a hash"
[ "$(rcli LRANGE sharena:all:cfg/hosts 0 -1 | paste -sd,)" = a,b ] || fail "a vector is not a list"
[ "$(rcli HGET 'sharena:all:$types' cfg/port)" = number ] || fail "no type for a number"
[ "$(rcli HGET sharena:all:cfg/deep/1/x\\/y '\')" = true ] || fail "escaped path"
[ "$(rcli HGET 'sharena:all:$types' points/first | cut -c1-7)" = "struct " ] || fail "no shape for a struct"
[ "$(rcli HGET sharena:all:tags '$bytes')" = "not bytes" ] || fail "a map with \$ keys"
[ "$(rcli HSTRLEN sharena:all big)" = 100000 ] || fail "bytes are not raw"
rcli EXISTS sharena:all:cfg/deep/2 | grep -qx 0 || fail "an empty map has a key"

# round trip: delete the arena, import, same dump
run 0 cli rm all
run 0 cli import --redis "$URL" --prefix sharena:all all --mode 0640
out_has "into new arena 'all'"
run 0 cli --json dump all
cmp -s "$T/out" "$T/all.json" || fail "dump after export/import differs: $(diff <(tr , '\n' <"$T/all.json") <(tr , '\n' <"$T/out") | head)"
run 0 cli fsck all
out_has "all: consistent"

# null: a map value, a vector item, and a nullable struct field holding
# null (no hash field; the shape says it is nullable)
[ "$(rcli HGET 'sharena:all:$types' cfg/none)" = null ] || fail "no type for a null"
printf '%s' '{"p": {"$struct": {"x": null, "y": 2}, "$shape": [{"name": "x", "type": "number", "nullable": true}, {"name": "y", "type": "number"}]}}' >"$T/nul.json"
run 0 cli load --json "$T/nul.json" nul
run 0 cli --json dump nul
cp "$T/out" "$T/nul.out"
run 0 cli export nul --redis "$URL"
rcli HEXISTS sharena:nul:p x | grep -qx 0 || fail "a null struct field has a hash field"
run 0 cli rm nul
run 0 cli import --redis "$URL" --prefix sharena:nul nul
run 0 cli --json dump nul
cmp -s "$T/out" "$T/nul.out" || fail "a nullable struct field's null did not come back: $(cat "$T/out")"

# an empty arena goes and comes back too (Redis keeps no empty hash)
run 0 cli create empty
run 0 cli export empty --redis "$URL"
run 0 cli rm empty
run 0 cli import --redis "$URL" --prefix sharena:empty empty
run 0 cli --json dump empty
out_is "{}"

no_arena() {
    run 0 cli --json ls
    json_ok "all(a['name'] != '$1' for a in d)"
}
# the name is taken: nothing changes
run 1 cli import --redis "$URL" --prefix sharena:all all
err_has "arena 'all' exists"
err_has "nothing was loaded"
# no export there
run 1 cli import --redis "$URL" --prefix nothing:here b1
err_has "no sharena export there"
no_arena b1
# the prefix is in use: refused, Redis unchanged
keys=$(rcli DBSIZE)
run 1 cli export all --redis "$URL"
err_has "already holds keys under prefix 'sharena:all'"
[ "$(rcli DBSIZE)" = "$keys" ] || fail "a refused export changed Redis"
# a cycle cannot go: refused before Redis is touched
run 0 cli create typed
"$CLI_HELPER" "$SOCK" typed typed || fail "typed"
run 1 cli export typed --redis "$URL"
err_has "contains itself"
[ "$(rcli DBSIZE)" = "$keys" ] || fail "a refused export wrote to Redis"
# a bad value deep inside: the import fails half way and creates nothing
rcli RENAME sharena:all:cfg/hosts sharena:all:cfg/hosts.x >/dev/null
rcli HSET sharena:all:cfg/hosts 0 a >/dev/null
run 1 cli import --redis "$URL" --prefix sharena:all b2
err_has "cfg/hosts: WRONGTYPE"
err_has "nothing was created"
no_arena b2
rcli DEL sharena:all:cfg/hosts >/dev/null
rcli RENAME sharena:all:cfg/hosts.x sharena:all:cfg/hosts >/dev/null
rcli HSET 'sharena:all:$types' points/more/0 'struct [{"name": "x", "type": "number"}]' >/dev/null
rcli HSET sharena:all:points/more/0 x notanumber >/dev/null
run 1 cli import --redis "$URL" --prefix sharena:all b3
err_has "points/more/0/x: not a number"
no_arena b3
# too small: the arena is made, fails to fill, and is deleted again
for i in 1 2 3 4; do
    run 0 cli set all "huge$i" "$(python3 -c 'import json; print(json.dumps(["x" * 1000] * 100))')"
done
run 0 cli export all --redis "$URL" --prefix big
run 1 cli import --redis "$URL" --prefix big b4 --capacity 256K
err_has "give a larger --capacity"
no_arena b4
# an export nested deeper than JSON allows: refused, no crash
python3 -c '
print("HSET deep:$types $format \"sharena 1\"")
print("HSET deep a deep:a")
for i in range(1, 601):
    p = "/".join(["a"] * i)
    print("HSET deep:$types %s map" % p)
    print("HSET deep:%s a deep:%s/a" % (p, p))
' | rcli >/dev/null
run 1 cli import --redis "$URL" --prefix deep b6
err_has "nested deeper than 500 levels"
no_arena b6
# usage
run 2 cli export all
run 2 cli import --redis "$URL" b5
run 2 cli export all --redis "http://x"
run 1 cli export all --redis "unix://$T/none.sock" --prefix p
err_has "cannot connect to Redis"
finish
