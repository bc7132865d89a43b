"""Values a map stores in its entry (format 4): numbers, booleans, None and
strings of up to 16 bytes live in the map's table, with no object and no
id, until something asks for a ref (docs/format.md, "Values stored in the
entry"). Reads never make objects; a ref does, once, and keeps its id."""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import sharena

VALUES = {"num": 1.5, "int": 7, "yes": True, "no": False, "none": None,
          "empty": "", "short": "sixteen bytes!!!", "uni": "héllo wörld",
          "long": "seventeen bytes!!", "big": "x" * 100}


def objects(arena):
    return arena.stat()["objects"]


def test_scalars_and_short_strings_make_no_objects(arena):
    m = arena.map("m")
    before = objects(arena)
    for k, v in VALUES.items():
        m[k] = v
    # only the two strings over 16 bytes are objects of their own
    assert objects(arena) == before + 2
    assert dict(m) == VALUES
    assert m.copy() == VALUES and m.to_python() == VALUES
    assert list(m.items()) == list(VALUES.items())
    assert list(m.values()) == list(VALUES.values())
    assert all(k in m for k in VALUES) and "absent" not in m
    assert m.get("short") == "sixteen bytes!!!" and m["none"] is None
    # none of those reads gave a value an id
    assert objects(arena) == before + 2


def test_a_ref_gives_the_value_an_id_that_stays(arena):
    m = arena.map("m")
    m["n"] = 2.5
    m["s"] = "short"
    before = objects(arena)
    r = m.ref("n")
    assert objects(arena) == before + 1  # promoted, once
    assert r.value == 2.5 and m["n"] == 2.5
    again = m.ref("n")
    assert again.id == r.id and objects(arena) == before + 1
    r.value = 3.5  # writes through the object the entry now names
    assert m["n"] == 3.5 and dict(m)["n"] == 3.5
    s = m.ref("s")
    assert s.value == "short" and m["s"] == "short"
    # setting the key again stores in the entry, and the old object goes
    m["n"] = 4
    assert not r.alive and m["n"] == 4
    assert objects(arena) == before + 1  # only "s" is an object now
    with pytest.raises(sharena.StaleRefError):
        r.value


def test_add_and_pop_stay_in_the_entry(arena):
    m = arena.map("m")
    before = objects(arena)
    assert m.add("c") == 1 and m.add("c", 2) == 3
    m["t"] = "tiny"
    assert m.pop("t") == "tiny" and "t" not in m
    assert m.pop("c") == 3
    assert objects(arena) == before and len(m) == 0


def test_kind_changes_in_place(arena):
    m = arena.map("m")
    for v in (1, "one", True, None, "a" * 16, 2.0, "b" * 40, False):
        m["k"] = v
        assert m["k"] == v and dict(m) == {"k": v}


def test_read_only_handle_reads_values_and_refuses_an_id(arena):
    m = arena.map("m")
    m.update(VALUES)
    m["promoted"] = 9
    m.ref("promoted")
    ro = sharena.from_fd(arena.fd, readonly=True)
    try:
        rm = ro.map("m")
        assert dict(rm) == {**VALUES, "promoted": 9}
        assert rm["num"] == 1.5 and "yes" in rm
        assert rm.ref("promoted").value == 9  # an object already: has an id
        with pytest.raises(sharena.ReadOnlyError):
            rm.ref("num")  # giving it an id is a write
    finally:
        ro.close()


def test_values_cross_processes_while_one_is_promoted(arena, name):
    """A child keeps reading and writing values stored in entries while the
    parent takes refs (promotions) and writes through them: every read on
    either side is one of the values written, never torn or an error."""
    m = arena.map("m")
    for i in range(64):
        m[f"k{i}"] = float(i)
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sharena
        a = sharena.open({name!r})
        m = a.map("m")
        bad = 0
        for n in range(3000):
            k = f"k{{n % 64}}"
            v = m[k]
            if not isinstance(v, float) or v != int(v) or not 0 <= v < 1e6:
                bad += 1
            if n % 3 == 0:
                m[k] = float(n % 64)
            for key, val in m.items():
                if not isinstance(val, float):
                    bad += 1
        print(bad, flush=True)
        """)], stdout=subprocess.PIPE, text=True)
    refs = []
    for n in range(2000):
        k = f"k{n % 64}"
        if n % 5 == 0:
            try:
                r = m.ref(k)
                refs.append((k, r))
                r.value = float(n % 64)
            except sharena.StaleRefError:
                pass  # the child set the key again meanwhile
        v = m[k]
        assert isinstance(v, float) and v == int(v)
    out, _ = child.communicate(timeout=120)
    assert child.returncode == 0 and out.strip() == "0"
    assert sorted(m.keys()) == sorted(f"k{i}" for i in range(64))
    # a ref whose key was not set again since still names the entry's value
    for k, r in refs[-3:]:
        if r.alive:
            assert r.value == m[k]


def test_cli_reads_and_fsck_after_promotions(arena):
    """The CLI's dump reads values without giving them ids, and fsck finds
    the table sound after promotions, kind changes and removals."""
    m = arena.map("m")
    m.update(VALUES)
    for k in ("num", "short", "none", "yes"):
        m.ref(k)
    m["num"] = "now a string"
    del m["yes"]
    cli = os.environ.get("SHARENA_CLI") or str(
        Path(__file__).resolve().parents[2] / "build" / "tools" / "sharena")
    if not os.access(cli, os.X_OK):
        pytest.skip("no sharena CLI built")
    sock = ["--socket", os.environ["SHARENA_SOCKET"]]
    before = objects(arena)
    r = subprocess.run([cli, *sock, "dump", "--json", arena.name], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert '"int": 7' in r.stdout.replace(" ", " ") or '"int":7' in r.stdout
    assert objects(arena) == before
    r = subprocess.run([cli, *sock, "fsck", arena.name], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
