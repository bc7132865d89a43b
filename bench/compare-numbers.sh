#!/usr/bin/env bash
# Map of numbers (bench/c/map_numbers.c) of this tree against an earlier
# revision: insert, get and set of numbers at 1M and 4M keys through the
# public C API, the two sides' runs alternating. Uses the two Release builds
# of bench/compare.sh (run it first with the same BASE_REV: build-compare/).
#
#   bench/compare-numbers.sh [--runs N] [--sizes "1048576 4194304"] [--md FILE]
#
# Prints one JSON line per run and op, then a table of the best (min) and
# median ns/op of each side with their ratio (this tree / base).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=$here/build-compare
runs=5
sizes="1048576 4194304"
md=""
while (($#)); do
  case $1 in
    --runs) runs=$2; shift 2 ;;
    --sizes) sizes=$2; shift 2 ;;
    --md) md=$2; shift 2 ;;
    -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "compare-numbers.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
[ -d "$out/base-src" ] && [ -d "$out/base/lib" ] && [ -d "$out/new/lib" ] ||
  { echo "compare-numbers.sh: run bench/compare.sh BASE_REV first" >&2; exit 2; }
for side in base new; do
  src=$out/base-src
  [ $side = new ] && src=$here
  cc -O2 -std=c11 -Wall -Wextra -Werror -I"$src/lib/include" \
    -o "$out/map_numbers_$side" "$here/bench/c/map_numbers.c" \
    -L"$out/$side/lib" -lsharena -Wl,-rpath,"$out/$side/lib"
done
results=$out/numbers.jsonl
: > "$results"
for ((i = 0; i < runs; i++)); do
  for n in $sizes; do
    for side in base new; do
      "$out/map_numbers_$side" "$n" 2>/dev/null |
        sed "s/^{/{\"side\":\"$side\",\"run\":$i,/" | tee -a "$results"
    done
  done
done
python3 - "$(cat "$out/base-src/.rev")" "$results" "$md" <<'PY'
import json, statistics, sys
rev, path, md = sys.argv[1:4]
d = {}
for line in open(path):
    r = json.loads(line)
    d.setdefault((r["op"], r["n"]), {}).setdefault(r["side"], []).append(r["ns_per_op"])
lines = ["| op | base min | new min | ratio (min) | base median | new median | ratio (median) |",
         "|---|---|---|---|---|---|---|"]
for (op, n), s in sorted(d.items(), key=lambda x: (x[0][1], x[0][0])):
    b, w = s["base"], s["new"]
    name = f"map {op} number ({n / 1048576:g}M keys{', random' if op != 'insert' else ''})"
    lines.append(f"| {name} | {min(b):.1f} | {min(w):.1f} | {min(w) / min(b):.3f} | "
                 f"{statistics.median(b):.1f} | {statistics.median(w):.1f} | "
                 f"{statistics.median(w) / statistics.median(b):.3f} |")
print(f"\nbase {rev[:10]} vs this tree, {len(b)} alternating runs (ns/op)")
print("\n".join(lines))
if md:
    open(md, "w").write("\n".join(lines) + "\n")
PY
