'use strict';
// A failed operation changes nothing (issue 16): MapRef.set and
// VectorRef.push of a tree, MapRef.from and VectorRef.from build the whole
// tree first (the library's value builder) and link it in one step. After a
// failure mid-tree (a value that cannot be stored, a full arena) the target
// holds what it held and the arena's used bytes and live objects are as
// before.
const test = require('node:test');
const assert = require('node:assert/strict');
const { Arena, MapRef, VectorRef, StringRef, defaultArena } = require('..');
const { startBroker, assertCode } = require('../test-support/helpers');

function counters(arena) {
  const i = arena.info();
  return [i.usedBytes, i.objects];
}

// A handle table that grows stays grown: grow it before measuring.
function warm(arena, n) {
  const v = arena.vector('_warm');
  for (let i = 0; i < n; i++) v.push(true);
  arena.removeRoot('_warm');
}

test('an unsupported value mid-tree: set and push change nothing', () => {
  const a = defaultArena;
  warm(a, 1200); // room for the cycle below (1000 levels)
  const m = MapRef.from({ keep: 'old' });
  const v = VectorRef.from(['a', 'b']);
  const before = counters(a);
  for (const bad of [undefined, () => 1, Symbol('s'), 10n, new Date(0), new Map()]) {
    const tree = { list: [1, 'x', { deep: [true, bad] }], n: 2 };
    assert.throws(() => m.set('t', tree), assertCode('EINVAL'));
    assert.throws(() => m.set('keep', tree), assertCode('EINVAL'));
    assert.throws(() => v.push([1, [2, [3, bad]]]), assertCode('EINVAL'));
    assert.throws(() => MapRef.from({ ok: 1, bad }), assertCode('EINVAL'));
    assert.throws(() => VectorRef.from([1, bad]), assertCode('EINVAL'));
    assert.deepEqual(counters(a), before, `after ${String(bad)}`);
  }
  assert.deepEqual(m.toObject(), { keep: 'old' });
  assert.deepEqual(v.toArray(), ['a', 'b']);
  // a value that contains itself ends at the depth limit, not in a crash
  const cyc = { a: [] };
  cyc.a.push(cyc);
  assert.throws(() => m.set('cyc', cyc), (e) => e.code === 'EOVERFLOW' && /contain itself/.test(e.message));
  assert.deepEqual(counters(a), before);
  // and what is storable goes in whole, refs as references
  const s = StringRef.from('mine');
  m.set('t', { list: [1, 'x', { deep: [true, s] }], raw: Buffer.from('ab') });
  assert.equal(m.get('t').get('list').index(2).get('deep').index(1).id, s.id);
  assert.deepEqual([...m.get('t').get('raw').read()], [97, 98]);
  v.push({ k: [1] });
  assert.deepEqual(v.toArray(), ['a', 'b', { k: [1] }]);
  m.drop();
  v.drop();
  assert.equal(s.obtainValue(), 'mine'); // a reference stays the caller's
  s.drop();
});

test('a full arena mid-tree: set, push and from change nothing', async (t) => {
  const broker = await startBroker();
  t.after(() => broker.stop());
  const a = Arena.open('tiny', { socket: broker.socket, capacity: 256 << 10 });
  t.after(() => a.close());
  warm(a, 600);
  const m = a.map('m');
  m.set('keep', 'old');
  const v = a.vector('v');
  v.push('a');
  const fill = a.vector('fill');
  for (;;) {
    try {
      fill.push(Buffer.alloc(4000));
    } catch (e) {
      assert.equal(e.code, 'EFULL');
      break;
    }
  }
  fill.pop().drop(); // room for a few values, not for the whole tree
  const big = 'x'.repeat(4000);
  const tree = { list: [big, big, big, big], n: 1 };
  const before = counters(a);
  assert.throws(() => m.set('t', tree), assertCode('EFULL'));
  assert.throws(() => m.set('keep', tree), assertCode('EFULL'));
  assert.throws(() => v.push(tree), assertCode('EFULL'));
  assert.throws(() => MapRef.from(tree, { arena: a }), assertCode('EFULL'));
  // a ref of another arena mid-tree is refused the same way
  const foreign = defaultArena.map('atomic-foreign');
  assert.throws(() => m.set('t', { x: [1, foreign] }), /another arena/);
  defaultArena.removeRoot('atomic-foreign');
  assert.deepEqual(counters(a), before);
  assert.deepEqual(m.toObject(), { keep: 'old' });
  assert.deepEqual(v.toArray(), ['a']);
  for (let i = 0; i < 12; i++) fill.pop().drop();
  m.set('keep', tree);
  v.push(tree);
  assert.equal(m.get('keep').get('list').index(3).obtainValue(), big);
  assert.equal(v.index(1).get('n').obtainValue(), 1);
});
