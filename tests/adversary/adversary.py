"""adversary.py: a Python reader or writer of the adversary test
(tests/adversary/adversary.c starts it; the broker is $SHARENA_SOCKET).

    python -X faulthandler adversary.py reader|writer ARENA SECONDS SEED

Loops over every kind of object in ARENA for SECONDS while a flipper toggles
the arena's fields: gets, sets, iterations, lengths, memoryviews whose LAST
byte it reads (and, as a writer, writes). Every exception is fine (a
sharena.Error counts as `lib`, anything else as `foreign`); only a signal or
a hang is a failure, which the driver sees. Prints "P <ops>" at least every
100 ms while it makes progress, and "E ops=N lib=N foreign=N ..." at the end.
"""
import os
import random
import sys
import time

import sharena

ROOTS = ["m.big", "m.small", "m.nested", "v.list", "s.text", "s.long", "b.small",
         "b.big", "st.rec", "st.blob", "n.count", "f.flag"]

mode, name, secs, seed = sys.argv[1:5]
until = time.monotonic() + float(secs)
rng = random.Random(int(seed))
rnd = rng.randrange
ops = lib = foreign = 0
kinds = {}
last_beat = 0.0


def say(s):
    try:
        os.write(1, s.encode())
    except OSError:
        os._exit(3)  # the driver is gone


def beat():
    global last_beat
    now = time.monotonic()
    if now - last_beat >= 0.1:
        last_beat = now
        say(f"P {ops}\n")


def t(fn, *args):
    """One call: its result, or None after counting its error. A call that
    came back is progress (an error too): only a stuck call is a hang, not
    an operation of several calls that each waited out a scribbled counter."""
    global lib, foreign, ops
    try:
        return fn(*args)
    except sharena.Error:
        lib += 1
    except Exception as e:  # noqa: BLE001 (any error is fine; counted)
        foreign += 1
        k = type(e).__name__
        kinds[k] = kinds.get(k, 0) + 1
    finally:
        ops += 1
        beat()
    return None


def last_byte(b):
    mv = memoryview(b)
    return mv[-1] if len(mv) else None


def touch(x, depth):
    if isinstance(x, sharena.Map):
        t(len, x)
        if depth < 1:
            t(lambda: touch(x.get(f"key{rnd(300)}"), depth + 1))

        def it():
            for n, (_, v) in enumerate(x.items()):
                if depth < 1 and rnd(4) == 0:
                    touch(v, depth + 1)
                if n >= 40:
                    break
        t(it)
    elif isinstance(x, sharena.Vector):
        n = t(len, x) or 0
        t(lambda: touch(x[rnd(n + 2)], depth + 1))

        def it():
            for i, v in enumerate(x):
                if i >= 40:
                    break
        t(it)
    elif isinstance(x, sharena.Bytes):
        t(last_byte, x)
        t(lambda: x[-1])
        t(lambda: bytes(x[rnd(max(1, len(x))):][:8]))
    elif isinstance(x, sharena.Struct):
        t(lambda: [t(lambda: x[k]) for k in x.shape.names])
    elif isinstance(x, sharena.Ref):
        t(lambda: x.value)


def read(a):
    touch(t(a.root, ROOTS[rnd(len(ROOTS))]), 0)
    if rnd(2):
        t(lambda: a.ref(ROOTS[rnd(len(ROOTS))]).value)
    if rnd(8) == 0:
        t(a.roots)
    if rnd(4) == 0:
        t(lambda: touch(a.get((rnd(3) << 32) | (1 + rnd(600))), 1))


def write(a):
    k = rnd(9)
    if k == 0:
        m = t(a.root, "m.big")
        t(lambda: m.__setitem__(f"key{rnd(350)}", float(ops) if rnd(2) else "v" * rnd(200)))
    elif k == 1:
        m = t(a.root, "m.big" if rnd(2) else "m.small")
        t(lambda: m.pop(f"key{rnd(350)}", None))
    elif k == 2:
        v = t(a.root, "v.list")
        t(lambda: v.append(float(ops)))
        t(lambda: v.pop())
    elif k == 3:
        v = t(a.root, "v.list")
        n = t(len, v) or 0
        t(lambda: v.__setitem__(rnd(n + 1), "x"))
        t(lambda: v.insert(rnd(n + 1), 1.0))
        t(lambda: v.__delitem__(rnd(n + 1)))
    elif k == 4:
        s = t(a.ref, "s.text" if rnd(2) else "s.long")
        t(lambda: setattr(s, "value", "y" * rnd(3000)))
    elif k == 5:
        b = t(a.root, "b.big" if rnd(2) else "b.small")

        def poke():
            mv = memoryview(b)
            if len(mv):
                mv[-1] = ops & 255
        t(poke)
        t(lambda: b.__setitem__(rnd(max(1, len(b))), ops & 255))
    elif k == 6:
        st = t(a.root, "st.rec")
        t(lambda: st.__setitem__("score", float(ops)))
        t(lambda: st.__setitem__("name", "n" * rnd(100)))
        t(lambda: st.__setitem__("ok", bool(rnd(2))))
    elif k == 7:
        t(lambda: a.ref("n.count").add(1))
        t(lambda: setattr(a.ref("f.flag"), "value", bool(rnd(2))))
    else:
        t(lambda: a.__setitem__("tmp.py", "tmp" * rnd(30)))
        if rnd(2):
            t(lambda: a.__delitem__("tmp.py"))


a = None
while a is None and time.monotonic() < until:
    a = t(sharena.open, name)
    ops += 1  # an error is progress too: only a stuck call is a hang
    beat()
    if a is None:
        time.sleep(0.01)
say(f"P {ops}\n")
writer = mode == "writer"
while a is not None and time.monotonic() < until:
    if writer and rnd(4):
        write(a)
    else:
        read(a)
    ops += 1
    beat()
say(f"P {ops + 1}\nE ops={ops} lib={lib} foreign={foreign} {kinds}\n")
os._exit(0)
