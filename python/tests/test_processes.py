"""Several processes on one arena: nothing lost, zero-copy bytes, blocking
calls release the GIL, Ctrl-C interrupts a wait."""
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import sharena

N = 10_000
WORKERS = 4


def _hammer(name, socket, worker):
    a = sharena.open(name, socket=socket)
    m = a.map("m")
    keys = a.map("keys")
    counter = m.ref("count")
    for i in range(N):
        counter.add(1)
        keys[f"w{worker}.{i}"] = i
    a.close()


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_four_processes_lose_nothing(arena, name, broker, method):
    m = arena.map("m")
    m["count"] = 0
    arena.map("keys")
    ctx = mp.get_context(method)
    procs = [ctx.Process(target=_hammer, args=(name, broker.socket, w)) for w in range(WORKERS)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(300)
        assert p.exitcode == 0
    assert m["count"] == WORKERS * N
    keys = arena.map("keys")
    assert len(keys) == WORKERS * N
    assert all(keys[f"w{w}.{N - 1}"] == N - 1 for w in range(WORKERS))


def _child_uses_inherited(arena_, q):
    # a fork child uses the parent's open arena (it gets its own slot)
    m = arena_.map("m")
    m.ref("count").add(5)
    m["child"] = os.getpid()
    q.put(m["count"])


def test_fork_child_uses_parents_arena(arena):
    arena.map("m")["count"] = 1
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=_child_uses_inherited, args=(arena, q))
    p.start()
    got = q.get(timeout=60)
    p.join(60)
    assert p.exitcode == 0 and got == 6.0
    assert arena.map("m")["child"] == p.pid


def test_local_arena_shared_with_fork_children():
    a = sharena.local(capacity=1 << 20)
    m = a.map("m")
    m["count"] = 0
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=lambda: [m.ref("count").add(1) for _ in range(1000)])
             for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert m["count"] == 2000
    a.close()


def _numpy_writer(name, socket, ready, go):
    import numpy as np
    a = sharena.open(name, socket=socket)
    arr = np.frombuffer(a.bytes("frame", 4096), dtype=np.float64)
    arr[:] = np.arange(arr.size, dtype=np.float64)
    ready.set()
    go.wait(60)
    arr[7] = -1.0  # written after the reader mapped it: seen without a copy
    a.close()


def test_numpy_zero_copy_between_processes(arena, name, broker):
    np = pytest.importorskip("numpy")
    b = arena.bytes("frame", 4096)
    view = np.frombuffer(b, dtype=np.float64)
    ctx = mp.get_context("spawn")
    ready, go = ctx.Event(), ctx.Event()
    p = ctx.Process(target=_numpy_writer, args=(name, broker.socket, ready, go))
    p.start()
    assert ready.wait(120)
    assert view[511] == 511.0 and view[7] == 7.0
    go.set()
    p.join(60)
    assert p.exitcode == 0
    assert view[7] == -1.0
    # the array really is the arena: no copy was made
    assert view.__array_interface__["data"][0] == np.frombuffer(arena.bytes("frame", 4096),
                                                                dtype=np.uint8).__array_interface__["data"][0]


def test_lock_wait_releases_the_gil(arena):
    m = arena.map("m")
    m["x"] = 0
    ticks = []
    done = threading.Event()

    def spin():
        while not done.is_set():
            ticks.append(1)
            time.sleep(0.001)

    other = threading.Thread(target=spin)
    other.start()
    # a child process holds the map's lock; this thread blocks on it
    code = textwrap.dedent(f"""
        import sharena, sys, time
        a = sharena.open({arena.name!r}, socket={os.environ['SHARENA_SOCKET']!r})
        m = a.map("m")
        with m.locked():
            print("locked", flush=True)
            sys.stdin.readline()
    """)
    child = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "locked"
    result = {}

    def writer():
        m["x"] = 1  # waits for the child's lock
        result["ticks_at_write"] = len(ticks)

    w = threading.Thread(target=writer)
    w.start()
    before = len(ticks)
    while len(ticks) < before + 20:  # the spinner runs while the writer waits
        time.sleep(0.005)
    assert w.is_alive(), "the write did not wait for the other process's lock"
    child.stdin.write("\n")
    child.stdin.flush()
    w.join(60)
    done.set()
    other.join()
    assert child.wait(60) == 0
    assert m["x"] == 1.0


@pytest.mark.parametrize("what", ["arena", "ref"])
def test_ctrl_c_interrupts_a_wait(arena, what):
    """Ctrl-C ends arena.wait() and a ref's wait() (no timeout) with
    KeyboardInterrupt."""
    arena.map("ctrl-c")["n"] = 1
    wait = "a.wait()" if what == "arena" else "a.map('ctrl-c').ref('n').wait()"
    code = textwrap.dedent(f"""
        import signal
        import sharena
        # Python leaves SIGINT ignored when it started so (a job run in the
        # background of a non-interactive shell): Ctrl-C as in a terminal
        signal.signal(signal.SIGINT, signal.default_int_handler)
        a = sharena.open({arena.name!r}, socket={os.environ['SHARENA_SOCKET']!r})
        print("waiting", flush=True)
        try:
            {wait}
        except KeyboardInterrupt:
            print("interrupted", flush=True)
    """)
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "waiting"
    time.sleep(0.2)  # let it enter the wait (a signal just before it lands too)
    child.send_signal(signal.SIGINT)
    out, _ = child.communicate(timeout=60)
    assert out.strip() == "interrupted"
    assert child.returncode == 0


def test_lock_of_a_killed_python_process_is_recovered(arena):
    """kill -9 inside a locked section: the broker recovers the lock and the
    next writer succeeds (the library repairs the object first)."""
    m = arena.map("m")
    for i in range(100):
        m[f"k{i}"] = i
    code = textwrap.dedent(f"""
        import sharena, time
        a = sharena.open({arena.name!r}, socket={os.environ['SHARENA_SOCKET']!r})
        m = a.map("m")
        with m.locked():
            m["half"] = "written under the lock"
            print("locked", flush=True)
            time.sleep(600)
    """)
    for _ in range(3):
        child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        assert child.stdout.readline().strip() == "locked"
        child.kill()
        child.wait()
        m["after"] = "ok"  # blocks until the broker has recovered the lock
        assert m["after"] == "ok"
    assert all(m[f"k{i}"] == i for i in range(100))
    assert arena.fsck()["ok"]
