"""Map is a MutableMapping[str, value]: a dict is the reference."""
import pytest

import sharena


def both(arena):
    return arena.map("m"), {}


def test_basic_contract_matches_dict(arena):
    m, d = both(arena)
    for k, v in [("a", 1.0), ("b", "two"), ("é✓", True), ("", 0.5)]:
        m[k] = v
        d[k] = v
    assert dict(m) == d
    assert len(m) == len(d) == 4
    assert sorted(m) == sorted(d)
    assert sorted(m.keys()) == sorted(d.keys())
    assert dict(m.items()) == d
    assert sorted(map(str, m.values())) == sorted(map(str, d.values()))
    assert "a" in m and "zz" not in m and 3 not in m
    assert m.get("zz") is None and m.get("zz", 7) == 7 and m.get("a") == 1.0
    assert m == d


def test_missing_key_raises_keyerror(arena):
    m = arena.map("m")
    with pytest.raises(KeyError) as e:
        m["nope"]
    assert isinstance(e.value, sharena.NotFoundError)
    with pytest.raises(KeyError):
        del m["nope"]


def test_setdefault_pop_popitem_update_clear(arena):
    m, d = both(arena)
    assert m.setdefault("x", 5) == d.setdefault("x", 5.0)
    assert m.setdefault("x", 9) == d.setdefault("x", 9.0) == 5.0
    assert m.pop("x") == d.pop("x")
    assert m.pop("x", "dflt") == d.pop("x", "dflt") == "dflt"
    with pytest.raises(KeyError):
        m.pop("x")
    m.update({"a": 1, "b": 2}, c=3)
    d.update({"a": 1.0, "b": 2.0}, c=3.0)
    m.update([("e", "f")])
    d.update([("e", "f")])
    assert dict(m) == d
    k, v = m.popitem()
    assert d.pop(k) == v
    assert dict(m) == d
    m.clear()
    assert len(m) == 0 and dict(m) == {}
    with pytest.raises(KeyError):
        m.popitem()


def test_overwrite_and_delete_release_memory(arena):
    m = arena.map("m")
    used0 = arena.stat()["used_bytes"]
    for i in range(200):
        m["k"] = "x" * 1000
    del m["k"]
    # overwritten and deleted values were freed, not leaked
    assert arena.stat()["used_bytes"] - used0 < 8192


def test_nested_containers_are_live_views(arena):
    m = arena.map("m")
    m["cfg"] = {"inner": {"deep": [1, 2, {"z": "end"}]}, "flag": False}
    inner = m["cfg"]["inner"]
    assert isinstance(inner, sharena.Map)
    inner["added"] = "later"
    assert m["cfg"]["inner"]["added"] == "later"
    vec = m["cfg"]["inner"]["deep"]
    assert isinstance(vec, sharena.Vector)
    assert vec[2]["z"] == "end"
    assert m["cfg"]["flag"] is False


def test_non_str_keys_are_refused(arena):
    m = arena.map("m")
    for bad in (1, 1.5, b"k", None, ("t",)):
        with pytest.raises(TypeError):
            m[bad] = 1
    # a str that is not valid Unicode (a lone surrogate) cannot be UTF-8
    with pytest.raises((sharena.EncodingError, UnicodeError)):
        m["s\udcff"] = 1
    with pytest.raises((sharena.EncodingError, UnicodeError)):
        m["ok"] = "v\udcff"
    assert "ok" not in m


def test_many_keys(arena):
    m = arena.map("many")
    n = 20000
    for i in range(n):
        m[f"key{i}"] = i
    assert len(m) == n
    assert all(m[f"key{i}"] == i for i in range(0, n, 997))
    assert sum(1 for _ in m) == n


def test_locked_is_reentrant_in_one_thread(arena):
    m = arena.map("m")
    same = arena.map("m")  # another view of the same object shares the lock
    with m.locked():
        with m.locked():
            with same.locked():
                m["x"] = 1
                m.add("n")
                m.pop("x")
            m["y"] = 2
        m["z"] = 3  # still held by the outer block
    # released: another thread can take it now
    import threading
    got = []
    t = threading.Thread(target=lambda: got.append(m.setdefault("w", 4)))
    t.start()
    t.join(30)
    assert got == [4.0] and dict(m) == {"n": 1.0, "y": 2.0, "z": 3.0, "w": 4.0}


def test_lock_taken_twice_outside_locked_is_a_deadlock_error(arena):
    m = arena.map("m")
    m._lock()
    try:
        with pytest.raises(sharena.DeadlockError) as e:
            m._lock()
        assert isinstance(e.value, RuntimeError) and "already holds" in str(e.value)
    finally:
        m._unlock()


def test_dangling_entry_is_listed_and_reading_it_raises(arena):
    """A child dropped through another ref leaves its key behind: the key
    is still in the map (len, iter, keys, in), its value is gone (getitem,
    get, items, values, to_python raise StaleRefError), del cleans it up."""
    m = arena.map("m")
    m["ok"] = "fine"
    m["gone"] = {"a": 1}
    m["num"] = 5
    m["gone"].drop()
    m.ref("num").drop()
    assert len(m) == 3
    assert sorted(m) == sorted(m.keys()) == ["gone", "num", "ok"]
    assert "gone" in m and "num" in m
    for op in (lambda: m["gone"], lambda: m.get("gone"), lambda: m.get("num", 0),
               lambda: list(m.items()), lambda: list(m.values()), lambda: dict(m),
               lambda: m.to_python(), lambda: m.setdefault("num", 1)):
        with pytest.raises(sharena.StaleRefError) as e:
            op()
        assert "del " in str(e.value)
    del m["gone"]
    del m["num"]
    assert dict(m) == {"ok": "fine"} and len(m) == 1
    assert arena.fsck()["ok"]
