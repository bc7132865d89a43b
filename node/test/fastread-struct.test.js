'use strict';
// Fast reads of struct fields (docs/api-node.md, "Fast reads"):
// StructRef.getKey and a struct proxy's fields keep the values they read
// with the struct's change counter, and a string field's with its string's
// counter too (the string is an object of its own: a write of its id moves
// its counter, not the struct's). As fastread.test.js does for scalars and
// containers: the reads run in hot loops (so V8 optimises the call sites),
// with a writer in this thread, in a worker_thread and in another process
// changing the fields between reads; every read after the write returned
// sees it. Also: a drop is seen (ESTALE), use after close throws ECLOSED,
// a read-only mapping reads through its cache, and a peer flipping the
// counters never makes a read return anything but the value.
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { Worker } = require('node:worker_threads');
const { StringRef, StructFactory, StructRef, Arena } = require('..');
const { startBroker, spawnNode, assertCode } = require('../test-support/helpers');

const pkg = JSON.stringify(path.join(__dirname, '..'));
const HOT = 2000; // reads per round: enough for V8 to optimise the loop

const DEF = { name: 'string', count: 'number', ok: 'boolean', note: 'string?' };
const Shape = new StructFactory(DEF);
const init = (i) => ({ name: `name ${i} ✓`, count: i * 1.5, ok: (i & 1) === 1, note: i & 1 ? `note ${i}` : null });

// What a writer does in round i (code, with `st` the struct).
const structWrite = `
  st.setKey('name', \`name \${i} ✓\`);
  st.setKey('count', i * 1.5);
  st.setKey('ok', (i & 1) === 1);
  st.setKey('note', i & 1 ? \`note \${i}\` : null);`;

// Read every field HOT times through getKey and through the proxy; every
// read must be round i's value.
function hotCheck(st, px, i) {
  const e = init(i);
  let bad = 0;
  for (let k = 0; k < HOT; k++) {
    // (a number first: a string's read that misses reads the struct anew)
    if (st.getKey('count') !== e.count) bad++;
    if (st.getKey('ok') !== e.ok) bad++;
    if (st.getKey('note') !== e.note) bad++;
    if (st.getKey('name') !== e.name) bad++;
    if (px.count !== e.count) bad++;
    if (px.note !== e.note) bad++;
    if (px.name !== e.name) bad++;
  }
  return bad;
}

// The id of the string object holding `text` among the first ids of a
// fresh arena (the package has no call for a struct's string id; C has
// sharena_struct_field_id): what a C writer would set directly.
function stringIdOf(arena, text) {
  for (let id = 1; id < 256; id++) {
    let r;
    try { r = arena.ref(id); } catch { continue; }
    if (r instanceof StringRef && r.obtainValue() === text) return id;
  }
  throw new Error(`no string '${text}' among the first ids`);
}

test('in one thread: getKey and proxy fields see a write through another ref at the next read', () => {
  const st = Shape.new(init(0));
  const px = StructFactory.proxy(st);
  const w = new StructRef(st.id); // the writer's own ref (its own caches)
  for (let i = 1; i <= 300; i++) {
    assert.equal(hotCheck(st, px, i - 1), 0, `round ${i - 1}`);
    new Function('st', 'i', structWrite)(w, i);
    // the very next read, without a call in between
    assert.equal(st.getKey('count'), i * 1.5);
    assert.equal(px.name, `name ${i} ✓`);
    assert.equal(hotCheck(st, px, i), 0, `round ${i}`);
  }
  st.drop();
  assert.throws(() => st.getKey('count'), assertCode('ESTALE'));
  assert.throws(() => px.name, assertCode('ESTALE'));
});

test('a write of the string field through its own id (not the struct) is seen at the next read', async () => {
  const broker = await startBroker();
  try {
    const a = Arena.open('fastst-child', { create: true, capacity: 1 << 20, socket: broker.socket });
    const st = Shape.new({ name: 'the marker text', count: 1 }, { arena: a });
    const px = StructFactory.proxy(st);
    const child = new StringRef(stringIdOf(a, 'the marker text'), { arena: a });
    const before = st.version();
    for (let i = 1; i <= 200; i++) {
      let bad = 0;
      for (let k = 0; k < HOT; k++) {
        if (st.getKey('name') !== (i === 1 ? 'the marker text' : `direct ${i - 1}`)) bad++;
        if (px.name !== (i === 1 ? 'the marker text' : `direct ${i - 1}`)) bad++;
      }
      assert.equal(bad, 0, `round ${i - 1}`);
      child.setValue(`direct ${i}`);
      assert.equal(st.getKey('name'), `direct ${i}`);
      assert.equal(px.name, `direct ${i}`);
    }
    // the struct's own counter did not move: only the string's did
    assert.equal(st.version(), before);
    a.close();
  } finally {
    await broker.stop();
  }
});

