#!/bin/sh
# with-broker.sh SHARENAD PROGRAM [ARGS...]: run PROGRAM with a private
# broker (its socket path appended as the last argument), then stop it.
set -eu
sharenad=$1; shift
dir=$(mktemp -d /tmp/sharena-example.XXXXXX)
"$sharenad" --foreground --socket "$dir/s" 2>/dev/null &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
i=0
while [ ! -S "$dir/s" ] && [ $i -lt 500 ]; do sleep 0.01; i=$((i + 1)); done
"$@" "$dir/s"
