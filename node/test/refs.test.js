'use strict';
// Each ref type on the in-process default arena: values, edge cases, error
// codes, ownership and use after free.
const test = require('node:test');
const assert = require('node:assert/strict');
const util = require('node:util');
const {
  StringRef, NumberRef, BoolRef, BytesRef, MapRef, VectorRef, StructFactory,
  StructDefinition, StructRef, typeOf, defaultArena, Ref,
} = require('..');
const { assertCode } = require('../test-support/helpers');

test('strings: empty, set, UTF-8 (emoji, CJK), long, invalid args', () => {
  const s = new StringRef();
  assert.equal(s.obtainValue(), '');
  for (const v of ['Hello World', 'héllo', '🎉🚀 emoji', '中文字符 日本語 한국어', '\u0000nul inside', 'x'.repeat(100000)]) {
    s.setValue(v);
    assert.equal(s.obtainValue(), v);
  }
  assert.equal(StringRef.from('🎉').byteLength(), 4);
  assert.throws(() => s.setValue(42), assertCode('EINVAL'));
  assert.throws(() => StringRef.from(undefined), assertCode('EINVAL'));
  // lone surrogates become U+FFFD (N-API converts to valid UTF-8)
  assert.equal(StringRef.from('a\ud800b').obtainValue(), 'a\ufffdb');
  s.drop();
});

test('numbers: exact f64 edge values, add, compareExchange', () => {
  const n = new NumberRef();
  assert.equal(n.obtainValue(), 0);
  for (const v of [1.5, -0, Number.MAX_VALUE, Number.MIN_VALUE, Number.EPSILON,
    Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, Infinity, -Infinity, 0.1 + 0.2]) {
    n.setValue(v);
    assert.ok(Object.is(n.obtainValue(), v), `round trip of ${v}`);
  }
  n.setValue(NaN);
  assert.ok(Number.isNaN(n.obtainValue()));
  n.setValue(10);
  assert.equal(n.add(5), 15);
  assert.equal(n.add(-20), -5);
  assert.equal(n.compareExchange(-5, 1), -5); // swapped: returns the old value
  assert.equal(n.obtainValue(), 1);
  assert.equal(n.compareExchange(99, 2), 1); // not swapped: the value found
  assert.equal(n.obtainValue(), 1);
  assert.equal(NumberRef.from(7).obtainValue(), 7);
  assert.throws(() => n.setValue('1'), assertCode('EINVAL'));
  n.drop();
});

test('booleans', () => {
  const b = new BoolRef();
  assert.equal(b.obtainValue(), false);
  b.setValue(true);
  assert.equal(b.obtainValue(), true);
  assert.equal(BoolRef.from(true).obtainValue(), true);
  assert.throws(() => b.setValue(1), assertCode('EINVAL'));
});

test('maps: set/get/remove/len, missing keys, overwrite, refs and plain values', () => {
  const m = new MapRef();
  assert.equal(m.get('missing'), undefined);
  assert.equal(m.len(), 0);
  const s = StringRef.from('v');
  m.set('s', s);
  assert.ok(m.get('s') instanceof StringRef);
  assert.equal(m.get('s').id, s.id);
  m.set('n', 3);
  m.set('b', true);
  m.set('t', 'text');
  assert.ok(m.get('n') instanceof NumberRef);
  assert.ok(m.get('b') instanceof BoolRef);
  assert.equal(m.get('t').obtainValue(), 'text');
  assert.equal(m.len(), 4);
  assert.equal(m.has('n'), true);
  assert.equal(m.remove('n'), true);
  assert.equal(m.remove('n'), false);
  assert.equal(m.remove('never'), false);
  assert.equal(m.len(), 3);
  // an owned value is freed when overwritten; a user's ref is not
  const owned = m.get('t');
  m.set('t', 'other');
  assert.equal(owned.type, 'freed');
  m.set('s', 'replaced');
  assert.equal(s.obtainValue(), 'v');
  // keys: empty, unicode
  m.set('', 1);
  m.set('ключ 🔑', 2);
  assert.equal(m.get('').obtainValue(), 1);
  assert.equal(m.get('ключ 🔑').obtainValue(), 2);
  assert.deepEqual([...m.keys()].sort(), ['', 'b', 's', 't', 'ключ 🔑'].sort());
  assert.throws(() => m.set(1, 'x'), assertCode('EINVAL'));
  assert.throws(() => m.set('u', undefined), assertCode('EINVAL'));
  assert.throws(() => m.set('f', () => 1), assertCode('EINVAL'));
  assert.throws(() => m.get(null), assertCode('EINVAL'));
  // many keys (growth)
  const big = new MapRef();
  for (let i = 0; i < 5000; i++) big.set(`k${i}`, i);
  assert.equal(big.len(), 5000);
  for (let i = 0; i < 5000; i += 499) assert.equal(big.get(`k${i}`).obtainValue(), i);
  big.drop();
  m.drop();
});

