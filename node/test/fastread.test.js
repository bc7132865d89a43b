'use strict';
// Fast reads (docs/api-node.md, "Fast reads"): StringRef/NumberRef/BoolRef
// obtainValue keep the last value and check the object's change counter
// through a view of the mapping. These run the reads in hot loops (so V8
// optimises the call sites) with a writer in a worker_thread and in another
// process changing the value between reads: each read after the writer's
// write returned (told through a second channel) sees the new value. Also:
// a drop is seen (ESTALE), use after close throws ECLOSED, a read-only
// mapping reads through its cache and sees other processes' writes.
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { Worker } = require('node:worker_threads');
const { StringRef, NumberRef, BoolRef, BytesRef, MapRef, VectorRef, Arena } = require('..');
const { startBroker, spawnNode, assertCode } = require('../test-support/helpers');

const pkg = JSON.stringify(path.join(__dirname, '..'));
const HOT = 2000; // reads per round: enough for V8 to optimise the loop

const expect = {
  s: (i) => `value ${i} ✓`,
  n: (i) => i * 1.5,
  b: (i) => (i & 1) === 1,
};

// Read each ref HOT times; every read must be the round's value.
function hotCheck(refs, i) {
  const es = expect.s(i), en = expect.n(i), eb = expect.b(i);
  let bad = 0;
  for (let k = 0; k < HOT; k++) {
    if (refs.s.obtainValue() !== es) bad++;
    if (refs.n.obtainValue() !== en) bad++;
    if (refs.b.obtainValue() !== eb) bad++;
  }
  return bad;
}

// What a map writer does in round i (code for a worker or a process, with
// `m` the map), and the reads that check it: 'a' is replaced (its old value
// freed), 'b' keeps its object whose value changes, 'c' comes and goes.
const mapWrite = `
  m.set('a', 'a' + i);
  m.get('b').setValue(i);
  if (i & 1) m.set('c', i); else m.remove('c');`;
function mapHotCheck(m, i) {
  const ea = `a${i}`;
  let bad = 0;
  for (let k = 0; k < HOT; k++) {
    if (m.get('a').obtainValue() !== ea) bad++;
    if (m.get('b').obtainValue() !== i) bad++;
    const c = m.get('c');
    if (i & 1 ? c === undefined || c.obtainValue() !== i : c !== undefined) bad++;
  }
  return bad;
}

test('in one thread: a write through another ref is seen by the next cached read', () => {
  const s = StringRef.from(expect.s(0)), n = NumberRef.from(expect.n(0)), b = BoolRef.from(expect.b(0));
  const w = { s: new StringRef(s.id), n: new NumberRef(n.id), b: new BoolRef(b.id) };
  for (let i = 1; i <= 300; i++) {
    assert.equal(hotCheck({ s, n, b }, i - 1), 0);
    w.s.setValue(expect.s(i));
    w.n.setValue(expect.n(i));
    w.b.setValue(expect.b(i));
    // the very next read, without a call in between
    assert.equal(s.obtainValue(), expect.s(i));
    assert.equal(n.obtainValue(), expect.n(i));
    assert.equal(b.obtainValue(), expect.b(i));
  }
  n.add(1);
  assert.equal(n.obtainValue(), expect.n(300) + 1);
  w.n.drop();
  assert.throws(() => n.obtainValue(), assertCode('ESTALE'));
});

