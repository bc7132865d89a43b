"""Change notifications in Python: ref.wait and await ref.changed()."""
import asyncio
import subprocess
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
