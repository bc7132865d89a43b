'use strict';
// interop.js: the Node side of the interop matrix (see interop.c for the
// modes and the canonical JSON). The broker is $SHARENA_SOCKET.
const path = require('node:path');
const {
  Arena, MapRef, VectorRef, NumberRef, StringRef, BoolRef, BytesRef, StructRef,
  StructFactory,
} = require(process.env.SHARENA_NODE_PACKAGE || path.join(__dirname, '..', '..', 'node'));

function open(name) {
  return Arena.open(name, { create: true, capacity: 16 << 20 });
}

function writeValues(a) {
  const m = a.map('w.node');
  m.set('s_ascii', 'hello');
  m.set('s_utf8', 'héllo wörld 日本 🎉');
  m.set('s_empty', '');
  const nums = {
    n_pi: 3.141592653589793, n_neg0: -0, n_max: 1.7976931348623157e308,
    n_min: 5e-324, n_2p53: 2 ** 53, n_inf: Infinity, n_ninf: -Infinity, n_tenth: 0.1,
    n_nan: NaN,
  };
  for (const [k, v] of Object.entries(nums)) m.set(k, v);
  m.set('b_t', true);
  m.set('b_f', false);
  m.set('nested', { list: [1, 'two', { three: 3 }], empty: {} });
  m.set('v_empty', []);
  m.set('bytes', Uint8Array.from({ length: 16 }, (_, i) => i * 17));
  const shape = new StructFactory({ name: 'string', score: 'number', ok: 'boolean' });
  const st = shape.new({ name: 'ada', score: 1.5, ok: true }, { arena: a });
  m.set('struct', st);
  m.set('z_null', null);
  m.set('v_nulls', [null, 1]);
  const opt = new StructFactory({ maybe: 'number?', set: 'string?' });
  m.set('struct_opt', opt.new({ set: 'yes' }, { arena: a }));
  const num = NumberRef.from(42, { arena: a });
  a.setRoot('num.node', num, { owned: true });
  m.set('num_id', num.id);
  const gone = StringRef.from('gone', { arena: a });
  m.set('gone_id', gone.id);
  gone.drop();
}

function numHex(d) {
  const dv = new DataView(new ArrayBuffer(8));
  dv.setFloat64(0, d);
  return dv.getBigUint64(0).toString(16).padStart(16, '0');
}

function dump(r) {
  if (r === null) return { z: null };
  if (r instanceof StringRef) return { s: r.obtainValue() };
  if (r instanceof NumberRef) return { n: numHex(r.obtainValue()) };
  if (r instanceof BoolRef) return { b: r.obtainValue() };
  if (r instanceof MapRef) {
    const o = {};
    for (const [k, v] of r.entries()) o[k] = dump(v);
    return { m: o };
  }
  if (r instanceof VectorRef) {
    const out = [];
    for (let i = 0; i < r.len(); i++) out.push(dump(r.index(i)));
    return { v: out };
  }
  if (r instanceof BytesRef) return { x: Buffer.from(r.read()).toString('hex') };
  if (r instanceof StructRef) {
    const o = {};
    for (const f of r.fields()) {
      const v = r.getKey(f);
      o[f] = v === null ? { z: null } : typeof v === 'string' ? { s: v } : typeof v === 'number' ? { n: numHex(v) } : { b: v };
    }
    return { t: o };
  }
  throw new Error(`unexpected ref ${r}`);
}

function resolve(a, m, key) {
  const id = m.get(key).obtainValue();
  try {
    return dump(a.ref(id));
  } catch (e) {
    return { error: e.code };
  }
}

function dumpLang(a, lang) {
  const m = a.root(`w.${lang}`);
  const out = { value: dump(m), ids: { num_id: resolve(a, m, 'num_id'), gone_id: resolve(a, m, 'gone_id') } };
  process.stdout.write(JSON.stringify(out) + '\n');
}

function dumpRoot(a, root) {
  process.stdout.write(JSON.stringify(dump(a.root(root))) + '\n');
}

// A struct for Python to change by field name (test_interop.py): root
// "st.node", its shape defined here.
function structMake(a) {
  const Rec = new StructFactory({ name: 'string', score: 'number', ok: 'boolean', big: 'number', note: 'string' });
  a.setRoot('st.node', Rec.new({ name: 'node', score: 1.25, ok: true, big: 1, note: 'kept' }, { arena: a }),
    { owned: true });
}

