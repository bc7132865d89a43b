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
