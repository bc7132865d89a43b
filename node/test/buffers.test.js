'use strict';
// Zero-copy Buffers (BytesRef.buffer()) are detached when this process frees
// their object, however it is freed: its own drop, a container that owns it
// overwriting or removing it or being dropped, a root replaced or removed,
// another worker_thread doing any of these, or the arena being closed. A
// Buffer over an object that is still alive stays attached. A free by
// another process is the documented exception. And every ArrayBufferView
// (Buffer, TypedArray, DataView) is accepted wherever bytes are.
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { Worker } = require('node:worker_threads');
const {
  Arena, defaultArena, BytesRef, MapRef, VectorRef, StringRef,
} = require('..');
const { assertCode } = require('../test-support/helpers');

const pkg = JSON.stringify(path.join(__dirname, '..'));

test('dropping the BytesRef detaches its Buffers, only its own', () => {
  const a = BytesRef.alloc(8);
  const b = BytesRef.alloc(8);
  const va = a.buffer();
  const va2 = new BytesRef(a.id).buffer();
  const vb = b.buffer();
  a.drop();
  assert.equal(va.length, 0);
  assert.equal(va2.length, 0);
  assert.equal(vb.length, 8, 'a live object keeps its Buffer');
  vb[0] = 9;
  assert.equal(b.read(0, 1)[0], 9);
  b.drop();
  assert.equal(vb.length, 0);
});

test('map.remove of the owning key detaches; a ref the map does not own stays', () => {
  const m = new MapRef();
  m.set('owned', Buffer.alloc(16, 1));
  const buf = m.get('owned').buffer();
  const mine = BytesRef.alloc(4);
  m.set('mine', mine);
  const mineBuf = m.get('mine').buffer();
  assert.equal(buf.length, 16);
  assert.equal(m.remove('owned'), true);
  assert.equal(buf.length, 0, 'the owned object was freed with its key');
  assert.equal(m.remove('mine'), true);
  assert.equal(mineBuf.length, 4, 'removing a key does not free a ref the caller owns');
  mine.drop();
  assert.equal(mineBuf.length, 0);
  m.drop();
});

test('map.set overwriting an owned value detaches its Buffer', () => {
  const m = new MapRef();
  for (const replacement of ['text', 1, { nested: true }, Buffer.alloc(2), StringRef.from('ref')]) {
    m.set('k', Buffer.alloc(8));
    const buf = m.get('k').buffer();
    m.set('k', replacement);
    assert.equal(buf.length, 0, `overwritten by ${typeof replacement}`);
  }
  m.drop();
});

test('dropping the parent (map, vector, nested) detaches the Buffers of its owned bytes', () => {
  const m = MapRef.from({ a: { b: [Buffer.alloc(4)] }, c: Buffer.alloc(4) });
  const deep = m.get('a').get('b').index(0).buffer();
  const top = m.get('c').buffer();
  const v = VectorRef.from([Buffer.alloc(4), Buffer.alloc(4)]);
  const v0 = v.index(0).buffer();
  const v1 = v.index(1).buffer();
  v.set(0, 'x');
  assert.equal(v0.length, 0, 'vector.set over an owned element');
  assert.equal(v1.length, 4);
  v.remove(0);
  v.drop();
  assert.equal(v1.length, 0, 'vector drop');
  assert.equal(deep.length, 4);
  m.drop();
  assert.equal(deep.length, 0, 'nested owned bytes go with the map');
  assert.equal(top.length, 0);
});

test('roots: replacing or removing an owned root detaches', () => {
  const r = BytesRef.alloc(4);
  defaultArena.setRoot('buf-root', r, { owned: true });
  const buf = r.buffer();
  defaultArena.removeRoot('buf-root');
  assert.equal(buf.length, 0);
  const r2 = BytesRef.alloc(4);
  defaultArena.setRoot('buf-root', r2, { owned: true });
  const buf2 = r2.buffer();
  defaultArena.setRoot('buf-root', StringRef.from('other'), { owned: true });
  assert.equal(buf2.length, 0);
  defaultArena.removeRoot('buf-root');
});

test('arena.close detaches every Buffer of that arena, not those of others', () => {
  const a = Arena.fromFd(defaultArena.fd);
  const inA = BytesRef.alloc(8, { arena: a });
  const viaA = inA.buffer();
  const inDefault = BytesRef.alloc(8);
  const viaDefault = inDefault.buffer();
  a.close();
  assert.equal(viaA.length, 0);
  assert.equal(viaDefault.length, 8);
  // the object is alive (close frees nothing): the default arena still has it
  assert.equal(new BytesRef(inA.id).size, 8);
  inDefault.drop();
  new BytesRef(inA.id).drop();
});

test('a free through another handle of the same memory (fromFd) detaches too', () => {
  const other = Arena.fromFd(defaultArena.fd);
  const b = BytesRef.alloc(8);
  const viaOther = new BytesRef(b.id, { arena: other }).buffer();
  const viaDefault = b.buffer();
  b.drop(); // through the default arena's handle
  assert.equal(viaOther.length, 0);
  assert.equal(viaDefault.length, 0);
  other.close();
});