function hammer(a, n, w, mod) {
  const count = a.number('count');
  const keys = a.map('keys');
  for (let i = 0; i < n; i++) {
    count.add(1);
    keys.set(`node.${w}.${mod ? i % mod : i}`, i);
    if (mod) keys.remove(`node.${w}.${(i + Math.floor(mod / 2)) % mod}`);
  }
}

async function waitTicks(a, n) {
  const t = a.number('tick');
  process.stdout.write('READY\n');
  let lost = 0;
  let wakeups = 0;
  let v = 0;
  for (;;) {
    const seen = t.version(); // version first, then value
    v = t.obtainValue();
    if (v >= n) break;
    try {
      await t.changed({ since: seen, timeout: 2000, keepAlive: true });
      wakeups++;
    } catch (e) {
      if (e.code !== 'ETIMEDOUT') throw e;
      if (t.version() !== seen) lost++; // slept although it had changed
    }
  }
  process.stdout.write(JSON.stringify({ final: v, lost, wakeups }) + '\n');
  a.close();
}

function ticks(a, n) {
  const t = a.number('tick');
  for (let i = 1; i <= n; i++) t.setValue(i);
}

function fromFd() {
  try {
    Arena.fromFd(Number(process.env.SHARENA_TEST_FD));
    process.stdout.write('OK\n');
  } catch (e) {
    process.stdout.write(`${e.code}: ${e.message}\n`);
  }
}

// -- hostile peers (test_hostile.py) -------------------------------------

// The codes sharena's errors carry (index.d.ts SharenaErrorCode).
const LIBRARY_CODES = new Set([
  'EPERM', 'ENOENT', 'EINTR', 'EIO', 'EBADF', 'EAGAIN', 'ENOMEM', 'EACCES', 'EBUSY',
  'EEXIST', 'EINVAL', 'ENOSPC', 'EROFS', 'ERANGE', 'EDEADLK', 'ENAMETOOLONG', 'EPROTO',
  'EOVERFLOW', 'EILSEQ', 'ECONNREFUSED', 'ETIMEDOUT', 'ESTALE', 'ETYPE', 'EFULL',
  'ECORRUPT', 'ELAYOUT', 'EOWNERDEAD', 'EUNSEALED', 'ECLOSED', 'ELOOP', 'EUNKNOWN',
]);

// Read a ref of whatever type a scribbled arena hands back.
function touch(r) {
  if (r === undefined || r === null) return r;
  if (r instanceof MapRef || r instanceof VectorRef) return r.len();
  if (r instanceof BytesRef) return r.read(0, Math.min(8, r.size));
  if (r instanceof StructRef) return r.fields().slice(0, 4).map((f) => r.getKey(f));
  if (typeof r.obtainValue === 'function') return r.obtainValue();
  return r;
}

