"""Every value type round-trips exactly; refs, structs and bytes."""
import math
import sys

import pytest

import sharena


@pytest.mark.parametrize("text", ["", "ascii", "héllo wörld", "日本語テキスト", "emoji 🎉🧪", "nul\x00inside",
                                  "x" * 100000])
def test_strings_round_trip(arena, text):
    m = arena.map("m")
    m["s"] = text
    assert m["s"] == text and type(m["s"]) is str


@pytest.mark.parametrize("num", [0.0, -0.0, 1.5, -2.25, 1e308, -1e308, 5e-324, sys.float_info.max,
                                 sys.float_info.min, math.inf, -math.inf, 2.0 ** 53, -(2.0 ** 53),
                                 0.1 + 0.2])
def test_numbers_are_exact_f64(arena, num):
    m = arena.map("m")
    m["n"] = num
    got = m["n"]
    assert type(got) is float
    assert got == num and math.copysign(1, got) == math.copysign(1, num)


def test_nan_round_trips(arena):
    m = arena.map("m")
    m["n"] = math.nan
    assert math.isnan(m["n"])


def test_ints_exact_up_to_2_53_and_refused_beyond(arena):
    m = arena.map("m")
    for i in (0, 1, -1, 2 ** 53, -(2 ** 53), 123456789012345):
        m["i"] = i
        assert m["i"] == i
    for too_big in (2 ** 53 + 1, -(2 ** 53) - 1, 2 ** 64, 10 ** 30):
        with pytest.raises(sharena.ValueTooLargeError) as e:
            m["i"] = too_big
        assert isinstance(e.value, OverflowError)
        assert m["i"] == 123456789012345, "a refused value leaves the old one"


def test_bools_are_bools(arena):
    m = arena.map("m")
    m["t"], m["f"] = True, False
    assert m["t"] is True and m["f"] is False


def test_refs_value_add_drop(arena):
    m = arena.map("m")
    m["count"] = 1
    r = m.ref("count")
    assert isinstance(r.id, int) and r.id > 0 and r.id < 2 ** 53
    assert r.value == 1.0
    r.value = 10
    assert m["count"] == 10.0
    assert r.add(5) == 15.0
    r += 1
    assert m["count"] == 16.0
    # the id is the cross-language handle: another lookup gives the same object
    assert arena.ref(r.id).value == 16.0
    m["s"] = "text"
    rs = m.ref("s")
    rs.value = "changed"
    assert m["s"] == "changed"


def test_dropped_ref_is_stale_everywhere(arena):
    m = arena.map("m")
    m["x"] = 3
    r = m.ref("x")
    same = arena.ref(r.id)
    del m["x"]  # the map owned it: the object is dropped
    for op in (lambda: r.value, lambda: same.value, lambda: setattr(r, "value", 1)):
        with pytest.raises(sharena.StaleRefError) as e:
            op()
        assert "use after free" in str(e.value)
    n = arena.new(5)
    n.drop()
    with pytest.raises(sharena.StaleRefError):
        n.value


def test_replaced_container_view_is_stale(arena):
    m = arena.map("m")
    m["c"] = {"a": 1}
    view = m["c"]
    m["c"] = {"b": 2}
    with pytest.raises(sharena.StaleRefError):
        view["a"]
    assert dict(m["c"]) == {"b": 2.0}


def test_bytes_buffer_protocol_zero_copy(arena):
    np = pytest.importorskip("numpy")
    b = arena.bytes("buf", 64)
    assert len(b) == 64 and b.size == 64
    mv = memoryview(b)
    assert mv.nbytes == 64 and not mv.readonly
    mv[0:4] = b"\x01\x02\x03\x04"
    assert bytes(b)[:4] == b"\x01\x02\x03\x04"
    arr = np.frombuffer(b, dtype=np.uint32)
    arr[1] = 0xDEADBEEF
    # the same memory, no copy: visible through a second view
    assert np.frombuffer(arena.bytes("buf", 64), dtype=np.uint32)[1] == 0xDEADBEEF
    assert b[4:8] == (0xDEADBEEF).to_bytes(4, "little")
    with pytest.raises(sharena.OutOfRangeError):
        arena.bytes("buf", 32)  # an existing root of another size


def test_bytes_values_in_maps(arena):
    m = arena.map("m")
    m["raw"] = b"\x00\xffabc"
    got = m["raw"]
    assert isinstance(got, sharena.Bytes) and bytes(got) == b"\x00\xffabc"


def test_structs_by_field_name(arena):
    shape = arena.shape({"name": "string", "score": "number", "ok": "bool"})
    assert shape.names == ["name", "score", "ok"]
    s = shape.new(name="ada", score=1.5, ok=True)
    assert s.name == "ada" and s["score"] == 1.5 and s.ok is True
    s.score = 2.5
    s["name"] = "grace"
    assert dict(s) == {"name": "grace", "score": 2.5, "ok": True}
    with pytest.raises((AttributeError, KeyError)):
        s.nope
    with pytest.raises(TypeError):
        s.score = "not a number"
    m = arena.map("m")
    m["rec"] = s
    assert m["rec"].name == "grace"


def test_struct_update_is_all_or_nothing(arena):
    shape = arena.shape({"name": "string", "score": "number", "blob": ("bytes", 2)})
    s = shape.new(name="ada", score=1.5)
    s["blob"][:] = b"ab"
    with pytest.raises(KeyError):
        s.update(name="x", nope=1)
    with pytest.raises(TypeError):
        s.update({"name": "grace", "blob": b"zz"}, score="not a number")
    assert dict(s)["name"] == "ada" and s.score == 1.5 and bytes(s["blob"]) == b"ab"
    s.update({"name": "grace"}, score=3)
    assert s.name == "grace" and s.score == 3


