'use strict';
// MapRef and VectorRef where a JS user expects Map and Array behaviour
// (issue 16): iteration protocols, size/length, entries(), Array.from(),
// forEach, and what changing a container while iterating it does
// (iteration runs over a snapshot: nothing is skipped).
const test = require('node:test');
const assert = require('node:assert/strict');
const { MapRef, VectorRef, StringRef, NumberRef } = require('..');

test('MapRef: deleting every key while iterating leaves none behind', () => {
  for (const iterate of [(m) => m.keys(), (m) => m, (m) => m.entries(), (m) => m.values()]) {
    const m = new MapRef();
    for (let i = 0; i < 100; i++) m.set(`k${i}`, i);
    let steps = 0;
    for (const x of iterate(m)) {
      steps++;
      const key = typeof x === 'string' ? x : Array.isArray(x) ? x[0] : null;
      if (key !== null) m.delete(key);
      else m.delete([...m.keys()][0]); // values(): delete any key per step
    }
    assert.equal(steps, 100);
    assert.equal(m.size, 0);
    m.drop();
  }
});

test('MapRef: keys added during iteration are not visited (snapshot)', () => {
  const m = MapRef.from({ a: 1, b: 2 });
  const seen = [];
  for (const [k] of m) { seen.push(k); m.set(`${k}2`, 0); }
  assert.deepEqual(seen.sort(), ['a', 'b']);
  assert.equal(m.size, 4);
  m.drop();
});

test('MapRef follows Map: size, entries, keys, values, forEach, new Map(m)', () => {
  const m = MapRef.from({ a: 1, b: 'x' });
  assert.equal(m.size, 2);
  assert.deepEqual([...m.keys()].sort(), ['a', 'b']);
  const plain = new Map([...m.entries()].map(([k, r]) => [k, r.obtainValue()]));
  assert.deepEqual(plain, new Map([['a', 1], ['b', 'x']]));
  assert.equal(new Map(m).get('a').obtainValue(), 1);
  const calls = [];
  const self = {};
  m.forEach(function (v, k, map) { calls.push([k, v.obtainValue(), map === m, this === self]); }, self);
  assert.deepEqual(calls.sort(), [['a', 1, true, true], ['b', 'x', true, true]]);
  assert.equal(typeof m[Symbol.iterator], 'function');
  m.drop();
});

test('VectorRef follows Array: length, Array.from, keys, entries, forEach, spread', () => {
  const v = VectorRef.from([1, 'two', true]);
  assert.equal(v.length, 3);
  assert.deepEqual(Array.from(v, (r) => r.obtainValue()), [1, 'two', true]);
  assert.deepEqual([...v.keys()], [0, 1, 2]);
  assert.deepEqual([...v.entries()].map(([i, r]) => [i, r.obtainValue()]), [[0, 1], [1, 'two'], [2, true]]);
  const calls = [];
  v.forEach((r, i, vec) => calls.push([i, r.type, vec === v]));
  assert.deepEqual(calls, [[0, 'number', true], [1, 'string', true], [2, 'boolean', true]]);
  assert.ok(Array.from(v)[0] instanceof NumberRef);
  assert.ok(Array.from(v)[1] instanceof StringRef);
  v.drop();
});

test('VectorRef: popping while iterating visits the snapshot, loses nothing', () => {
  const v = VectorRef.from([...Array(50).keys()]);
  let steps = 0;
  for (const r of v) { assert.equal(typeof r.obtainValue(), 'number'); v.pop(); steps++; }
  // values of popped owned elements are handed over, the snapshot's refs
  // were read before: every step saw one
  assert.equal(steps, 50);
  assert.equal(v.length, 0);
  v.drop();
});

test('a container cannot hold itself directly; toObject of a cycle says ELOOP', () => {
  const m = new MapRef();
  assert.throws(() => m.set('self', m), (e) => e.code === 'EINVAL');
  const inner = new MapRef();
  inner.set('up', m);
  m.set('down', inner);
  assert.throws(() => m.toObject(), (e) => e.code === 'ELOOP' && /contains itself/.test(e.message));
  m.remove('down');
  inner.drop();
  m.drop();
});

test('a vector cannot hold itself; one level down toArray and JSON say ELOOP', () => {
  const v = new VectorRef();
  assert.throws(() => v.push(v), (e) => e.code === 'EINVAL');
  assert.equal(v.length, 0);
  const inner = new VectorRef();
  inner.push(v);
  v.push(inner);
  assert.throws(() => v.toArray(), (e) => e.code === 'ELOOP');
  assert.throws(() => JSON.stringify(v), (e) => e.code === 'ELOOP');
  v.pop();
  inner.drop();
  v.drop();
});
