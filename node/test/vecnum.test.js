'use strict';
// Numbers in vector items (format 4, issue 21): a JS number pushed, set or
// inserted takes no object; getValue(), toArray() and toFloat64Array() read
// it without making one; index() gives it an id (promotion): the same ref
// each time, reading the same number, freed when the vector overwrites it.
// A read-only arena reads but cannot promote. Another node process pushes
// numbers while this one reads them and takes refs, the pusher reading on.
const test = require('node:test');
const assert = require('node:assert/strict');
const { VectorRef, NumberRef, Arena, defaultArena } = require('..');
const { assertCode, startBroker, spawnNode } = require('../test-support/helpers');

const objects = (arena = defaultArena) => arena.info().objects;

test('numbers go into vector items: no objects, read without making any', () => {
  const v = new VectorRef();
  const before = objects();
  for (let i = 0; i < 1000; i++) v.push(i / 4);
  v.insert(0, -1);
  v.set(1, 42);
  assert.equal(objects(), before, 'no object per number');
  assert.equal(v.len(), 1001);
  assert.equal(v.getValue(0), -1);
  assert.equal(v.getValue(1), 42);
  assert.equal(v.getValue(1000), 999 / 4);
  assert.equal(v.getValue(1001), undefined);
  const arr = v.toArray();
  assert.equal(arr.length, 1001);
  assert.deepEqual(Array.from(v.toFloat64Array()), arr);
  assert.deepEqual(Array.from(v.toFloat64Array(2, 5)), [0.25, 0.5, 0.75]);
  assert.equal(v.toFloat64Array(1001).length, 0);
  assert.equal(objects(), before, 'reads made none');
  assert.equal(JSON.stringify(v.toArray().slice(0, 2)), '[-1,42]');
  const special = VectorRef.from([]);
  for (const x of [NaN, Infinity, -Infinity, -0, 5e-324, -2.2250738585072014e-308]) special.push(x);
  const got = special.toFloat64Array();
  assert.ok(Number.isNaN(got[0]));
  assert.equal(got[1], Infinity);
  assert.equal(got[2], -Infinity);
  assert.ok(Object.is(got[3], -0));
  assert.equal(got[4], 5e-324, 'a subnormal (stored as an object) reads the same');
  assert.equal(got[5], -2.2250738585072014e-308);
  v.drop();
  special.drop();
  assert.equal(objects(), before - 1, 'the subnormals\' objects went with it');
});

test('index() promotes: one object, the same ref, freed when overwritten', () => {
  const v = VectorRef.from([1.5, 2.5]);
  const before = objects();
  const r = v.index(1);
  assert.ok(r instanceof NumberRef);
  assert.equal(r.obtainValue(), 2.5);
  assert.equal(objects(), before + 1);
  const again = v.index(1);
  assert.equal(again.id, r.id, 'a second look gives the same object');
  assert.equal(objects(), before + 1);
  r.setValue(7);
  assert.equal(v.getValue(1), 7, 'the id is the element');
  assert.deepEqual(Array.from(v.toFloat64Array()), [1.5, 7]);
  v.set(1, 8);
  assert.equal(objects(), before, 'the promoted object was the vector\'s: freed');
  assert.throws(() => r.obtainValue(), assertCode('ESTALE'));
  const p = v.pop();
  assert.equal(p.obtainValue(), 8, 'pop hands out a number object');
  p.drop();
  assert.equal(objects(), before);
  v.drop();
});

test('toFloat64Array: RangeError out of range, TypeError for a non-number', () => {
  const v = VectorRef.from([1, 2, 3]);
  assert.throws(() => v.toFloat64Array(0, 4), (e) => e instanceof RangeError && e.code === 'ERANGE');
  assert.throws(() => v.toFloat64Array(3, 2), RangeError);
  assert.throws(() => v.toFloat64Array(-1), (e) => e.code !== undefined);
  v.push('text');
  assert.throws(() => v.toFloat64Array(), (e) => e instanceof TypeError && e.code === 'ETYPE');
  assert.deepEqual(Array.from(v.toFloat64Array(0, 3)), [1, 2, 3]);
  v.set(3, NumberRef.from(4)); // a number object counts as a number
  assert.deepEqual(Array.from(v.toFloat64Array()), [1, 2, 3, 4]);
  v.drop();
});

