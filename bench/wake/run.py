"""bench/wake/run.py: wake-up latency of sharena waits across languages
against a Unix-socket message between the same kind of processes, in one
run. Writes docs/benchmarks-wake.md. Needs build/ (scripts/bootstrap.sh; or
$SHARENA_WAKE_BUILD, a build directory with lib/libsharena.a and
broker/sharenad), the Node addon (scripts/setup-node.sh) and build/venv
(setup-python.sh). bench/run.sh runs it with the other benchmarks.

    build/venv/bin/python bench/wake/run.py [N]
"""
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
# the library and broker to measure: build/ by default; bench/run.sh passes
# its Release build
BUILD = Path(os.environ.get("SHARENA_WAKE_BUILD") or ROOT / "build")
N = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
ROUNDS = 5


def mid(results):
    """Median over rounds of each round's median and p99."""
    def med(v):
        v = sorted(v)
        return v[len(v) // 2]
    return {"median_us": med([r["median_us"] for r in results]),
            "p99_us": med([r["p99_us"] for r in results]),
            "rounds": [r["median_us"] for r in results]}


def build_c(tmp):
    exe = os.path.join(tmp, "wake")
    subprocess.run(["cc", "-O2", "-std=gnu11", f"-I{ROOT}/lib/include", str(HERE / "wake.c"),
                    str(BUILD / "lib" / "libsharena.a"), "-lpthread", "-o", exe],
                   check=True)
    return exe


def cmd(lang, exe, *args):
    return {"c": [exe], "node": ["node", str(HERE / "wake.js")],
            "py": [sys.executable, str(HERE / "wake.py")],
            "py-asyncio": [sys.executable, str(HERE / "wake.py")]}[lang] + list(args)


# How each kind of waiter waits: py-asyncio awaits ref.changed() (and reads
# its socket with an asyncio stream) where py blocks in ref.wait() (recv()).
WAIT_MODES = {"py-asyncio": ("await", "sockawait")}


def pair(env, exe, writer, waiter, wait_mode, write_mode, where):
    w = subprocess.Popen(cmd(waiter, exe, wait_mode, where, str(N)), env=env,
                         stdout=subprocess.PIPE, text=True)
    assert w.stdout.readline().strip() == "READY"
    subprocess.run(cmd(writer, exe, write_mode, where, str(N)), env=env, check=True, timeout=300)
    out, _ = w.communicate(timeout=300)
    return json.loads(out.strip().splitlines()[-1])


def main():
    tmp = tempfile.mkdtemp(prefix="sharena-wake.")
    exe = build_c(tmp)
    sock = os.path.join(tmp, "broker.sock")
    broker = subprocess.Popen([str(BUILD / "broker" / "sharenad"), "--foreground",
                               "--socket", sock], stderr=subprocess.DEVNULL)
    while not os.path.exists(sock):
        time.sleep(0.01)
    env = dict(os.environ, SHARENA_SOCKET=sock, SHARENA_AUTOSTART="0")
    rows = []
    try:
        # The event-loop waiters (node, py-asyncio) poll the io_uring
        # notifier; their "(thread)" rows force the fallback helper thread
        # (SHARENA_NO_IO_URING=1) in the same run, for comparison.
        thread = {"SHARENA_NO_IO_URING": "1"}
        for writer, waiter, extra in [("c", "c", {}), ("c", "node", {}), ("c", "node", thread),
                                      ("c", "py", {}), ("c", "py-asyncio", {}),
                                      ("c", "py-asyncio", thread), ("node", "py", {})]:
            wait_mode, sockwait_mode = WAIT_MODES.get(waiter, ("wait", "sockwait"))
            label = f"{writer} -> {waiter}" + (" (thread)" if extra else "")
            renv = dict(env, **extra)
            # ROUNDS rounds, sharena and socket interleaved; each column is
            # the median of the rounds' medians (and p99s), so one noisy
            # stretch of the shared machine does not decide a row
            ss, ps = [], []
            for rnd in range(ROUNDS):
                ss.append(pair(renv, exe, writer, waiter, wait_mode, "write",
                               f"wake.{writer}.{waiter}.{len(rows)}.{rnd}"))
                ps.append(pair(env, exe, writer, waiter, sockwait_mode, "sockwrite",
                               os.path.join(tmp, f"{writer}-{waiter}.{len(rows)}.{rnd}.sock")))
            s, p = mid(ss), mid(ps)
            rows.append((label, s, p))
            print(f"{label:<28}  sharena median {s['median_us']:8.1f} us  "
                  f"p99 {s['p99_us']:8.1f} us" + (
                      f"   socket median {p['median_us']:8.1f} us  p99 {p['p99_us']:8.1f} us"
                      if p else ""), flush=True)
    finally:
        broker.send_signal(signal.SIGTERM)
        broker.wait(30)
        shutil.rmtree(tmp, ignore_errors=True)
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                if l.startswith("model name")), platform.machine())
    lines = [
        "# Wake-up latency",
        "",
        f"Measured by `bench/wake/run.py` on {time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores "
        f"({cpu}), {ROUNDS} rounds of {N} wake-ups per row, one writer store every 300 us;",
        "sharena and socket rounds alternate, and each figure is the median over the",
        "rounds of that round's median (or p99).",
        "Latency is from the writer's clock read just before its store (or",
        "`write()` on the socket) to the waiter running after it woke",
        "(CLOCK_MONOTONIC in every language). The socket column sends the same",
        "timestamp over a Unix stream socket between the same kinds of processes,",
        "measured in the same run.",
        "",
        "| writer -> waiter | sharena median | sharena p99 | socket median | socket p99 | sharena / socket (median) |",
        "|---|---|---|---|---|---|",
    ]
    for name, s, p in rows:
        if p:
            lines.append(f"| {name} | {s['median_us']:.1f} us | {s['p99_us']:.1f} us | "
                         f"{p['median_us']:.1f} us | {p['p99_us']:.1f} us | "
                         f"{s['median_us'] / p['median_us']:.2f} |")
        else:
            lines.append(f"| {name} | {s['median_us']:.1f} us | {s['p99_us']:.1f} us | - | - | - |")
    cc = rows[0][1]["median_us"]
    lines += ["", "Targets (issue 10): sharena's wake-up no slower than the socket "
              "message, and C -> C under 10 us median: C -> C is "
              f"{cc:.1f} us ({'met' if cc < 10 else 'missed by %.1f us' % (cc - 10)}).", ""]
    for name, s, p in rows:
        ok = s["median_us"] <= p["median_us"]
        lines.append(f"- {name}: {'no slower than the socket (met)' if ok else 'slower than the socket (missed)'}"
                     f"; round medians sharena {', '.join('%.1f' % x for x in s['rounds'])} us,"
                     f" socket {', '.join('%.1f' % x for x in p['rounds'])} us.")
    lines += [
        "",
        "How event loops wait: a futex cannot be polled, so Node's changed() and",
        "Python's asyncio changed() use the C library's pollable notifier: an",
        "io_uring IORING_OP_FUTEX_WAIT on the arena's change counter whose",
        "completion signals an eventfd registered on the ring, polled by the loop",
        "(a uv_poll_t in Node, loop.add_reader() in asyncio). The writer's",
        "FUTEX_WAKE completes the wait and the loop wakes directly, as it does for",
        "a socket. Without it (Linux before 6.7, io_uring disabled or filtered,",
        "read-only arenas, SHARENA_NO_IO_URING=1) a helper thread sleeps in",
        "FUTEX_WAIT and hands each wake-up to the loop (napi_threadsafe_function /",
        "call_soon_threadsafe): two wake-ups in series; the \"(thread)\" rows measure",
        "that path in the same run. Blocking waiters (C, Python's ref.wait()) wake",
        "in the waiting thread itself. The py-asyncio socket peer is an asyncio",
        "stream reader on the same kind of loop.",
        "",
        "The machine is shared and noisy; the ratio column is the meaningful one.", ""]
    (ROOT / "docs" / "benchmarks-wake.md").write_text("\n".join(lines))
    print("wrote docs/benchmarks-wake.md")


if __name__ == "__main__":
    main()
