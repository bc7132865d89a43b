"""A signal whose Python handler returns interrupts the system call a thread
is blocked in (Python installs its handlers without SA_RESTART, so a futex
wait or a recvmsg returns EINTR). sharena retries: a wait, a lock wait and a
broker round trip go on as if nothing happened, the handler runs, and the
call ends the way it would have without the signal.

To make sure the signal lands while the thread is really blocked in the
call (not just before it), the sender first waits until
/proc/self/task/TID/syscall names the system call, then signals that thread
with pthread_kill. Where /proc does not tell, it signals anyway."""
import os
import platform
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import sharena

SIG = signal.SIGUSR1
HANG_GUARD = 30  # seconds: a hang guard, never a timing check

_NR = {"x86_64": {"futex": 202, "recvmsg": 47},
       "aarch64": {"futex": 98, "recvmsg": 212}}.get(platform.machine(), {})


def _blocked_in(thread, call):
    """Wait until @p thread sleeps in system call @p call. False when /proc
    cannot tell (then the caller goes ahead after a short pause)."""
    nr = _NR.get(call)
    path = f"/proc/self/task/{thread.native_id}/syscall"
    deadline = time.monotonic() + HANG_GUARD
    while time.monotonic() < deadline:
        try:
            with open(path) as f:
                first = f.read().split()[0]
        except (OSError, IndexError):
            nr = None
        if nr is None:
            time.sleep(0.05)
            return False
        if first == str(nr):
            return True
        time.sleep(0.001)
    raise AssertionError(f"{thread.name} never blocked in {call}")


def _until_stopped(pid):
    deadline = time.monotonic() + HANG_GUARD
    while True:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        if state in ("T", "t"):
            return
        assert time.monotonic() < deadline, f"process {pid} did not stop ({state})"
        time.sleep(0.001)


@pytest.fixture
def handler():
    """SIGUSR1 with a Python handler that records the call and returns."""
    calls = []
    ran = threading.Event()

    def on_signal(signum, frame):
        calls.append(signum)
        ran.set()

    old = signal.signal(SIG, on_signal)
    try:
        yield calls, ran
    finally:
        signal.signal(SIG, old)


def _kick(target, call, ran, times=3):
    """Signal @p target @p times while it is blocked in @p call, each time
    waiting for the handler to have run (in the main thread)."""
    for _ in range(times):
        _blocked_in(target, call)
        ran.clear()
        signal.pthread_kill(target.ident, SIG)
        assert ran.wait(HANG_GUARD), "the signal handler never ran"


@pytest.mark.parametrize("what", ["ref", "arena"])
def test_wait_in_the_main_thread_survives_signals_and_sees_the_write(arena, handler, what):
    calls, ran = handler
    n = arena.number("n")
    since = n.version if what == "ref" else arena.version
    waiter = n.wait if what == "ref" else arena.wait
    main = threading.main_thread()
    written_after = []
    failure = []

    def poke():
        try:
            # the handler runs inside the wait (sharena checks for signals
            # after each EINTR), so ran is set while the wait goes on
            _kick(main, "futex", ran)
            written_after.append(len(calls))
            arena.number("n").value = 5  # another Ref: seen_version untouched
        except BaseException as e:  # reported below, not lost in the thread
            failure.append(e)
            arena.number("n").value = -1  # end the wait

    t = threading.Thread(target=poke, name="poke")
    t.start()
    try:
        v = waiter(timeout=HANG_GUARD, since=since)
        seen = n.value
    finally:
        t.join(HANG_GUARD)
    assert not failure, failure
    assert written_after == [3]  # the write came after three handled signals
    assert calls == [SIG] * 3
    assert v > since and seen == 5.0


def test_wait_in_another_thread_survives_signals_and_sees_the_write(arena, handler):
    """The signal interrupts the waiter's own futex wait; its handler runs
    in the main thread (where Python runs handlers) while the waiter goes on
    waiting."""
    calls, ran = handler
    n = arena.number("n")
    since = n.version
    result = []

    def wait():
        try:
            result.append(n.wait(timeout=HANG_GUARD))
        except BaseException as e:
            result.append(e)

    waiter = threading.Thread(target=wait, name="waiter")
    waiter.start()
    wrote = False
    try:
        for _ in range(3):
            _blocked_in(waiter, "futex")
            ran.clear()
            signal.pthread_kill(waiter.ident, SIG)
            deadline = time.monotonic() + HANG_GUARD
            while not ran.is_set():  # the main thread runs the handler here
                assert time.monotonic() < deadline, "the signal handler never ran"
                time.sleep(0.001)
            assert not result, f"the wait ended on a signal: {result}"
        arena.number("n").value = 7
        wrote = True
    finally:
        if not wrote:
            arena.number("n").value = -1  # never leave it waiting
        waiter.join(HANG_GUARD)
    assert len(calls) == 3
    assert len(result) == 1 and isinstance(result[0], int), result
    assert result[0] > since and n.value == 7.0


