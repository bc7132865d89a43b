#!/usr/bin/env bash
# Run every sharena test suite on this machine, setting it up first.
#
#   scripts/test.sh            everything
#   scripts/test.sh --quick    skip the sanitizer builds and fuzzing
#
# Suites, in order: the C tests (ctest: unit, integration, crash, threads,
# cli, interop, adversary, fuzz regressions), the same under ASan+UBSan, the
# Node and Python tests against ASan+UBSan builds of the addon and the
# extension, random operations with mutated shared loads (fuzz_loads), the
# threads test under TSan, the Node tests (node --test) and the Python tests
# (pytest), both as labelled ctest tests (ctest -L node, -L python), ESLint
# and ruff (ctest -L lint), the libFuzzer targets for a bounded time, the
# demo. Ends with "N passed, N failed" (counted from JUnit XML: one per ctest
# test, one per Node or Python test case) and exits non-zero when anything
# failed.
#
# Environment: CI=true builds with -Werror. SHARENA_FUZZ_SECONDS=N fuzzes N
# random seconds per target instead of the fixed-seed run.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"

quick=0
for arg in "$@"; do
  case $arg in
    --quick) quick=1 ;;
    -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "test.sh: unknown argument: $arg" >&2; exit 2 ;;
  esac
done

jobs=$(nproc)
passed=0
failed=0
declare -a report=()

# record SUITE PASSED FAILED
record() {
  passed=$((passed + $2))
  failed=$((failed + $3))
  report+=("$(printf '%-22s %5d passed, %3d failed' "$1" "$2" "$3")")
}

section() { printf '\n==== %s ====\n' "$*"; }

# Counts come from JUnit XML (scripts/junit-count.py prints "PASSED FAILED"),
# never from the text a runner prints.

# record_junit NAME STATUS XML [EXTRA_FAILURES [XML_OPTIONAL]]: record the
# counts of XML; a runner that exited non-zero (STATUS) with no failure in its
# XML (it died, or a check outside the tests failed) counts one more failure,
# and so does a missing XML (the suite did not run), unless XML_OPTIONAL and
# STATUS 0: then the suite counts as one test that passed.
record_junit() {
  local name=$1 status=$2 xml=$3 extra=${4:-0} counts p f
  if ! counts=$(scripts/junit-count.py "$xml" 2>/dev/null); then
    # no XML: the runner did not run, or (a node without the junit
    # reporter) ran and said only whether it passed
    if [ "$status" -eq 0 ] && [ -n "${5:-}" ]; then
      record "$name" 1 "$extra"
    else
      record "$name" 0 $((1 + extra))
    fi
    return
  fi
  read -r p f <<<"$counts"
  [ "$status" -ne 0 ] && [ "$f" -eq 0 ] && f=1
  record "$name" "$p" $((f + extra))
}

# run_ctest NAME BUILD_DIR [ctest args...]: one count per ctest test.
run_ctest() {
  local name=$1 dir=$2; shift 2
  local log="$dir/ctest-$name.log" xml="$dir/junit/ctest-$name.xml"
  mkdir -p "$dir/junit" && rm -f "$xml"
  (cd "$dir" && ctest --output-on-failure -j"$jobs" --output-junit "$xml" "$@") 2>&1 | tee "$log"
  record_junit "$name" "${PIPESTATUS[0]}" "$xml"
}

# run_suite NAME LABEL XML: the ctest test labelled LABEL (the Node or the
# Python suite, tests/bindings), counted by the JUnit XML its runner writes:
# one count per test case.
run_suite() {
  local name=$1 label=$2 xml=$3
  local log="build/ctest-$name.log"
  rm -f "$xml"
  (cd build && ctest --output-on-failure --no-tests=error -V -L "^$label\$") 2>&1 | tee "$log"
  record_junit "$name" "${PIPESTATUS[0]}" "$xml" 0 optional
}

section "set-up"
scripts/bootstrap.sh "$here/build" || { record bootstrap 0 1; }

cfg=(-DCMAKE_BUILD_TYPE=RelWithDebInfo)
[ "${CI:-}" = true ] && cfg+=(-DSHARENA_WERROR=ON)
[ "${CI:-}" = true ] && cfg+=(-DSHARENA_REDIS=ON) # hiredis required in CI

have_node=0; [ -f node/package.json ] && command -v node >/dev/null && have_node=1
have_python=0; [ -f python/pyproject.toml ] && have_python=1

# The Node addon and the Python extension are built before the C tests run
# because the interop tests use them.
if ((have_node)); then
  section "build: Node addon"
  if ! scripts/setup-node.sh; then record node-build 0 1; have_node=0; fi