test('nested maps and vectors keep their contents', () => {
  const outer = new MapRef();
  const inner = new MapRef();
  inner.set('deep', StringRef.from('value'));
  const vec = new VectorRef();
  vec.push(NumberRef.from(1));
  vec.push(inner);
  outer.set('inner', inner);
  outer.set('vec', vec);
  const again = new MapRef(outer.id);
  assert.equal(again.get('inner').get('deep').obtainValue(), 'value');
  assert.equal(again.get('vec').index(1).get('deep').obtainValue(), 'value');
  assert.equal(again.get('vec').index(0).obtainValue(), 1);
  // plain nested values become owned children
  const cfg = MapRef.from({ a: { b: [1, 'two', { c: false }] }, n: 2.5 });
  assert.deepEqual(cfg.toObject(), { a: { b: [1, 'two', { c: false }] }, n: 2.5 });
  assert.deepEqual(JSON.parse(JSON.stringify(cfg)), { a: { b: [1, 'two', { c: false }] }, n: 2.5 });
  const child = cfg.get('a').get('b');
  cfg.drop();
  assert.equal(child.type, 'freed', 'owned children go with the map');
  // a user ref inside a dropped map survives (seed semantics)
  assert.equal(inner.get('deep').obtainValue(), 'value');
});

test('map iteration: for..of, entries(), keys() and values() give exactly the entries, plain and nested', () => {
  const m = new MapRef();
  assert.deepEqual([...m], []);
  assert.deepEqual([...m.values()], []);
  assert.deepEqual([...m.keys()], []);
  const mine = StringRef.from('mine');
  const plain = {
    s: 'text', n: 1.5, b: false, '': 'empty key', 'ключ 🔑': '🎉',
    obj: { deep: [1, { x: 'y' }], e: {} }, list: ['a', 2, [true]], bytes: Buffer.from([1, 2, 3]),
  };
  for (const [k, v] of Object.entries(plain)) m.set(k, v);
  m.set('mine', mine);
  const expected = { ...plain, mine: 'mine' };
  const classes = {
    s: StringRef, n: NumberRef, b: BoolRef, '': StringRef, 'ключ 🔑': StringRef,
    obj: MapRef, list: VectorRef, bytes: BytesRef, mine: StringRef,
  };
  // for (const [key, ref] of map): each key once, each value a ref of its class
  const seen = {};
  for (const [k, ref] of m) {
    assert.ok(!Object.hasOwn(seen, k), `key ${JSON.stringify(k)} seen twice`);
    assert.ok(ref instanceof Ref);
    assert.equal(ref.constructor, classes[k], `class of ${JSON.stringify(k)}`);
    assert.equal(ref.id, m.get(k).id);
    seen[k] = ref.toJSON();
  }
  assert.deepEqual(seen, expected);
  assert.equal(Object.keys(seen).length, m.len());
  assert.equal([...m].find(([k]) => k === 'mine')[1].id, mine.id, 'a stored ref comes back as itself');
  // entries() is what for..of gives; keys() and values() follow the same order
  const entries = [...m.entries()];
  assert.deepEqual(entries.map(([k, r]) => [k, r.id]), [...m].map(([k, r]) => [k, r.id]));
  assert.deepEqual([...m.keys()], entries.map(([k]) => k));
  assert.deepEqual([...m.values()].map((r) => r.id), entries.map(([, r]) => r.id));
  assert.deepEqual(Object.fromEntries([...m.values()].map((r, i) => [entries[i][0], r.toJSON()])), expected);
  assert.deepEqual(new Map([...m].map(([k, r]) => [k, r.toJSON()])), new Map(Object.entries(expected)));
  // nested containers iterate the same way
  const obj = m.get('obj');
  assert.deepEqual([...obj.keys()].sort(), ['deep', 'e']);
  assert.deepEqual([...obj.get('e')], []);
  const deep = obj.get('deep');
  assert.deepEqual([...deep].map((r) => r.toJSON()), [1, { x: 'y' }]);
  assert.deepEqual([...deep.values()].map((r) => r.constructor), [NumberRef, MapRef]);
  assert.deepEqual([...deep.index(1)].map(([k, r]) => [k, r.obtainValue()]), [['x', 'y']]);
  assert.deepEqual([...m.get('list')].map((r) => r.toJSON()), ['a', 2, [true]]);
  // the same map opened by id iterates to the same entries
  assert.deepEqual([...new MapRef(m.id)].map(([k, r]) => [k, r.id]), entries.map(([k, r]) => [k, r.id]));
  // a snapshot taken when the iteration starts: a key added meanwhile is
  // not yielded, and every key present is, once
  const it = m[Symbol.iterator]();
  const first = it.next();
  m.set('added', 1);
  const rest = [...it].map(([k]) => k);
  assert.deepEqual([first.value[0], ...rest].sort(), Object.keys(expected).sort());
  assert.equal(m.len(), Object.keys(expected).length + 1);
  assert.ok([...m.keys()].includes('added'));
  // many keys (after growth of the table): each exactly once
  const big = new MapRef();
  for (let i = 0; i < 3000; i++) big.set(`k${i}`, i % 2 ? i : { i });
  const got = new Map();
  for (const [k, r] of big) {
    assert.ok(!got.has(k));
    got.set(k, r.toJSON());
  }
  assert.equal(got.size, 3000);
  for (let i = 0; i < 3000; i++) assert.deepEqual(got.get(`k${i}`), i % 2 ? i : { i });
  assert.equal([...big.values()].length, 3000);
  big.drop();
  m.drop();
  assert.equal(mine.obtainValue(), 'mine');
  mine.drop();
});

