#!/bin/sh
# with-broker.sh SHARENAD PROGRAM [ARGS...]: run PROGRAM with a private
# broker (its socket path appended as the last argument), then stop it.
# When PROGRAM fails, the end of the broker's log follows its output.
set -eu
sharenad=$1; shift
dir=$(mktemp -d /tmp/sharena-example.XXXXXX)
"$sharenad" --foreground --socket "$dir/s" 2>"$dir/broker.log" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
i=0
while [ ! -S "$dir/s" ] && [ $i -lt 500 ]; do sleep 0.01; i=$((i + 1)); done
rc=0
"$@" "$dir/s" || rc=$?
if [ $rc -ne 0 ]; then
  echo "with-broker.sh: $1 exited with $rc; the broker's log ends:" >&2
  tail -n 25 "$dir/broker.log" >&2
fi
exit $rc