// The view covers the first GiB of a mapping (SN_FAST_VIEW_MAX): objects
// whose counter and cells lie past it are read by calls, and still never
// stale. A 1.1 GiB buffer fills the heap's start, so the handle-table chunk
// the 300 numbers after it need (chunk 0 holds 256 slots) comes after it.
test('an arena larger than the view: objects past it read right, through calls', async () => {
  const broker = await startBroker();
  try {
    const a = Arena.open('bigview', { create: true, capacity: 2 ** 31, socket: broker.socket });
    const big = BytesRef.alloc(Math.floor(1.1 * 2 ** 30), { arena: a });
    assert.ok(a.info().usedBytes > 2 ** 30);
    const ns = [];
    for (let i = 0; i < 300; i++) ns.push(NumberRef.from(i, { arena: a }));
    const s = StringRef.from(expect.s(0), { arena: a });
    const b = BoolRef.from(expect.b(0), { arena: a });
    const n = ns[299];
    const w = { s: new StringRef(s.id, { arena: a }), n: new NumberRef(n.id, { arena: a }),
      b: new BoolRef(b.id, { arena: a }) };
    w.n.setValue(expect.n(0));
    for (let i = 1; i <= 100; i++) {
      assert.equal(hotCheck({ s, n, b }, i - 1), 0, `round ${i - 1}`);
      w.s.setValue(expect.s(i));
      w.n.setValue(expect.n(i));
      w.b.setValue(expect.b(i));
      assert.equal(s.obtainValue(), expect.s(i));
      assert.equal(n.obtainValue(), expect.n(i));
      assert.equal(b.obtainValue(), expect.b(i));
    }
    for (let i = 0; i < 299; i++) assert.equal(ns[i].obtainValue(), i);
    big.drop();
    a.close();
    assert.throws(() => n.obtainValue(), assertCode('ECLOSED'));
  } finally {
    await broker.stop();
  }
});

test('a worker_thread writer: every read after its write returned sees it', async () => {
  const s = StringRef.from(expect.s(0)), n = NumberRef.from(expect.n(0)), b = BoolRef.from(expect.b(0));
  const chan = new Int32Array(new SharedArrayBuffer(8)); // [0] round asked, [1] round written
  const ROUNDS = 300;
  const w = new Worker(`const { StringRef, NumberRef, BoolRef } = require(${pkg});
    const { workerData: d } = require('node:worker_threads');
    const s = new StringRef(d.s), n = new NumberRef(d.n), b = new BoolRef(d.b);
    for (let i = 1; i <= d.rounds; i++) {
      while (Atomics.load(d.chan, 0) < i) Atomics.wait(d.chan, 0, i - 1, 1000);
      s.setValue(\`value \${i} ✓\`);
      n.setValue(i * 1.5);
      b.setValue((i & 1) === 1);
      Atomics.store(d.chan, 1, i);
      Atomics.notify(d.chan, 1);
    }`, { eval: true, workerData: { s: s.id, n: n.id, b: b.id, chan, rounds: ROUNDS } });
  const exited = new Promise((resolve, reject) => {
    w.on('error', reject);
    w.on('exit', resolve);
  });
  try {
    for (let i = 1; i <= ROUNDS; i++) {
      assert.equal(hotCheck({ s, n, b }, i - 1), 0, `round ${i - 1}`);
      Atomics.store(chan, 0, i);
      Atomics.notify(chan, 0);
      for (let t = 0; Atomics.load(chan, 1) < i; t++) {
        assert.ok(t < 30, 'the worker answers');
        Atomics.wait(chan, 1, i - 1, 1000);
      }
      assert.equal(hotCheck({ s, n, b }, i), 0, `round ${i}`);
    }
  } finally {
    Atomics.store(chan, 0, ROUNDS + 1);
    Atomics.notify(chan, 0);
    assert.equal(await exited, 0);
  }
});