def test_roots(arena):
    arena["top"] = {"a": 1}
    arena.set_root("n", 5)
    assert "top" in arena and set(arena) >= {"top", "n"}
    assert dict(arena["top"]) == {"a": 1.0}
    roots = arena.roots()
    assert set(roots) >= {"top", "n"}
    del arena["top"]
    assert "top" not in arena


def test_numpy_scalars_are_numbers_and_bools(arena):
    np = pytest.importorskip("numpy")
    m = arena.map("m")
    v = arena.vector("v")
    cases = [(np.float64(2.5), 2.5), (np.float32(1.5), 1.5), (np.float16(0.5), 0.5),
             (np.int64(3), 3.0), (np.int8(-7), -7.0), (np.uint32(7), 7.0),
             (np.uint64(2 ** 53), 2.0 ** 53), (np.array(4), 4.0), (np.array(0.25), 0.25)]
    for i, (scalar, want) in enumerate(cases):
        for store in (lambda x: m.__setitem__(f"k{i}", x), lambda x: m.set(f"s{i}", x),
                      lambda x: arena.set_root(f"r{i}", x)):
            store(scalar)
        v.append(scalar)
        for got in (m[f"k{i}"], m[f"s{i}"], arena[f"r{i}"], v[i]):
            assert type(got) is float and got == want, (scalar, got)
    for b in (np.bool_(True), np.bool_(False)):
        m["b"] = b
        v.append(b)
        assert m["b"] is bool(b) and v[-1] is bool(b)
    # a number or bool already stored takes numpy scalars too
    r = m.ref("k0")
    r.value = np.int32(9)
    assert m["k0"] == 9.0
    flag = m.ref("b")
    flag.value = np.bool_(True)
    assert m["b"] is True
    shape = arena.shape({"x": "number", "ok": "bool"})
    s = shape.new(x=np.float32(1.25), ok=np.bool_(True))
    assert s.x == 1.25 and s.ok is True
    s.drop()
    # integers past 2**53 are refused whatever their type
    with pytest.raises(sharena.ValueTooLargeError):
        m["big"] = np.uint64(2 ** 53 + 1)
    with pytest.raises(TypeError):
        m["c"] = np.complex128(1 + 2j)
    with pytest.raises(TypeError):
        m["c"] = np.complex64(1)
    assert "big" not in m and "c" not in m
    # real buffers still become Bytes
    m["arr"] = np.arange(4, dtype=np.uint8)
    m["raw"] = memoryview(b"ab")
    assert isinstance(m["arr"], sharena.Bytes) and bytes(m["arr"]) == b"\x00\x01\x02\x03"
    assert bytes(m["raw"]) == b"ab"


def test_add_refuses_int_results_past_2_53(arena):
    m = arena.map("m")
    m["n"] = 2 ** 53 - 1
    r = m.ref("n")
    assert r.add(1) == 2.0 ** 53
    for op in (lambda: r.add(1), lambda: r.add(), lambda: m.add("n"), lambda: m.add("n", 5),
               lambda: r.__iadd__(1)):
        with pytest.raises(sharena.ValueTooLargeError) as e:
            op()
        assert isinstance(e.value, OverflowError) and "2**53" in str(e.value)
        assert m["n"] == 2.0 ** 53, "a refused add leaves the value as it was"
    assert r.add(-1) == 2.0 ** 53 - 1
    m["neg"] = -(2 ** 53)
    with pytest.raises(sharena.ValueTooLargeError):
        m.add("neg", -1)
    with pytest.raises(sharena.ValueTooLargeError):
        m.add("fresh", 2 ** 53 + 1)  # the argument itself, as stores
    with pytest.raises(sharena.ValueTooLargeError):
        r.add(2 ** 60)
    assert "fresh" not in m
    # an int added to a fraction must give an exact result as well
    m["half"] = 0.5
    assert m.add("half", 2) == 2.5
    with pytest.raises(sharena.ValueTooLargeError):
        m.add("half", 2 ** 53)
    # float deltas are float64 arithmetic: documented rounding, no error
    m["f"] = 2.0 ** 53
    assert m.add("f", 1.0) == 2.0 ** 53
    assert m.ref("f").add(0.5) == 2.0 ** 53


def test_set_root_owned_false_refuses_plain_values(arena):
    used = arena.stat()["used_bytes"]
    for value in (5, "text", True, b"raw", {"a": 1}, [1, 2]):
        with pytest.raises(ValueError) as e:
            arena.set_root("r", value, owned=False)
        assert "owned" in str(e.value)
        with pytest.raises(ValueError):
            arena.map("m").set("k", value, owned=False)
    assert "r" not in arena and "k" not in arena.map("m")
    m = arena.map("m")
    del arena["m"]
    assert arena.stat()["used_bytes"] == used, "nothing was leaked"
    # owned=True and the default store plain values owned by the directory
    arena.set_root("r", {"a": 1}, owned=True)
    arena.set_root("s", "x")
    del arena["r"], arena["s"]
    assert arena.stat()["used_bytes"] == used
    # views: owned=False binds a reference, the creator keeps it
    obj = arena.new({"b": 2})
    arena.set_root("ref", obj, owned=False)
    del arena["ref"]
    assert obj.alive and dict(obj) == {"b": 2.0}
    obj.drop()
    assert arena.stat()["used_bytes"] == used
    with pytest.raises(sharena.StaleRefError):
        m["x"]
