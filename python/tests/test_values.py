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
    with pytest.raises(sharena.Error):
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


def test_roots(arena):
    arena["top"] = {"a": 1}
    arena.set_root("n", 5)
    assert "top" in arena and set(arena) >= {"top", "n"}
    assert dict(arena["top"]) == {"a": 1.0}
    roots = arena.roots()
    assert set(roots) >= {"top", "n"}
    del arena["top"]
    assert "top" not in arena