// Read and write the h.* roots for `seconds`: sharena's errors are allowed
// and counted by code; any other exception ends the process (a failure).
function hostile(a, seconds, seed) {
  let x = (seed * 2654435761 + 1) >>> 0; // xorshift32
  const rnd = (n) => {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    return x % n;
  };
  const errors = {};
  let ops = 0;
  const t = (fn) => {
    try {
      return fn();
    } catch (e) {
      if (!e || !LIBRARY_CODES.has(e.code)) throw e;
      errors[e.code] = (errors[e.code] || 0) + 1;
      return undefined;
    }
  };
  const iterate = (it) => {
    let n = 0;
    for (const v of it) {
      touch(Array.isArray(v) ? v[1] : v);
      if (++n === 50) break;
    }
  };
  const until = Date.now() + seconds * 1000;
  while (Date.now() < until) {
    const key = `key${rnd(200)}`;
    const m = t(() => a.map('h.map'));
    if (m) {
      t(() => touch(m.get(key)));
      t(() => iterate(m.entries()));
      t(() => m.len());
      t(() => m.set(key, rnd(1000)));
      t(() => m.set('node.temp', key));
      t(() => m.remove('node.gone'));
      t(() => m.set('node.gone', true));
    }
    const v = t(() => a.vector('h.vec'));
    if (v) {
      const n = t(() => v.len());
      if (n) t(() => touch(v.index(rnd(n))));
      t(() => v.push(ops));
      t(() => touch(v.pop()));
      t(() => iterate(v.values()));
    }
    const s = t(() => a.string('h.str'));
    if (s) {
      t(() => s.obtainValue());
      t(() => s.setValue(key));
    }
    const num = t(() => a.number('h.num'));
    if (num) {
      t(() => num.obtainValue());
      t(() => num.add(1));
    }
    const b = t(() => a.bytes('h.bytes', 4096));
    if (b) {
      const i = rnd(4088);
      t(() => b.read(i, 8));
      t(() => b.write(Uint8Array.of(ops & 0xff), i));
      t(() => b.buffer()[i]);
    }
    t(() => a.roots().slice(0, 50).forEach((r) => t(() => touch(a.root(r)))));
    t(() => touch(a.ref(rnd(4) * 2 ** 32 + 1 + rnd(512))));
    const tmp = t(() => StringRef.from('root', { arena: a }));
    if (tmp && t(() => a.setRoot('h.node.tmp', tmp, { owned: true })) === undefined) {
      t(() => tmp.drop());
    }
    ops++;
  }
  process.stdout.write(JSON.stringify({ ops, errors }) + '\n');
}

// Read the text `interop_scribble badtext` spoiled: a sharena error or the
// text with U+FFFD for the bad byte (what Node makes of invalid UTF-8).
function badText(a) {
  const out = {};
  const tries = {
    str: () => a.string('t.str').obtainValue(),
    keys: () => [...a.map('t.map').keys()],
    items: () => Object.fromEntries([...a.map('t.map').entries()].map(([k, v]) => [k, v.obtainValue()])),
  };
  for (const [what, fn] of Object.entries(tries)) {
    try {
      out[what] = fn();
    } catch (e) {
      if (!e || !LIBRARY_CODES.has(e.code)) throw e;
      out[what] = e.code;
    }
  }
  process.stdout.write(JSON.stringify(out) + '\n');
}

// After repair: new objects can be made, written and read back.
function fresh(a, lang) {
  const m = a.map(`fresh.${lang}`);
  m.set('n', 42);
  m.set('s', 'fresh');
  m.set('v', [1, 'two']);
  const got = [m.get('n').obtainValue(), m.get('s').obtainValue(), m.get('v').toArray()];
  if (JSON.stringify(got) !== JSON.stringify([42, 'fresh', [1, 'two']])) {
    throw new Error(`fresh: read back ${JSON.stringify(got)}`);
  }
  process.stdout.write('OK\n');
}

// The value builder's script (see interop.c, mode build).
function buildScript(name) {
  const a = Arena.open(name, { create: true, capacity: 256 << 10 });
  const m = a.map('m');
  const v = a.vector('v');
  m.set('keep', 'old');
  v.push('a');
  v.push('b');
  const w = a.vector('warm'); // grow the handle table first
  for (let i = 0; i < 600; i++) w.push(true);
  a.removeRoot('warm');
  m.set('t', {
    s: 'h\u00e9llo \u2713', n: 1.5, neg: -0, b: true, l: [1, 'x', { deep: [false, 2] }],
    e: {}, z: [], raw: Buffer.from([0, 255]),
  });
  const out = { tree: dump(m) };
  const snap = () => {
    const i = a.info();
    return JSON.stringify([i.usedBytes, i.objects, dump(m), dump(v)]);
  };
  const fails = (code, ops) => {
    for (const op of ops) {
      try {
        op();
      } catch (e) {
        if (e.code === code) continue;
        throw e;
      }
      process.exit(3);
    }
  };
  let s = snap();
  // (undefined is "absent": not storable; null is a value since format 2)
  fails('EINVAL', [() => m.set('u', { l: [1, { d: undefined }] }), () => v.push({ l: [1, { d: undefined }] })]);
  out.unsupported = snap() === s ? 'unchanged' : 'changed';
  const fill = a.vector('fill');
  for (;;) {
    try {
      fill.push(Buffer.alloc(4000));
    } catch (e) {
      if (e.code !== 'EFULL') throw e;
      break;
    }
  }
  fill.pop().drop();
  s = snap();
  const big = { l: ['x'.repeat(4000), 'x'.repeat(4000), 'x'.repeat(4000), 'x'.repeat(4000)] };
  fails('EFULL', [() => m.set('t', big), () => v.push(big)]);
  out.full = snap() === s ? 'unchanged' : 'changed';
  out.final = { m: dump(m), v: dump(v) };
  process.stdout.write(JSON.stringify(out) + '\n');
  a.close();
}

