"""Turn the JSON lines of bench/run.sh into docs/benchmarks.md and a plot.

    python report.py --results DIR --md docs/benchmarks.md --png docs/benchmarks.png
    python report.py --sections --md docs/benchmarks.md

(--sections: only the Memory and Against-an-earlier-revision sections, from
docs/benchmarks-memory.md and docs/benchmarks-compare.md, when those were
measured by their own invocations.)

DIR holds c.jsonl, node.jsonl and python.jsonl. Every ratio is computed from
two rows of the same run; each target of DESIGN.md section 6 and of the
issues is judged met or missed (and by how much).
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def load(results: Path) -> list[dict]:
    rows = []
    for name in ("c", "node", "python"):
        path = results / f"{name}.jsonl"
        if not path.exists():
            sys.exit(f"report: {path} is missing (did that benchmark fail?)")
        for line in path.read_text().splitlines():
            line = line.strip()
            if line.startswith("{"):
                rows.append(json.loads(line))
    return rows


def find(rows, bench, op, impl, **kw):
    for r in rows:
        if r["bench"] == bench and r["op"] == op and r["impl"] == impl and \
                all(r.get(k) == v for k, v in kw.items()):
            return r
    return None


def fmt_ns(ns: float) -> str:
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e4:
        return f"{ns / 1e3:.1f} us"
    if ns >= 100:
        return f"{ns:.0f} ns"
    return f"{ns:.1f} ns"


def fmt_x(x: float) -> str:
    return f"{x:.0f}x" if x >= 100 else f"{x:.1f}x" if x >= 10 else f"{x:.2f}x"


def machine() -> dict:
    cpu = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1048576:.0f} GiB"
    except OSError:
        pass

    def cmd(*a):
        try:
            return subprocess.run(a, capture_output=True, text=True, cwd=ROOT,
                                  timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "mem": mem,
        "kernel": platform.release(),
        "cc": cmd("cc", "--version").splitlines()[0] if cmd("cc", "--version") else "",
        "node": cmd("node", "--version"),
        "python": platform.python_version(),
        "commit": cmd("git", "rev-parse", "--short", "HEAD"),
        # the library as measured may differ from the commit
        "lib_dirty": [line[3:] for line in cmd("git", "status", "--porcelain", "--", "lib").splitlines()],
    }


# ---------------------------------------------------------------------------
# Targets: (what, measured text, met?, how far). `gap` says by how much a
# missed target is missed, in the target's own terms.

class Target:
    def __init__(self, source: str, what: str):
        self.source, self.what = source, what
        self.measured = "not measured"
        self.met: bool | None = None
        self.gap = ""

    def upper(self, value: float, limit: float, text: str) -> "Target":
        """Met when value < limit (a time)."""
        self.measured = text
        self.met = value < limit
        self.gap = "" if self.met else f"by {fmt_ns(value - limit)} ({value / limit:.2f}x the limit)"
        return self

    def ratio_at_least(self, ratio: float, want: float, text: str) -> "Target":
        self.measured = text
        self.met = ratio >= want
        self.gap = "" if self.met else f"{fmt_x(ratio)} of the {fmt_x(want)} wanted ({ratio / want * 100:.0f}%)"
        return self

    def ratio_at_most(self, ratio: float, limit: float, text: str) -> "Target":
        self.measured = text
        self.met = ratio <= limit
        self.gap = "" if self.met else f"by {ratio - limit:.2f}x"
        return self

    def status(self) -> str:
        if self.met is None:
            return "–"
        return "**met**" if self.met else f"**missed**: {self.gap}"


def memory_section(path: Path) -> list[str]:
    """The Memory section: docs/benchmarks-memory.md (bench/memory/run.py,
    issue 21) without its title: when and how it was measured, its tables,
    the targets met."""
    paras = [p for p in path.read_text().split("\n\n") if p.strip() and not p.startswith("# ")]
    out = ["## Memory", "",
           "From [benchmarks-memory.md](benchmarks-memory.md) (`bench/memory/run.py`, which "
           "`bench/run.sh` runs after the tables above; its date, load and commit follow): "
           "bytes per map entry "
           "and vector element against Redis and Python's containers, and map get/insert per "
           "key as the map grows. Where the bytes go, and what is left: "
           "[format.md, Where the bytes go](format.md#where-the-bytes-go).", ""]
    for p in paras:
        out += [p.strip("\n"), ""]
    return out


def targets(rows) -> list[Target]:
    out = []

    def t(source, what):
        x = Target(source, what)
        out.append(x)
        return x

    r = find(rows, "c", "map_get", "sharena")
    if r:
        t("DESIGN 6", "C: map get of a short string < 100 ns").upper(
            r["ns_per_op"], 100, fmt_ns(r["ns_per_op"]) + " (12-byte key, 1k keys)")
    r = find(rows, "c", "number_get", "sharena")
    if r:
        t("DESIGN 6", "C: number read < 20 ns").upper(r["ns_per_op"], 20, fmt_ns(r["ns_per_op"]))
    r = find(rows, "c", "lock_unlock", "sharena")
    if r:
        t("DESIGN 3, 6", "C: uncontended lock+unlock < 15 ns").upper(
            r["ns_per_op"], 15, fmt_ns(r["ns_per_op"]))
    r = find(rows, "c", "open_arena", "sharena")
    if r:
        t("DESIGN 6", "C: open an existing arena through the broker < 100 us").upper(
            r["ns_per_op"], 100e3, fmt_ns(r["ns_per_op"]))
    for op in ("map_get", "map_set", "map_get_1m", "map_set_1m", "map_insert_1m"):
        s, l = find(rows, "c", op, "sharena"), find(rows, "c", op, "local hash map")
        if s and l:
            x = s["ns_per_op"] / l["ns_per_op"]
            t("issue 8", f"C: {s['group']} within 3x of a process-local hash map").ratio_at_most(
                x, 3.0, f"{fmt_x(x)} ({fmt_ns(s['ns_per_op'])} vs {fmt_ns(l['ns_per_op'])})")
    one = find(rows, "c", "read_scaling", "sharena", readers=1)
    two = find(rows, "c", "read_scaling", "sharena", readers=2)
    if one and two:
        x = two["ops_per_s"] / one["ops_per_s"]
        t("issue 8 (DESIGN: ~2x)", "2 reader processes >= 1.7x one reader's rate").ratio_at_least(
            x, 1.7, f"{fmt_x(x)} ({one['ops_per_s'] / 1e6:.1f} -> {two['ops_per_s'] / 1e6:.1f} M gets/s "
                    f"on {two.get('cores', float('nan')):.2f} cores; {fmt_x(cpu_scaling(one, two))} per CPU-second)")
    r = find(rows, "c", "memory", "sharena")
    if r:
        x = r["ram_bytes"] / r["data_bytes"]
        t("DESIGN 6", "1 GiB-capacity arena with 1 MiB of data costs ~1 MiB of RAM (judged: <= 1.5x the data)").ratio_at_most(
            x, 1.5, f"{r['ram_bytes'] / 1048576:.2f} MiB for {r['data_bytes'] / 1048576:.2f} MiB "
                    f"(memfd pages; {r['ram_empty'] / 1024:.0f} KiB when empty)")
    r = find(rows, "node", "map_get", "sharena")
    if r:
        t("DESIGN 6, issue 6", "Node: map get < 300 ns").upper(r["ns_per_op"], 300, fmt_ns(r["ns_per_op"]))
    r = find(rows, "python", "map_get", "sharena")
    if r:
        t("DESIGN 6, issue 7", "Python: map get < 300 ns").upper(r["ns_per_op"], 300, fmt_ns(r["ns_per_op"]))
    for op in ops_of(rows, "node"):
        s, p = find(rows, "node", op, "sharena"), find(rows, "node", op, "seed")
        if s and p:
            x = p["ns_per_op"] / s["ns_per_op"]
            t("DESIGN 6, issue 6", f"Node: {s['group']} >= 5x the seed package").ratio_at_least(
                x, 5.0, f"{fmt_x(x)} ({fmt_ns(s['ns_per_op'])} vs {fmt_ns(p['ns_per_op'])})")
    for peer, name in (("redis", "Redis (Unix socket)"), ("manager", "multiprocessing.Manager")):
        s, p = find(rows, "python", "map_get", "sharena"), find(rows, "python", "map_get", peer)
        if s and p:
            x = p["ns_per_op"] / s["ns_per_op"]
            t("DESIGN 6, issues 7, 8", f"Python: map get >= 50x {name}").ratio_at_least(
                x, 50.0, f"{fmt_x(x)} ({fmt_ns(s['ns_per_op'])} vs {fmt_ns(p['ns_per_op'])})")
    s, p = find(rows, "node", "map_get", "sharena"), find(rows, "node", "map_get", "redis")
    if s and p:
        x = p["ns_per_op"] / s["ns_per_op"]
        t("DESIGN 6", "Node: map get >= 50x Redis (Unix socket)").ratio_at_least(
            x, 50.0, f"{fmt_x(x)} ({fmt_ns(s['ns_per_op'])} vs {fmt_ns(p['ns_per_op'])})")
    x = t("DESIGN 6", "Node: map get >= 50x multiprocessing.Manager")
    x.measured = "does not apply: Manager is a Python facility (Python row above)"
    return out


def cpu_scaling(one: dict, two: dict) -> float:
    """Scaling with the CPU time the readers actually got factored out:
    two readers' gets per CPU-second, times two, over one reader's."""
    c1, c2 = one.get("cores") or 1.0, two.get("cores") or 2.0
    return 2 * (two["ops_per_s"] / c2) / (one["ops_per_s"] / c1)


def ops_of(rows, bench):
    seen = []
    for r in rows:
        if r["bench"] == bench and r["op"] not in seen:
            seen.append(r["op"])
    return seen


# ---------------------------------------------------------------------------
# Notes on missed targets: what profiling found (kept next to the code that
# prints them, shown only while the target is missed).

def analysis_for(what: str, rows) -> str | None:
    """Why a missed target is missed: what profiling found, with this run's
    numbers. Shown only while the target is missed."""
    def ns(bench, op, impl="sharena"):
        r = find(rows, bench, op, impl)
        return r["ns_per_op"] if r else float("nan")

    if "lock+unlock" in what:
        return (
            f"**lock+unlock** ({ns('c', 'lock_unlock'):.1f} ns; a pthread mutex pair "
            f"{ns('c', 'lock_unlock', 'pthread mutex'):.1f} ns in the same run is no "
            "measure of the floor: in a single-threaded process glibc takes and "
            "releases it without the `lock` prefix). sharena's pair is two locked "
            "read-modify-writes on a word other processes share (CAS, then exchange: "
            "an unlock must see a waiter bit set in between) plus about 240 "
            "instructions of id resolution, generation checks, the held-lock list and "
            "the hold-time stamp (callgrind; `sharena__slot_at` inline since commit "
            "31ec4c3 took 40 off). The same code measured 11-12 ns on this machine "
            "in earlier runs and 16-19 ns in others: how fast the host runs locked "
            "instructions moves more than the margin. Profile with `perf record "
            "build-bench/bench/sharena_bench --only lock_unlock`.")
    if "the seed package" in what:
        floor = ns("node", "napi_floor", "napi-noop")
        num = ns("node", "number_get")
        seed_num = ns("node", "number_get", "seed")
        return (
            "**Node vs the seed**: sharena's per-call cost in Node is mostly N-API "
            f"itself. A no-op N-API function of the same shape costs {floor:.1f} ns in "
            f"this run (bench/node/napi_floor.c); NumberRef.obtainValue costs "
            f"{num:.1f} ns, {num - floor:.1f} ns above that floor. 5x the seed's "
            f"{seed_num:.0f} ns would be {seed_num / 5:.1f} ns"
            f"{', below the floor' if seed_num / 5 < floor else ''}. perf on the Node "
            "map get: ~19% `v8::String::WriteUtf8` (the key), ~25% the library's lookup "
            "(hash, probe, seqlock), the rest N-API entry/exit, argument conversion and "
            "the ref object the API returns. The operations that miss are the ones "
            "where the seed's own work is small; where the seed does more (struct "
            "getKey) sharena is >= 5x. Closing the gap needs a cheaper boundary than "
            "one N-API call per operation (V8 fast API calls, which N-API does not "
            "offer, or batched calls), not a faster arena.")
    if "reader" in what:
        one = find(rows, "c", "read_scaling", "sharena", readers=1)
        two = find(rows, "c", "read_scaling", "sharena", readers=2)
        return (
            "**read scaling**: the two readers need both cores of this 2-core machine, "
            f"and in this run they got {two.get('cores', float('nan')):.2f} cores between "
            f"them (CPU time over wall time; one reader alone got "
            f"{one.get('cores', float('nan')):.2f}): other work on the shared machine "
            "(the load average is in the header) held the other core. Per CPU-second "
            f"the two readers did {fmt_x(cpu_scaling(one, two))} of one reader's work, "
            "i.e. they do not slow each other down: the seqlock read path writes no "
            "shared cache line. On an idle machine the wall-clock ratio equals the "
            "per-CPU-second one.")
    return None


def observations(rows) -> list[str]:
    """Costs that no target covers but that stand out in this run."""
    out = []
    sset, sget = find(rows, "c", "string_set", "sharena"), find(rows, "c", "string_get", "sharena")
    bw = find(rows, "c", "bytes_write", "sharena")
    if sset and sget and bw and sset["ns_per_op"] > 2 * bw["ns_per_op"]:
        out.append(
            f"C string set ({fmt_ns(sset['ns_per_op'])}) costs {sset['ns_per_op'] / sget['ns_per_op']:.0f}x "
            f"a string get and {sset['ns_per_op'] / bw['ns_per_op']:.1f}x a 64-byte bytes write: "
            "sharena_string_set allocates a new block and frees the old one on every call, "
            "even for text of the same length (perf: sharena__alloc_locked, "
            "sharena__free_locked, the free-list insert/remove and two arena-lock round trips). "
            "The swap is what crash safety rests on (docs/locking.md): a writer killed "
            "mid-set leaves the old text or the new one, never a mix, which rewriting in "
            "place could not promise. Text up to 4 KiB already takes one arena-locked "
            "section for the allocation, the swap and the free; the rest is the "
            "allocator's own work.")
    pset, pget = find(rows, "python", "map_set", "sharena"), find(rows, "python", "map_get", "sharena")
    if pset and pget and pset["ns_per_op"] > 2 * pget["ns_per_op"]:
        out.append(
            f"Python `m[k] = 2.5` ({fmt_ns(pset['ns_per_op'])}) costs "
            f"{pset['ns_per_op'] / pget['ns_per_op']:.1f}x a get: assigning a plain value "
            "stores a new owned number and drops the one it replaces (an allocation and a "
            "free per assignment); `m.ref(k).value = 2.5` updates the number in place.")
    return out


# ---------------------------------------------------------------------------

PEER_ORDER = {
    "c": ["local hash map", "local memory", "local array", "pthread mutex"],
    "node": ["seed", "seed-api", "lmdb", "lmdb-validated", "lmdb-nocache", "redis"],
    "python": ["dict", "list", "manager", "redis", "shareablelist"],
}


def table(rows, bench) -> list[str]:
    """One row per operation. C: the peer's name, its time and sharena's cost
    over the peer's. Node and Python: a column per peer, then each peer's
    time over sharena's (how many times faster sharena is)."""
    lines = []
    peers = [p for p in PEER_ORDER[bench] if any(r["bench"] == bench and r["impl"] == p for r in rows)]
    ops = [op for op in ops_of(rows, bench)
           if (find(rows, bench, op, "sharena") or {}).get("ns_per_op") is not None
           and op not in ("read_scaling", "memory")]
    if bench == "c":
        lines.append("| operation | sharena | process-local peer | peer | sharena ÷ peer |")
        lines.append("|---|---|---|---|---|")
        for op in ops:
            s = find(rows, bench, op, "sharena")
            p = next((find(rows, bench, op, q) for q in peers if find(rows, bench, op, q)), None)
            if p:
                lines.append(f"| {s['group']} | {fmt_ns(s['ns_per_op'])} | {p['impl']} | "
                             f"{fmt_ns(p['ns_per_op'])} | {fmt_x(s['ns_per_op'] / p['ns_per_op'])} |")
            else:
                lines.append(f"| {s['group']} | {fmt_ns(s['ns_per_op'])} | – | – | – |")
        return lines
    lines.append("| operation | sharena | " + " | ".join(peers) + " | " +
                 " | ".join(f"{p} ÷ sharena" for p in peers) + " |")
    lines.append("|" + "---|" * (2 + 2 * len(peers)))
    for op in ops:
        s = find(rows, bench, op, "sharena")
        cells, ratios = [], []
        for p in peers:
            r = find(rows, bench, op, p)
            cells.append(fmt_ns(r["ns_per_op"]) if r else "–")
            ratios.append(fmt_x(r["ns_per_op"] / s["ns_per_op"]) if r else "–")
        lines.append(f"| {s['group']} | {fmt_ns(s['ns_per_op'])} | " + " | ".join(cells) +
                     " | " + " | ".join(ratios) + " |")
    return lines


