"""Lifecycles (docs/api-python.md, "Lifecycle"): close() racing calls in
other threads, close() while locks are held, fork, interruptible lock
waits, dropped roots. Each case once crashed, hung or lost a lock (issue
22); each test fails on that code. Loops are bounded by count, and every
wait has a hang guard (never a timing check)."""
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

import sharena

HANG_GUARD = 30  # seconds: a hang guard, never a timing check
ROOT = Path(__file__).resolve().parents[2]


def _run(code, *args, timeout=300):
    """Run @p code in a fresh interpreter (a crash there fails this test
    only); returns (returncode, stdout, stderr)."""
    p = subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args],
                       capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


# ---- close() racing calls in other threads ---------------------------------

_ADD_RACE = """
    import sys, threading, time, sharena
    rounds = int(sys.argv[1])
    done = 0
    for i in range(rounds):
        a = sharena.local(1 << 20)
        m = a.map("m")
        m["k"] = 0
        v = a.vector("v")
        started = threading.Barrier(7)
        bad = []

        def adder(j):
            started.wait()
            try:
                while True:
                    if j % 3 == 0:
                        m.add("k", 1)          # existing key: no lock, GIL released
                    elif j % 3 == 1:
                        m.add("new%d" % j, 1)  # new key: under the map's lock
                        m.pop("new%d" % j)
                    else:
                        v.append("x")
                        v.pop()
            except sharena.ClosedError:
                pass
            except BaseException as e:
                bad.append(repr(e))

        ts = [threading.Thread(target=adder, args=(j,)) for j in range(6)]
        for t in ts:
            t.start()
        started.wait()
        time.sleep(0.0005 * (i % 5))
        a.close()
        for t in ts:
            t.join()
        assert not bad, bad
        assert a.closed
        done += 1
    print("rounds", done)
"""


def test_map_add_racing_close_fails_with_closed_error_never_crashes():
    """Six threads add (and pop, append) while the main thread closes the
    arena, 300 times: each thread ends with ClosedError, never a
    crash (SIGSEGV: add released the GIL without counting itself as a user
    of the arena) nor InvalidArgumentError."""
    rc, out, err = _run(_ADD_RACE, "300")
    assert rc == 0, f"exit {rc}: {err[-2000:]}"
    assert out.split() == ["rounds", "300"]