def test_a_wait_interrupted_by_signals_still_times_out(arena, handler):
    """No write: signals neither end the wait early nor make it forget its
    timeout (no InterruptedError, no version returned)."""
    calls, ran = handler
    n = arena.number("n")
    main = threading.main_thread()
    stop = threading.Event()

    def poke():
        while True:
            _blocked_in(main, "futex")
            if stop.is_set():
                break
            signal.pthread_kill(main.ident, SIG)
            ran.wait(1)
            ran.clear()
            time.sleep(0.02)

    t = threading.Thread(target=poke, name="poke", daemon=True)
    t.start()
    try:
        with pytest.raises(sharena.TimedOutError):
            n.wait(timeout=0.5)
    finally:
        stop.set()
        t.join(HANG_GUARD)
    assert calls and n.value == 0.0


_HOLDER = textwrap.dedent("""
    import sys
    import sharena
    m = sharena.open(sys.argv[1], socket=sys.argv[2]).map("m")
    with m.locked():
        print("locked", flush=True)
        sys.stdin.readline()
        m["by_child"] = "released"
""")


@pytest.mark.parametrize("how", ["locked", "setitem"])
def test_lock_wait_survives_signals(arena, handler, how):
    """Another process holds the map's lock; this (main) thread blocks for
    it in `with m.locked()` or in a write, is signalled three times, and
    gets the lock once the holder lets go: it sees what the holder wrote
    under the lock, and the handler ran."""
    calls, ran = handler
    m = arena.map("m")
    child = subprocess.Popen([sys.executable, "-c", _HOLDER, arena.name,
                              os.environ["SHARENA_SOCKET"]],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    main = threading.main_thread()
    failure = []

    def poke():
        try:
            for _ in range(3):
                _blocked_in(main, "futex")
                signal.pthread_kill(main.ident, SIG)
                # the handler only runs once the lock is taken: give the
                # signal time to land, then look again
                time.sleep(0.05)
        except BaseException as e:
            failure.append(e)
        finally:
            child.stdin.write("\n")
            child.stdin.flush()

    try:
        assert child.stdout.readline().strip() == "locked"
        t = threading.Thread(target=poke, name="poke")
        t.start()
        try:
            if how == "locked":
                with m.locked():
                    got = m["by_child"]
                    m["by_main"] = "after"
            else:
                m["by_main"] = "after"
                got = m["by_child"]
        finally:
            t.join(HANG_GUARD)
        assert child.wait(HANG_GUARD) == 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert not failure, failure
    assert got == "released"  # the lock was not given before the holder let go
    assert m["by_main"] == "after"
    assert calls  # the handler ran (signals are merged: at least once)
    assert arena.fsck()["ok"]


def test_broker_round_trip_survives_a_signal(handler):
    """sharena.open of an existing arena while the broker is stopped
    (SIGSTOP): the request is sent and the reply is awaited in recvmsg; a
    signal interrupts that, and once the broker runs again (SIGCONT) the
    open succeeds. A private broker, so stopping it disturbs no other test."""
    from conftest import Broker
    calls, ran = handler
    private = Broker()
    stopped = False
    try:
        name = f"eintr.{os.getpid()}"
        with sharena.open(name, create=True, capacity=1 << 20, socket=private.socket) as a:
            a.map("m")["k"] = "v"  # the connection to this broker is made now
            main = threading.main_thread()
            failure = []

            def poke():
                try:
                    for _ in range(3):
                        _blocked_in(main, "recvmsg")
                        ran.clear()
                        signal.pthread_kill(main.ident, SIG)
                        time.sleep(0.05)  # let it land and recvmsg start again
                except BaseException as e:
                    failure.append(e)
                finally:
                    private.proc.send_signal(signal.SIGCONT)

            private.proc.send_signal(signal.SIGSTOP)
            stopped = True
            _until_stopped(private.proc.pid)  # so that it cannot answer first
            t = threading.Thread(target=poke, name="poke")
            t.start()
            try:
                b = sharena.open(name, socket=private.socket)
            finally:
                t.join(HANG_GUARD)
                stopped = False
            assert not failure, failure
            assert calls  # the handler ran once the open returned
            assert b.map("m")["k"] == "v" and b.brokered
            b.close()
            a.delete()
    finally:
        if stopped:
            private.proc.send_signal(signal.SIGCONT)
        assert private.stop() == 0
