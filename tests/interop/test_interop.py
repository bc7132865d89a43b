"""The interop matrix: each of C, Node and Python writes every value type
(null included: a map value, a vector item, nullable struct fields)
into one named arena and each of the three reads every writer's values back
through its own binding; ids cross languages; a struct whose shape Node
defined is written by field name from Python (and a new one made from that
shape) and read back by all three; concurrent writers of three languages
lose nothing. One private sharenad for the module.

Run by ctest (`interop`) or directly: python -m pytest tests/interop.
Programs: $SHARENA_INTEROP_C (the C side, built by CMake), node with
tests/interop/interop.js, this Python with interop.py."""
import contextlib
import json
import re
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
LANGS = ["c", "node", "py"]


def _exe(env_name, default):
    path = os.environ.get(env_name) or str(default)
    if not os.access(path, os.X_OK):
        pytest.exit(f"{path} not found (set {env_name} or build first)", 2)
    return path


def command(lang, *args):
    if lang == "c":
        return [_exe("SHARENA_INTEROP_C", ROOT / "build" / "tests" / "interop" / "interop_c"), *args]
    if lang == "node":
        return [shutil.which("node") or "node", str(HERE / "interop.js"), *args]
    return [sys.executable, str(HERE / "interop.py"), *args]


@contextlib.contextmanager
def private_sharenad(prefix):
    """A sharenad on a socket in a new temporary directory, its log in a
    file there (a pipe nobody reads would only make it drop lines). Yields
    (env for clients, the process); stops it with SIGTERM (exit 0 expected)
    unless the test already ended it."""
    d = tempfile.mkdtemp(prefix=prefix)
    sock = os.path.join(d, "broker.sock")
    log = open(os.path.join(d, "broker.log"), "wb")
    proc = subprocess.Popen([_exe("SHARENA_SHARENAD", ROOT / "build" / "broker" / "sharenad"),
                             "--foreground", "--socket", sock],
                            stdout=subprocess.DEVNULL, stderr=log)
    deadline = time.monotonic() + 30  # a hang guard
    try:
        while True:
            assert proc.poll() is None, open(log.name).read()
            try:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
                s.connect(sock)
                s.close()
                break
            except OSError:
                assert time.monotonic() < deadline, "sharenad did not come up"
                time.sleep(0.01)
        yield dict(os.environ, SHARENA_SOCKET=sock, SHARENA_AUTOSTART="0"), proc
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(30) == 0, open(log.name).read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
        shutil.rmtree(d, ignore_errors=True)


def json_runs(prefix, mode, langs=LANGS):
    """Run `mode` (arena "<mode>.<lang>") in each of `langs` on a private
    sharenad; {lang: the JSON it printed}."""
    with private_sharenad(prefix) as (env, _proc):
        out = {}
        for lang in langs:
            p = subprocess.run(command(lang, mode, f"{mode}.{lang}"), env=env,
                               capture_output=True, text=True, timeout=120)
            assert p.returncode == 0, f"{lang}: rc {p.returncode}: {p.stderr}"
            out[lang] = json.loads(p.stdout)
        return out


@pytest.fixture(scope="module")
def broker():
    with private_sharenad("sharena-interop.") as (env, _):
        yield env


