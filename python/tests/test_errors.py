"""Errors come from one table, and nothing is half-written."""
import pytest

import sharena


def test_full_arena_raises_and_leaves_nothing_behind(broker, name):
    with sharena.open(name, create=True, capacity=256 << 10) as a:
        m = a.map("m")
        m["keep"] = "me"
        before = (dict(m), a.stat()["used_bytes"])
        with pytest.raises(sharena.ArenaFullError) as e:
            m["huge"] = "x" * (1 << 20)
        assert isinstance(e.value, MemoryError)
        with pytest.raises(sharena.ArenaFullError):
            m["nested"] = {"a": ["y" * 4096] * 200}
        assert "huge" not in m and "nested" not in m
        assert (dict(m), a.stat()["used_bytes"]) == before
        # filling it up one key at a time stops cleanly, and deleting frees
        i = 0
        with pytest.raises(sharena.ArenaFullError):
            while True:
                m[f"k{i}"] = "z" * 1000
                i += 1
        assert i > 10
        for j in range(i):
            del m[f"k{j}"]
        m["again"] = "z" * 1000
        assert a.fsck()["ok"]
        a.delete()


def test_readonly_arena_refuses_writes(arena, name):
    arena.map("m")["k"] = 1
    ro = sharena.open(name, readonly=True)
    try:
        m = ro.map("m")
        assert m["k"] == 1.0
        for op in (lambda: m.__setitem__("k", 2), lambda: m.__delitem__("k"),
                   lambda: ro.map("other"), lambda: m.ref("k").add(1)):
            with pytest.raises(sharena.AccessError) as e:
                op()
            assert isinstance(e.value, PermissionError)
        assert arena.map("m")["k"] == 1.0
    finally:
        ro.close()


def test_closed_arena_views_raise_not_crash(broker, name):
    a = sharena.open(name, create=True, capacity=1 << 20)
    m = a.map("m")
    v = a.vector("v")
    b = a.bytes("b", 8)
    m["x"] = 1
    r = m.ref("x")
    a.delete()
    a.close()
    for op in (lambda: m["x"], lambda: len(v), lambda: r.value, lambda: bytes(b),
               lambda: a.map("m"), lambda: m.__setitem__("y", 1)):
        with pytest.raises(sharena.ClosedError):
            op()
    a.close()  # twice is fine


def test_memoryview_keeps_mapping_alive_or_refuses_close(broker, name):
    a = sharena.open(name, create=True, capacity=1 << 20)
    b = a.bytes("b", 8)
    mv = memoryview(b)
    mv[0] = 42
    try:
        a.close()
    except (sharena.Error, BufferError):
        pass
    assert mv[0] == 42  # never a fault
    mv.release()
    a.close()
    sharena.delete(name)


def test_unstorable_values(arena):
    m = arena.map("m")
    for bad in (object(), {1: "int key"}, {1.5}, complex(1, 2), lambda: 0):
        with pytest.raises(TypeError):
            m["bad"] = bad
    assert "bad" not in m
    d = {}
    d["self"] = d
    with pytest.raises((ValueError, RecursionError, sharena.Error)):
        m["cycle"] = d
    assert "cycle" not in m


def test_missing_arena_and_bad_names(broker):
    with pytest.raises(sharena.NotFoundError) as e:
        sharena.open("does.not.exist")
    assert isinstance(e.value, FileNotFoundError)
    with pytest.raises(TypeError):
        sharena.open(b"bytes-name")
    with pytest.raises((ValueError, sharena.InvalidArgumentError)):
        sharena.open("", create=True)
    with pytest.raises((ValueError, sharena.InvalidArgumentError)):
        sharena.open("x" * 1000, create=True)


def test_exclusive_create(arena, name):
    with pytest.raises(sharena.ExistsError):
        sharena.open(name, create=True, exclusive=True)