test('a writer in another process, and a read-only reader; close ends the cache', async () => {
  const broker = await startBroker();
  const env = { SOCK: broker.socket, SHARENA_AUTOSTART: '0' };
  let child;
  try {
    const a = Arena.open('fastread', { create: true, capacity: 1 << 20, socket: broker.socket });
    const ro = Arena.open('fastread', { readonly: true, socket: broker.socket });
    assert.equal(ro.readonly, true);
    const refs = { s: a.string('s'), n: a.number('n'), b: a.bool('b') };
    refs.s.setValue(expect.s(0));
    refs.n.setValue(expect.n(0));
    refs.b.setValue(expect.b(0));
    const rrefs = { s: new StringRef(refs.s.id, { arena: ro }), n: new NumberRef(refs.n.id, { arena: ro }),
      b: new BoolRef(refs.b.id, { arena: ro }) };
    child = spawnNode(`const { Arena } = require('sharena');
      const a = Arena.open('fastread', { socket: process.env.SOCK });
      const s = a.string('s'), n = a.number('n'), b = a.bool('b');
      process.stdout.write('ready\\n');
      require('node:readline').createInterface({ input: process.stdin }).on('line', (l) => {
        const i = Number(l);
        s.setValue(\`value \${i} ✓\`);
        n.setValue(i * 1.5);
        b.setValue((i & 1) === 1);
        process.stdout.write(\`wrote \${i}\\n\`);
      });`, { env });
    assert.equal(await child.line(), 'ready', child.stderr());
    for (let i = 1; i <= 150; i++) {
      assert.equal(hotCheck(refs, i - 1), 0, `round ${i - 1}`);
      assert.equal(hotCheck(rrefs, i - 1), 0, `read-only, round ${i - 1}`);
      child.send(String(i));
      assert.equal(await child.line(), `wrote ${i}`, child.stderr());
      assert.equal(hotCheck(refs, i), 0, `round ${i}`);
      assert.equal(hotCheck(rrefs, i), 0, `read-only, round ${i}`);
    }
    // use after close throws (the view is detached), in both arenas
    ro.close();
    for (const r of Object.values(rrefs)) assert.throws(() => r.obtainValue(), assertCode('ECLOSED'));
    a.close();
    for (const r of Object.values(refs)) assert.throws(() => r.obtainValue(), assertCode('ECLOSED'));
  } finally {
    if (child) child.child.kill('SIGKILL');
    await broker.stop();
  }
});

test('MapRef.get + obtainValue: a key replaced, a value changed, a key removed are seen at once', () => {
  const m = MapRef.from({ a: 'a0', b: 0 });
  const w = new MapRef(m.id); // the writer's own ref (its own caches)
  for (let i = 1; i <= 300; i++) {
    assert.equal(mapHotCheck(m, i - 1), 0, `round ${i - 1}`);
    new Function('m', 'i', mapWrite)(w, i);
    assert.equal(mapHotCheck(m, i), 0, `round ${i}`);
  }
  // a dangling entry: the child dropped through another ref, the map
  // untouched: get throws ESTALE as it did before any cache
  const x = m.get('a');
  assert.equal(m.get('a'), x);
  new StringRef(x.id).drop();
  assert.throws(() => m.get('a'), assertCode('ESTALE'));
  m.remove('a');
  assert.equal(m.get('a'), undefined);
});

test('MapRef.get + obtainValue with a worker_thread writer', async () => {
  const m = MapRef.from({ a: 'a0', b: 0 });
  const chan = new Int32Array(new SharedArrayBuffer(8));
  const ROUNDS = 200;
  const w = new Worker(`const { MapRef } = require(${pkg});
    const { workerData: d } = require('node:worker_threads');
    const m = new MapRef(d.m);
    for (let i = 1; i <= d.rounds; i++) {
      while (Atomics.load(d.chan, 0) < i) Atomics.wait(d.chan, 0, i - 1, 1000);
      ${mapWrite}
      Atomics.store(d.chan, 1, i);
      Atomics.notify(d.chan, 1);
    }`, { eval: true, workerData: { m: m.id, chan, rounds: ROUNDS } });
  const exited = new Promise((resolve, reject) => {
    w.on('error', reject);
    w.on('exit', resolve);
  });
  try {
    for (let i = 1; i <= ROUNDS; i++) {
      assert.equal(mapHotCheck(m, i - 1), 0, `round ${i - 1}`);
      Atomics.store(chan, 0, i);
      Atomics.notify(chan, 0);
      for (let t = 0; Atomics.load(chan, 1) < i; t++) {
        assert.ok(t < 30, 'the worker answers');
        Atomics.wait(chan, 1, i - 1, 1000);
      }
      assert.equal(mapHotCheck(m, i), 0, `round ${i}`);
    }
  } finally {
    Atomics.store(chan, 0, ROUNDS + 1);
    Atomics.notify(chan, 0);
    assert.equal(await exited, 0);
  }
});

