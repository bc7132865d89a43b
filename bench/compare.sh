#!/usr/bin/env bash
# Compare the C benchmark of this tree with an earlier revision, in one
# invocation: both are built (Release, each with its own sharenad, since
# their wire protocols may differ) and their runs alternate, so that load on
# the machine hits both alike.
#
#   bench/compare.sh [--runs N] [--ops "map_get lock_unlock"] [--md FILE] BASE_REV
#
# Prints one JSON line per run and a table of the best (min) and median
# ns/op of each side with their ratio (this tree / base); --md also writes
# that table as Markdown (docs/benchmarks-compare.md, which bench/report.py
# includes in docs/benchmarks.md). Builds go to build-compare/. Used for "no slower than before" checks (docs/benchmarks.md,
# "Against an earlier revision").
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
runs=9
ops="map_get lock_unlock"
base=""
md=""
while (($#)); do
  case $1 in
    --runs) runs=$2; shift 2 ;;
    --ops) ops=$2; shift 2 ;;
    --md) md=$2; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "compare.sh: unknown option $1" >&2; exit 2 ;;
    *) base=$1; shift ;;
  esac
done
[ -n "$base" ] || { echo "compare.sh: name a base revision" >&2; exit 2; }
rev=$(git -C "$here" rev-parse --verify "$base^{commit}")

out=$here/build-compare
src=$out/base-src
mkdir -p "$out"
if [ "$(cat "$src/.rev" 2>/dev/null)" != "$rev" ]; then
  rm -rf "$src" "$out/base"
  mkdir -p "$src"
  git -C "$here" archive "$rev" | tar -x -C "$src"
  echo "$rev" > "$src/.rev"
fi
build() { # SRC BUILD
  cmake -S "$1" -B "$2" -DCMAKE_BUILD_TYPE=Release -DSHARENA_BUILD_TESTS=OFF \
        >/dev/null
  cmake --build "$2" -j"$(nproc)" --target sharena_bench sharenad >/dev/null
}
build "$src" "$out/base"
build "$here" "$out/new"

results=$out/results.jsonl
: > "$results"
for ((i = 0; i < runs; i++)); do
  for side in base new; do
    for op in $ops; do
      line=$("$out/$side/bench/sharena_bench" --only "$op" \
               --sharenad "$out/$side/broker/sharenad" 2>/dev/null |
             grep '"impl":"sharena"' | head -1)
      ns=$(sed -n 's/.*"ns_per_op":\([0-9.]*\).*/\1/p' <<<"$line")
      echo "{\"side\":\"$side\",\"run\":$i,\"op\":\"$op\",\"ns_per_op\":${ns:-null}}" |
        tee -a "$results"
    done
  done
done

python3 - "$rev" "$ops" "$results" "$md" <<'EOF'
import json, platform, statistics, sys
rev, ops, path, md = sys.argv[1], sys.argv[2].split(), sys.argv[3], sys.argv[4]
d = {}
for line in open(path):
    r = json.loads(line)
    if r["ns_per_op"] is None:
        sys.exit(f"compare.sh: {r['side']} run {r['run']} of {r['op']} gave no result")
    d.setdefault(f"{r['side']}.{r['op']}", []).append(r["ns_per_op"])
print(f"\nbase {rev[:10]} vs this tree, {len(next(iter(d.values())))} alternating runs (ns/op)")
print(f"{'op':<14}{'base min':>10}{'new min':>10}{'ratio':>8}{'base med':>10}{'new med':>10}{'ratio':>8}")
for op in ops:
    b, n = d[f"base.{op}"], d[f"new.{op}"]
    bm, nm = min(b), min(n)
    bd, nd = statistics.median(b), statistics.median(n)
    print(f"{op:<14}{bm:>10.1f}{nm:>10.1f}{nm / bm:>8.3f}{bd:>10.1f}{nd:>10.1f}{nd / bd:>8.3f}")
if md:
    runs = len(next(iter(d.values())))
    lines = [f"# C benchmark against {rev[:10]}", "",
             f"`bench/compare.sh {rev[:10]}`: {runs} alternating runs of each side in one "
             f"invocation on {platform.machine()} ({len(__import__('os').sched_getaffinity(0))} CPUs); "
             "ns per operation, lower is better; ratio = this tree / base.", "",
             "| op | base min | new min | ratio (min) | base median | new median | ratio (median) |",
             "|---|---|---|---|---|---|---|"]
    for op in ops:
        b, n = d[f"base.{op}"], d[f"new.{op}"]
        lines.append(f"| {op} | {min(b):.1f} | {min(n):.1f} | {min(n) / min(b):.3f} | "
                     f"{statistics.median(b):.1f} | {statistics.median(n):.1f} | "
                     f"{statistics.median(n) / statistics.median(b):.3f} |")
    open(md, "w").write("\n".join(lines) + "\n")
EOF
