'use strict';
// null is a value (issue 16): `null` stores as the arena's null and reads
// back as null (maps, vectors, nested trees, nullable struct fields), while
// `undefined` stays "absent" as in the seed package: a missing key reads
// undefined and storing undefined throws. null into a struct field that is
// not nullable throws and changes nothing.
const test = require('node:test');
const assert = require('node:assert/strict');
const {
  MapRef, VectorRef, StructFactory, StructRef, types, defaultArena,
} = require('..');
const { assertCode } = require('../test-support/helpers');

function counters(arena) {
  const i = arena.info();
  return [i.usedBytes, i.objects];
}

test('null in maps and vectors reads back as null; undefined stays absent', () => {
  assert.equal(types.NULL, 9);
  const m = new MapRef();
  m.set('a', null);
  m.set('t', { list: [null, 1, { d: null }], n: null });
  assert.equal(m.get('a'), null);
  assert.equal(m.getValue('a'), null);
  assert.equal(m.has('a'), true);
  assert.equal(m.get('missing'), undefined);
  assert.equal(m.getValue('missing'), undefined);
  assert.deepEqual(m.toObject(), { a: null, t: { list: [null, 1, { d: null }], n: null } });
  assert.deepEqual(JSON.parse(JSON.stringify(m)), { a: null, t: { list: [null, 1, { d: null }], n: null } });
  assert.deepEqual([...m.entries()].find(([k]) => k === 'a'), ['a', null]);
  const v = VectorRef.from([null, 'x']);
  v.push(null);
  v.insert(0, null);
  v.set(1, null);
  assert.equal(v.len(), 4);
  assert.equal(v.index(0), null);
  assert.equal(v.at(-1), null);
  assert.equal(v.index(9), undefined);
  assert.deepEqual(v.toArray(), [null, null, 'x', null]);
  assert.deepEqual([...v].map((r) => (r === null ? null : r.obtainValue())), [null, null, 'x', null]);
  // undefined is "absent": it cannot be stored, and nothing changes
  const before = counters(defaultArena);
  assert.throws(() => m.set('u', undefined), assertCode('EINVAL'));
  assert.throws(() => v.push([null, undefined]), assertCode('EINVAL'));
  assert.throws(() => MapRef.from({ a: null, u: undefined }), assertCode('EINVAL'));
  assert.deepEqual(counters(defaultArena), before);
  assert.equal(m.has('u'), false);
  // pop hands a null over as null, and it leaves nothing behind
  assert.equal(v.pop(), null);
  assert.equal(v.len(), 3);
  m.drop();
  v.drop();
});

test('nulls are freed with their container', () => {
  const before = counters(defaultArena);
  const m = MapRef.from(Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`k${i}`, null])));
  assert.equal(m.len(), 50);
  m.drop();
  assert.deepEqual(counters(defaultArena), before);
});

test('an arena path through a null is ETYPE, and a null cannot be watched', () => {
  const a = defaultArena;
  const m = a.map('nullpath');
  m.set('x', null);
  assert.equal(a.resolve('nullpath/x'), null);
  assert.throws(() => a.resolve('nullpath/x/y'), assertCode('ETYPE'));
  assert.throws(() => a.watch('nullpath/x', () => {}), assertCode('ETYPE'));
  a.removeRoot('nullpath');
});

test('nullable struct fields; null into another field changes nothing', () => {
  const F = new StructFactory({ n: 'number', on: 'number?', os: 'string?', ob: 'boolean?' });
  const s = F.new({ n: 1 });
  assert.deepEqual(s.toObject(), { n: 1, on: null, os: null, ob: null });
  s.setKey('on', 2.5);
  s.setKey('os', 'hi');
  s.setKey('ob', false);
  assert.deepEqual(s.toObject(), { n: 1, on: 2.5, os: 'hi', ob: false });
  s.setKey('os', null);
  assert.equal(s.getKey('os'), null);
  const p = StructFactory.proxy(s);
  p.on = null;
  assert.equal(p.on, null);
  // the shape, read back by another StructRef, says which fields are nullable
  const again = new StructRef(s.id);
  again.setKey('ob', null);
  assert.equal(s.getKey('ob'), null);
  const version = s.version();
  const before = counters(defaultArena);
  assert.throws(() => s.setKey('n', null), (e) => e.code === 'ETYPE' && e instanceof TypeError && /not nullable/.test(e.message));
  assert.throws(() => again.setKey('n', null), assertCode('ETYPE'));
  assert.throws(() => F.new({ on: 1, n: null }), assertCode('ETYPE'));
  assert.equal(s.getKey('n'), 1);
  assert.equal(s.version(), version);
  assert.deepEqual(counters(defaultArena), before);
  assert.throws(() => new StructFactory({ b: 'bytes?' }), assertCode('EINVAL'));
  const m = new MapRef();
  m.set('s', s);
  assert.deepEqual(m.toObject(), { s: { n: 1, on: null, os: null, ob: null } });
  m.drop();
  s.drop();
});