test('a worker_thread writer: every read after its write returned sees it', async () => {
  const st = Shape.new(init(0));
  const px = StructFactory.proxy(st);
  const chan = new Int32Array(new SharedArrayBuffer(8)); // [0] round asked, [1] round written
  const ROUNDS = 200;
  const w = new Worker(`const { StructRef } = require(${pkg});
    const { workerData: d } = require('node:worker_threads');
    const st = new StructRef(d.st);
    for (let i = 1; i <= d.rounds; i++) {
      while (Atomics.load(d.chan, 0) < i) Atomics.wait(d.chan, 0, i - 1, 1000);
      ${structWrite}
      Atomics.store(d.chan, 1, i);
      Atomics.notify(d.chan, 1);
    }`, { eval: true, workerData: { st: st.id, chan, rounds: ROUNDS } });
  const exited = new Promise((resolve, reject) => {
    w.on('error', reject);
    w.on('exit', resolve);
  });
  try {
    for (let i = 1; i <= ROUNDS; i++) {
      assert.equal(hotCheck(st, px, i - 1), 0, `round ${i - 1}`);
      Atomics.store(chan, 0, i);
      Atomics.notify(chan, 0);
      for (let t = 0; Atomics.load(chan, 1) < i; t++) {
        assert.ok(t < 30, 'the worker answers');
        Atomics.wait(chan, 1, i - 1, 1000);
      }
      assert.equal(hotCheck(st, px, i), 0, `round ${i}`);
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
    const a = Arena.open('fastst', { create: true, capacity: 1 << 20, socket: broker.socket });
    const ro = Arena.open('fastst', { readonly: true, socket: broker.socket });
    const st = Shape.new(init(0), { arena: a });
    a.setRoot('st', st, { owned: true });
    const px = StructFactory.proxy(st);
    const rst = ro.root('st');
    assert.ok(rst instanceof StructRef);
    const rpx = StructFactory.proxy(rst);
    child = spawnNode(`const { Arena } = require('sharena');
      const a = Arena.open('fastst', { socket: process.env.SOCK });
      const st = a.root('st');
      process.stdout.write('ready\\n');
      require('node:readline').createInterface({ input: process.stdin }).on('line', (l) => {
        const i = Number(l);
        ${structWrite}
        process.stdout.write(\`wrote \${i}\\n\`);
      });`, { env });
    assert.equal(await child.line(), 'ready', child.stderr());
    for (let i = 1; i <= 150; i++) {
      assert.equal(hotCheck(st, px, i - 1), 0, `round ${i - 1}`);
      assert.equal(hotCheck(rst, rpx, i - 1), 0, `read-only, round ${i - 1}`);
      child.send(String(i));
      assert.equal(await child.line(), `wrote ${i}`, child.stderr());
      assert.equal(hotCheck(st, px, i), 0, `round ${i}`);
      assert.equal(hotCheck(rst, rpx, i), 0, `read-only, round ${i}`);
    }
    // use after close throws (the view is detached), in both arenas
    ro.close();
    assert.throws(() => rst.getKey('name'), assertCode('ECLOSED'));
    assert.throws(() => rpx.count, assertCode('ECLOSED'));
    a.close();
    assert.throws(() => st.getKey('count'), assertCode('ECLOSED'));
    assert.throws(() => px.name, assertCode('ECLOSED'));
  } finally {
    if (child) child.child.kill('SIGKILL');
    await broker.stop();
  }
});

// A hostile peer flips the struct's counter and its string's (odd values,
// the kept values, random words) while this thread reads: JS only compares
// the words, so every read is the one real value (kept or from the addon)
// or an error the addon throws (EBUSY for a write that never ends); never
// another value, another type, or a hang.
test('a peer flipping the counters never makes a field read return anything but the value', async () => {
  const { kCache } = require('../lib/internal');
  const st = Shape.new({ name: 'the only name', count: 42.5 });
  assert.equal(st.getKey('name'), 'the only name');
  assert.equal(st.getKey('count'), 42.5);
  const c = st[kCache];
  assert.ok(c, 'the struct keeps its fields');
  const nameEntry = c.val[0];
  assert.ok(nameEntry && nameEntry.ci >= 0, 'the name is kept with its string\'s counter');
  const stop = new Int32Array(new SharedArrayBuffer(4));
  const w = new Worker(`const native = require(${JSON.stringify(path.join(__dirname, '..', 'lib', 'native'))});
    const { defaultArena } = require(${pkg});
    const { kH } = require(${JSON.stringify(path.join(__dirname, '..', 'lib', 'internal'))});
    const { workerData: d } = require('node:worker_threads');
    const u = new Uint32Array(native.arenaView(defaultArena[kH]));
    const idx = [d.cs, d.cc];
    const keep = [Atomics.load(u, d.cs), Atomics.load(u, d.cc)];
    let x = 12345;
    for (let k = 0; Atomics.load(d.stop, 0) === 0 && k < 5e6; k++) {
      x = (x * 1103515245 + 12345) >>> 0;
      const v = [keep[k & 1], keep[k & 1] + 1, keep[k & 1] + 2, x][(k >> 1) & 3];
      Atomics.store(u, idx[k & 1], v);
    }
    Atomics.store(u, d.cs, keep[0]);
    Atomics.store(u, d.cc, keep[1]);`, { eval: true, workerData: { cs: c.ci, cc: nameEntry.ci, stop } });
  const exited = new Promise((resolve, reject) => {
    w.on('error', reject);
    w.on('exit', resolve);
  });
  const px = StructFactory.proxy(st);
  let ok = 0, busy = 0;
  const wrong = [];
  try {
    for (let k = 0; k < 100000; k++) {
      for (const [read, want] of [[() => st.getKey('name'), 'the only name'],
        [() => st.getKey('count'), 42.5], [() => px.name, 'the only name']]) {
        try {
          const v = read();
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
  assert.equal(st.getKey('name'), 'the only name');
  assert.equal(px.count, 42.5);
});