def plot(rows, png: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("c", "C (sharena vs process-local peers)"),
              ("node", "Node (sharena vs seed package)"),
              ("python", "Python (sharena vs dict, Manager, Redis, ShareableList)")]
    colors = {"sharena": "#1b7837", "local hash map": "#999999", "local memory": "#bbbbbb",
              "local array": "#cccccc", "pthread mutex": "#aaaaaa", "seed": "#d6604d",
              "seed-api": "#f4a582", "lmdb": "#762a83", "lmdb-validated": "#9970ab",
              "lmdb-nocache": "#c2a5cf", "dict": "#bbbbbb", "list": "#cccccc",
              "manager": "#4393c3", "redis": "#b2182b", "shareablelist": "#92c5de"}
    fig, axes = plt.subplots(3, 1, figsize=(12, 14))
    for ax, (bench, title) in zip(axes, panels):
        ops = [op for op in ops_of(rows, bench)
               if find(rows, bench, op, "sharena") and "ns_per_op" in find(rows, bench, op, "sharena")
               and op not in ("read_scaling", "memory")]
        impls = ["sharena"] + [p for p in PEER_ORDER[bench]
                               if any(r["bench"] == bench and r["impl"] == p for r in rows)]
        # each operation's bars side by side, centred on its tick
        present = {op: [i for i in impls if find(rows, bench, op, i)] for op in ops}
        width = 0.8 / max(len(v) for v in present.values())
        for impl in impls:
            xs, ys = [], []
            for i, op in enumerate(ops):
                if impl in present[op]:
                    j, k = present[op].index(impl), len(present[op])
                    xs.append(i + (j - (k - 1) / 2) * width)
                    ys.append(find(rows, bench, op, impl)["ns_per_op"])
            ax.bar(xs, ys, width, label=impl, color=colors.get(impl))
        ax.set_yscale("log")
        ax.set_ylabel("ns per operation (log)")
        ax.set_title(title)
        ax.set_xticks(range(len(ops)))
        ax.set_xticklabels([find(rows, bench, op, "sharena")["group"] for op in ops],
                           rotation=25, ha="right", fontsize=8)
        ax.grid(axis="y", which="major", alpha=0.3)
        ax.legend(fontsize=8, ncol=len(impls))
    fig.suptitle("sharena benchmarks (lower is better; one run, see docs/benchmarks.md)")
    fig.tight_layout()
    fig.savefig(png, dpi=90)


