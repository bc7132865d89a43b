"""Map and Vector behave like dict and list where users expect it (issue 16):
changes during iteration, cycles, copy(), fromkeys, +, *, sort()."""
import pytest

import sharena


# ---- mutating a map while iterating it -------------------------------------

def test_delete_while_iterating_raises_like_dict(arena):
    m = arena.map("m")
    m.update({f"k{i}": i for i in range(100)})
    d = dict(m)
    with pytest.raises(RuntimeError, match="changed size during iteration"):
        for k in d:
            del d[k]
    with pytest.raises(RuntimeError, match="changed size during iteration"):
        for k in m:
            del m[k]
    # exactly one key went, and it is the one the loop saw: nothing else
    # was lost silently
    assert len(m) == 99


def test_every_delete_loop_either_finishes_or_raises(arena):
    m = arena.map("m")
    m.update({f"k{i}": i for i in range(100)})
    for view in (lambda: iter(m), lambda: iter(m.items()), lambda: iter(m.values())):
        n = len(m)
        it = view()
        next(it)
        del m[next(iter(m))]
        with pytest.raises(RuntimeError):
            next(it)
        with pytest.raises(StopIteration):  # a failed iterator stays done
            next(it)
        assert len(m) == n - 1


def test_adding_while_iterating_raises(arena):
    m = arena.map("m")
    m.update({f"k{i}": i for i in range(10)})
    with pytest.raises(RuntimeError, match="changed size during iteration"):
        for i, k in enumerate(m):
            m[f"new{i}"] = 1


def test_replacing_values_while_iterating_is_allowed(arena):
    m = arena.map("m")
    m.update({f"k{i}": i for i in range(100)})
    seen = []
    for k in m:
        m[k] = m[k] + 1  # same keys, new values: dict allows it
        seen.append(k)
    assert sorted(seen) == sorted(f"k{i}" for i in range(100))
    assert sorted(m.values()) == [float(i + 1) for i in range(100)]


def test_same_size_key_swap_is_detected(arena):
    m = arena.map("m")
    m.update({f"k{i}": i for i in range(100)})
    with pytest.raises(RuntimeError, match="during iteration"):
        for i, k in enumerate(m):
            del m[k]
            m[f"other{i}"] = i


def test_delete_over_a_list_of_keys_empties_the_map(arena):
    m = arena.map("m")
    m.update({f"k{i}": i for i in range(100)})
    for k in list(m):
        del m[k]
    assert len(m) == 0


# ---- cycles ------------------------------------------------------------------

def test_storing_a_container_in_itself_raises_recursionerror(arena):
    v, m = arena.vector("v"), arena.map("m")
    v.append(1)
    m["a"] = 1
    for f in (lambda: v.append(v), lambda: v.insert(0, v), lambda: v.__setitem__(0, v),
              lambda: v.extend([2, v]), lambda: v.__setitem__(slice(0, 1), [v]),
              lambda: m.__setitem__("x", m), lambda: m.set("x", m, owned=False),
              lambda: m.update({"y": 2, "x": m})):
        with pytest.raises(RecursionError, match="cannot hold itself"):
            f()
    assert v == [1.0] and dict(m) == {"a": 1.0}  # nothing changed


def test_containers_that_reach_themselves_print_compare_and_copy_like_list_and_dict(arena):
    v, m = arena.vector("v"), arena.map("m")
    v.append([v])
    m["1"] = {"2": m}
    pl = []
    pl.append([pl])
    pd = {}
    pd["1"] = {"2": pd}
    # nested views print as views; the inner occurrence as list and dict do
    assert repr(v) == "sharena.Vector([sharena.Vector([[...]])])"
    assert repr(m) == "sharena.Map({'1': sharena.Map({'2': {...}})})"
    assert v == v and m == m and arena.vector("v") == v and arena.map("m") == m
    assert not (v != v)
    lv, dm = v.to_python(), m.to_python()
    assert lv[0][0] is lv and dm["1"]["2"] is dm  # the same cycle, as deepcopy makes
    assert repr(lv) == repr(pl) and repr(dm) == repr(pd)


# ---- what dict and list users expect -------------------------------------------