fi
if ((have_python)); then
  section "build: Python extension"
  if ! scripts/setup-python.sh "$here/build/venv"; then
    record python-build 0 1; have_python=0
  fi
fi
export SHARENA_PYTHON="$here/build/venv/bin/python"

section "C tests (ctest)"
# the Node and Python suites and the linters (labels node, python, lint) run
# below, on their own
run_ctest ctest "$here/build" -LE '^(node|python|lint)$'

if ((!quick)); then
  section "C tests under ASan+UBSan"
  if cmake -S . -B build-asan "${cfg[@]}" -DSHARENA_SANITIZE=address,undefined \
       -DSHARENA_STORM_SECONDS=10 \
       -DSHARENA_BUILD_BENCH=OFF >/dev/null &&
     cmake --build build-asan -j"$jobs" >/dev/null; then
    # The storm kills writers by design; under ASan it runs but shorter.
    # Not under ASan: interop (the Node and Python runtimes load unsanitized
    # builds), install (links an unsanitized program against the build), and
    # examples.sandbox (its default-deny seccomp filter refuses the sanitizer
    # runtime's own system calls).
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    LSAN_OPTIONS=suppressions=$here/tests/lsan.supp \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
      run_ctest ctest-asan "$here/build-asan" -E 'interop|^install\.|^examples\.sandbox$' \
        -LE '^(node|python|lint)$'
  else
    record ctest-asan 0 1
  fi

  # The Node addon and the Python extension built with ASan+UBSan (their own
  # build tree, library included) and loaded into the stock interpreters with
  # the ASan runtime preloaded. Leak detection is off: node and python keep
  # memory until exit by design. PYTHONMALLOC=malloc makes every Python
  # object a malloc block that ASan can see. SHARENA_NODE_ADDON and
  # PYTHONPATH point the suites at the sanitized builds. Not run here:
  # node/test/pack.test.js and types.test.js (npm pack compiling its own
  # unsanitized addon; tsc, no native code), python/tests/test_packaging.py
  # (pip builds and installs unsanitized wheels); the plain runs below
  # cover them.
  section "Node and Python extensions under ASan+UBSan"
  if ((have_node || have_python)); then
    asan_env=(LD_PRELOAD="$(cc -print-file-name=libasan.so)"
              ASAN_OPTIONS=detect_leaks=0:abort_on_error=1
              UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
              SHARENA_SHARENAD="$here/build/broker/sharenad")
    targets=()
    ((have_node)) && targets+=(sharena_node)
    ((have_python)) && targets+=(sharena_python)
    if cmake -S . -B build-asan-bindings "${cfg[@]}" \
         -DSHARENA_SANITIZE=address,undefined -DSHARENA_BUILD_TESTS=OFF \
         -DSHARENA_BUILD_BROKER=OFF -DSHARENA_BUILD_BENCH=OFF \
         -DSHARENA_BUILD_NODE=$((have_node)) -DSHARENA_BUILD_PYTHON=$((have_python)) \
         >/dev/null &&
       cmake --build build-asan-bindings -j"$jobs" --target "${targets[@]}" >/dev/null; then
      if ((have_node)); then
        addon=$here/build-asan-bindings/node/sharena.node
        log=build/node-asan.log xml=$here/build/junit/node-asan.xml
        mkdir -p build/junit && rm -f "$xml"
        mapfile -t node_tests < <(ls node/test/*.test.js | grep -vE '/(pack|types)\.test\.js$')
        (cd node && env "${asan_env[@]}" SHARENA_NODE_ADDON="$addon" \
           node --test --test-timeout=300000 \
             --test-reporter=spec --test-reporter-destination=stdout \
             --test-reporter=junit --test-reporter-destination="$xml" \
             "${node_tests[@]#node/}") 2>&1 | tee "$log"
        status=${PIPESTATUS[0]} wrong=0
        # the suites must have run against the sanitized addon
        env "${asan_env[@]}" SHARENA_NODE_ADDON="$addon" node -e \
          "require('./node'); const m = require('fs').readFileSync('/proc/self/maps', 'utf8');
           process.exit(m.includes('$addon') && m.includes('libasan') ? 0 : 1)" ||
          { echo "node-asan: the sanitized addon was not the one loaded" | tee -a "$log"; wrong=1; }
        record_junit node-asan "$status" "$xml" "$wrong"
      fi
      if ((have_python)); then
        log=build/pytest-asan.log xml=$here/build/junit/python-asan.xml
        rm -f "$xml"
        env "${asan_env[@]}" PYTHONMALLOC=malloc PYTHONPATH="$here/build-asan-bindings/python" \
          "$SHARENA_PYTHON" -m pytest -q -p no:cacheprovider --junitxml="$xml" python/tests \
            --ignore=python/tests/test_packaging.py 2>&1 | tee "$log"
        status=${PIPESTATUS[0]} wrong=0
        env "${asan_env[@]}" PYTHONPATH="$here/build-asan-bindings/python" "$SHARENA_PYTHON" -c \
          "import sys, sharena._sharena as m
sys.exit(0 if m.__file__.startswith('$here/build-asan-bindings/') else 1)" ||
          { echo "python-asan: the sanitized extension was not the one imported" | tee -a "$log"; wrong=1; }
        record_junit python-asan "$status" "$xml" "$wrong"
      fi
    else
      record bindings-asan-build 0 1
    fi
  fi

  # The library built so that each shared load (SHARENA__LD) may return a
  # mutated value (-DSHARENA_FUZZ_LOADS=ON, tests/fuzz/fuzz_load_hook.c):
  # random operations for a bounded time must not crash, hang, or hand back
  # a size or pointer outside the mapping. Its own small ASan+UBSan build.
  section "mutated shared loads (fuzz_loads)"
  if cmake -S . -B build-fuzz-loads "${cfg[@]}" -DSHARENA_FUZZ_LOADS=ON \
       -DSHARENA_SANITIZE=address,undefined -DSHARENA_BUILD_BENCH=OFF \
       -DSHARENA_BUILD_BROKER=OFF -DSHARENA_FUZZ_LOADS_SECONDS=20 >/dev/null &&
     cmake --build build-fuzz-loads -j"$jobs" --target fuzz_loads >/dev/null; then
    ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
      run_ctest ctest-fuzz-loads "$here/build-fuzz-loads" -L fuzz-loads
  else
    record ctest-fuzz-loads 0 1
  fi

  section "threads under TSan"
  if cmake -S . -B build-tsan "${cfg[@]}" -DSHARENA_SANITIZE=thread \
       -DSHARENA_BUILD_BENCH=OFF -DSHARENA_BUILD_BROKER=OFF >/dev/null &&
     cmake --build build-tsan -j"$jobs" --target test_threads >/dev/null; then
    TSAN_OPTIONS=halt_on_error=1 run_ctest ctest-tsan "$here/build-tsan" -L threads
  else
    record ctest-tsan 0 1
  fi
fi

if ((have_node)); then
  section "Node tests (ctest -L node: node --test node/test)"
  run_suite node node "$here/build/junit/node.xml"
fi

if ((have_python)); then
  section "Python tests (ctest -L python: pytest python/tests)"
  run_suite python python "$here/build/junit/python.xml"
fi

# ESLint on the JavaScript, ruff on the Python (tests/lint): ctest -L
# lint. ruff comes with the venv (scripts/setup-python.sh); ESLint is
# installed in tests/lint.
# clang-format 14 on the C code (scripts/format.sh --check), installed by
# scripts/bootstrap.sh.
section "lint (ctest -L lint: ESLint, ruff, clang-format)"
if ((have_node)) && ! (cd tests/lint && npm install --no-audit --no-fund --loglevel=error); then
  record lint-setup 0 1
fi
run_ctest lint "$here/build" -L '^lint$'

if ((!quick)) && [ -x scripts/fuzz.sh ]; then
  # A fixed seed and run count (the same inputs on every machine, ~20 s per
  # target); SHARENA_FUZZ_SECONDS=N fuzzes N random seconds per target
  # instead. scripts/fuzz.sh 600 is the long run.
  if [ -n "${SHARENA_FUZZ_SECONDS:-}" ]; then
    section "fuzzing (${SHARENA_FUZZ_SECONDS} s per target)"
    fuzz_args=("$SHARENA_FUZZ_SECONDS")
  else
    section "fuzzing (fixed seed and run count per target)"
    fuzz_args=(--deterministic)
  fi
  if scripts/fuzz.sh "${fuzz_args[@]}"; then
    record fuzz 1 0
  else
    record fuzz 0 1
  fi
fi

if ((have_node && have_python)); then
  section "the demo (scripts/demo.sh)"
  if scripts/demo.sh >build/demo.log 2>&1; then
    tail -4 build/demo.log; record demo 1 0
  else
    cat build/demo.log; record demo 0 1
  fi
fi

section "summary"
printf '%s\n' "${report[@]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
