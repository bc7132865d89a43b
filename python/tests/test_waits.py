"""Change notifications in Python: ref.wait and await ref.changed()."""
import asyncio
import sys
import textwrap
import threading
import time

import pytest

import sharena


def test_wait_returns_the_new_version_after_a_write_from_another_thread(arena):
    n = arena.number("n")
    v0 = n.version
    t = threading.Timer(0.05, lambda: setattr(n, "value", 5))
    t.start()
    v = n.wait(timeout=10)
    t.join()
    assert v > v0 and n.value == 5


def test_wait_since_sees_a_change_made_before_the_call(arena):
    n = arena.number("n")
    since = n.version
    n.value = 1
    assert n.wait(timeout=5, since=since) > since


def test_timeout_raises_timeout_error(arena):
    n = arena.number("n")
    with pytest.raises(sharena.TimedOutError) as e:
        n.wait(timeout=0.05)
    assert isinstance(e.value, TimeoutError)


def test_drop_wakes_a_waiter_with_stale_ref_error(arena):
    r = arena.new(1)
    threading.Timer(0.05, r.drop).start()
    with pytest.raises(sharena.StaleRefError):
        r.wait(timeout=10)


def test_close_wakes_a_waiter_with_closed_error(broker, name):
    a = sharena.open(name, create=True, capacity=1 << 20)
    n = a.number("n")
    errors = []

    def waiter():
        try:
            n.wait(timeout=30)
        except sharena.Error as e:
            errors.append(e)

    t = threading.Thread(target=waiter)
    t.start()
    time.sleep(0.1)
    a.delete()
    a.close()
    t.join(30)
    assert not t.is_alive()
    assert len(errors) == 1 and isinstance(errors[0], sharena.ClosedError)


def test_asyncio_changed_and_cancellation(arena, broker):
    n = arena.number("n")

    async def main():
        waiting = asyncio.ensure_future(n.changed(timeout=20))
        await asyncio.sleep(0.05)
        code = textwrap.dedent(f"""
            import sharena
            a = sharena.open({arena.name!r})
            a.number("n").value = 7
        """)
        proc = await asyncio.create_subprocess_exec(sys.executable, "-c", code)
        assert await proc.wait() == 0
        v = await waiting
        assert n.value == 7 and v > 0
        # a cancelled wait ends its helper thread and does not fire later
        pending = asyncio.ensure_future(n.changed())
        await asyncio.sleep(0.05)
        pending.cancel()
        with pytest.raises(asyncio.CancelledError):
            await pending
        with pytest.raises(sharena.TimedOutError):
            await n.changed(timeout=0.05)

    asyncio.run(main())


# ---------------------------------------------------------------------------
# asyncio: the pollable notifier (io_uring futex wait + eventfd, Linux 6.7+)
# as a reader on the loop, or a helper thread per wait where it is missing.

def _helper_threads():
    return [t for t in threading.enumerate() if t.name == "sharena-changed"]


def _notifier_supported():
    try:
        sharena.local(capacity=1 << 20)._notifier().close()
        return True
    except sharena.Error as e:
        assert e.errname in ("ENOSYS",), e
        return False


@pytest.mark.parametrize("forced_off", [False, True])
def test_asyncio_changed_waits_on_the_loop_or_a_thread(arena, monkeypatch, forced_off):
    if forced_off:
        monkeypatch.setenv("SHARENA_NO_IO_URING", "1")
    else:
        monkeypatch.delenv("SHARENA_NO_IO_URING", raising=False)
    poll = not forced_off and _notifier_supported()
    n = arena.number("n")

    async def main():
        waiting = asyncio.ensure_future(n.changed(timeout=20))
        await asyncio.sleep(0.05)
        assert bool(_helper_threads()) == (not poll)
        n.value = 3
        assert await waiting > 0 and n.value == 3

    asyncio.run(main())


def test_asyncio_no_lost_wakeup_while_another_process_writes(arena, monkeypatch):
    """A writer process stores 1..N; the asyncio reader awaits changed()
    with a timeout and re-reads. A timeout while the value already differs
    from what the reader saw is a lost wake-up (it re-checks after a grace:
    the writer bumps the version and wakes a few instructions apart)."""
    monkeypatch.delenv("SHARENA_NO_IO_URING", raising=False)
    N = 5000
    n = arena.number("n")
    n.value = 0
    code = textwrap.dedent(f"""
        import sharena
        n = sharena.open({arena.name!r}).number("n")
        for i in range(1, {N} + 1):
            n.value = i
    """)

    async def main():
        proc = await asyncio.create_subprocess_exec(sys.executable, "-c", code)
        seen, wakeups, lost = n.value, 0, 0
        while seen < N:
            try:
                await n.changed(timeout=0.5)
                wakeups += 1
            except sharena.TimedOutError:
                if n.value != seen:
                    try:
                        await n.changed(timeout=10)
                    except sharena.TimedOutError:
                        lost += 1
            seen = n.value
        assert await proc.wait() == 0
        return wakeups, lost

    wakeups, lost = asyncio.run(main())
    assert lost == 0 and wakeups > 0
    assert n.value == N


