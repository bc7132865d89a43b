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
            "n_tenth": 0.1}
    for k, v in nums.items():
        m[k] = v
    m["b_t"] = True
    m["b_f"] = False
    m["nested"] = {"list": [1, "two", {"three": 3}], "empty": {}}
    m["v_empty"] = []
    m["bytes"] = bytes(i * 17 for i in range(16))
    shape = a.shape({"name": "string", "score": "number", "ok": "bool"})
    m["struct"] = shape.new(name="ada", score=1.5, ok=True)
    num = a.new(42)
    a.set_root("num.py", num, owned=True)
    m["num_id"] = num.id
    gone = a.new("gone")
    m["gone_id"] = gone.id
    gone.drop()


def num(d):
    return {"n": struct.pack(">d", d).hex()}


def dump(v):
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


if __name__ == "__main__":
    if sys.argv[1:] == ["fromfd"]:
        from_fd()
        sys.exit(0)
    mode, name, *rest = sys.argv[1:]
    a = open_arena(name)
    if mode == "write":
        write_values(a)
    elif mode == "dump":
        dump_lang(a, rest[0])
    elif mode == "wait":
        wait_ticks(a, int(rest[0]))
    elif mode == "ticks":
        ticks(a, int(rest[0]))
    elif mode == "hammer":
        hammer(a, int(rest[0]), rest[1], int(rest[2]) if len(rest) > 2 else 0)
    else:
        sys.exit("usage: interop.py write ARENA | dump ARENA LANG | hammer ARENA N WORKER")