def test_no_broker_is_a_broker_error(tmp_path, monkeypatch):
    monkeypatch.setenv("SHARENA_AUTOSTART", "0")
    with pytest.raises(sharena.BrokerError):
        sharena.open("x", socket=str(tmp_path / "none.sock"))


def test_error_hierarchy():
    assert issubclass(sharena.StaleRefError, sharena.Error)
    assert issubclass(sharena.ArenaFullError, MemoryError)
    assert issubclass(sharena.AccessError, PermissionError)
    assert issubclass(sharena.KeyNotFoundError, KeyError)
    assert issubclass(sharena.ArenaNotFoundError, FileNotFoundError)
    for cls in (sharena.CorruptArenaError, sharena.BrokerError, sharena.ClosedError):
        assert issubclass(cls, sharena.Error)


def test_a_value_that_contains_itself_is_refused_not_a_crash(broker, name):
    # an arena big enough that the C stack would end before the arena fills
    with sharena.open(name, create=True, capacity=256 << 20) as a:
        m = a.map("m")
        objects = a.stat()["objects"]
        d = {"k": "v"}
        d["self"] = d
        lst = [1]
        lst.append(lst)
        for cyclic in (d, lst, {"outer": [d]}):
            with pytest.raises(RecursionError) as e:
                m["cycle"] = cyclic
            assert "contain itself" in str(e.value)
        # nothing half-written (the id table may have grown: objects count)
        assert "cycle" not in m and a.stat()["objects"] == objects
        report = a.fsck()
        assert report["ok"] and report["leaked_bytes"] == 0
        a.delete()


def test_invalid_utf8_in_the_arena_is_an_encoding_error(arena):
    """Strings and keys are validated when written; one that another
    writer scribbled over (here: through our own mapping of the memfd)
    surfaces as EncodingError, never as a bare UnicodeDecodeError."""
    import mmap
    m = arena.map("m")
    m["s"] = "MARKER-one-of-a-kind"
    m["KEYMARK-unique"] = 1
    shape = arena.shape({"name": "string"})
    m.set("rec", shape.new(name="FIELDMARK-unique"), owned=True)
    with mmap.mmap(arena.fd, 0) as mm:
        for marker, bad in ((b"MARKER-one", 0xFF), (b"KEYMARK-uni", 0xFE), (b"FIELDMARK-u", 0xC0)):
            i = mm.find(marker)
            assert i >= 0
            mm[i] = bad
    rec = m.ref("rec").value
    for op in (lambda: m["s"], lambda: m.ref("s").value, lambda: list(m), lambda: m.to_python(),
               lambda: list(m.items()), lambda: rec.name, lambda: rec.to_python()):
        with pytest.raises(sharena.EncodingError) as e:
            op()
        assert isinstance(e.value, UnicodeError) and "fsck" in str(e.value)
    assert not arena.fsck()["ok"]


def test_stat_without_a_broker_reports_what_the_mapping_knows(broker):
    """The broker is killed (-9) under an open arena: stat() still gives the
    mapping's counters, with the broker-only fields None, and the arena is
    still usable."""
    import signal
    from conftest import Broker
    private = Broker()
    try:
        a = sharena.open("stat.test", create=True, capacity=1 << 20, socket=private.socket)
        a.map("m")["k"] = "v"
        before = a.stat()
        assert before["clients"] == 1 and before["mode"] is not None
        private.proc.send_signal(signal.SIGKILL)
        private.proc.wait(30)
        st = a.stat()
        for k in ("capacity", "used_bytes", "objects"):
            assert st[k] == before[k]
        assert all(st[k] is None for k in ("clients", "uid", "gid", "mode"))
        m = a.map("m")
        m["k2"] = "still works"
        assert dict(m) == {"k": "v", "k2": "still works"}
        a.close()
    finally:
        private.stop()
    local = sharena.local(1 << 20)
    assert local.stat()["clients"] is None and local.stat()["capacity"] == 1 << 20
    local.close()
