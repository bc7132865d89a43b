"""interop.py: the Python side of the interop matrix (see interop.c for the
modes and the canonical JSON). The broker is $SHARENA_SOCKET."""
import json
import math
import struct
import sys

import sharena


def open_arena(name):
    return sharena.open(name, create=True, capacity=16 << 20)


def write_values(a):
    m = a.map("w.py")
    m["s_ascii"] = "hello"
    m["s_utf8"] = "héllo wörld 日本 🎉"
    m["s_empty"] = ""
    nums = {"n_pi": 3.141592653589793, "n_neg0": -0.0, "n_max": 1.7976931348623157e308,
            "n_min": 5e-324, "n_2p53": 2 ** 53, "n_inf": math.inf, "n_ninf": -math.inf,
            "n_tenth": 0.1, "n_nan": math.nan}
    for k, v in nums.items():
        m[k] = v
    m["b_t"] = True
    m["b_f"] = False
    m["nested"] = {"list": [1, "two", {"three": 3}], "empty": {}}
    m["v_empty"] = []
    m["bytes"] = bytes(i * 17 for i in range(16))
    shape = a.shape({"name": "string", "score": "number", "ok": "bool"})
    m["struct"] = shape.new(name="ada", score=1.5, ok=True)
    m["z_null"] = None
    m["v_nulls"] = [None, 1]
    m["struct_opt"] = a.shape({"maybe": "number?", "set": "string?"}).new(set="yes")
    num = a.new(42)
    a.set_root("num.py", num, owned=True)
    m["num_id"] = num.id
    gone = a.new("gone")
    m["gone_id"] = gone.id
    gone.drop()


def num(d):
    return {"n": struct.pack(">d", d).hex()}


def dump(v):
    if v is None:
        return {"z": None}
    if isinstance(v, bool):
        return {"b": v}
    if isinstance(v, str):
        return {"s": v}
    if isinstance(v, float):
        return num(v)
    if isinstance(v, sharena.Map):
        return {"m": {k: dump(x) for k, x in v.items()}}
    if isinstance(v, sharena.Vector):
        return {"v": [dump(x) for x in v]}
    if isinstance(v, sharena.Bytes):
        return {"x": bytes(v).hex()}
    if isinstance(v, sharena.Struct):
        return {"t": {k: dump(v[k]) for k in v.shape.names}}
    if isinstance(v, sharena.Ref):
        return dump(v.value)
    raise TypeError(f"unexpected {type(v)}")


def resolve(a, m, key):
    try:
        return dump(a.get(int(m[key])))
    except sharena.Error as e:
        return {"error": e.errname}


def dump_lang(a, lang):
    m = a.map(f"w.{lang}")
    out = {"value": dump(m), "ids": {"num_id": resolve(a, m, "num_id"),
                                     "gone_id": resolve(a, m, "gone_id")}}
    print(json.dumps(out, ensure_ascii=False))


def dump_root(a, root):
    print(json.dumps(dump(a.root(root)), ensure_ascii=False))


def struct_edit(a):
    """Change the struct Node made (root "st.node") by field name, and make
    a new struct from its shape (root "st.py"). Prints the shape ids."""
    s = a.root("st.node")
    assert isinstance(s, sharena.Struct), type(s)
    s.name = "grace ✓"
    s["score"] = -0.0
    s.update(ok=False, big=2.0 ** 53)
    made = s.shape.new(name="from py", score=0.1, ok=True)
    a.set_root("st.py", made, owned=True)
    print(json.dumps({"shape": s.shape.id, "made_shape": made.shape.id,
                      "fields": s.shape.fields}))


def hammer(a, n, w, mod=0):
    count = a.number("count")
    keys = a.map("keys")
    for i in range(n):
        count.add(1)
        keys[f"py.{w}.{i % mod if mod else i}"] = i
        if mod:
            keys.pop(f"py.{w}.{(i + mod // 2) % mod}", None)


def wait_ticks(a, n):
    t = a.number("tick")
    print("READY", flush=True)
    lost = wakeups = 0
    while True:
        seen = t.version  # version first, then value
        v = t.value
        if v >= n:
            break
        try:
            t.wait(timeout=2.0, since=seen)
            wakeups += 1
        except sharena.TimedOutError:
            lost += t.version != seen  # slept although it had changed
    print(json.dumps({"final": v, "lost": lost, "wakeups": wakeups}))


