#!/usr/bin/env bash
# Run the libFuzzer targets of tests/fuzz for SECONDS each (default 30;
# longer runs: scripts/fuzz.sh 600). Builds them with clang, ASan and UBSan
# in build-fuzz/. Starts from the checked-in corpus (new inputs go to
# build-fuzz/corpus/, not into the repository). Fails on any crash, hang
# (a single input over 25 s; fsck gives up on a held lock after 50 ms here), leak or sanitizer report, and prints the
# reproducer's path: copy it into tests/fuzz/regressions/TARGET/ with the fix.
#
#   scripts/fuzz.sh --deterministic   (what scripts/test.sh runs) a fixed seed
#                                     and a fixed number of runs per target,
#                                     from the checked-in corpus only: the
#                                     same inputs on every machine, ~20 s each
#
# Then, except with --deterministic (scripts/test.sh runs its short version
# in ctest), the concurrent adversary test (tests/adversary) for
# $SHARENA_ADVERSARY_SECONDS (default 300): its C side and the broker built
# here with ASan+UBSan, the Node addon of node/ and $SHARENA_PYTHON (default
# build/venv/bin/python) as scripts/setup-node.sh and setup-python.sh made
# them.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
det=0
if [ "${1:-}" = --deterministic ]; then det=1; shift; fi
seconds=${1:-30}
declare -A det_runs=([image]=40000 [ops]=30000 [client]=300000 [broker]=150000)
build=$here/build-fuzz
command -v clang >/dev/null || { echo "fuzz.sh: clang is not installed (scripts/bootstrap.sh installs it)" >&2; exit 1; }
CC=clang cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSHARENA_FUZZ=ON \
  -DSHARENA_SANITIZE=address,undefined -DSHARENA_BUILD_BENCH=OFF >/dev/null
targets=(image ops client broker)
cmake --build "$build" -j"$(nproc)" --target "${targets[@]/#/fuzz_}" >/dev/null
status=0
for t in "${targets[@]}"; do
  corpus=$build/corpus/$t
  limit=(-max_total_time="$seconds")
  if ((det)); then
    corpus=$build/corpus-det/$t
    rm -rf "$corpus"
    limit=(-seed=1 -runs="${det_runs[$t]}")
  fi
  artifacts=$build/artifacts/$t/
  mkdir -p "$corpus" "$artifacts"
  log=$build/fuzz-$t.log
  if SHARENA_FSCK_WAIT_MS=50 ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
     "$build/tests/fuzz/fuzz_$t" "${limit[@]}" -timeout=25 -rss_limit_mb=2048 \
       -artifact_prefix="$artifacts" -print_final_stats=1 \
       "$corpus" "$here/tests/fuzz/corpus/$t" "$here/tests/fuzz/regressions/$t" >"$log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1)
    printf 'fuzz_%-7s ok: %s runs, %s\n' "$t" "${runs:-?}" "${cov:-cov: ?}"
  else
    status=1
    echo "fuzz_$t FAILED; the end of its log ($log):"
    tail -40 "$log"
    ls "$artifacts" | sed "s|^|  reproducer: $artifacts|"
  fi
done
if ((!det)); then
  cmake --build "$build" -j"$(nproc)" --target test_adversary sharenad >/dev/null
  log=$build/adversary.log
  if SHARENA_ADVERSARY_SECONDS=${SHARENA_ADVERSARY_SECONDS:-300} \
     SHARENA_PYTHON=${SHARENA_PYTHON:-$here/build/venv/bin/python} \
     ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
     "$build/tests/adversary/test_adversary" >"$log" 2>&1; then
    echo "adversary ok: $(tail -1 "$log")"
  else
    status=1
    echo "adversary FAILED; the end of its log ($log):"
    grep -E '^adversary: (CRASH|HANG|BROKER|FAILED|class|ops|signals)' "$log" | tail -30 || true
    tail -1 "$log"
  fi
fi
exit $status
