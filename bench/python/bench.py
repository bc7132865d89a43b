"""sharena's Python API against the other ways Python processes share a map.

Peers, all measured in this run:
  dict          a plain, process-local dict (the floor: not shared at all)
  manager       multiprocessing.Manager().dict(): a server process, a pickled
                request and reply per access
  redis         Debian's redis-server, started here on a private Unix socket
                in a mktemp directory, through redis-py
  shareablelist multiprocessing.shared_memory.ShareableList: shared memory,
                but a fixed-size list, so it applies to index get/set only
sharena is used through its public API on a named arena opened through a
private sharenad (started here), so the numbers include everything a user
pays: key conversion, the lock-free read, the float coming back.

Output: JSON lines on stdout, a summary on stderr.
    python bench.py --sharenad PATH [--redis-server PATH] [--quick]
"""
from __future__ import annotations

import argparse
import atexit
import gc
import json
import os
import shutil
import socket as socketlib
import subprocess
import sys
import tempfile
import time
from multiprocessing import Manager
from multiprocessing.shared_memory import ShareableList

import sharena

KEYS = 1024


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sharenad", required=True, help="path of the sharenad binary")
    p.add_argument("--redis-server", default=shutil.which("redis-server") or "",
                   help="path of redis-server (Debian package redis-server)")
    p.add_argument("--quick", action="store_true", help="shorter runs")
    return p.parse_args()