test('vectors: push/index/len order, set/insert/remove/pop, iteration', () => {
  const v = new VectorRef();
  assert.equal(v.index(0), undefined);
  for (let i = 0; i < 100; i++) v.push(i);
  assert.equal(v.len(), 100);
  for (let i = 0; i < 100; i++) assert.equal(v.index(i).obtainValue(), i);
  assert.equal(v.index(100), undefined);
  assert.equal(v.index(-1), undefined);
  assert.equal(v.at(-1).obtainValue(), 99);
  v.set(0, 'zero');
  assert.equal(v.index(0).obtainValue(), 'zero');
  v.insert(1, 'one');
  assert.equal(v.index(1).obtainValue(), 'one');
  assert.equal(v.index(2).obtainValue(), 1);
  assert.equal(v.remove(1), undefined); // owned: freed, nothing returned
  const mine = StringRef.from('mine');
  v.push(mine);
  const popped = v.pop();
  assert.equal(popped.id, mine.id);
  const last = v.pop(); // owned element: ownership moves to the caller
  assert.equal(last.obtainValue(), 99);
  last.drop();
  assert.equal(v.len(), 99);
  const arr = v.toArray();
  assert.equal(arr.length, 99);
  assert.equal(arr[0], 'zero');
  assert.equal([...v].length, 99);
  assert.deepEqual(VectorRef.from(['a', 1, true]).toArray(), ['a', 1, true]);
  assert.throws(() => v.set(1000, 1), assertCode('ERANGE'));
  assert.throws(() => v.index('0'), assertCode('EINVAL'));
});