def compare_section(path: Path) -> list[str]:
    """The "Against an earlier revision" section: the title and table(s) of
    each comparison in docs/benchmarks-compare.md."""
    md = ["## Against an earlier revision", "",
          "From [benchmarks-compare.md](benchmarks-compare.md) (`bench/compare.sh "
          "BASE`, a separate invocation: both trees built, their runs alternating), "
          "for the no-slower-than-before checks of a change.", ""]
    # each comparison: its title (a "# " line) and its table
    for l in path.read_text().splitlines():
        if l.startswith("# "):
            md += [f"### {l[2:]}", ""]
        elif l.startswith("|"):
            md.append(l)
        elif md[-1].startswith("|"):
            md.append("")
    if md[-1]:
        md.append("")
    return md


def refresh_sections(page: Path) -> None:
    """--sections: rewrite only the Memory and Against-an-earlier-revision
    sections of an existing page from docs/benchmarks-memory.md and
    docs/benchmarks-compare.md (each written by its own invocation), keeping
    the rest, whose numbers only a full bench/run.sh rewrites."""
    text = page.read_text().split("\n")
    new = {"## Memory": page.parent / "benchmarks-memory.md",
           "## Against an earlier revision": page.parent / "benchmarks-compare.md"}
    out, skip = [], False
    for l in text:
        if l.startswith("## "):
            skip = False
            src = new.get(l.strip())
            if src is not None and src.exists():
                out.extend(memory_section(src) if l.strip() == "## Memory"
                           else compare_section(src))
                skip = True
                continue
        if not skip:
            out.append(l)
    page.write_text("\n".join(out))
    print(f"report: rewrote the Memory and Against-an-earlier-revision sections of {page}",
          file=sys.stderr)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sections", action="store_true",
                    help="only rewrite the Memory and Against-an-earlier-revision "
                         "sections of --md from their pages (no --results needed)")
    ap.add_argument("--results", type=Path)
    ap.add_argument("--md", required=True, type=Path)
    ap.add_argument("--png", type=Path)
    ap.add_argument("--load-before", default="")
    ap.add_argument("--load-after", default="")
    ap.add_argument("--elapsed", default="")
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    if a.sections:
        refresh_sections(a.md)
        return
    if a.results is None or a.png is None:
        ap.error("--results and --png are needed (or --sections)")

    rows = load(a.results)
    m = machine()
    ts = targets(rows)
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    md: list[str] = []
    w = md.append
    w("# Benchmarks")
    w("")
    dirty = (f" with uncommitted changes to {', '.join(m['lib_dirty'])}" if m["lib_dirty"] else "")
    w(f"Written by `bench/run.sh` on {now}{' (--quick run: short timings)' if a.quick else ''}, "
      f"commit `{m['commit']}`{dirty}. Machine: {m['nproc']} cores ({m['cpu']}), {m['mem']} RAM, "
      f"Linux {m['kernel']}; {m['cc']}; node {m['node']}; Python {m['python']}. "
      f"Load average (1/5/15 min) {a.load_before} before the run, {a.load_after} after"
      f"{f'; the run took {a.elapsed} s including set-up' if a.elapsed else ''}.")
    w("")
    w("The machine is shared with other work, so absolute numbers move between runs; "
      "every ratio below compares two numbers measured in this same run, "
      "interleaved (sharena, peer, sharena, peer, ...). Each number is the best of "
      "several timed runs of 50-80 ms each (5 for most; 3 for Redis from Node and for "
      "any peer too slow to reach 1000 calls in a run; 2 of the 1M-key inserts); "
      "`build-bench/results/*.jsonl` also has the medians.")
    w("")
    w("![benchmarks](benchmarks.png)")
    w("")
    w("## Targets")
    w("")
    w("| source | target | measured | status |")
    w("|---|---|---|---|")
    for t in ts:
        w(f"| {t.source} | {t.what} | {t.measured} | {t.status()} |")
    w("")
    missed = [t for t in ts if t.met is False]
    met = sum(1 for t in ts if t.met)
    w(f"{met} of {sum(1 for t in ts if t.met is not None)} measured targets met.")
    w("")
    notes = []
    for t in missed:
        note = analysis_for(t.what, rows)
        if note and note not in notes:
            notes.append(note)
    if notes:
        w("### Why the missed targets are missed")
        w("")
        for n in notes:
            w(f"- {n}")
        w("")
    obs = observations(rows)
    if obs:
        w("### Other observations")
        w("")
        for n in obs:
            w(f"- {n}")
        w("")

    w("## C")
    w("")
    w("`build-bench/bench/sharena_bench` (Release build), on an arena opened through "
      "a private `sharenad`. Peers are process-local and measured in the same loop shape: "
      "an open-addressing hash table written for the benchmark (`bench/c/localmap.c`: "
      "linear probing, load <= 3/4, keys in a private pool), plain memory, a growable "
      "array, a pthread mutex. Keys are 12 bytes (`user:NNNNNNN`); the 1M-key rows "
      "visit keys in a random order (cache misses dominate); values are ids "
      "(map set replaces an id, no allocation). The last column is sharena's cost "
      "divided by the peer's (1.00x = as fast as the unshared peer); only the map "
      "rows have a like-for-like peer, the others compare with bare memory "
      "operations to show what sharing costs.")
    w("")
    md.extend(table(rows, "c"))
    w("")
    one = find(rows, "c", "read_scaling", "sharena", readers=1)
    two = find(rows, "c", "read_scaling", "sharena", readers=2)
    if one and two:
        w(f"**Read scaling** (map gets on one named arena, each reader a separate "
          f"process with its own broker connection, read-only mapping, best of 3 "
          f"runs of 0.5 s): 1 reader {one['ops_per_s'] / 1e6:.1f} M gets/s, 2 readers "
          f"{two['ops_per_s'] / 1e6:.1f} M gets/s together, "
          f"**{two['ops_per_s'] / one['ops_per_s']:.2f}x**. CPU the readers got: "
          f"{one.get('cores', float('nan')):.2f} core alone, {two.get('cores', float('nan')):.2f} "
          f"cores for the pair; per CPU-second the pair did {cpu_scaling(one, two):.2f}x "
          f"one reader's work.")
        w("")
    op_, cl, cn = (find(rows, "c", o, "sharena") for o in ("open_arena", "close_arena", "connect"))
    if op_ and cl and cn:
        w(f"**Broker round trips**: opening an existing arena (OPEN, fd passing, seal "
          f"and header checks, mmap) {fmt_ns(op_['ns_per_op'])}; closing it "
          f"{fmt_ns(cl['ns_per_op'])}; connect + HELLO + disconnect "
          f"{fmt_ns(cn['ns_per_op'])}. None of these is on the data path.")
        w("")
    mem = find(rows, "c", "memory", "sharena")
    if mem:
        w(f"**Memory**: a new arena of {mem['capacity'] >> 30} GiB capacity occupies "
          f"{mem['ram_empty'] / 1024:.0f} KiB of RAM (memfd pages, `st_blocks`); after "
          f"1024 keys with 1 KiB strings ({mem['data_bytes'] / 1048576:.2f} MiB of keys "
          f"and text) it occupies {mem['ram_bytes'] / 1048576:.2f} MiB.")
        w("")

    w("## Node")
    w("")
    w("`bench/node/bench.js`: sharena's public API (`require('sharena')`, the "
      "in-process default arena) against the seed package "
      "`@alshdavid/worker-shared-memory`. The registry has only its native "
      "package (`@alshdavid/worker-shared-memory_linux-amd64` 0.0.8), so `seed` "
      "calls its exported native functions directly: the cheapest the seed can be, "
      "and the column the >= 5x target is judged on. `seed-api` adds what the "
      "seed's JS classes do around get/index (`js_typeof` and a ref object), for "
      "reference. The seed's `drop` deadlocks, so vector push leaves its old "
      "seed vectors behind. `redis` is a GET through node-redis to a private "
      "`redis-server` on a Unix socket, one awaited call at a time. The ratio "
      "columns are the peer's time divided by sharena's (how many times faster "
      "sharena is).")
    w("")
    md.extend(table(rows, "node"))
    w("")
    fl = find(rows, "node", "napi_floor", "napi-noop")
    if fl:
        w(f"For scale: a no-op N-API call (two numbers in, a double out; "
          f"`bench/node/napi_floor.c`) costs {fmt_ns(fl['ns_per_op'])} in this run, the "
          f"floor under any N-API binding's per-call cost.")
        w("")
    # issue 17's table (bench/node/compare.js, a separate invocation against
    # the tree before it, with its peers): kept in a page of its own, so
    # that a run of this script keeps it
    node17 = a.md.parent / "benchmarks-node.md"
    if node17.exists():
        for line in node17.read_text().splitlines():
            w(f"##{line}" if line.startswith("# ") else line)
        if md[-1]:
            w("")

    w("## Python")
    w("")
    w("`bench/python/bench.py`: sharena's `Map` and `Vector` (a named arena through a "
      "private `sharenad`; values are floats) against a plain `dict`/`list` (not "
      "shared: the floor), `multiprocessing.Manager().dict()`, Redis over a Unix "
      "socket (Debian's `redis-server` on a private socket, redis-py), and "
      "`ShareableList` for index get/set (it has no map). Every implementation "
      "runs the same `for k in keys: m[k]` loop. The ratio columns are the peer's "
      "time divided by sharena's (below 1: the unshared dict/list is faster). "
      "Manager and Redis calls are round trips to another process, so their times "
      "follow how quickly this VM wakes a sleeping process: they vary 2-4x from run "
      "to run here, far less than their distance to sharena.")
    w("")
    md.extend(table(rows, "python"))
    w("")
    wake = a.md.parent / "benchmarks-wake.md"
    if wake.exists():
        w("## Wake-up latency")
        w("")
        w("From [benchmarks-wake.md](benchmarks-wake.md) (`bench/wake/run.py`, run by "
          "`bench/run.sh` in the same invocation, after the tables above): a writer's "
          "store to a waiter running in another process, against a Unix-socket message "
          "between the same kinds of processes.")
        w("")
        md.extend(l for l in wake.read_text().splitlines() if l.startswith("|"))
        w("")
    mem = a.md.parent / "benchmarks-memory.md"
    if mem.exists():
        md.extend(memory_section(mem))
    cmp = a.md.parent / "benchmarks-compare.md"
    if cmp.exists():
        md.extend(compare_section(cmp))
    w("## Reproducing")
    w("")
    w("`bench/run.sh` sets everything up and rewrites this page and the plot; the "
      "raw JSON lines stay in `build-bench/results/`. `sharena_bench --only OP` "
      "runs one C operation, for `perf record` or `valgrind --tool=callgrind`.")
    w("")
    a.md.write_text("\n".join(md))
    plot(rows, a.png)
    print(f"report: wrote {a.md} and {a.png}: {met} targets met, {len(missed)} missed",
          file=sys.stderr)
    for t in missed:
        print(f"  missed: {t.what}: {t.measured}", file=sys.stderr)


if __name__ == "__main__":
    main()
