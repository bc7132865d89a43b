"""One process of the Python kill -9 storm (test_storm.py).

    python storm_worker.py writer|reader|roreader ARENA SEED FD

A writer sets strings, floats and small nested dicts on the 64 keys of the
map "m", deletes keys and reads keys with m.get(k); a reader only reads
(m.get, iteration, len, the nested dicts it finds, the stable keys); a
roreader does the same on a read-only mapping. Every read error, whatever
its kind, is written to FD as one line "E <role> <kind> <exception>: <text>"
(one write, so a SIGKILL never tears it); "R <n>" lines count reads done.
A reader stops on SIGTERM.
"""
import os
import random
import signal
import sys

import sharena

KEYS = 64
STABLE = 8

role, name, seed, fd = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
rng = random.Random(seed)
stop = False


def on_term(sig, frame):
    global stop
    stop = True


signal.signal(signal.SIGTERM, on_term)


def emit(line):
    os.write(fd, (line + "\n").encode()[:4000])


def failed(kind, exc):
    emit(f"E {role} {kind} {type(exc).__name__}: {exc}")


arena = sharena.open(name, readonly=role == "roreader")
READONLY = role == "roreader"
m = arena.map("m")
reads = 0


def read_nested(k, v):
    """Read a nested dict found at k. It may be replaced (and dropped) at
    any moment: a StaleRefError is then right, when k no longer holds it."""
    try:
        dict(v)
    except sharena.StaleRefError as e:
        now = m.get(k)
        if isinstance(now, sharena.Map) and now.id == v.id:
            raise sharena.Error(f"nested dict at {k} stale while still there: {e}")


def read_once():
    global reads
    what = rng.randrange(10)
    k = f"k{rng.randrange(KEYS)}"
    try:
        if what < 6:
            v = m.get(k)
            if isinstance(v, sharena.Map) and rng.randrange(4) == 0:
                read_nested(k, v)
        elif what == 6:
            i = rng.randrange(STABLE)
            v = m.get(f"stable{i}")
            if v != float(i):
                raise sharena.Error(f"stable{i} read as {v!r}")
        elif what == 7:
            # A live iteration of a map that others change may end with the
            # documented RuntimeError, as a dict's would (docs/api-python.md);
            # that is not a failed read. A copy() is one consistent read
            # (under the map's lock where this handle may lock).
            try:
                for _key, _v in m.items():
                    pass
            except RuntimeError as e:
                if "during iteration" not in str(e):
                    raise
            if not READONLY:
                for _key, _v in m.copy().items():
                    pass
        elif what == 8:
            len(m)
        else:
            v = m.get(k, None)
            if isinstance(v, str) and not v.startswith("s"):
                raise sharena.Error(f"{k} read as a torn string {v[:40]!r}")
    except Exception as e:  # any error is a failure: report it, go on
        failed(["get", "get", "get", "get", "get", "get", "stable", "items",
                "len", "get"][what], e)
    reads += 1
    if reads % 256 == 0:
        emit("R 256")


def write_once():
    what = rng.randrange(6)
    k = f"k{rng.randrange(KEYS)}"
    if what == 0:
        # strings of varying length (some longer than a 512-byte buffer)
        m[k] = "s" + "x" * rng.choice((0, 5, 40, 300, 700))
    elif what == 1:
        m[k] = rng.random()
    elif what == 2:
        m[k] = {"a": rng.random(), "b": "nested", "c": {"d": 1.0}}
    elif what == 3:
        try:
            del m[k]
        except KeyError:
            pass
    else:
        read_once()


if role == "writer":
    while True:
        write_once()
else:
    while not stop:
        read_once()
    emit(f"R {reads % 256}")
    arena.close()