def run(env, lang, *args):
    r = subprocess.run(command(lang, *args), env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, f"{lang} {' '.join(args)} failed:\n{r.stdout}\n{r.stderr}"
    return r.stdout


def n(d):
    return {"n": struct.pack(">d", d).hex()}


# What every writer stores, in the canonical JSON of interop.c.
EXPECTED = {
    "s_ascii": {"s": "hello"},
    "s_utf8": {"s": "héllo wörld 日本 🎉"},
    "s_empty": {"s": ""},
    "n_pi": n(3.141592653589793),
    "n_neg0": n(-0.0),
    "n_max": n(1.7976931348623157e308),
    "n_min": n(5e-324),
    "n_2p53": n(2.0 ** 53),
    "n_inf": n(float("inf")),
    "n_ninf": n(float("-inf")),
    "n_tenth": n(0.1),
    # every writer stores the quiet NaN its language makes (float("nan"),
    # NaN, NAN: all 7ff8000000000000), and numbers are stored bit for bit
    "n_nan": n(float("nan")),
    "b_t": {"b": True},
    "b_f": {"b": False},
    "nested": {"m": {"list": {"v": [n(1.0), {"s": "two"}, {"m": {"three": n(3.0)}}]},
                     "empty": {"m": {}}}},
    "v_empty": {"v": []},
    "bytes": {"x": bytes(i * 17 for i in range(16)).hex()},
    "struct": {"t": {"name": {"s": "ada"}, "score": n(1.5), "ok": {"b": True}}},
    # null, written as None / null / sharena_null_new and read back as null
    "z_null": {"z": None},
    "v_nulls": {"v": [{"z": None}, n(1.0)]},
    "struct_opt": {"t": {"maybe": {"z": None}, "set": {"s": "yes"}}},
}


def _is_nan(v):
    bits = int(v["n"], 16)
    return (bits >> 52) & 0x7FF == 0x7FF and bits & ((1 << 52) - 1) != 0


@pytest.fixture(scope="module")
def written(broker):
    for lang in LANGS:
        run(broker, lang, "write", "matrix")
    return broker


@pytest.mark.parametrize("writer", LANGS)
@pytest.mark.parametrize("reader", LANGS)
def test_every_reader_sees_every_writer_exactly(written, writer, reader):
    out = json.loads(run(written, reader, "dump", "matrix", writer))
    value = out["value"]["m"]
    ids = {k: value.pop(k) for k in ("num_id", "gone_id")}
    assert _is_nan(value["n_nan"]), f"{writer} -> {reader}: NaN read back as {value['n_nan']}"
    assert value["n_neg0"] == n(-0.0), f"{writer} -> {reader}: -0.0 lost its sign"
    assert value == EXPECTED
    # ids written by one language resolve to the same object in another...
    assert out["ids"]["num_id"] == n(42.0)
    # ...and a drop in the writer's language makes the id stale everywhere
    assert out["ids"]["gone_id"] == {"error": "ESTALE"}
    assert all(v.keys() == {"n"} for v in ids.values())


STRUCT_FIELDS = ["name", "score", "ok", "big", "note"]


@pytest.fixture(scope="module")
def node_struct(broker):
    """Node defines a shape and makes root struct "st.node" with it; Python
    changes it by field name and makes root "st.py" from the same shape."""
    run(broker, "node", "struct-make", "structs")
    return broker, json.loads(run(broker, "py", "struct-edit", "structs"))


def test_python_sees_the_shape_node_defined(node_struct):
    _, info = node_struct
    assert info["fields"] == [["name", "string", 0], ["score", "number", 0], ["ok", "bool", 0],
                              ["big", "number", 0], ["note", "string", 0]]
    assert info["made_shape"] == info["shape"]  # Node's shape object, not a copy


@pytest.mark.parametrize("reader", LANGS)
def test_every_reader_sees_python_writes_to_a_node_struct(node_struct, reader):
    env, _ = node_struct
    edited = json.loads(run(env, reader, "dumproot", "structs", "st.node"))
    assert list(edited["t"]) == STRUCT_FIELDS
    assert edited == {"t": {"name": {"s": "grace ✓"}, "score": n(-0.0), "ok": {"b": False},
                            "big": n(2.0 ** 53), "note": {"s": "kept"}}}
    made = json.loads(run(env, reader, "dumproot", "structs", "st.py"))
    assert list(made["t"]) == STRUCT_FIELDS
    assert made == {"t": {"name": {"s": "from py"}, "score": n(0.1), "ok": {"b": True},
                          "big": n(0.0), "note": {"s": ""}}}


def test_readers_agree_on_ids(written):
    dumps = {r: json.loads(run(written, r, "dump", "matrix", "node")) for r in LANGS}
    first = dumps["c"]["value"]["m"]["num_id"]
    assert all(d["value"]["m"]["num_id"] == first for d in dumps.values())


def test_three_languages_hammer_one_counter_and_map(broker):
    per = 3000
    procs = [subprocess.Popen(command(lang, "hammer", "hammer", str(per), str(w)), env=broker,
                              stderr=subprocess.PIPE, text=True)
             for lang in LANGS for w in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    check = ("import sharena, json; a = sharena.open('hammer'); "
             "print(json.dumps([a.number('count').value, len(a.map('keys'))]))")
    out = subprocess.run([sys.executable, "-c", check], env=broker, capture_output=True,
                         text=True, check=True).stdout
    count, keys = json.loads(out)
    assert count == len(procs) * per
    assert keys == len(procs) * per


@pytest.mark.parametrize("lang", LANGS)
def test_layout_mismatch_is_refused_with_one_clear_error(broker, lang):
    """An arena whose header carries another build's layout hash (made by
    interop_c, its fd inherited) is refused by every binding alike."""
    c = command("c")[0]
    target = ["self"] if lang == "c" else command(lang, "fromfd")
    out = subprocess.run([c, "badlayout", *target], env=broker, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    line = out.stdout.strip()
    assert line.startswith("ELAYOUT: "), line
    assert "arena was made by a build with another format version or layout" in line


FORMAT_VERSION = int(re.search(
    r"#define SHARENA__FORMAT_VERSION (\d+)u",
    (HERE.parent.parent / "lib" / "src" / "layout.h").read_text()).group(1))


@pytest.mark.parametrize("lang", LANGS)
def test_older_format_version_is_refused_naming_both(broker, lang):
    """An arena of format version 1 (before null) is refused by every
    binding, and the message names both versions (docs/format.md, "Format
    versions")."""
    c = command("c")[0]
    target = ["self"] if lang == "c" else command(lang, "fromfd")
    out = subprocess.run([c, "badversion", *target], env=broker, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    line = out.stdout.strip()
    assert line.startswith("ELAYOUT: "), line
    assert f"arena format version 1; this library reads format version {FORMAT_VERSION}" in line, line


@pytest.mark.parametrize("writer", LANGS)
def test_no_lost_wakeup_across_languages(broker, writer):
    """A writer in one language makes 100k changes while a waiter in each
    language waits and re-reads: every waiter sees the final value, and none
    slept through a change (a timed-out wait while the version had moved)."""
    changes = 100_000
    arena = f"ticks.{writer}"
    run(broker, "py", "ticks", arena, "0")  # the root exists before anyone waits
    waiters = [subprocess.Popen(command(lang, "wait", arena, str(changes)), env=broker,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for lang in LANGS]
    for w in waiters:
        assert w.stdout.readline().strip() == "READY", w.stderr.read()
    run(broker, writer, "ticks", arena, str(changes))
    for lang, w in zip(LANGS, waiters):
        out, err = w.communicate(timeout=300)
        assert w.returncode == 0, err
        assert out.strip(), (lang, err)
        result = json.loads(out.strip().splitlines()[-1])
        assert result["final"] == changes, (lang, result)
        assert result["lost"] == 0, (lang, result)
        assert result["wakeups"] >= 1, (lang, result)


def test_kill_storm_across_languages(broker):
    """C, Node and Python writers churn one counter and one map (bounded
    keys: set one, remove another) while a killer SIGKILLs a random writer
    every few milliseconds and restarts it. Afterwards: no lock is held by a
    dead writer (at most marked owner-died, for its next locker), fsck is clean, every map value is a number, and a fresh
    writer in each language runs 2,000 steps without waiting on the dead."""
    import random
    rng = random.Random(1234)
    seconds = float(os.environ.get("SHARENA_INTEROP_STORM_SECONDS", "8"))
    arena = "storm.mixed"
    run(broker, "py", "hammer", arena, "0", "init")
    procs = {}
    restarts = 0

    def start(lang):
        return subprocess.Popen(command(lang, "hammer", arena, "1000000000", lang, "64"),
                                env=broker, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    for lang in LANGS:
        procs[lang] = start(lang)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(rng.uniform(0.02, 0.12))
        lang = rng.choice(LANGS)
        p = procs[lang]
        if p.poll() is not None:  # a writer must never fail by itself
            assert False, f"{lang} writer exited {p.returncode}: {p.stderr.read().decode()}"
        p.kill()
        p.wait()
        restarts += 1
        procs[lang] = start(lang)
    for p in procs.values():
        p.kill()
        p.wait()
    assert restarts > 10
    # every language writes again, without waiting on the dead (the broker
    # recovered their locks; the library repairs what they left half-done)
    for lang in LANGS:
        run(broker, lang, "hammer", arena, "2000", lang, "64")
    cli = os.environ.get("SHARENA_CLI") or str(ROOT / "build" / "tools" / "sharena")
    locks = subprocess.run([cli, "--json", "locks", arena], env=broker, capture_output=True,
                           text=True, timeout=60)
    assert locks.returncode == 0, locks.stderr
    # The broker only marks a dead writer's locks owner-died; the next locker
    # of each object repairs it (docs/locking.md). So a lock may still be
    # listed, but only as marked, never as held by anyone.
    held = [l for l in json.loads(locks.stdout) if not l["died"]]
    assert held == [], locks.stdout
    fsck = subprocess.run([cli, "--json", "fsck", arena], env=broker, capture_output=True,
                          text=True, timeout=60)
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr
    check = ("import sharena, json; a = sharena.open('storm.mixed'); m = a.map('keys'); "
             "print(json.dumps([a.number('count').value, len(m), "
             "all(isinstance(v, float) for v in m.values())]))")
    count, keys, numbers = json.loads(subprocess.run(
        [sys.executable, "-c", check], env=broker, capture_output=True, text=True,
        check=True).stdout)
    assert numbers
    assert count >= 3 * 2000 and 0 < keys <= 3 * 64