def test_close_wakes_a_lock_waiter_in_another_thread(arena):
    """Another process holds the map's lock; a thread of this one waits for
    it in `with m.locked()`; close() from here makes it fail with
    ClosedError and returns, while the holder still holds the lock (it
    waited until the holder let go)."""
    m = arena.map("m")
    child = subprocess.Popen([sys.executable, "-c", _HOLDER, arena.name,
                              os.environ["SHARENA_SOCKET"]],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    got = []
    try:
        assert child.stdout.readline().strip() == "locked"

        def waiter():
            try:
                with m.locked():
                    got.append("locked")
            except BaseException as e:
                got.append(e)

        t = threading.Thread(target=waiter)
        t.start()
        _blocked(t)
        arena.close()
        t.join(HANG_GUARD)
        assert child.poll() is None, "the holder was still holding the lock"
    finally:
        _release(child)
        assert child.wait(HANG_GUARD) == 0
    assert len(got) == 1 and isinstance(got[0], sharena.ClosedError), got
    assert arena.closed


# ---- close() while locks are held ------------------------------------------

# Holds the map's lock until told (a line on stdin), or for HANG_GUARD
# seconds at most: a test that waits for the lock ends even on code that
# would wait for the holder.
_HOLDER = textwrap.dedent("""
    import select, sys
    import sharena
    m = sharena.open(sys.argv[1], socket=sys.argv[2]).map("m")
    with m.locked():
        print("locked", flush=True)
        select.select([sys.stdin], [], [], %d)
        m["by_child"] = "released"
    print("done", flush=True)
""" % HANG_GUARD)


def _release(child):
    try:
        child.stdin.write("\n")
        child.stdin.flush()
    except BrokenPipeError:
        pass  # it let go by itself (the hang guard)


def _blocked(thread):
    """Wait until @p thread sleeps in the kernel (a futex: a lock wait);
    where /proc does not tell, give it a moment."""
    path = f"/proc/self/task/{thread.native_id}/stat"
    deadline = time.monotonic() + HANG_GUARD
    while time.monotonic() < deadline:
        try:
            with open(path) as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            time.sleep(0.2)
            return
        if state == "S":
            time.sleep(0.05)  # a few slices of the lock wait
            return
        time.sleep(0.001)
    raise AssertionError("the thread never blocked")


def test_close_is_refused_while_another_thread_holds_a_lock(broker, name):
    """A thread is inside `with m.locked()`: close() raises BusyError and
    changes nothing (it used to close and lose the lock: the unlock did
    nothing, another process waited forever, and after a reopen the thread
    believed it still held the lock). Once the block is left, close works,
    and the lock excludes another process as before."""
    a = sharena.open(name, create=True, capacity=1 << 20)
    m = a.map("m")
    inside, leave = threading.Event(), threading.Event()
    errors = []

    def holder():
        try:
            with m.locked():
                inside.set()
                leave.wait(HANG_GUARD)
                m["x"] = 1  # still ours: the arena was not closed
        except BaseException as e:
            errors.append(e)

    t = threading.Thread(target=holder)
    t.start()
    assert inside.wait(HANG_GUARD)
    with pytest.raises(sharena.BusyError, match=r"holds 1 lock.*locked\(\)"):
        a.close()
    assert not a.closed and "x" not in m
    leave.set()
    t.join(HANG_GUARD)
    assert not errors, errors
    assert m["x"] == 1
    a.close()
    assert a.closed

    # the same thread again, on a reopened arena: no stale lock state
    b = sharena.open(name)
    m2 = b.map("m")
    with m2.locked():  # (raised DeadlockError)
        m2["y"] = 2
    with pytest.raises(sharena.BusyError):
        with m2.locked():
            b.close()  # this thread's own lock counts too
    assert not b.closed

    # mutual exclusion with another process holds
    child = subprocess.Popen([sys.executable, "-c", _HOLDER, name,
                              os.environ["SHARENA_SOCKET"]],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "locked"
        seen = []

        def writer():
            m2["z"] = 3  # must wait for the child's lock
            seen.append(m2.get("by_child"))

        w = threading.Thread(target=writer)
        w.start()
        _blocked(w)
        _release(child)
        w.join(HANG_GUARD)
        assert seen == ["released"], "the write did not wait for the holder"
        assert child.wait(HANG_GUARD) == 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    b.delete()
    b.close()


# ---- interruptible lock waits ------------------------------------------------

class _Interrupted(Exception):
    pass


@pytest.mark.parametrize("how", ["locked", "setitem", "pop"])
def test_sigint_interrupts_a_lock_wait(arena, how):
    """Another process holds the map's lock; this (main) thread waits for
    it; SIGINT (its handler raises, like Python's default one raises
    KeyboardInterrupt) ends the wait at once, while the holder still holds
    the lock (it used to end only when the holder let go)."""
    m = arena.map("m")
    m["p"] = 1
    child = subprocess.Popen([sys.executable, "-c", _HOLDER, arena.name,
                              os.environ["SHARENA_SOCKET"]],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def on_sigint(signum, frame):
        raise _Interrupted()

    old = signal.signal(signal.SIGINT, on_sigint)
    main = threading.main_thread()
    stop = threading.Event()

    def ctrl_c():
        _blocked(main)
        while not stop.is_set():  # until it lands inside the wait
            signal.pthread_kill(main.ident, signal.SIGINT)
            stop.wait(0.2)

    try:
        assert child.stdout.readline().strip() == "locked"
        t = threading.Thread(target=ctrl_c, daemon=True)
        t.start()
        try:
            with pytest.raises(_Interrupted):
                if how == "locked":
                    with m.locked():
                        pass
                elif how == "setitem":
                    m["x"] = 1
                else:
                    m.pop("p")
        finally:
            stop.set()
            t.join(HANG_GUARD)
        still_held = child.poll() is None
    finally:
        signal.signal(signal.SIGINT, old)
        _release(child)
        assert child.wait(HANG_GUARD) == 0
    assert still_held, "the wait ended only when the holder let go"
    assert "x" not in m and m["p"] == 1  # the interrupted call changed nothing
    with m.locked():  # and nothing is left held
        m["after"] = True


# ---- fork ----------------------------------------------------------------------

_FORK = """
    import os, sys, threading, time, sharena
    a = sharena.local(1 << 20)
    r = a.number("n")
    m = a.map("m")
    results = []

    def waiter():
        try:
            results.append(r.wait(timeout=300))
        except BaseException as e:
            results.append(e)

    t = threading.Thread(target=waiter)
    t.start()
    time.sleep(0.1)  # (asleep in the wait by now, most likely; either way)
    stuck = 0
    for i in range(10):
        # fork inside `with m.locked()`: the child holds none of it
        with m.locked():
            pid = os.fork()
            if pid == 0:
                code = 0
                try:
                    pass  # leaving the block in the child: not ours, no unlock
                except BaseException:
                    code = 3
                os._exit(code)
        pid2 = os.fork()
        if pid2 == 0:
            try:
                a.close()  # no thread of this process waits: returns at once
                os._exit(0 if a.closed else 2)
            except BaseException:
                os._exit(4)
        for p in (pid, pid2):
            deadline = time.monotonic() + 20  # a hang guard
            while True:
                got, st = os.waitpid(p, os.WNOHANG)
                if got:
                    assert os.WIFEXITED(st) and os.WEXITSTATUS(st) == 0, st
                    break
                if time.monotonic() > deadline:
                    os.kill(p, 9)
                    os.waitpid(p, 0)
                    stuck += 1
                    break
                time.sleep(0.005)
        if stuck:
            break
    r.value = 1
    t.join(300)
    assert results and results[0] > 0, results
    with m.locked():  # the parent's own lock state is intact
        m["ok"] = True
    a.close()
    print("stuck", stuck)
"""


def test_forked_child_closes_at_once_and_holds_no_parent_lock():
    """Children forked while a thread waits in ref.wait() (and inside
    `with m.locked()`) close the arena at once (they hung, spinning on the
    parent's count of waiting threads); leaving the parent's locked block in
    the child neither unlocks nor raises."""
    rc, out, err = _run(_FORK)
    assert rc == 0, f"exit {rc}: {err[-2000:]}"
    assert out.split() == ["stuck", "0"]


# ---- dropped roots ------------------------------------------------------------

def _cli():
    path = os.environ.get("SHARENA_CLI") or str(ROOT / "build" / "tools" / "sharena")
    return path if os.access(path, os.X_OK) else None


def test_a_dropped_root_is_made_again(arena):
    """`a.number('r').drop()` then `a.number('r')`: a new root (it was a
    permanent EBUSY); root() and the CLI see none in between."""
    r = arena.number("r")
    r.value = 7
    r.drop()
    with pytest.raises(sharena.KeyNotFoundError):
        arena.root("r")
    cli = _cli()
    if cli:
        p = subprocess.run([cli, "--socket", os.environ["SHARENA_SOCKET"], "get",
                            arena.name, "r"], capture_output=True, text=True,
                           timeout=HANG_GUARD)
        assert p.returncode == 1 and "no root named 'r'" in p.stderr, p
    again = arena.number("r")
    assert again.id != r.id and again.value == 0
    again.value = 3
    assert arena.number("r").value == 3 and arena["r"] == 3
    if cli:
        p = subprocess.run([cli, "--socket", os.environ["SHARENA_SOCKET"], "get",
                            arena.name, "r"], capture_output=True, text=True,
                           timeout=HANG_GUARD)
        assert p.returncode == 0 and p.stdout.strip() == "3", p
    for make in (lambda: arena.map("m"), lambda: arena.vector("v"),
                 lambda: arena.string("s"), lambda: arena.bytes("b", 4)):
        first = make()
        first.drop()
        second = make()
        assert second.id != first.id
    assert sorted(arena) == ["b", "m", "r", "s", "v"]
    assert arena.fsck()["ok"]
