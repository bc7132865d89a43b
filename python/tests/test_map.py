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