// Mode hints (see interop.c): the hint the package gives for every code,
// and the code and message of a real error (a number read after its drop).
function hints(a) {
  const pkg = process.env.SHARENA_NODE_PACKAGE || path.join(__dirname, '..', '..', 'node');
  const { codes } = require(path.join(pkg, 'lib', 'errors'));
  const table = {};
  for (const c of codes.values()) table[c.name] = c.hint;
  const gone = NumberRef.from(1, { arena: a });
  gone.drop();
  let stale = null;
  try {
    gone.obtainValue();
  } catch (e) {
    stale = { code: e.code, message: e.message };
  }
  console.log(JSON.stringify({ table, stale }));
}

// Mode typed-reader (see interop.c): map.getValue, the plain value at a key.
function typedReader(a, limit) {
  const m = a.map('typed');
  process.stdout.write('READY\n');
  let reads = 0, numbers = 0, strings = 0, wrong = 0, end = false;
  const errors = {};
  while (reads < limit && !end) {
    reads++;
    let v;
    try {
      v = m.getValue('k');
    } catch (e) {
      errors[e.code] = (errors[e.code] || 0) + 1;
      continue;
    }
    if (v === undefined) {
      if (numbers + strings > 0) errors.ENOENT = (errors.ENOENT || 0) + 1;
    } else if (typeof v === 'number') {
      numbers++;
      if (!Number.isInteger(v) || v % 3 === 0) wrong++;
    } else if (typeof v === 'string') {
      strings++;
      end = v === 'end';
      if (!end && !(/^text \d+$/.test(v) && Number(v.slice(5)) % 3 === 0)) wrong++;
    } else {
      wrong++;
    }
  }
  process.stdout.write(JSON.stringify({ reads, numbers, strings, wrong, errors, end }) + '\n');
}

// Mode cancel (see interop.c): a wait with no timeout, ended by closing
// the arena.
async function cancelWaits(name) {
  const a = open(name);
  const n = a.number('n');
  const out = {};
  const pending = n.changed({ keepAlive: true }).then(
    () => { out.wait = 'OK'; }, (e) => { out.wait = e.code; });
  await new Promise((resolve) => setTimeout(resolve, 50));
  a.close();
  await pending;
  try {
    n.obtainValue();
    out.after = 'OK';
  } catch (e) {
    out.after = e.code;
  }
  const b = open(name);
  try {
    b.number('n').obtainValue();
    out.other_handle = 'OK';
  } catch (e) {
    out.other_handle = e.code;
  }
  b.close();
  process.stdout.write(JSON.stringify(out) + '\n');
}

const [mode, name, x, y, z] = process.argv.slice(2);
if (mode === 'fromfd') fromFd();
else if (mode === 'build') buildScript(name);
else if (mode === 'hints') hints(open(name));
else if (mode === 'cancel') cancelWaits(name);
else if (mode === 'typed-reader') typedReader(open(name), Number(x));
else if (mode === 'wait') waitTicks(open(name), Number(x));
else if (mode === 'ticks') ticks(open(name), Number(x));
else if (mode === 'write') writeValues(open(name));
else if (mode === 'dump') dumpLang(open(name), x);
else if (mode === 'hostile') hostile(open(name), Number(x), Number(y));
else if (mode === 'badtext') badText(open(name));
else if (mode === 'fresh') fresh(open(name), x);
else if (mode === 'dumproot') dumpRoot(open(name), x);
else if (mode === 'struct-make') structMake(open(name));
else if (mode === 'hammer') hammer(open(name), Number(x), y, Number(z || 0));
else {
  process.stderr.write('usage: interop.js write ARENA | dump ARENA LANG | hammer ARENA N WORKER\n');
  process.exit(2);
}
