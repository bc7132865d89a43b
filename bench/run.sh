#!/usr/bin/env bash
# Run every sharena benchmark (C, Node, Python) in one invocation and write
# docs/benchmarks.md and docs/benchmarks.png from the results.
#
#   bench/run.sh [--quick] [--no-docs]
#
# Sets up what it needs first (each step only when missing): Debian packages
# (compiler, CMake, libbsd/libseccomp for the broker, node/npm, python3-venv,
# redis-server), a Release build in build-bench/ (the C benchmark and
# sharenad), the Node addon (scripts/setup-node.sh), the seed package and
# node-redis in bench/node/node_modules (npm), the Python virtual environment build/venv
# (scripts/setup-python.sh) with redis-py and matplotlib (pip).
#
# Every benchmark prints JSON lines; they are kept in build-bench/results/
# and turned into the report by bench/report.py. The wake-up latency run
# (bench/wake/run.py) writes docs/benchmarks-wake.md, whose table the
# report includes; so does the memory table (bench/memory/run.py,
# docs/benchmarks-memory.md). Ratios in the report only
# ever compare numbers measured in this one run. Takes ~5-6 minutes on 2
# cores once set up; --quick (shorter timed runs) is for trying it out and
# is not meant for the committed report.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$here/build-bench
venv=$here/build/venv
results=$build/results
quick=""
docs=1
for arg in "$@"; do
  case $arg in
    --quick) quick=--quick ;;
    --no-docs) docs=0 ;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown option $arg" >&2; exit 2 ;;
  esac
done

start=$SECONDS
step() { printf '\n== %s (%ds)\n' "$*" $((SECONDS - start)) >&2; }

# ---- system packages -------------------------------------------------------
step "system packages"
need=()
# commands first (node and npm may come from elsewhere than Debian's packages)
for pair in cc:gcc make:make cmake:cmake pkg-config:pkg-config node:nodejs \
            npm:npm redis-server:redis-server; do
  command -v "${pair%%:*}" >/dev/null || need+=("${pair#*:}")
done
for p in libc6-dev libbsd-dev libseccomp-dev python3-venv; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
    || need+=("$p")
done
if ((${#need[@]})); then
  echo "installing ${need[*]}" >&2
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
redis=$(command -v redis-server || true)

# ---- C: Release build of the benchmark and the broker ----------------------
step "C build (Release, $build)"
cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=Release -DSHARENA_WERROR=ON \
  -DSHARENA_BUILD_TESTS=OFF -DSHARENA_BUILD_BENCH=ON >/dev/null
cmake --build "$build" -j"$(nproc)" --target sharena_bench sharenad sharena_static >/dev/null
sharenad=$build/broker/sharenad

# ---- Node: the addon and the seed package ----------------------------------
step "Node set-up"
# npm install in node/ is an incremental CMake build: it picks up lib/ changes
"$here/scripts/setup-node.sh" >/dev/null
(cd "$here/bench/node" && npm install --no-audit --no-fund --loglevel=error >/dev/null)
node_inc=$(dirname "$(command -v node)")/../include/node
[ -f "$node_inc/node_api.h" ] || node_inc=/usr/include/node
cc -O2 -shared -fPIC -Wall -Wextra -Werror -isystem "$node_inc" \
  -o "$build/napi_floor.node" "$here/bench/node/napi_floor.c"

# ---- Python: the venv with sharena, redis-py and matplotlib ---------------
step "Python set-up"
# (re)install the package when it is missing or older than its C sources
so=$(ls "$venv"/lib/python3*/site-packages/sharena/_sharena*.so 2>/dev/null | head -1 || true)
if [ -z "$so" ] || ! "$venv/bin/python" -c "import sharena" >/dev/null 2>&1 ||
   [ -n "$(find "$here/lib/src" "$here/lib/include" "$here/python/src" -newer "$so" \
            -name '*.[ch]' 2>/dev/null | head -1)" ]; then
  "$here/scripts/setup-python.sh" "$venv"
fi
if ! "$venv/bin/python" -c "import redis, matplotlib" >/dev/null 2>&1; then
  "$venv/bin/python" -m pip install -q --disable-pip-version-check redis matplotlib
fi

# ---- the benchmarks ---------------------------------------------------------
mkdir -p "$results"
rm -f "$results"/*.jsonl
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

step "C benchmark"
"$build/bench/sharena_bench" $quick --sharenad "$sharenad" >"$results/c.jsonl"

step "Node benchmark"
(cd "$here/bench/node" && SHARENA_BENCH_NAPI_FLOOR="$build/napi_floor.node" \
  node bench.js $quick ${redis:+--redis-server "$redis"}) >"$results/node.jsonl"

step "Python benchmark"
"$venv/bin/python" "$here/bench/python/bench.py" $quick --sharenad "$sharenad" \
  ${redis:+--redis-server "$redis"} >"$results/python.jsonl"

step "wake-up latency (bench/wake/run.py)"
if ((docs)); then
  # writes docs/benchmarks-wake.md, whose table the report includes
  SHARENA_WAKE_BUILD="$build" "$venv/bin/python" "$here/bench/wake/run.py" \
    ${quick:+500} >&2
fi

step "memory per entry (bench/memory/run.py)"
if ((docs)); then
  # writes docs/benchmarks-memory.md, whose tables the report includes
  "$venv/bin/python" "$here/bench/memory/run.py" $quick \
    ${redis:+--redis-server "$redis"} >"$results/memory.jsonl"
fi

load_after=$(cut -d' ' -f1-3 /proc/loadavg)
elapsed=$((SECONDS - start))

# ---- the report ---------------------------------------------------------------
if ((docs)); then
  step "report"
  "$venv/bin/python" "$here/bench/report.py" --results "$results" \
    --md "$here/docs/benchmarks.md" --png "$here/docs/benchmarks.png" \
    --load-before "$load_before" --load-after "$load_after" \
    --elapsed "$elapsed" $quick
fi
step "done"
