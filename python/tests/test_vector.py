"""Vector is a MutableSequence: a list is the reference."""
import pytest


def pair(arena, items=(1, 2, 3, 4, 5)):
    v = arena.vector("v")
    v.extend(items)
    return v, [float(x) for x in items]


def test_indexing_and_negative_indices(arena):
    v, l = pair(arena)
    assert len(v) == len(l)
    for i in range(-len(l), len(l)):
        assert v[i] == l[i]
    for bad in (len(l), -len(l) - 1):
        with pytest.raises(IndexError):
            v[bad]
    v[-1] = 50
    l[-1] = 50.0
    assert list(v) == l


@pytest.mark.parametrize("s", [slice(None), slice(1, 3), slice(-3, None), slice(None, None, 2),
                               slice(None, None, -1), slice(4, 0, -2), slice(10, 20)])
def test_slices_read(arena, s):
    v, l = pair(arena)
    assert v[s] == l[s]


def test_slice_assignment_and_deletion(arena):
    v, l = pair(arena)
    v[1:3] = ["a", "b", "c"]
    l[1:3] = ["a", "b", "c"]
    assert list(v) == l
    del v[::2]
    del l[::2]
    assert list(v) == l
    v[0:0] = [True]
    l[0:0] = [True]
    assert list(v) == l
    with pytest.raises(ValueError):
        v[::2] = [1, 2, 3, 4, 5, 6, 7]


def test_insert_pop_remove_index_count_reverse(arena):
    v, l = pair(arena)
    for op in (lambda x: x.insert(0, "h"), lambda x: x.insert(-1, "m"), lambda x: x.insert(99, "t"),
               lambda x: x.append(2), lambda x: x.reverse()):
        op(v)
        op(l)
        assert list(v) == l
    assert v.pop() == l.pop()
    assert v.pop(0) == l.pop(0)
    assert v.index(2.0) == l.index(2.0)
    assert v.count(2.0) == l.count(2.0)
    v.remove(2.0)
    l.remove(2.0)
    assert list(v) == l
    with pytest.raises(ValueError):
        v.remove("absent")
    assert 3.0 in v and "absent" not in v
    v.clear()
    assert len(v) == 0
    with pytest.raises(IndexError):
        v.pop()
    v += [1, 2]
    assert list(v) == [1.0, 2.0]


def test_nested_and_ids(arena):
    v = arena.vector("v")
    v.append({"k": [1, 2]})
    v.append([["x"]])
    assert v[0]["k"][1] == 2.0
    assert v[1][0][0] == "x"
    same = arena.object(v.id)
    assert list(same)[1][0][0] == "x"
