"""Numbers in vector items across languages (format 4, issue 21): one
process pushes numbers into a vector (stored in the items, no objects) and
keeps reading all of them as one copy (Python's buffer protocol, Node's
toFloat64Array) while a process of the other language reads them and takes
refs to some (promotion: each becomes a number object in its item). The
pusher's copies never change; the refs read the pushed numbers; the ids
taken stay the items'. Python pushes for Node, then Node for Python."""
import json
import subprocess
import sys

import pytest

from test_interop import ROOT, command, private_sharenad

N = 3000

# what the pusher pushes: i * 0.75 - 100 (exact in binary)
PY_PUSHER = f"""
import json, sys, time, sharena
a = sharena.open("vn.py", create=True, capacity=16 << 20)
v = a.vector("v")
for i in range({N}):
    v.append(i * 0.75 - 100)
want = [i * 0.75 - 100 for i in range({N})]
print("pushed", flush=True)
reads, end = 0, time.monotonic() + 120  # a hang guard
while True:
    got = memoryview(v).tolist()
    assert got == want, "a copy changed"
    assert v[{N} - 1] == want[-1]
    reads += 1
    if ("done" in a and a["done"] == 1) or time.monotonic() > end:
        break
print(json.dumps({{"reads": reads, "objects": a.stat()["objects"]}}), flush=True)
a.close()
"""

NODE_PUSHER = f"""
const {{ Arena }} = require(process.env.SHARENA_NODE_PACKAGE);
const a = Arena.open('vn.node', {{ create: true, capacity: 16 << 20 }});
const v = a.vector('v');
for (let i = 0; i < {N}; i++) v.push(i * 0.75 - 100);
console.log('pushed');
let reads = 0;
const end = Date.now() + 120000; // a hang guard
for (;;) {{
  const got = v.toFloat64Array();
  if (got.length !== {N}) throw new Error('length ' + got.length);
  for (let i = 0; i < {N}; i++) if (got[i] !== i * 0.75 - 100) throw new Error('item ' + i);
  reads++;
  const d = a.root('done');
  if ((d && d.obtainValue() === 1) || Date.now() > end) break;
}}
console.log(JSON.stringify({{ reads, objects: a.info().objects }}));
a.close();
"""

NODE_READER = f"""
const {{ Arena, NumberRef }} = require(process.env.SHARENA_NODE_PACKAGE);
const a = Arena.open('vn.py', {{ create: false }});
const v = a.vector('v');
const refs = [];
for (let i = 0; i < {N}; i += 3) {{
  if (v.getValue(i) !== i * 0.75 - 100) throw new Error('getValue ' + i);
  const r = v.index(i);
  if (r.obtainValue() !== i * 0.75 - 100) throw new Error('ref ' + i);
  refs.push([i, r.id]);
}}
for (const [i, id] of refs) if (v.index(i).id !== id) throw new Error('id moved ' + i);
a.setRoot('done', NumberRef.from(1, {{ arena: a }}), {{ owned: true }});
console.log(JSON.stringify({{ refs: refs.length }}));
a.close();
"""

PY_READER = f"""
import json, sharena
a = sharena.open("vn.node")
v = a.vector("v")
refs = []
for i in range(0, {N}, 3):
    assert v[i] == i * 0.75 - 100
    r = v.ref(i)
    assert r.value == i * 0.75 - 100
    refs.append((i, r.id))
for i, id in refs:
    assert v.ref(i).id == id, "the id taken stays the item's"
a.set_root("done", a.new(1), owned=True)
print(json.dumps({{"refs": len(refs)}}))
a.close()
"""


def argv(lang, code):
    if lang == "node":
        return [command("node")[0], "-e", code]
    return [sys.executable, "-c", code]


def run_pair(env, pusher_lang, pusher_code, reader_lang, reader_code):
    """Start the pusher, wait until it pushed, run the reader to its end
    while the pusher reads on, then collect the pusher's report."""
    p = subprocess.Popen(argv(pusher_lang, pusher_code), env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        line = p.stdout.readline()
        assert line.strip() == "pushed", p.stderr.read() if p.poll() is not None else line
        r = subprocess.run(argv(reader_lang, reader_code), env=env, capture_output=True,
                           text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        taken = json.loads(r.stdout)["refs"]
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        return taken, json.loads(out)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


@pytest.fixture(scope="module")
def env():
    with private_sharenad("sharena-vecnum.") as (e, _):
        yield dict(e, SHARENA_NODE_PACKAGE=e.get("SHARENA_NODE_PACKAGE", str(ROOT / "node")))


@pytest.mark.parametrize("pusher,reader", [("py", "node"), ("node", "py")])
def test_one_pushes_the_other_promotes(env, pusher, reader):
    codes = {"py": (PY_PUSHER, PY_READER), "node": (NODE_PUSHER, NODE_READER)}
    taken, out = run_pair(env, pusher, codes[pusher][0], reader, codes[reader][1])
    assert taken == len(range(0, N, 3))
    assert out["reads"] > 0
    # roots directory, the vector, "done", and one number object per ref
    assert out["objects"] == 3 + taken