test('bytes: alloc, write/read, zero-copy buffer, detach on drop', () => {
  const b = BytesRef.alloc(16);
  assert.equal(b.size, 16);
  assert.deepEqual(b.read(), Buffer.alloc(16));
  const buf = b.buffer();
  buf.write('hello', 0);
  assert.equal(b.read(0, 5).toString(), 'hello', 'writes through the Buffer reach the arena');
  b.write(Buffer.from('HE'), 0);
  assert.equal(buf.toString('utf8', 0, 5), 'HEllo', 'and arena writes show in the Buffer');
  const other = new BytesRef(b.id).buffer();
  other[15] = 7;
  assert.equal(buf[15], 7, 'two views, one memory');
  assert.throws(() => b.write(Buffer.alloc(4), 14), assertCode('ERANGE'));
  assert.throws(() => b.read(10, 10), assertCode('ERANGE'));
  const from = BytesRef.from(new Uint16Array([1, 2, 3]));
  assert.equal(from.size, 6);
  assert.deepEqual([...from.read()], [1, 0, 2, 0, 3, 0]);
  b.drop();
  assert.equal(buf.length, 0, 'dropping detaches the views');
  assert.equal(other.length, 0);
  assert.throws(() => b.buffer(), assertCode('ESTALE'));
  assert.equal(BytesRef.alloc(0).buffer().length, 0);
});

test('structs: fields, defaults, types, proxy, drop frees fields', () => {
  const Foo = new StructFactory({ key_1: 'string', key_2: 'number', ok: 'boolean' });
  const foo = Foo.new({ key_1: 'foo' });
  assert.equal(foo.getKey('key_2'), 0);
  assert.equal(foo.getKey('ok'), false);
  foo.setKey('ok', true);
  foo.setKey('key_1', '🎉 long '.repeat(300));
  assert.equal(foo.getKey('key_1'), '🎉 long '.repeat(300));
  assert.deepEqual(foo.fields(), ['key_1', 'key_2', 'ok']);
  assert.throws(() => foo.getKey('nope'), assertCode('ENOENT'));
  assert.throws(() => foo.setKey('key_2', 'x'), assertCode('EINVAL'));
  assert.throws(() => new StructFactory({ a: 'date' }), assertCode('EINVAL'));
  assert.throws(() => Foo.new({ zzz: 1 }), assertCode('ENOENT'));
  // open by id: the shape comes from the arena
  const again = new StructRef(foo.id);
  assert.equal(again.getKey('ok'), true);
  assert.deepEqual(again.toObject().key_2, 0);
  const p = new StructDefinition({ a: 'number', b: 'string' }).new_proxy({ a: 1, b: 'x' });
  assert.equal(p.a, 1);
  p.a = 2.5;
  assert.equal(p.a, 2.5);
  assert.ok('a' in p);
  assert.deepEqual(Object.keys(p), ['a', 'b']);
  assert.deepEqual({ ...p }, { a: 2.5, b: 'x' });
  assert.equal(typeof p.id, 'number');
  assert.throws(() => { p.a = 'str'; }, assertCode('EINVAL'));
  // in a map, a struct comes back as a StructRef
  const m = new MapRef();
  m.set('foo', foo);
  assert.ok(m.get('foo') instanceof StructRef);
  assert.equal(m.get('foo').getKey('ok'), true);
  foo.drop();
  assert.throws(() => foo.getKey('ok'), assertCode('ESTALE'));
  assert.throws(() => p.drop() || p.a, assertCode('ESTALE'));
});

