'use strict';
// worker_threads share the in-process default arena: ids passed by
// postMessage work, concurrent writers lose nothing, and workers that exit
// (or are terminated) leave the arena usable.
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { Worker } = require('node:worker_threads');
const { MapRef, NumberRef, VectorRef, StringRef } = require('..');

const pkg = JSON.stringify(path.join(__dirname, '..'));

function runWorker(code, workerData) {
  return new Promise((resolve, reject) => {
    const w = new Worker(`const { workerData, parentPort } = require('node:worker_threads');
const sharena = require(${pkg});
${code}`, { eval: true, workerData });
    const out = [];
    w.on('message', (m) => out.push(m));
    w.on('error', reject);
    w.on('exit', (c) => (c === 0 ? resolve(out) : reject(new Error(`worker exit ${c}`))));
  });
}

test('4 workers hammering one map and one counter lose nothing', async () => {
  const map = new MapRef();
  const counter = NumberRef.from(0);
  const N = 2000;
  await Promise.all([0, 1, 2, 3].map((w) => runWorker(`
const { MapRef, NumberRef, StringRef } = sharena;
const map = new MapRef(workerData.map);
const counter = new NumberRef(workerData.counter);
for (let i = 0; i < workerData.n; i++) {
  map.set('w' + workerData.w + ':' + i, i);
  map.set('shared', 'from ' + workerData.w);
  counter.add(1);
}`, { map: map.id, counter: counter.id, n: N, w })));
  assert.equal(counter.obtainValue(), 4 * N);
  assert.equal(map.len(), 4 * N + 1);
  for (let w = 0; w < 4; w++) {
    for (let i = 0; i < N; i += 97) assert.equal(map.get(`w${w}:${i}`).obtainValue(), i);
  }
  assert.match(map.get('shared').obtainValue(), /^from [0-3]$/);
  map.drop();
});

test('ids travel by postMessage both ways; objects made in a worker outlive it', async () => {
  const vec = new VectorRef();
  const [made] = await runWorker(`
const { VectorRef, StringRef, MapRef } = sharena;
const vec = new VectorRef(workerData.vec);
vec.push(StringRef.from('pushed by worker'));
const m = new MapRef();
m.set('nested', { deep: ['x', 1] });
parentPort.postMessage(m.id);`, { vec: vec.id });
  assert.equal(vec.index(0).obtainValue(), 'pushed by worker');
  const m = new MapRef(made);
  assert.deepEqual(m.toObject(), { nested: { deep: ['x', 1] } });
});

test('a dropped object is stale in every thread', async () => {
  const s = StringRef.from('bye');
  s.drop();
  const [r] = await runWorker(`
try { new sharena.StringRef(workerData.id).obtainValue(); parentPort.postMessage('no error'); }
catch (e) { parentPort.postMessage(e.code); }`, { id: s.id });
  // new StringRef(id) checks the object first: a dropped id is stale
  assert.equal(r, 'ESTALE');
});

test('terminated workers (busy or idle) leave the arena usable', async () => {
  const counter = NumberRef.from(0);
  const workers = [];
  for (let i = 0; i < 3; i++) {
    const w = new Worker(`const s = require(${pkg});
const c = new s.NumberRef(${counter.id});
require('node:worker_threads').parentPort.postMessage('go');
for (;;) c.add(1);`, { eval: true });
    workers.push(w);
    await new Promise((r) => w.once('message', r));
  }
  await Promise.all(workers.map((w) => w.terminate()));
  const v = counter.obtainValue();
  assert.ok(v > 0);
  assert.equal(counter.add(1), v + 1);
  // a fresh worker still sees the same arena
  const [seen] = await runWorker(`parentPort.postMessage(new sharena.NumberRef(workerData).obtainValue())`, counter.id);
  assert.equal(seen, v + 1);
});

// A worker's watches live on its own loop: with the pollable notifier, a
// uv_poll_t and a timer on the worker's loop plus the notifier's two fds
// and a private mapping of the arena. Whether the worker ends by itself
// (unref'd watches pending) or is terminated (keepAlive ones), teardown
// closes them all: the process's fd count comes back to where it was.
function fdCount() {
  return require('node:fs').readdirSync('/proc/self/fd').length;
}

async function watchingWorkers(id) {
  const native = JSON.stringify(path.join(__dirname, '..', 'lib', 'native'));
  const [modes] = await runWorker(`
const n = new sharena.NumberRef(workerData);
n.changed().then(() => {});
sharena.defaultArena.watch(n, () => {});
parentPort.postMessage(require(${native}).watchModes());`, id);
  const w = new Worker(`const s = require(${pkg});
const { parentPort, workerData } = require('node:worker_threads');
const n = new s.NumberRef(workerData);
s.defaultArena.watch(n, () => {}, { keepAlive: true });
n.changed({ keepAlive: true }).then(() => parentPort.postMessage('woke'));
parentPort.postMessage('armed');`, { eval: true, workerData: id });
  await new Promise((r) => w.once('message', r));
  new NumberRef(id).add(1);
  await new Promise((r) => w.once('message', r)); // the worker's wait woke
  assert.equal(await w.terminate(), 1);
  return modes;
}