test('a read-only arena reads numbers in items but cannot promote them', async () => {
  const broker = await startBroker();
  try {
    const rw = Arena.open('vecnum-ro', { create: true, socket: broker.socket });
    const v = rw.vector('v');
    v.push(3.25);
    v.push(4.5);
    const ro = Arena.open('vecnum-ro', { readonly: true, socket: broker.socket });
    const rv = ro.vector('v');
    assert.equal(rv.getValue(0), 3.25);
    assert.deepEqual(rv.toArray(), [3.25, 4.5]);
    assert.deepEqual(Array.from(rv.toFloat64Array()), [3.25, 4.5]);
    assert.throws(() => rv.index(0), assertCode('EROFS'));
    const id = v.index(0).id; // promoted by the writable handle
    assert.equal(rv.index(0).id, id);
    assert.equal(rv.index(0).obtainValue(), 3.25);
    ro.close();
    rw.close();
  } finally {
    await broker.stop();
  }
});

test('another process pushes numbers while this one reads them and takes refs', async () => {
  const broker = await startBroker();
  const N = 3000;
  const f = (i) => i * 0.75 - 100;
  try {
    const env = { SOCK: broker.socket, SHARENA_AUTOSTART: '0' };
    const pusher = spawnNode(`
      const { Arena } = require('sharena');
      const arena = Arena.open('vecnum-x', { create: true, capacity: 8 << 20, socket: process.env.SOCK });
      const v = arena.vector('v');
      const done = arena.number('done');
      const f = (i) => i * 0.75 - 100;
      for (let i = 0; i < ${N}; i++) v.push(f(i));
      console.log('pushed');
      // read on while the other process promotes items: every copy holds
      // the same numbers, whether an item is in place or an object now
      let reads = 0;
      const end = Date.now() + 60000; // a hang guard
      for (;;) {
        const a = v.toFloat64Array();
        if (a.length !== ${N}) throw new Error('length ' + a.length);
        for (let i = 0; i < a.length; i++) if (a[i] !== f(i)) throw new Error('item ' + i + ': ' + a[i]);
        if (v.getValue(${N} - 1) !== f(${N} - 1)) throw new Error('getValue');
        reads++;
        if (done.obtainValue() === 1 || Date.now() > end) break;
      }
      console.log(JSON.stringify({ reads, done: done.obtainValue() }));
      arena.close();`, { env });
    assert.equal(await pusher.line(), 'pushed', pusher.stderr());
    const arena = Arena.open('vecnum-x', { socket: broker.socket });
    const v = arena.vector('v');
    assert.equal(v.len(), N);
    const o0 = objects(arena);
    const refs = [];
    for (let i = 0; i < N; i += 3) {
      assert.equal(v.getValue(i), f(i));
      const r = v.index(i); // promotion, racing the other process's reads
      assert.equal(r.obtainValue(), f(i));
      refs.push([i, r]);
    }
    for (const [i, r] of refs) {
      assert.equal(v.index(i).id, r.id, 'the id taken stays the element');
      assert.equal(r.obtainValue(), f(i));
    }
    arena.number('done').setValue(1);
    const out = JSON.parse(await pusher.line());
    const { code } = await pusher.exited;
    assert.equal(code, 0, pusher.stderr());
    assert.equal(out.done, 1);
    assert.ok(out.reads > 0);
    assert.equal(objects(arena), o0 + refs.length, 'one object per ref taken');
    arena.close();
  } finally {
    await broker.stop();
  }
});
