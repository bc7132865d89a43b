#!/bin/bash
# save.sh: `sharena save` and `sharena load`: a round trip gives an arena
# whose dump is the original's; a truncated, damaged or foreign file is
# refused with a clear message, exit 1, and no arena is left behind.
. "$(dirname "$0")/lib.sh"
start_broker
run 0 cli create app --capacity 64M
run 0 cli set app cfg '{"a": 1.5, "on": true, "list": [1, "two", [3]], "name": "x", "nested": {"deep": {"k": false}}}'
run 0 cli set app title --string 'héllo wörld'
run 0 cli dump app
cp "$T/out" "$T/dump.app"

run 0 cli save app "$T/app.img"
out_has "saved arena 'app' to $T/app.img"
# sparse: 64 MiB of capacity, far less on disk
size=$(stat -c %s "$T/app.img")
[ "$size" -lt 1048576 ] || fail "image of $size bytes for a nearly empty arena"
run 0 cli --json save app "$T/app.img"
json_ok 'd["arena"] == "app" and d["image_bytes"] > 0 and d["barrier_ns"] >= 0'

run 0 cli load "$T/app.img" copy --mode 0640
out_has "loaded $T/app.img into new arena 'copy'"
run 0 cli dump copy
cmp -s "$T/out" "$T/dump.app" || fail "dump of the loaded arena differs: $(diff "$T/dump.app" "$T/out")"
run 0 cli --json stat copy
json_ok 'd["mode"] == "0640" or d["mode"] == 0o640 or d["mode"] == 416'
run 0 cli fsck copy
out_has "copy: consistent"
# the copy is its own arena
run 0 cli set copy cfg/a 7
run 0 cli get app cfg/a
out_is "1.5"

# the name is taken
run 1 cli load "$T/app.img" copy
err_has "exists"

no_arena() {
    run 0 cli --json ls
    json_ok "all(a['name'] != 'bad' for a in d)"
}

# truncated
head -c 5000 "$T/app.img" >"$T/trunc.img"
run 1 cli load "$T/trunc.img" bad
err_has "truncated"
no_arena
# a bit flipped in the body
cp "$T/app.img" "$T/flip.img"
printf '\xff' | dd of="$T/flip.img" bs=1 seek=9000 conv=notrunc 2>/dev/null
run 1 cli load "$T/flip.img" bad
err_has "checksum"
no_arena
# not an image
echo '{"json": "is not an image"}' >"$T/junk.img"
run 1 cli load "$T/junk.img" bad
err_has "not a sharena image"
no_arena
# a missing file
run 1 cli load "$T/none.img" bad
err_has "No such file"
no_arena
# usage
run 2 cli save app
run 2 cli load "$T/app.img"
finish