test('workers with pending waits and watches end cleanly, by themselves or terminated', async () => {
  const n = NumberRef.from(0);
  await watchingWorkers(n.id); // warm-up: the first worker opens lasting fds
  const before = fdCount();
  for (let i = 0; i < 3; i++) {
    const modes = await watchingWorkers(n.id);
    assert.equal(modes.length, 1);
  }
  assert.equal(fdCount(), before, 'fds left behind by ended workers');
  // the main thread still waits and wakes
  const p = n.changed({ keepAlive: true, timeout: 10000 });
  n.setValue(2);
  assert.ok(await p > 0);
  n.drop();
});

// A named arena a worker opens goes with the worker: the broker no longer
// counts it among the arena's clients once the worker is gone, whether it
// ended by itself or was terminated, and without close().
test('a worker that opens a named arena and exits without close() releases it at the broker', async () => {
  const { startBroker } = require('../test-support/helpers');
  const { Arena } = require('..');
  const broker = await startBroker();
  const socket = broker.socket;
  const clients = (name) => {
    const st = Arena.list({ socket }).find((a) => a.name === name);
    return st ? st.clients : undefined;
  };
  try {
    const opener = (name, tail) => new Worker(`const { Arena } = require(${pkg});
const { parentPort, workerData } = require('node:worker_threads');
const arena = Arena.open(workerData.name, { capacity: 1 << 20, socket: workerData.socket });
arena.map('from').set('worker', workerData.name);
arena.number('n').add(1);
parentPort.postMessage({ clients: Arena.list({ socket: workerData.socket }).find((a) => a.name === workerData.name).clients });
${tail}`, { eval: true, workerData: { name, socket } });
    // ends by itself, and terminated while busy writing
    for (const [name, tail, exitCode] of [
      ['ends', '', 0],
      ['terminated', 'for (;;) arena.number("n").add(1);', 1],
    ]) {
      const w = opener(name, tail);
      const exited = new Promise((resolve, reject) => {
        w.on('error', reject);
        w.on('exit', resolve);
      });
      const [msg] = await Promise.race([new Promise((r) => w.once('message', (m) => r([m]))), exited.then(() => [])]);
      assert.deepEqual(msg, { clients: 1 }, `${name}: the worker had it open`);
      if (exitCode) await w.terminate();
      assert.equal(await exited, exitCode, name);
      assert.equal(clients(name), 0, `${name}: released at the broker`);
      // the arena and what the worker wrote stay; this thread can use it
      const a = Arena.open(name, { create: false, socket });
      assert.equal(a.map('from').get('worker').obtainValue(), name);
      assert.ok(a.number('n').obtainValue() >= 1);
      assert.equal(clients(name), 1);
      a.close();
      assert.equal(clients(name), 0);
    }

    // the main thread has the arena open too: a worker's exit does not
    // close it for the main thread (the process shares one connection)
    const main = Arena.open('shared', { capacity: 1 << 20, socket });
    const n = main.number('n');
    n.setValue(10);
    const changed = n.changed({ keepAlive: true });
    for (let i = 0; i < 3; i++) {
      const w = opener('shared', '');
      // listen for the exit first: a worker that ends at once can have its
      // message and its exit delivered in one turn of the loop, before an
      // await after the message could add the listener
      const exited = new Promise((r) => w.on('exit', r));
      await new Promise((r) => w.once('message', r));
      assert.equal(await exited, 0);
    }
    assert.ok(await changed > 0, 'a wait of the main thread saw the workers\' writes');
    assert.equal(n.obtainValue(), 13);
    assert.equal(n.add(1), 14);
    assert.equal(main.map('from').get('worker').obtainValue(), 'shared');
    main.map('from').set('main', 'still here');
    assert.equal(clients('shared'), 1, 'this process still has it open');
    const again = Arena.open('shared', { create: false, socket });
    assert.equal(again.map('from').get('main').obtainValue(), 'still here');
    again.close();
    assert.equal(n.obtainValue(), 14, 'closing a second handle leaves the first open');
    main.close();
    assert.equal(clients('shared'), 0);
  } finally {
    await broker.stop();
  }
});

// map.get and vec.index read id and type in one typed read (lib's
// sharena_map_get_value): a value replaced and dropped by another thread
// between the lookup and its type is looked up again, never thrown as
// ESTALE (issue 15: Node did not retry at all).
test('map.get and vec.index never throw while a worker replaces the values', async () => {
  const map = new MapRef();
  const vec = new VectorRef();
  map.set('k', 0);
  vec.push(NumberRef.from(0));
  const done = new Int32Array(new SharedArrayBuffer(4));
  const writer = runWorker(`
const { MapRef, VectorRef, NumberRef } = sharena;
const map = new MapRef(workerData.map);
const vec = new VectorRef(workerData.vec);
const done = workerData.done;
for (let i = 1; i < 200000 && !Atomics.load(done, 0); i++) {
  map.set('k', i % 3 ? i : 'text ' + i);
  vec.set(0, i);
}`, { map: map.id, vec: vec.id, done });
  let reads = 0;
  const end = Date.now() + 1500;
  try {
    while (Date.now() < end) {
      const v = map.get('k');
      assert.ok(v !== undefined);
      vec.index(0);
      reads++;
    }
  } finally {
    Atomics.store(done, 0, 1);
    await writer;
  }
  assert.ok(reads > 0);
  map.drop();
  vec.drop();
});
