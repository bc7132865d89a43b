"""None is a value (issue 16): it stores as the arena's null and reads back
as None in maps, vectors, roots and nullable struct fields, through
to_python(), copy() and repr(). None into a struct field whose shape does
not allow it is a TypeError that changes nothing."""
import sys
from typing import Optional

import pytest


def counters(arena):
    st = arena.stat()
    return st["used_bytes"], st["objects"]


def test_none_in_maps_vectors_and_roots(arena):
    m = arena.map("m")
    m["a"] = None
    m.update({"b": None, "c": [None, 1, {"d": None}]})
    assert m["a"] is None
    assert "a" in m
    assert m.get("a", "absent") is None  # present, and None
    assert m.get("zz", "absent") == "absent"
    assert m.to_python() == {"a": None, "b": None, "c": [None, 1.0, {"d": None}]}
    assert m.copy() == {"a": None, "b": None, "c": m["c"]}
    assert "'a': None" in repr(m)
    v = arena.vector("v")
    v.append(None)
    v.extend([None, "x"])
    v[2:2] = [None]
    assert list(v) == [None, None, None, "x"]
    assert v.copy() == [None, None, None, "x"]
    assert v.count(None) == 3
    assert v.index(None) == 0
    assert v.pop(0) is None
    assert "None" in repr(v)
    arena["r"] = None
    assert arena["r"] is None
    assert "r" in arena
    assert arena.roots()["r"] is None
    assert m.setdefault("e") is None and m["e"] is None
    assert arena.fsck()["errors"] == 0


def test_none_is_dropped_with_its_container(arena):
    before = counters(arena)
    m = arena.map("m")
    m.update({str(i): None for i in range(50)})
    del arena["m"]
    assert counters(arena) == before


def test_nullable_struct_fields(arena):
    sh = arena.shape({"n": "number", "on": "number?", "os": Optional[str],
                      "ob": Optional[bool]})
    assert sh.fields == [("n", "number", 0), ("on", "number?", 0),
                         ("os", "string?", 0), ("ob", "bool?", 0)]
    s = sh.new(n=1)
    assert s.to_python() == {"n": 1.0, "on": None, "os": None, "ob": None}
    s.on = 2.5
    s["os"] = "hi"
    s.ob = False
    assert s.to_python() == {"n": 1.0, "on": 2.5, "os": "hi", "ob": False}
    s.on = None
    s.os = None
    assert s.on is None and s["os"] is None and s.ob is False
    assert "None" in repr(s)
    s.drop()
    if sys.version_info >= (3, 10):  # float | None: the PEP 604 spelling
        assert arena.shape({"x": eval("float | None")}).fields == [("x", "number?", 0)]


def test_none_into_a_field_that_is_not_nullable_changes_nothing(arena):
    sh = arena.shape({"n": "number", "s": "string", "on": "number?"})
    s = sh.new(n=7, s="keep")
    arena["s"] = s
    before = counters(arena)
    with pytest.raises(TypeError, match="not nullable"):
        s.n = None
    with pytest.raises(TypeError, match="not nullable"):
        s["s"] = None
    with pytest.raises(TypeError):
        s.update({"on": None, "n": None})  # on is set first, then n fails
    assert s.n == 7.0 and s.s == "keep"
    assert s.on is None
    assert counters(arena) == before
    with pytest.raises(TypeError):
        arena.shape({"b": ("bytes?", 4)})
    with pytest.raises(TypeError):
        arena.shape({"b": Optional[bytes]})
