'use strict';
// Lifecycles (docs/api-node.md, "Lifecycle"): a worker_thread terminated in
// the middle of any call ends cleanly (the addon checks every Node-API
// status: while a worker is terminated each call fails with a pending
// exception, and using its unset result crashed the whole process); refs
// are not made by mistake; a dropped root can be had again.
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { Worker } = require('node:worker_threads');
const { BytesRef, MapRef, NumberRef, VectorRef, defaultArena } = require('..');

const pkg = JSON.stringify(path.join(__dirname, '..'));

// What a terminated worker may be doing: calls that make JS values in the
// addon (zero-size and real buffers, arrays of entries, objects, strings).
const LOOPS = [
  'for (;;) empty.buffer();',
  'for (;;) { full.buffer(); full.read(); }',
  'for (;;) { map.toObject(); vec.toArray(); }',
  'for (;;) { defaultArena.info(); defaultArena.roots(); map.get("s").obtainValue(); }',
];

test('hundreds of worker terminations in the middle of calls never crash the process', async () => {
  const empty = BytesRef.alloc(0);
  const full = BytesRef.alloc(64);
  const map = MapRef.from({ s: 'text', n: 1, nested: { a: [1, 2] } });
  const vec = VectorRef.from(['a', 1, true]);
  const ids = { empty: empty.id, full: full.id, map: map.id, vec: vec.id };
  const N = 300;
  for (let i = 0; i < N; i++) {
    const w = new Worker(`const { workerData, parentPort } = require('node:worker_threads');
const { BytesRef, MapRef, VectorRef, defaultArena } = require(${pkg});
const empty = new BytesRef(workerData.empty);
const full = new BytesRef(workerData.full);
const map = new MapRef(workerData.map);
const vec = new VectorRef(workerData.vec);
parentPort.postMessage('looping');
${LOOPS[i % LOOPS.length]}`, { eval: true, workerData: ids });
    const failed = new Promise((_, reject) => w.once('error', reject));
    await Promise.race([new Promise((res) => w.once('message', res)), failed]);
    // let it run into the middle of a call now and then
    if (i % 3) await new Promise((res) => setImmediate(res));
    assert.equal(await w.terminate(), 1);
  }
  // this process and the arena are fine
  assert.equal(empty.buffer().length, 0);
  assert.equal(map.get('s').obtainValue(), 'text');
  for (const r of [empty, full, map, vec]) r.drop({ recursive: true });
});

test('new BytesRef() without an id throws instead of making a 0-byte buffer', () => {
  const before = defaultArena.info().objects;
  assert.throws(() => new BytesRef(), { code: 'EINVAL', message: /BytesRef\.alloc\(size\)/ });
  assert.throws(() => new BytesRef({ arena: defaultArena }), { code: 'EINVAL' });
  assert.equal(defaultArena.info().objects, before, 'nothing was made');
  const b = BytesRef.alloc(4);
  assert.equal(new BytesRef(b.id).size, 4);
  b.drop();
});

test('a ref passed to a constructor by mistake throws instead of making an object', () => {
  const b = BytesRef.alloc(4);
  const n = NumberRef.from(5);
  const before = defaultArena.info().objects;
  assert.throws(() => new BytesRef(b), { code: 'EINVAL', message: /ref\.id/ });
  assert.throws(() => new NumberRef(n), { code: 'EINVAL', message: /ref\.id/ });
  assert.throws(() => new MapRef(n), { code: 'EINVAL' });
  assert.throws(() => new NumberRef(n.id, n), { code: 'EINVAL' });
  assert.equal(defaultArena.info().objects, before, 'nothing was made');
  b.drop();
  n.drop();
});

test('a dropped root is made again by the next get, and root() no longer finds it', () => {
  const a = defaultArena;
  const r = a.number('lifecycle.dropped');
  r.setValue(7);
  r.drop();
  assert.equal(a.root('lifecycle.dropped'), undefined);
  const again = a.number('lifecycle.dropped');
  assert.notEqual(again.id, r.id);
  assert.equal(again.obtainValue(), 0);
  again.setValue(3);
  assert.equal(a.number('lifecycle.dropped').obtainValue(), 3);
  // and for every kind of root
  for (const [make, check] of [
    [() => a.map('lifecycle.m'), (x) => assert.equal(x.len(), 0)],
    [() => a.vector('lifecycle.v'), (x) => assert.equal(x.len(), 0)],
    [() => a.string('lifecycle.s'), (x) => assert.equal(x.obtainValue(), '')],
    [() => a.bytes('lifecycle.b', 8), (x) => assert.equal(x.size, 8)],
  ]) {
    const first = make();
    first.drop();
    const second = make();
    assert.notEqual(second.id, first.id);
    check(second);
  }
  for (const n of a.roots().filter((x) => x.startsWith('lifecycle.'))) a.removeRoot(n);
});