def ticks(a, n):
    t = a.number("tick")
    for i in range(1, n + 1):
        t.value = i


def from_fd():
    import os
    try:
        sharena.from_fd(int(os.environ["SHARENA_TEST_FD"]))
        print("OK")
    except sharena.Error as e:
        print(f"{e.errname}: {e}")


# -- hostile peers (test_hostile.py) ---------------------------------------

def hostile_init(a):
    """The objects the peers work on while the scribbler scribbles."""
    m = a.map("h.map")
    for i in range(200):
        m[f"key{i}"] = "value" if i % 2 else float(i)
    v = a.vector("h.vec")
    for i in range(200):
        v.append(float(i))
    a.string("h.str").value = "hello"
    a.number("h.num").value = 1
    a.bytes("h.bytes", 4096)[0:4] = b"abcd"


def touch(x):
    """Read a value of whatever type a scribbled arena hands back."""
    if isinstance(x, (sharena.Map, sharena.Vector)):
        return len(x)
    if isinstance(x, sharena.Bytes):
        return bytes(x[:8])
    if isinstance(x, sharena.Ref):
        return x.value
    if isinstance(x, sharena.Struct):
        return [x[k] for k in x.shape.names[:4]]
    return x


def hostile(a, seconds, seed):
    """Read and write the h.* roots for SECONDS: library errors (sharena.Error)
    are allowed and counted by name; any other exception is a failure."""
    import collections
    import random
    import time
    rng = random.Random(seed)
    errors = collections.Counter()
    ops = 0

    def t(fn, *args):
        try:
            return fn(*args)
        except sharena.Error as e:
            errors[e.errname] += 1
            return None

    def pop(v):
        try:
            return touch(v.pop())
        except IndexError as e:  # emptied meanwhile: list semantics
            if isinstance(e, sharena.Error):
                raise
            return None

    def iterate(items):
        try:
            for n, kv in enumerate(items):
                touch(kv[1] if isinstance(kv, tuple) else kv)
                if n == 50:
                    break
        except RuntimeError as e:
            # a map whose keys the other peers change meanwhile: dict's
            # "changed size during iteration" (docs/api-python.md, Map)
            if isinstance(e, sharena.Error) or "during iteration" not in str(e):
                raise
            errors["changed during iteration"] += 1

    until = time.monotonic() + seconds
    while time.monotonic() < until:
        key = f"key{rng.randrange(200)}"
        m = t(a.map, "h.map")
        if m is not None:
            t(lambda: touch(m.get(key)))
            t(lambda: iterate(m.items()))
            t(lambda: len(m))
            t(m.__setitem__, key, rng.random())
            t(m.__setitem__, "py.temp", key)
            t(m.pop, "py.gone", None)
            t(m.__setitem__, "py.gone", True)
        v = t(a.vector, "h.vec")
        if v is not None:
            n = t(len, v)
            if n:
                t(lambda: touch(v[rng.randrange(n)]))
            t(v.append, float(ops))
            t(pop, v)
            t(lambda: iterate(v))
        s = t(a.string, "h.str")
        if s is not None:
            t(lambda: s.value)
            t(setattr, s, "value", key)
        num = t(a.number, "h.num")
        if num is not None:
            t(lambda: num.value)
            t(num.add, 1)
        b = t(a.bytes, "h.bytes", 4096)
        if b is not None:
            i = rng.randrange(4096)
            t(lambda: b[i])
            t(b.__setitem__, i, ops & 0xFF)
            t(lambda: bytes(memoryview(b)[i:i + 8]))
        t(lambda: iterate(a.roots().items()))
        t(lambda: touch(a.root("h.str")))
        t(lambda: touch(a.get((rng.randrange(4) << 32) | (1 + rng.randrange(512)))))
        t(a.__setitem__, "h.py.tmp", "root")
        ops += 1
    print(json.dumps({"ops": ops, "errors": dict(errors)}))


def bad_text(a):
    """Read the text interop_scribble badtext spoiled: a sharena error."""
    out = {}
    for what, fn in (("str", lambda: a.string("t.str").value),
                     ("keys", lambda: list(a.map("t.map"))),
                     ("items", lambda: dict(a.map("t.map").items()))):
        try:
            out[what] = fn()
        except sharena.Error as e:
            out[what] = e.errname
    print(json.dumps(out))


