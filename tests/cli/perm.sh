#!/bin/bash
# perm.sh: what another user may do, decided by each arena's mode (needs
# root to run the CLI as nobody; skipped otherwise). nobody names root's
# arenas root:NAME: a plain name would be its own (names.sh).
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || { echo "skipped: needs root"; exit 77; }
as_nobody() {
    setpriv --reuid=65534 --regid=65534 --clear-groups \
        "$SHARENA_CLI" --socket "$SOCK" "$@"
}
as_nobody --version >/dev/null 2>&1 ||
    { echo "skipped: nobody cannot run $SHARENA_CLI"; exit 77; }
start_broker
run 0 cli create secret --mode 0600
run 0 cli set secret x 1
run 0 cli create shared --mode 0644
run 0 cli set shared x 2
run 0 cli create open --mode 0666

run 1 as_nobody get root:secret x
err_has "root:secret: permission denied"
run 1 as_nobody dump root:secret
err_has "permission denied"
run 1 as_nobody set root:secret x 5
err_has "permission denied"
run 1 as_nobody fsck root:secret
run 0 as_nobody get root:shared x
out_is "2"
run 0 as_nobody --json dump root:shared
json_ok 'd == {"x": 2}'
run 1 as_nobody set root:shared x 3
err_has "root:shared: permission denied (read-only access"
run 1 as_nobody rm root:shared
err_has "permission denied"
run 1 as_nobody rm root:shared x
run 0 as_nobody fsck root:shared # read-only check
out_has "checked read-only"
run 1 as_nobody fsck root:shared --repair
err_has "permission denied"
run 0 as_nobody --json locks root:shared
json_ok 'd == []'
run 0 as_nobody set root:open y '"from nobody"'
run 0 cli get open y
out_is "from nobody"
run 0 cli get shared x # nothing changed
out_is "2"
# nor may another user stop the broker
run 1 as_nobody broker stop
run 0 cli ls
finish