test('MapRef.get + obtainValue with a writer in another process; close ends the cache', async () => {
  const broker = await startBroker();
  const env = { SOCK: broker.socket, SHARENA_AUTOSTART: '0' };
  let child;
  try {
    const a = Arena.open('fastmap', { create: true, capacity: 1 << 20, socket: broker.socket });
    const m = a.map('m');
    m.set('a', 'a0');
    m.set('b', 0);
    child = spawnNode(`const { Arena } = require('sharena');
      const a = Arena.open('fastmap', { socket: process.env.SOCK });
      const m = a.map('m');
      process.stdout.write('ready\\n');
      require('node:readline').createInterface({ input: process.stdin }).on('line', (l) => {
        const i = Number(l);
        ${mapWrite}
        process.stdout.write(\`wrote \${i}\\n\`);
      });`, { env });
    assert.equal(await child.line(), 'ready', child.stderr());
    for (let i = 1; i <= 150; i++) {
      assert.equal(mapHotCheck(m, i - 1), 0, `round ${i - 1}`);
      child.send(String(i));
      assert.equal(await child.line(), `wrote ${i}`, child.stderr());
      assert.equal(mapHotCheck(m, i), 0, `round ${i}`);
    }
    a.close();
    assert.throws(() => m.get('a'), assertCode('ECLOSED'));
    assert.throws(() => m.get('c'), assertCode('ECLOSED'));
  } finally {
    if (child) child.child.kill('SIGKILL');
    await broker.stop();
  }
});

// A hostile peer flips the object's change counter (odd values, the kept
// value, random words) while this thread reads: JS only compares the word,
// so every read is the one real value (from the kept copy or the addon) or
// an error the addon throws (EBUSY for a write that never ends); never
// another value, another type, or a hang.
test('a peer flipping the change counter never makes a read return anything but the value', async () => {
  const { kCache } = require('../lib/internal');
  const s = StringRef.from('the only value');
  const n = NumberRef.from(42.5);
  assert.equal(s.obtainValue(), 'the only value');
  assert.equal(n.obtainValue(), 42.5);
  const cs = s[kCache], cn = n[kCache];
  assert.ok(cs && cn, 'both values are kept');
  const stop = new Int32Array(new SharedArrayBuffer(4));
  const w = new Worker(`const native = require(${JSON.stringify(path.join(__dirname, '..', 'lib', 'native'))});
    const { defaultArena } = require(${pkg});
    const { kH } = require(${JSON.stringify(path.join(__dirname, '..', 'lib', 'internal'))});
    const { workerData: d } = require('node:worker_threads');
    const u = new Uint32Array(native.arenaView(defaultArena[kH]));
    const keep = [Atomics.load(u, d.cs), Atomics.load(u, d.cn)];
    let x = 12345;
    for (let k = 0; Atomics.load(d.stop, 0) === 0 && k < 5e6; k++) {
      x = (x * 1103515245 + 12345) >>> 0;
      const v = [keep[k & 1], keep[k & 1] + 1, keep[k & 1] + 2, x][k & 3];
      Atomics.store(u, (k & 1) ? d.cn : d.cs, v);
    }
    Atomics.store(u, d.cs, keep[0]);
    Atomics.store(u, d.cn, keep[1]);`, { eval: true, workerData: { cs: cs.ci, cn: cn.ci, stop } });
  const exited = new Promise((resolve, reject) => {
    w.on('error', reject);
    w.on('exit', resolve);
  });
  let ok = 0, busy = 0, wrong = [];
  try {
    for (let k = 0; k < 200000; k++) {
      for (const [r, want] of [[s, 'the only value'], [n, 42.5]]) {
        try {
          const v = r.obtainValue();
          if (v === want) ok++;
          else if (wrong.length < 5) wrong.push(v);
        } catch (e) {
          if (e.code !== 'EBUSY') throw e;
          busy++;
        }
      }
      if (k % 1000 === 0) await new Promise((r) => setImmediate(r));
    }
  } finally {
    Atomics.store(stop, 0, 1);
    assert.equal(await exited, 0);
  }
  assert.deepEqual(wrong, []);
  assert.ok(ok > 0, `${ok} reads gave the value (${busy} EBUSY)`);
  // the peer put the words back: reads are plain again
  assert.equal(s.obtainValue(), 'the only value');
  assert.equal(n.obtainValue(), 42.5);
});