def fresh(a, lang):
    """After repair: new objects can be made, written and read back."""
    m = a.map(f"fresh.{lang}")
    m["n"] = 42
    m["s"] = "fresh"
    m["v"] = [1, "two"]
    assert (m["n"], m["s"], list(m["v"])) == (42.0, "fresh", [1.0, "two"]), dict(m)
    print("OK")


def build_script(name):
    """The value builder's script (see interop.c, mode build)."""
    a = sharena.open(name, create=True, capacity=256 << 10)
    m, v = a.map("m"), a.vector("v")
    m["keep"] = "old"
    v.extend(["a", "b"])
    a.vector("warm").extend([True] * 600)  # grow the handle table first
    del a["warm"]
    m["t"] = {"s": "h\u00e9llo \u2713", "n": 1.5, "neg": -0.0, "b": True,
              "l": [1, "x", {"deep": [False, 2]}], "e": {}, "z": [],
              "raw": b"\x00\xff"}
    out = {"tree": dump(m)}

    def snap():
        st = a.stat()
        return st["used_bytes"], st["objects"], json.dumps(dump(m)), json.dumps(dump(v))

    s = snap()
    bad = object()  # not storable (None is a value since format 2)
    for op in (lambda: m.__setitem__("u", {"l": [1, {"d": bad}]}),
               lambda: v.append({"l": [1, {"d": bad}]})):
        try:
            op()
            sys.exit(3)
        except TypeError:
            pass
    out["unsupported"] = "unchanged" if snap() == s else "changed"
    fill = a.vector("fill")
    while True:
        try:
            fill.append(b"\0" * 4000)
        except sharena.ArenaFullError:
            break
    fill.pop()
    s = snap()
    big = {"l": ["x" * 4000] * 4}
    for op in (lambda: m.__setitem__("t", big), lambda: v.append(big)):
        try:
            op()
            sys.exit(4)
        except sharena.ArenaFullError:
            pass
    out["full"] = "unchanged" if snap() == s else "changed"
    out["final"] = {"m": dump(m), "v": dump(v)}
    print(json.dumps(out, ensure_ascii=False))
    a.close()


def probe_other(name):
    """interop_c probe: is the lock of root map "m" held (by another
    process)?"""
    import os
    import subprocess
    exe = os.environ.get("SHARENA_INTEROP_C", "interop_c")
    return subprocess.run([exe, "probe", name], capture_output=True, text=True,
                          timeout=60).stdout.strip()


def locks(a, name):
    """Mode locks (see interop.c): the one deadlock rule, through
    view._lock(), view._lock(nested=True) and nested ``with m.locked()``."""
    m = a.map("m")
    out = {}

    def errname(f):
        try:
            f()
            return "OK"
        except sharena.Error as e:
            return e.errname

    m._lock()
    out["twice"] = errname(m._lock)
    out["twice_timeout"] = out["twice"]  # (Python has one plain lock call)
    out["nested"] = errname(lambda: m._lock(nested=True))
    out["write_inside"] = errname(lambda: m.__setitem__("k", 1.0))
    m._unlock()
    out["after_inner_unlock"] = probe_other(name)
    m._unlock()
    out["after_outer_unlock"] = probe_other(name)
    out["extra_unlock"] = errname(m._unlock)
    with m.locked():
        out["nested_first"] = probe_other(name)
        with m.locked():
            m["k"] = 2.0
        out["with_inner_left"] = probe_other(name)
    out["nested_first_unlocked"] = probe_other(name)
    print(json.dumps(out))


def hints(a):
    """Mode hints (see interop.c): the hint the package gives for every code,
    and the code and message of a real error (a number read after its
    drop)."""
    from sharena import _sharena as _c
    table = {name: _c.strerror_hint(code) for code, name in _c.errnames.items()}
    gone = a.new(1.0)
    gone.drop()
    stale = None
    try:
        gone.value
    except sharena.Error as e:
        stale = {"code": e.errname, "message": str(e)}
    print(json.dumps({"table": table, "stale": stale}))


