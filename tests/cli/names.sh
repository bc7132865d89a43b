#!/bin/bash
# names.sh: names on a shared broker, through the CLI (docs/security.md,
# "Names on a shared broker"): each user's plain names are their own,
# USER:NAME reaches another's, create says what it made and refuses what is
# not the caller's to make. Needs root to run the CLI as nobody.
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || { echo "skipped: needs root"; exit 77; }
as_nobody() {
    setpriv --reuid=65534 --regid=65534 --clear-groups \
        "$SHARENA_CLI" --socket "$SOCK" "$@"
}
as_nobody --version >/dev/null 2>&1 ||
    { echo "skipped: nobody cannot run $SHARENA_CLI"; exit 77; }
start_broker

# own name: create says it created it, whose it is and its mode
run 0 as_nobody create app-cfg --mode 0600
out_is "created arena 'app-cfg': owner nobody (uid 65534), mode 0600"
run 0 as_nobody set app-cfg mine 7
# another user's name, unqualified: root's app-cfg is root's own, new
run 1 cli get app-cfg mine
err_has "no arena named 'app-cfg'"
err_has "open it as '65534:app-cfg'"
run 0 cli --json create app-cfg --mode 0600
json_ok 'd["created"] is True and d["uid"] == 0 and d["qualified"] == "0:app-cfg"'
run 0 cli set app-cfg secret 42
run 1 as_nobody get app-cfg secret # root's secret is not in nobody's
err_has "no root named 'secret'"
run 0 as_nobody get app-cfg mine
out_is "7"
# qualified: root reads nobody's by nobody:app-cfg, or 65534:app-cfg
run 0 cli get nobody:app-cfg mine
out_is "7"
run 0 cli get 65534:app-cfg mine
out_is "7"
# create of another user's name: refused, naming the owner
run 1 cli create nobody:app-cfg
err_has "belongs to uid 65534"
run 1 cli create nobody:fresh
err_has "only uid 65534 may create it"
run 1 as_nobody create root:fresh
err_has "permission denied"
# create asking another mode than the arena has: refused (EXCL or not)
run 1 as_nobody create app-cfg --mode 0644
err_has "already exists"
# qualified without access: nobody cannot read root's 0600 app-cfg
run 1 as_nobody get root:app-cfg secret
err_has "root:app-cfg: permission denied"
run 2 cli stat no_such_user_zz:x
err_has "no such user"
# ls shows whose each arena is; stat says how to reach it
run 0 cli ls
out_has "nobody:app-cfg"
run 0 cli --json ls
json_ok 'sorted((a["name"], a["uid"], a["qualified"]) for a in d) == [("app-cfg", 0, "0:app-cfg"), ("app-cfg", 65534, "65534:app-cfg")]'
run 0 cli stat nobody:app-cfg
out_has "reach as:  nobody:app-cfg (any user: 65534:app-cfg)"
out_has "owner:     nobody (uid 65534"
run 0 as_nobody stat app-cfg
out_has "reach as:  app-cfg (any user: 65534:app-cfg)"
# root's rm of a plain name is its own arena's
run 0 cli rm app-cfg
run 0 as_nobody get app-cfg mine
out_is "7"
run 0 cli rm nobody:app-cfg
run 1 as_nobody get app-cfg mine
err_has "no arena named 'app-cfg'"

# granted by the policy file: root:pub.* shared with nobody, read-only
stop_policy_broker() { kill "$BROKER_PID"; wait "$BROKER_PID"; BROKER_PID=; }
stop_policy_broker
printf 'root:pub.* nobody ro\n' >"$T/policy"
start_broker --policy "$T/policy"
run 0 cli create pub.cfg --mode 0600
run 0 cli set pub.cfg x 5
run 0 as_nobody get pub.cfg x # the plain name is root's, by the policy
out_is "5"
run 1 as_nobody set pub.cfg x 6
err_has "permission denied (read-only access"
run 1 as_nobody create pub.cfg
err_has "belongs to uid 0"
run 0 as_nobody create nobody:pub.cfg # its own, by its qualified name
run 0 as_nobody --json stat pub.cfg
json_ok 'd["uid"] == 0'
finish
