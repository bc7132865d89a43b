"""A failed operation changes nothing (issue 16): update, extend, slice
assignment and nested stores build every value first (the library's value
builder) and link them in one step. After a failure the container holds
what it held, and the arena's used bytes and live objects are as before."""
import pytest

import sharena

BAD = object()  # cannot be stored: TypeError
BIG = "x" * 4000


def counters(arena):
    st = arena.stat()
    return st["used_bytes"], st["objects"]


def warm(arena, n=2000):
    # a handle table that grows stays grown: grow it before measuring
    v = arena.vector("_warm")
    v.extend([True] * n)
    del arena["_warm"]


def test_slice_assignment_with_an_unstorable_value_changes_nothing(arena):
    v = arena.vector("v")
    v.extend(["a", "b", "c", "d"])
    before = counters(arena)
    with pytest.raises(TypeError):
        v[0:2] = [1, BAD]
    assert list(v) == ["a", "b", "c", "d"]
    assert counters(arena) == before
    with pytest.raises(TypeError):
        v[1:1] = [[1, 2, {"k": BAD}]]
    assert list(v) == ["a", "b", "c", "d"]
    assert counters(arena) == before
    v[0:2] = [1, {"k": [2]}]
    assert v.to_python() == [1.0, {"k": [2.0]}, "c", "d"]
    v[1:3] = []
    assert v.to_python() == [1.0, "d"]
    v[3:1] = ["x"]  # an empty range inserts, as list does
    l = [1.0, "d"]
    l[3:1] = ["x"]
    assert list(v) == l


def test_slice_assignment_keeps_an_element_it_moves(arena):
    v = arena.vector("v")
    v.extend([{"a": 1}, "b", "c"])
    inner = v[0]
    v[0:3] = ["z", inner]
    assert v.to_python() == ["z", {"a": 1.0}]
    assert inner["a"] == 1.0  # still alive: it moved, it was not dropped
    del v[1]
    with pytest.raises(sharena.StaleRefError):
        inner["a"]  # the vector owned it, and dropped it now


def test_extend_is_all_or_nothing(arena):
    v = arena.vector("v")
    v.extend([1, 2])
    before = counters(arena)
    with pytest.raises(TypeError):
        v.extend(["ok", {"deep": ["x", BAD]}])
    with pytest.raises(TypeError):
        v += ["ok", BAD]
    assert list(v) == [1.0, 2.0]
    assert counters(arena) == before
    v += "ab"
    v.extend(v)  # a snapshot of itself
    assert list(v) == [1.0, 2.0, "a", "b", 1.0, 2.0, "a", "b"]


def test_update_is_all_or_nothing(arena):
    m = arena.map("m")
    m.update({"keep": "old", "n": 1})
    before = counters(arena)
    with pytest.raises(TypeError):
        m.update({"keep": "new", "t": {"x": [1, 2]}, "bad": BAD})
    with pytest.raises(TypeError):
        m.update([("keep", "new")], bad=BAD)
    with pytest.raises(TypeError):
        m.update({"keep": "new", 5: "int key"})
    with pytest.raises(ValueError):
        m.update([("keep", "new"), ("short",)])
    assert m.to_python() == {"keep": "old", "n": 1.0}
    assert counters(arena) == before
    m.update([("keep", "new")], t={"x": [1]}, n=2)
    assert m.to_python() == {"keep": "new", "n": 2.0, "t": {"x": [1.0]}}


def test_nested_store_failure_leaves_nothing(arena):
    m = arena.map("m")
    m["a"] = 1
    before = counters(arena)
    with pytest.raises(TypeError):
        m["t"] = {"x": [1, 2, {"y": BAD}]}
    with pytest.raises(UnicodeError):
        m["u"] = {"k": 1, "bad\udcffkey": 1}  # not UTF-8 encodable
    assert "t" not in m and "u" not in m
    assert counters(arena) == before


@pytest.fixture
def small(broker, name):
    a = sharena.open(name + ".small", create=True, capacity=256 << 10)
    yield a
    try:
        a.delete()
    except sharena.Error:
        pass
    a.close()


def fill(arena):
    """Fill the arena with 4 KiB buffers; return them, to give room back."""
    warm(arena, 600)
    held = arena.vector("fill")
    while True:
        try:
            held.append(b"\0" * 4000)
        except sharena.ArenaFullError:
            return held


@pytest.mark.parametrize("op", ["update", "extend", "slice", "set"])
def test_full_arena_mid_tree_changes_nothing(small, op):
    m = small.map("m")
    m.update({"keep": "old"})
    v = small.vector("v")
    v.extend(["a", "b", "c"])
    held = fill(small)
    held.pop()  # room for a few values, not for the whole tree
    tree = {"list": [BIG] * 4, "n": 1}
    before = counters(small)
    with pytest.raises(sharena.ArenaFullError):
        if op == "update":
            m.update(keep="new", t=tree)
        elif op == "extend":
            v.extend(["x", tree])
        elif op == "slice":
            v[0:2] = ["x", tree]
        else:
            m["t"] = tree
    assert counters(small) == before
    assert m.to_python() == {"keep": "old"}
    assert list(v) == ["a", "b", "c"]
    del held[0:6]  # now it fits
    if op == "update":
        m.update(keep="new", t=tree)
        assert m["keep"] == "new" and m["t"]["list"][3] == BIG
    elif op == "extend":
        v.extend(["x", tree])
        assert len(v) == 5 and v[4]["n"] == 1.0
    elif op == "slice":
        v[0:2] = ["x", tree]
        assert v[0] == "x" and v[1]["list"][0] == BIG and v[2] == "c"
    else:
        m["t"] = tree
        assert m["t"]["n"] == 1.0


def test_extended_slice_assignment_is_all_or_nothing(arena):
    v = arena.vector("v")
    v.extend(["a", "b", "c", "d"])
    before = counters(arena)
    with pytest.raises(TypeError):
        v[::2] = [1, BAD]
    with pytest.raises(ValueError):
        v[::2] = [1, 2, 3]  # wrong size: what was built is dropped again
    assert list(v) == ["a", "b", "c", "d"]
    assert counters(arena) == before
    keep = arena.map("keep")
    v[::-2] = [{"x": [1]}, keep]
    assert v.to_python() == ["a", {}, "c", {"x": [1.0]}]
    del v[1]
    assert keep.to_python() == {}  # a view's object stays its owner's