def test_asyncio_waits_end_with_stale_and_closed_errors(broker, name, monkeypatch):
    monkeypatch.delenv("SHARENA_NO_IO_URING", raising=False)
    a = sharena.open(name, create=True, capacity=1 << 20)
    r = a.new(1.0)
    n = a.number("n")

    async def main():
        dropped = asyncio.ensure_future(r.changed(timeout=20))
        closed = asyncio.ensure_future(n.changed(timeout=20))
        await asyncio.sleep(0.05)
        r.drop()
        with pytest.raises(sharena.StaleRefError):
            await dropped
        a.delete()
        a.close()
        with pytest.raises(sharena.ClosedError):
            await closed

    asyncio.run(main())


def test_asyncio_close_with_an_exported_buffer_ends_waits(broker, name, monkeypatch):
    """An exported Bytes buffer keeps the mapping (and the notifier) until
    it is released; close() must still end pending waits at once."""
    monkeypatch.delenv("SHARENA_NO_IO_URING", raising=False)
    a = sharena.open(name, create=True, capacity=1 << 20)
    b = a.bytes("buf", 64)
    view = memoryview(b)
    n = a.number("n")

    async def main():
        pending = asyncio.ensure_future(n.changed(timeout=20))
        await asyncio.sleep(0.05)
        a.delete()
        a.close()
        with pytest.raises(sharena.ClosedError):
            await asyncio.wait_for(pending, 10)  # a hang guard, not a timing check

    asyncio.run(main())
    view.release()


def test_asyncio_read_only_arena_waits_on_a_thread_and_wakes(arena, monkeypatch):
    monkeypatch.delenv("SHARENA_NO_IO_URING", raising=False)
    ro = sharena.from_fd(arena.fd, readonly=True)
    n = arena.number("n")
    r = ro.number("n")  # exists: nothing to create

    async def main():
        waiting = asyncio.ensure_future(r.changed(timeout=20))
        await asyncio.sleep(0.05)
        assert _helper_threads()  # read-only: no notifier
        n.value = 9
        assert await waiting > 0

    asyncio.run(main())
    assert r.value == 9
    ro.close()


def test_asyncio_many_waits_share_one_notifier_and_release_it(arena, monkeypatch):
    monkeypatch.delenv("SHARENA_NO_IO_URING", raising=False)
    if not _notifier_supported():
        pytest.skip("io_uring futex wait unavailable here")
    import gc
    import os
    refs = [arena.number(f"k{i}") for i in range(20)]

    def fds():
        gc.collect()  # earlier tests' loops and notifiers go first
        return len(os.listdir("/proc/self/fd"))

    async def main():
        base = fds()  # the loop's own fds are open by now
        waits = [asyncio.ensure_future(r.changed(timeout=20)) for r in refs]
        await asyncio.sleep(0.05)
        during = fds() - base
        for i, r in enumerate(refs):
            r.value = i + 1
        assert [await w for w in waits] and all(r.value == i + 1 for i, r in enumerate(refs))
        # cancelled waits leave nothing behind; later ones still work
        pending = asyncio.ensure_future(refs[0].changed())
        await asyncio.sleep(0.01)
        pending.cancel()
        with pytest.raises(asyncio.CancelledError):
            await pending
        later = asyncio.ensure_future(refs[1].changed(timeout=20))
        await asyncio.sleep(0.01)
        refs[1].value = 100
        assert await later > 0
        return during

    before = fds()
    during = asyncio.run(main())
    assert during == 2  # one notifier (ring + eventfd), not twenty
    assert fds() == before  # the loop is gone, and its notifier with it


def test_asyncio_thread_waits_end_when_cancelled_or_closed(monkeypatch):
    """Without the notifier, each pending changed() waits on a helper
    thread, on a mapping of its own that is cancelled (the C library's
    sharena_arena_cancel_waits) when the task is cancelled or the arena
    closed: the thread sleeps with no timeout, so only that cancel ends it.
    Its mapping goes with it (no fd left open)."""
    import gc
    import os
    monkeypatch.setenv("SHARENA_NO_IO_URING", "1")
    a = sharena.local(capacity=1 << 20)
    n = a.number("n")

    def fds():
        gc.collect()
        return len(os.listdir("/proc/self/fd"))

    def join_helpers():
        for t in _helper_threads():
            t.join(30)
        return _helper_threads()

    async def cancelled():
        pending = asyncio.ensure_future(n.changed())
        await asyncio.sleep(0.05)
        assert _helper_threads()
        pending.cancel()
        with pytest.raises(asyncio.CancelledError):
            await pending

    async def closed():
        pending = asyncio.ensure_future(n.changed())
        await asyncio.sleep(0.05)
        assert _helper_threads()
        a.close()
        with pytest.raises(sharena.ClosedError):
            await pending

    before = fds()
    asyncio.run(cancelled())
    assert join_helpers() == []
    assert fds() == before
    asyncio.run(closed())
    assert join_helpers() == []