def add_cases(a):
    """Mode add (see interop.c): Ref.add() of an int is the library's
    exact-integer add; the same cases, code and value after each."""
    cases = [("up_to_2p53", 9007199254740991.0, 1),
             ("past_2p53", 9007199254740992.0, 1),
             ("below_minus_2p53", -9007199254740992.0, -1),
             ("delta_past_2p53", 1.0, 2 ** 53),
             ("fraction", 0.5, 1),
             ("huge", 1e300, 1),
             ("infinite", math.inf, 1),
             ("negative", 10.0, -25)]
    out = {}
    for name, start, delta in cases:
        ref = a.new(start)
        try:
            ref.add(delta)
            code = "OK"
        except sharena.Error as e:
            code = e.errname
        out[name] = {"code": code, "value": struct.pack(">d", ref.value).hex()}
    print(json.dumps(out))


def typed_reader(a, limit):
    """Mode typed-reader (see interop.c): m["k"] is one typed read."""
    m = a.map("typed")
    print("READY", flush=True)
    reads = numbers = strings = wrong = 0
    errors = {}
    end = False
    while reads < limit and not end:
        reads += 1
        try:
            v = m["k"]
        except KeyError:
            if numbers + strings == 0:
                continue  # the writer has not begun
            errors["ENOENT"] = errors.get("ENOENT", 0) + 1
            continue
        except sharena.Error as e:
            errors[e.errname] = errors.get(e.errname, 0) + 1
            continue
        if isinstance(v, float):
            numbers += 1
            wrong += v != int(v) or int(v) % 3 == 0
        elif isinstance(v, str):
            strings += 1
            end = v == "end"
            if not end:
                head, _, i = v.partition(" ")
                wrong += head != "text" or not i.isdigit() or int(i) % 3 != 0
        else:
            wrong += 1
    print(json.dumps({"reads": reads, "numbers": numbers, "strings": strings,
                      "wrong": wrong, "errors": errors, "end": end}))


def cancel_waits(name):
    """Mode cancel (see interop.c): a wait with no timeout in a thread,
    ended by closing the arena from this one."""
    import threading
    import time
    a = open_arena(name)
    n = a.number("n")
    out = {}

    def waiter():
        try:
            n.wait()
            out["wait"] = "OK"
        except sharena.Error as e:
            out["wait"] = e.errname

    t = threading.Thread(target=waiter)
    t.start()
    time.sleep(0.05)  # (a wait that begins after the close ends at once too)
    a.close()
    t.join()
    try:
        n.value
        out["after"] = "OK"
    except sharena.Error as e:
        out["after"] = e.errname
    b = open_arena(name)
    try:
        b.number("n").value
        out["other_handle"] = "OK"
    except sharena.Error as e:
        out["other_handle"] = e.errname
    b.close()
    print(json.dumps(out))


if __name__ == "__main__":
    if sys.argv[1:] == ["fromfd"]:
        from_fd()
        sys.exit(0)
    mode, name, *rest = sys.argv[1:]
    if mode == "build":
        build_script(name)
        sys.exit(0)
    if mode == "cancel":
        cancel_waits(name)
        sys.exit(0)
    a = open_arena(name)
    if mode == "hints":
        hints(a)
    elif mode == "locks":
        locks(a, name)
    elif mode == "add":
        add_cases(a)
    elif mode == "typed-reader":
        typed_reader(a, int(rest[0]))
    elif mode == "write":
        write_values(a)
    elif mode == "dump":
        dump_lang(a, rest[0])
    elif mode == "wait":
        wait_ticks(a, int(rest[0]))
    elif mode == "ticks":
        ticks(a, int(rest[0]))
    elif mode == "hostile-init":
        hostile_init(a)
    elif mode == "hostile":
        hostile(a, float(rest[0]), int(rest[1]))
    elif mode == "badtext":
        bad_text(a)
    elif mode == "fresh":
        fresh(a, rest[0])
    elif mode == "dumproot":
        dump_root(a, rest[0])
    elif mode == "struct-edit":
        struct_edit(a)
    elif mode == "hammer":
        hammer(a, int(rest[0]), rest[1], int(rest[2]) if len(rest) > 2 else 0)
    else:
        sys.exit("usage: interop.py write ARENA | dump ARENA LANG | hammer ARENA N WORKER")