async function until(cond, what) {
  for (let i = 0; i < 2000 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(cond(), what);
}

function runWorker(code, workerData) {
  return new Promise((resolve, reject) => {
    const w = new Worker(`const { workerData } = require('node:worker_threads');
const { MapRef, BytesRef } = require(${pkg});
${code}`, { eval: true, workerData });
    w.on('error', reject);
    w.on('exit', (c) => (c === 0 ? resolve() : reject(new Error(`worker exit ${c}`))));
  });
}

test('a worker_thread freeing the object detaches this thread\'s Buffer', async () => {
  const m = new MapRef();
  m.set('owned', Buffer.alloc(32, 7));
  m.set('kept', Buffer.alloc(32, 8));
  const buf = m.get('owned').buffer();
  const kept = m.get('kept').buffer();
  const dropped = BytesRef.alloc(8);
  const dbuf = dropped.buffer();
  await runWorker(`
const m = new MapRef(workerData.map);
if (!m.remove('owned')) throw new Error('no key');
new BytesRef(workerData.bytes).drop();`, { map: m.id, bytes: dropped.id });
  await until(() => buf.length === 0 && dbuf.length === 0, 'detached at a later event-loop turn');
  assert.equal(kept.length, 32, 'a live object\'s Buffer stays');
  assert.equal(kept[0], 8);
  m.drop();
});

test('a Buffer made in a worker is detached there when the main thread frees the object', async () => {
  const m = new MapRef();
  m.set('b', Buffer.alloc(16));
  const shared = new Int32Array(new SharedArrayBuffer(8));
  const done = runWorker(`
const { workerData: { map, flags } } = require('node:worker_threads');
const buf = new MapRef(map).get('b').buffer();
Atomics.store(flags, 0, 1); Atomics.notify(flags, 0);
let turns = 0; // a bound, so a Buffer never detached fails instead of hanging
const t = setInterval(() => {
  if (buf.length === 0) Atomics.store(flags, 1, 1);
  if (buf.length === 0 || ++turns > 5000) clearInterval(t);
}, 2);`, { map: m.id, flags: shared });
  for (let i = 0; i < 2000 && Atomics.load(shared, 0) === 0; i++) await new Promise((r) => setTimeout(r, 5));
  assert.equal(Atomics.load(shared, 0), 1, 'the worker made its Buffer');
  m.remove('b');
  await done;
  assert.equal(Atomics.load(shared, 1), 1, 'the worker saw its Buffer detached');
  m.drop();
});

test('contract: a free by another process is not seen until this process frees an object', () => {
  const b = BytesRef.alloc(16);
  const buf = b.buffer();
  const child = `
    const { Arena, BytesRef } = require(${pkg});
    const a = Arena.fromFd(3);
    new BytesRef(${b.id}, { arena: a }).drop();
    a.close();`;
  const r = spawnSync(process.execPath, ['-e', child], {
    stdio: ['ignore', 'pipe', 'pipe', defaultArena.fd], encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(b.type, 'freed');
  assert.equal(buf.length, 16, 'still attached: nothing told this process');
  assert.throws(() => b.buffer(), assertCode('ESTALE'));
  assert.throws(() => b.read(), assertCode('ESTALE'));
  // any free this process makes in the arena sweeps the stale views
  const m = new MapRef();
  m.set('x', 1);
  m.remove('x');
  assert.equal(buf.length, 0);
  m.drop();
});

test('DataView is accepted wherever a Buffer or TypedArray is', () => {
  const bytes = new Uint8Array([1, 2, 3, 4, 5, 6]);
  const dv = new DataView(bytes.buffer, 1, 4); // [2, 3, 4, 5]
  const b = BytesRef.from(dv);
  assert.equal(b.size, 4);
  assert.deepEqual([...b.read()], [2, 3, 4, 5]);
  b.write(new DataView(new Uint8Array([9, 8]).buffer), 2);
  assert.deepEqual([...b.read()], [2, 3, 9, 8]);
  b.write(new Float32Array([1]), 0);
  assert.deepEqual([...b.read()], [...Buffer.from(new Float32Array([1]).buffer)]);
  const m = new MapRef();
  m.set('dv', dv);
  assert.ok(m.get('dv') instanceof BytesRef);
  assert.deepEqual([...m.get('dv').read()], [2, 3, 4, 5]);
  const v = VectorRef.from([dv]);
  assert.deepEqual([...v.index(0).read()], [2, 3, 4, 5]);
  assert.deepEqual(MapRef.from({ d: dv }).toObject().d, Buffer.from([2, 3, 4, 5]));
  for (const bad of ['text', new ArrayBuffer(4), [1, 2], null]) {
    assert.throws(() => b.write(bad), (e) => e instanceof TypeError && e.code === 'EINVAL' &&
      /Buffer, TypedArray or DataView/.test(e.message), String(bad));
    assert.throws(() => BytesRef.from(bad), (e) => e instanceof TypeError && e.code === 'EINVAL');
  }
  b.drop();
  m.drop();
  v.drop();
});