test('use after free: every type, every method throws ESTALE "use after free"', () => {
  const Foo = new StructFactory({ a: 'number' });
  const cases = [
    [StringRef.from('x'), (r) => [r.obtainValue(), r.setValue('y'), r.byteLength()]],
    [NumberRef.from(1), (r) => [r.obtainValue(), r.setValue(2), r.add(1), r.compareExchange(1, 2)]],
    [BoolRef.from(true), (r) => [r.obtainValue(), r.setValue(false)]],
    [BytesRef.alloc(4), (r) => [r.buffer(), r.read(), r.write(Buffer.alloc(1)), r.size]],
    [new MapRef(), (r) => [r.get('k'), r.set('k', 1), r.remove('k'), r.len(), r.has('k'), [...r.keys()]]],
    [new VectorRef(), (r) => [r.push(1), r.index(0), r.len(), r.pop(), r.index(-1)]],
    [Foo.new({ a: 1 }), (r) => [r.getKey('a'), r.setKey('a', 2)]],
  ];
  for (const [ref, ops] of cases) {
    ref.drop();
    const src = ops.toString().replace(/^\(r\) => \[|\]$/g, '').split(/, (?=r\.|\[)/);
    for (const expr of src) {
      // eslint-disable-next-line no-new-func
      const f = new Function('r', `return ${expr}`);
      assert.throws(() => f(ref), (e) => e.code === 'ESTALE' && /use after free/.test(e.message),
        `${ref.constructor.name}: ${expr}`);
    }
    assert.throws(() => ref.drop(), assertCode('ESTALE'), `${ref.constructor.name}: drop twice`);
    assert.equal(ref.type, 'freed');
  }
});

test('constructors: new X(id) checks the type; bad ids', () => {
  const s = StringRef.from('a');
  assert.throws(() => new MapRef(s.id), assertCode('ETYPE'));
  assert.throws(() => new NumberRef(123456789), assertCode('ENOENT'));
  assert.throws(() => new StringRef(-1), assertCode('EINVAL'));
  assert.throws(() => new StringRef(1.5), assertCode('EINVAL'));
  assert.throws(() => new StringRef('1'), assertCode('EINVAL'));
  assert.equal(new StringRef(s.id).obtainValue(), 'a');
  assert.equal(typeOf(s.id), 'string');
  s.drop();
  assert.equal(typeOf(s.id), 'freed');
  assert.equal(defaultArena.ref(new MapRef().id).constructor, MapRef);
  assert.ok(s instanceof Ref);
});

test('console.log / util.inspect shows { id: N }', () => {
  for (const r of [StringRef.from('x'), new MapRef(), new VectorRef(), NumberRef.from(1)]) {
    assert.equal(util.inspect(r), `{ id: ${r.id} }`);
  }
});

test('versions grow with writes', () => {
  const n = NumberRef.from(0);
  const v0 = n.version();
  n.setValue(1);
  assert.ok(n.version() > v0);
});

test('the default arena: info and roots', () => {
  const info = defaultArena.info();
  assert.equal(typeof info.capacity, 'number');
  assert.ok(info.objects > 0);
  const cfg = defaultArena.map('config-test');
  cfg.set('a', 1);
  assert.equal(defaultArena.map('config-test').get('a').obtainValue(), 1);
  assert.ok(defaultArena.roots().includes('config-test'));
  assert.equal(defaultArena.root('config-test').id, cfg.id);
  assert.throws(() => defaultArena.vector('config-test'), assertCode('ETYPE'));
  assert.equal(defaultArena.removeRoot('config-test'), true);
  assert.equal(defaultArena.root('config-test'), undefined);
  defaultArena.close(); // the default arena cannot be closed: a no-op
  assert.equal(StringRef.from('still works').obtainValue(), 'still works');
});