def test_copy_is_a_plain_snapshot(arena):
    m, v = arena.map("m"), arena.vector("v")
    m.update(a=1, b="x", c=[1, 2])
    v.extend([1, "x", {"k": 2}])
    d, l = m.copy(), v.copy()
    assert type(d) is dict and type(l) is list
    assert d["a"] == 1.0 and d["b"] == "x" and d["c"] == [1.0, 2.0]
    assert l[:2] == [1.0, "x"] and l[2] == {"k": 2.0}
    m["z"] = 3
    v.append(4)
    assert "z" not in d and len(l) == 3  # a snapshot, not a view


def test_fromkeys_plus_times(arena):
    assert sharena.Map.fromkeys(["a", "b"], 1) == {"a": 1, "b": 1}
    v = arena.vector("v")
    v.extend([1, 2])
    assert v + [3] == [1.0, 2.0, 3] and type(v + [3]) is list
    assert [0] + v == [0, 1.0, 2.0] and type([0] + v) is list
    assert v * 2 == [1.0, 2.0, 1.0, 2.0] and type(v * 2) is list and type(2 * v) is list
    w = v
    v += [3]
    assert v is w and list(arena.vector("v")) == [1.0, 2.0, 3.0]
    v *= 2
    assert v is w and list(arena.vector("v")) == [1.0, 2.0, 3.0] * 2
    v *= 0
    assert len(arena.vector("v")) == 0
    with pytest.raises(TypeError):
        v + "ab"


def test_sort_in_place_key_reverse_all_or_nothing(arena):
    v = arena.vector("v")
    v.extend([3, 1, 2, 5, 4])
    v.sort()
    assert v == [1, 2, 3, 4, 5]
    v.sort(reverse=True)
    assert v == [5, 4, 3, 2, 1]
    v.sort(key=lambda x: x % 2)  # stable
    assert v == [4, 2, 5, 3, 1]
    v.append({"a": 1})
    child = v[5]
    before = list(v)
    with pytest.raises(TypeError):
        v.sort()
    assert list(v) == before
    v.sort(key=lambda x: -x if isinstance(x, float) else -100)
    assert v[0] == child  # the same object moved, still owned by v
    v.clear()
    with pytest.raises(sharena.StaleRefError):
        child["a"]


def test_slice_assignment_from_str_and_bytes_like_list(arena):
    v = arena.vector("v")
    v.extend(["a", "b", "c"])
    v[:2] = "h"
    assert v == ["h", "c"]
    v[:] = b"ab"
    assert v == [97.0, 98.0]


def test_keys_stay_str_and_the_error_says_so(arena):
    m = arena.map("m")
    for k in (1, b"x", None, ("a",)):
        with pytest.raises(TypeError, match="str"):
            m[k] = 1


def test_sort_refuses_a_key_that_changes_the_vector(arena):
    v = arena.vector("v")
    v.extend([3, 1, 2])

    def key(x):
        v.append(0)  # a write during the sort, as list.sort refuses it
        return x
    with pytest.raises(ValueError, match="modified during sort"):
        v.sort(key=key)
    assert list(v)[:3] == [3.0, 1.0, 2.0]  # the order was not written back


def test_copy_on_a_read_only_handle(arena):
    m, v = arena.map("m"), arena.vector("v")
    m.update(a=1, b=2)
    v.extend([1, 2])
    ro = sharena.from_fd(arena.fd, readonly=True)
    try:
        assert ro.map("m").copy() == {"a": 1.0, "b": 2.0}  # no lock: version-checked
        assert ro.vector("v").copy() == [1.0, 2.0]
        with pytest.raises(sharena.Error):
            ro.map("m").locked().__enter__()  # why copy() cannot lock here
    finally:
        ro.close()


def test_map_union_operators_like_dict(arena):
    m = arena.map("m")
    m.update(a=1, b=2)
    assert m | {"b": 3, "c": 4} == {"a": 1.0, "b": 3, "c": 4} and type(m | {}) is dict
    assert {"a": 0, "z": 9} | m == {"a": 1.0, "b": 2.0, "z": 9} and type({} | m) is dict
    w = m
    m |= {"c": 5}
    assert m is w and dict(arena.map("m")) == {"a": 1.0, "b": 2.0, "c": 5.0}
    with pytest.raises(TypeError):
        m | [("x", 1)]
    with pytest.raises(TypeError):  # all or nothing, as update()
        m |= {"ok": 1, "bad": object()}
    assert "ok" not in m
