"""Python benchmark of this tree against another build of the package, in one
invocation: the runs alternate between the two sides (separate processes),
so that load on the machine hits both alike, and the best of each side is
kept.

    python3 bench/python/compare.py --base-python VENV/bin/python --base-sharenad PATH
        --python VENV/bin/python --sharenad PATH [--runs N] [--sizes 1000000,4194304]
        [--md FILE]

Each run of each side is bench/python/bench.py (map get/set of 1k keys,
vector index get/set of 1k items; no Redis) and the map get/insert of
bench/memory/run.py at the given sizes (15-byte keys, float values; get in
random order). The base side is another checkout's package installed in its
own venv, e.g. `git archive REV | tar -x -C DIR` and
`python3 -m venv V && V/bin/python -m pip install --no-deps DIR/python`,
with that checkout's sharenad. Prints a Markdown table: best (min) and
median ns per operation of each side and their ratio (this tree / base).
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]

# the map speed of bench/memory/run.py at the given sizes, as JSON lines
SPEED = """
import sys
sys.path.insert(0, {mem!r})
import run
rows = []
run.speed({sizes!r}, rows, False)
"""


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base-python", required=True)
    p.add_argument("--base-sharenad", required=True)
    p.add_argument("--python", default=str(ROOT / "build" / "venv" / "bin" / "python"))
    p.add_argument("--sharenad", required=True)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--sizes", default="1000000,4194304",
                   help="map sizes for get/insert (comma-separated; empty: none)")
    p.add_argument("--md", help="also write the table to this file")
    a = p.parse_args()
    sizes = [int(s) for s in a.sizes.split(",") if s]
    sides = {"base": (a.base_python, a.base_sharenad), "new": (a.python, a.sharenad)}
    res: dict = {}  # (op, side) -> [ns]
    for r in range(a.runs):
        for side, (py, sharenad) in sides.items():
            out = subprocess.run([py, str(HERE / "bench.py"), "--sharenad", sharenad,
                                  "--redis-server", ""],
                                 capture_output=True, text=True, check=True).stdout
            for line in out.splitlines():
                j = json.loads(line)
                if j["impl"] == "sharena":
                    res.setdefault((j["op"], side), []).append(j["ns_per_op"])
            if sizes:
                out = subprocess.run([py, "-c", SPEED.format(mem=str(ROOT / "bench" / "memory"),
                                                             sizes=sizes)],
                                     capture_output=True, text=True, check=True).stdout
                for line in out.splitlines():
                    j = json.loads(line)
                    if j["impl"] == "sharena":
                        op = f"map_{j['op']}_{j['n']}"
                        res.setdefault((op, side), []).append(j["ns_per_key"])
            print(f"run {r + 1}/{a.runs} {side} done", file=sys.stderr, flush=True)
    ops = list(dict.fromkeys(op for op, _ in res))
    lines = ["| op | base min | new min | ratio (min) | base median | new median | ratio (median) |",
             "|---|---|---|---|---|---|---|"]
    for op in ops:
        b, n = res[(op, "base")], res[(op, "new")]
        lines.append(f"| {op} | {min(b):.1f} | {min(n):.1f} | {min(n) / min(b):.3f} | "
                     f"{statistics.median(b):.1f} | {statistics.median(n):.1f} | "
                     f"{statistics.median(n) / statistics.median(b):.3f} |")
    print("\n".join(lines))
    if a.md:
        Path(a.md).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