def wait_for_socket(path: str, proc: subprocess.Popen, what: str, kind: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited during start-up ({proc.returncode})")
        s = socketlib.socket(socketlib.AF_UNIX, kind)
        try:
            s.connect(path)
            return
        except OSError:
            time.sleep(0.01)
        finally:
            s.close()
    raise SystemExit(f"{what} did not listen on {path}")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main() -> None:
    args = parse_args()
    target = 0.02 if args.quick else 0.08  # seconds per timed run
    reps = 3 if args.quick else 5
    slow_reps = 3  # for the peers that take tens of microseconds per call

    tmp = tempfile.mkdtemp(prefix="sharena-pybench.")
    atexit.register(shutil.rmtree, tmp, True)

    # -- the private broker and the arena
    broker_sock = os.path.join(tmp, "broker.sock")
    broker = subprocess.Popen([args.sharenad, "--foreground", "--socket", broker_sock],
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    atexit.register(stop, broker)
    wait_for_socket(broker_sock, broker, "sharenad", socketlib.SOCK_SEQPACKET)
    arena = sharena.open("bench-py", create=True, socket=broker_sock)
    atexit.register(arena.close)

    # -- Redis on a private Unix socket
    redis_client = None
    if args.redis_server:
        import redis  # pip install redis (bench/run.sh does)
        redis_sock = os.path.join(tmp, "redis.sock")
        rproc = subprocess.Popen(
            [args.redis_server, "--port", "0", "--unixsocket", redis_sock,
             "--unixsocketperm", "700", "--save", "", "--appendonly", "no",
             "--dir", tmp, "--daemonize", "no", "--loglevel", "warning"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        atexit.register(stop, rproc)
        wait_for_socket(redis_sock, rproc, "redis-server", socketlib.SOCK_STREAM)
        redis_client = redis.Redis(unix_socket_path=redis_sock)
        redis_client.ping()
    else:
        print("python bench: no redis-server, Redis is skipped", file=sys.stderr)

    manager = Manager()
    atexit.register(manager.shutdown)

    keys = [f"user:{(i * 2654435761) % 10000000:07d}" for i in range(KEYS)]
    m = arena.map("m")
    d: dict = {}
    md = manager.dict()
    for i, k in enumerate(keys):
        m[k] = float(i)
        d[k] = float(i)
    md.update(d)
    if redis_client is not None:
        redis_client.mset({k: str(float(i)) for i, k in enumerate(keys)})
    v = arena.vector("v")
    v.extend(float(i) for i in range(KEYS))
    lst = [float(i) for i in range(KEYS)]
    sl = ShareableList([float(i) for i in range(KEYS)])
    atexit.register(sl.shm.unlink)
    atexit.register(sl.shm.close)

    def key_stream(n: int) -> list:
        return (keys * (n // KEYS + 1))[:n]

    def idx_stream(n: int) -> list:
        return [i & (KEYS - 1) for i in range(n)]

    # Bodies take a prepared list of keys/indexes so that the loop overhead
    # is the same few nanoseconds for every implementation.
    def get_map(mp):
        def body(ks):
            for k in ks:
                mp[k]
        return body

    def set_map(mp, val):
        def body(ks):
            for k in ks:
                mp[k] = val
        return body

    def r_get(ks):
        g = redis_client.get
        for k in ks:
            g(k)

    def r_set(ks):
        s = redis_client.set
        for k in ks:
            s(k, "2.5")

    ops = [
        ("map_get", "map get (1k keys)", key_stream, [
            ("sharena", get_map(m)), ("dict", get_map(d)), ("manager", get_map(md)),
            ("redis", r_get)]),
        ("map_set", "map set (1k keys, float)", key_stream, [
            ("sharena", set_map(m, 2.5)), ("dict", set_map(d, 2.5)),
            ("manager", set_map(md, 2.5)), ("redis", r_set)]),
        ("index_get", "sequence index get (1k items)", idx_stream, [
            ("sharena", get_map(v)), ("list", get_map(lst)),
            ("shareablelist", get_map(sl))]),
        ("index_set", "sequence index set (1k items, float)", idx_stream, [
            ("sharena", set_map(v, 2.5)), ("list", set_map(lst, 2.5)),
            ("shareablelist", set_map(sl, 2.5))]),
    ]
    if redis_client is None:
        for op in ops:
            op[3][:] = [x for x in op[3] if x[0] != "redis"]

    def run_once(fn, stream, n: int) -> float:
        data = stream(n)
        gc.disable()
        t0 = time.perf_counter_ns()
        fn(data)
        dt = time.perf_counter_ns() - t0
        gc.enable()
        return dt / n

    def calibrate(fn, stream) -> int:
        n = 64
        while True:
            per = run_once(fn, stream, n)
            if per * n >= target * 1e9 / 8 or n >= 1 << 24:
                m_ = max(16, min(1 << 24, int(target * 1e9 / max(per, 0.01))))
                if m_ > n:
                    m_ = max(16, min(1 << 24, int(target * 1e9 / max(run_once(fn, stream, m_), 0.01))))
                return m_
            n *= 4

    print(f"Python benchmark ({'quick' if args.quick else 'full'}), "
          f"Python {sys.version.split()[0]}", file=sys.stderr)
    for op, group, stream, impls in ops:
        iters = {name: calibrate(fn, stream) for name, fn in impls}
        runs: dict = {name: [] for name, _ in impls}
        nreps = max(reps if iters[name] > 1000 else slow_reps for name, _ in impls)
        for _ in range(nreps):
            for name, fn in impls:
                if len(runs[name]) < (reps if iters[name] > 1000 else slow_reps):
                    runs[name].append(run_once(fn, stream, iters[name]))
        best = {}
        for name, _ in impls:
            rs = sorted(runs[name])
            best[name] = rs[0]
            print(json.dumps({"bench": "python", "op": op, "group": group, "impl": name,
                              "ns_per_op": round(rs[0], 3),
                              "median_ns": round(rs[len(rs) // 2], 3),
                              "iters": iters[name], "runs": len(rs)}), flush=True)
        peers = "   ".join(f"{n} {best[n]:.0f} ns (x{best[n] / best['sharena']:.1f})"
                           for n, _ in impls if n != "sharena")
        print(f"  {group:<38} sharena {best['sharena']:.0f} ns   {peers}", file=sys.stderr)


if __name__ == "__main__":
    main()