// VectorRef.index + obtainValue, the same way: index 0 replaced, index 1's
// object changed in place, index 2 pushed and popped.
const vecWrite = `
  v.set(0, 'a' + i);
  v.index(1).setValue(i);
  if (i & 1) v.push(i); else v.pop();`;
function vecHotCheck(v, i) {
  const ea = `a${i}`;
  let bad = 0;
  for (let k = 0; k < HOT; k++) {
    if (v.index(0).obtainValue() !== ea) bad++;
    if (v.index(1).obtainValue() !== i) bad++;
    const c = v.index(2);
    if (i & 1 ? c === undefined || c.obtainValue() !== i : c !== undefined) bad++;
  }
  return bad;
}

test('VectorRef.index + obtainValue: replaced, changed, pushed and popped entries are seen at once', () => {
  const v = VectorRef.from(['a0', 0]);
  const w = new VectorRef(v.id);
  for (let i = 1; i <= 300; i++) {
    assert.equal(vecHotCheck(v, i - 1), 0, `round ${i - 1}`);
    new Function('v', 'i', vecWrite)(w, i);
    assert.equal(vecHotCheck(v, i), 0, `round ${i}`);
  }
  assert.equal(v.index(1.5), undefined);
  assert.equal(v.index(-1), undefined);
  const x = v.index(0);
  assert.equal(v.index(0), x);
  new StringRef(x.id).drop();
  assert.throws(() => v.index(0), assertCode('ESTALE'));
});

test('VectorRef.index + obtainValue with a worker_thread writer', async () => {
  const v = VectorRef.from(['a0', 0]);
  const chan = new Int32Array(new SharedArrayBuffer(8));
  const ROUNDS = 200;
  const w = new Worker(`const { VectorRef } = require(${pkg});
    const { workerData: d } = require('node:worker_threads');
    const v = new VectorRef(d.v);
    for (let i = 1; i <= d.rounds; i++) {
      while (Atomics.load(d.chan, 0) < i) Atomics.wait(d.chan, 0, i - 1, 1000);
      ${vecWrite}
      Atomics.store(d.chan, 1, i);
      Atomics.notify(d.chan, 1);
    }`, { eval: true, workerData: { v: v.id, chan, rounds: ROUNDS } });
  const exited = new Promise((resolve, reject) => {
    w.on('error', reject);
    w.on('exit', resolve);
  });
  try {
    for (let i = 1; i <= ROUNDS; i++) {
      assert.equal(vecHotCheck(v, i - 1), 0, `round ${i - 1}`);
      Atomics.store(chan, 0, i);
      Atomics.notify(chan, 0);
      for (let t = 0; Atomics.load(chan, 1) < i; t++) {
        assert.ok(t < 30, 'the worker answers');
        Atomics.wait(chan, 1, i - 1, 1000);
      }
      assert.equal(vecHotCheck(v, i), 0, `round ${i}`);
    }
  } finally {
    Atomics.store(chan, 0, ROUNDS + 1);
    Atomics.notify(chan, 0);
    assert.equal(await exited, 0);
  }
});

test('VectorRef.index past the kept indexes (4096 and up) and of non-integers reads through the addon, never stale', () => {
  const v = new VectorRef();
  for (let i = 0; i < 5000; i++) v.push(i);
  const w = new VectorRef(v.id);
  for (let round = 1; round <= 50; round++) {
    let bad = 0;
    for (let k = 0; k < HOT; k++) {
      if (v.index(4095).obtainValue() !== (round === 1 ? 4095 : -round + 1)) bad++;
      if (v.index(4999).obtainValue() !== (round === 1 ? 4999 : round - 1)) bad++;
      if (v.index(2 ** 40) !== undefined || v.index(0.5) !== undefined) bad++;
    }
    assert.equal(bad, 0, `round ${round}`);
    w.set(4095, -round);
    w.set(4999, round);
    assert.equal(v.index(4095).obtainValue(), -round);
    assert.equal(v.index(4999).obtainValue(), round);
  }
});
