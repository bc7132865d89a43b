"""Exported buffers (memoryview, numpy) of Bytes objects: freeing a Bytes
object that one of them still uses raises BufferError in the process that
holds the export, and leaves everything as it was."""
import pytest


def _freeing_ops(arena):
    """Every way this process can free the Bytes at m['buf'], a root, a
    vector element, a nested owned child and a struct's bytes field."""
    m, v = arena.map("m"), arena.vector("v")
    roots = arena
    return [
        ("del key", lambda: m.__delitem__("buf")),
        ("replace key", lambda: m.__setitem__("buf", 1)),
        ("replace key via set", lambda: m.set("buf", "x")),
        ("pop", lambda: m.pop("buf")),
        ("popitem", lambda: arena.map("solo").popitem()),
        ("clear", m.clear),
        ("drop the parent", lambda: m.drop()),
        ("drop through another view", lambda: m["buf"].drop()),
        ("drop a ref of it", lambda: m.ref("buf").drop()),
        ("del root", lambda: roots.__delitem__("b")),
        ("replace root", lambda: roots.__setitem__("b", 0)),
        ("drop root view", lambda: roots.bytes("b", 16).drop()),
        ("vector del", lambda: v.__delitem__(0)),
        ("vector set", lambda: v.__setitem__(0, 1)),
        ("vector pop", lambda: v.pop(0)),
        ("vector slice", lambda: v.__delitem__(slice(0, None))),
        ("vector clear", v.clear),
        ("nested owner", lambda: m.__delitem__("nest")),
        ("struct owner", lambda: m.__delitem__("rec")),
    ]


def _fill(arena):
    m, v = arena.map("m"), arena.vector("v")
    m["buf"] = b"\x00" * 16
    arena.map("solo")["buf"] = b"\x00" * 16
    v.append(b"\x00" * 16)
    m["nest"] = {"inner": [b"\x00" * 16]}
    shape = arena.shape({"raw": ("bytes", 16)})
    m.set("rec", shape.new(), owned=True)
    arena.bytes("b", 16)
    return {
        "del key": m["buf"], "replace key": m["buf"], "replace key via set": m["buf"],
        "pop": m["buf"], "popitem": arena.map("solo")["buf"], "clear": m["buf"], "drop the parent": m["buf"],
        "drop through another view": m["buf"], "drop a ref of it": m["buf"],
        "del root": arena.bytes("b", 16), "replace root": arena.bytes("b", 16),
        "drop root view": arena.bytes("b", 16),
        "vector del": v[0], "vector set": v[0], "vector pop": v[0], "vector slice": v[0],
        "vector clear": v[0], "nested owner": m["nest"]["inner"][0], "struct owner": m["rec"].raw,
    }


@pytest.mark.parametrize("case", ["del key", "replace key", "replace key via set", "pop", "popitem", "clear",
                          "drop the parent", "drop through another view", "drop a ref of it",
                          "del root", "replace root", "drop root view", "vector del", "vector set",
                          "vector pop", "vector slice", "vector clear", "nested owner",
                                  "struct owner"])
@pytest.mark.parametrize("exporter", ["memoryview", "numpy"])
def test_freeing_an_exported_bytes_raises_buffer_error(arena, case, exporter):
    target = _fill(arena)[case]
    if exporter == "numpy":
        np = pytest.importorskip("numpy")
        held = np.frombuffer(target, dtype=np.uint8)
    else:
        held = memoryview(target)
    objects = arena.stat()["objects"]
    op = dict(_freeing_ops(arena))[case]
    with pytest.raises(BufferError) as e:
        op()
    assert "release" in str(e.value)
    # nothing changed: the object is alive and the export still writes into it
    assert target.alive and arena.stat()["objects"] == objects
    held[0] = 7
    assert target.read(0, 1) == b"\x07"
    # once released, the same operation goes through
    if exporter == "numpy":
        del held
    else:
        held.release()
    op()
    assert arena.fsck()["ok"]


def test_unrelated_frees_are_not_blocked_by_an_export(arena):
    m = arena.map("m")
    m["buf"] = b"abcd"
    m["other"] = b"efgh"
    m["ref"] = m["buf"]  # a reference the map does not own
    with memoryview(m["buf"]) as mv:
        del m["other"]
        del m["ref"]  # removing a reference frees nothing
        m["x"] = 1
        del m["x"]
        assert bytes(mv) == b"abcd"
    del m["buf"]
    assert list(m) == []
