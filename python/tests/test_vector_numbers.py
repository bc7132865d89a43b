"""Numbers in vector items (format 4, issue 21): floats and ints appended,
inserted or set take no object; reads never make one; ``ref(i)`` gives a
number an id (promotion), which stays valid and reads the same; the buffer
protocol exports a read-only copy of doubles."""
import array
import math
import os
import struct
import subprocess
import sys
import textwrap

import pytest

import sharena


def objects(arena):
    return arena.stat()["objects"]


def test_numbers_take_no_objects(arena):
    v = arena.vector("v")
    before = objects(arena)
    for i in range(1000):
        v.append(i * 0.5)
    v.insert(0, 7)
    v[1] = -3
    v.extend([1.5, 2.5])
    v[2:4] = [9.0, 10.0, 11.0]
    v[::100] = [0.25] * len(v[::100])
    v.reverse()
    assert objects(arena) == before, "numbers in items take no objects"
    assert v[-1] == 0.25
    assert len(v) == 1004
    assert v.pop() == 0.25
    assert v.pop(0) == 2.5
    assert objects(arena) == before, "pop of a number makes none"
    l = list(v)
    assert all(isinstance(x, float) for x in l)
    assert v.to_python() == l
    assert objects(arena) == before, "reads make none"
    assert arena.fsck()["ok"]


def test_special_numbers_round_trip(arena):
    v = arena.vector("v")
    vals = [math.nan, math.inf, -math.inf, 0.0, -0.0, 5e-324, -2.2250738585072014e-308,
            1e-310, 4.450147717014403e-308, 1.7976931348623157e308, 2 ** 53, -(2 ** 53)]
    before = objects(arena)
    for x in vals:
        v.append(x)
    # the three below 2**-1021 other than 0 would read as refs: objects
    assert objects(arena) == before + 3
    pack = lambda xs: [struct.pack("<d", x) for x in xs]  # noqa: E731
    assert pack(list(v)) == pack([float(x) for x in vals])
    assert pack(memoryview(v).tolist()) == pack([float(x) for x in vals])
    assert arena.fsck()["ok"]


def test_ref_promotes_and_stays(arena):
    v = arena.vector("v")
    v.extend([1.0, 2.0, 3.0])
    before = objects(arena)
    r = v.ref(1)
    assert objects(arena) == before + 1, "an id asked for makes one object"
    assert r.value == 2.0
    again = v.ref(1)
    assert again.id == r.id
    assert objects(arena) == before + 1
    assert v[1] == 2.0
    r.value = 5.0  # through the id: the element is that object
    assert v[1] == 5.0
    assert list(memoryview(v).cast("B").cast("d")) == [1.0, 5.0, 3.0]
    v[1] = 6.0  # a number over it: the object the vector owned goes
    assert objects(arena) == before
    with pytest.raises(sharena.StaleRefError):
        r.value
    assert v[1] == 6.0
    assert arena.fsck()["ok"]


def test_readonly_reads_but_cannot_promote(arena, name):
    v = arena.vector("v")
    v.extend([4.0, 5.0])
    ro = sharena.open(name, readonly=True)
    try:
        rv = ro["v"]
        assert list(rv) == [4.0, 5.0]
        assert bytes(memoryview(rv)) == struct.pack("<2d", 4.0, 5.0)
        with pytest.raises(sharena.ReadOnlyError):
            rv.ref(0)
        assert objects(arena) == objects(ro)
    finally:
        ro.close()


def test_buffer_protocol_is_a_read_only_copy(arena):
    v = arena.vector("v")
    v.extend([0.5 * i for i in range(100)])
    m = memoryview(v)
    assert m.format == "d" and m.itemsize == 8 and m.ndim == 1
    assert m.shape == (100,) and m.readonly and m.contiguous
    assert m.tolist() == [0.5 * i for i in range(100)]
    a = array.array("d")
    a.frombytes(memoryview(v).cast("B"))  # (frombytes wants itemsize 1)
    assert a.tolist() == m.tolist()
    v.append(1000.0)  # a copy: the buffer taken keeps what it had
    assert len(m) == 100 and len(memoryview(v)) == 101
    with pytest.raises(TypeError):
        m[0] = 1.0
    with pytest.raises((TypeError, BufferError)):  # asks for a writable one
        struct.pack_into("<d", v, 0, 1.0)
    assert v[0] == 0.0
    m.release()
    assert memoryview(arena.vector("empty")).tolist() == []
    v.append("text")
    with pytest.raises(BufferError):
        memoryview(v)
    v.pop()
    v.append({"a": 1})
    with pytest.raises(BufferError):
        memoryview(v)


def test_buffer_with_numpy_when_present(arena):
    np = pytest.importorskip("numpy")
    v = arena.vector("v")
    v.extend([1, 2, 3.5])
    a = np.frombuffer(v, dtype=np.float64)
    assert a.tolist() == [1.0, 2.0, 3.5]
    assert not a.flags.writeable
    assert np.asarray(memoryview(v)).sum() == 6.5


def test_number_objects_by_ref_still_count_as_numbers(arena):
    v = arena.vector("v")
    n = arena.new(8.0)  # a number object, stored by reference
    v.append(1.0)
    v.append(n)
    assert memoryview(v).tolist() == [1.0, 8.0]
    n.value = 9.0
    assert memoryview(v).tolist() == [1.0, 9.0]


def test_another_process_pushes_this_one_promotes(arena):
    """A child process pushes numbers and reads them all on (one copy each
    time) while this process reads them and takes refs: neither ever sees
    another number."""
    n = 3000
    code = textwrap.dedent(f"""
        import sys, time, sharena
        a = sharena.open({arena.name!r}, socket={os.environ['SHARENA_SOCKET']!r})
        v = a.vector("v")
        for i in range({n}):
            v.append(i * 0.75 - 100)
        want = [i * 0.75 - 100 for i in range({n})]
        print("pushed", flush=True)
        reads, end = 0, time.monotonic() + 60  # a hang guard
        while True:
            assert memoryview(v).tolist() == want
            reads += 1
            if ("done" in a and a["done"] == 1) or time.monotonic() > end:
                break
        print(reads, flush=True)
    """)
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "pushed"
        v = arena.vector("v")
        before = objects(arena)
        refs = []
        for i in range(0, n, 3):
            assert v[i] == i * 0.75 - 100
            r = v.ref(i)
            assert r.value == i * 0.75 - 100
            refs.append((i, r.id))
        assert all(v.ref(i).id == id for i, id in refs)
        assert objects(arena) == before + len(refs)
        arena.set_root("done", arena.new(1), owned=True)
        assert int(child.stdout.readline()) > 0
        assert child.wait(60) == 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert arena.fsck()["ok"]
