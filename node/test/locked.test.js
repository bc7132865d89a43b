'use strict';
// ref.locked(fn): the object's lock held around a synchronous function.
// Nesting counts (as Python's `with m.locked():`), a throw releases and
// rethrows, close() is refused inside, worker_threads and processes are
// excluded while it is held, and a process SIGKILLed inside fn leaves
// nothing held: another process takes the lock.
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { Worker } = require('node:worker_threads');
const sharena = require('..');
const { MapRef, NumberRef, Arena } = sharena;
const { startBroker, runNode, spawnNode, assertCode } = require('../test-support/helpers');

const pkg = JSON.stringify(path.join(__dirname, '..'));

test('locked() returns fn\'s value, nests, and releases on a throw', () => {
  const m = new MapRef();
  const same = new MapRef(m.id); // another ref of the same object shares the lock
  const out = m.locked((ref) => {
    assert.equal(ref, m);
    m.set('a', 1);
    same.locked(() => m.locked(() => m.set('b', 2)));
    m.set('c', 3); // still held by the outer level
    return 'done';
  });
  assert.equal(out, 'done');
  const boom = new Error('boom');
  assert.throws(() => m.locked(() => { m.set('d', 4); throw boom; }), (e) => e === boom);
  assert.deepEqual(m.toJSON(), { a: 1, b: 2, c: 3, d: 4 });
  // released after the throw: another thread can write (below, a worker)
  // and this thread can lock again without nesting on a leftover level
  m.locked(() => m.set('e', 5));
});

test('locked() refuses what it cannot do, changing nothing', async () => {
  const n = NumberRef.from(1);
  assert.throws(() => n.locked(), assertCode('EINVAL'));
  assert.throws(() => n.locked(async () => {}), assertCode('EINVAL'));
  // a promise returned by a plain function: released, then EINVAL
  assert.throws(() => n.locked(() => Promise.resolve(1)), assertCode('EINVAL'));
  // held nothing afterwards: a worker can write
  await new Promise((resolve, reject) => {
    const w = new Worker(`const { NumberRef } = require(${pkg});
      new NumberRef(require('node:worker_threads').workerData).setValue(7);`,
    { eval: true, workerData: n.id });
    w.on('error', reject);
    w.on('exit', resolve);
  });
  assert.equal(n.obtainValue(), 7);
  n.drop();
  assert.throws(() => n.locked(() => {}), assertCode('ESTALE'));
});

test('close() inside locked() is refused (EBUSY) and the arena stays usable', async () => {
  const broker = await startBroker();
  try {
    const a = Arena.open('locked-close', { create: true, capacity: 1 << 20, socket: broker.socket });
    const m = a.map('m');
    m.locked(() => {
      assert.throws(() => a.close(), assertCode('EBUSY'));
      assert.equal(a.closed, false);
      m.set('x', 1);
    });
    assert.equal(m.get('x').obtainValue(), 1);
    a.close();
    assert.throws(() => m.get('x'), assertCode('ECLOSED'));
    assert.throws(() => m.locked(() => {}), assertCode('ECLOSED'));
  } finally {
    await broker.stop();
  }
});

// Each worker does a read-modify-write with a pause between the read and
// the write, inside locked(); without the lock another worker's update
// in the pause would be lost.
test('locked() excludes worker_threads: 3 workers x 200 slow increments lose nothing', async () => {
  const n = NumberRef.from(0);
  const N = 200;
  const run = () => new Promise((resolve, reject) => {
    const w = new Worker(`const { NumberRef } = require(${pkg});
      const { workerData } = require('node:worker_threads');
      const n = new NumberRef(workerData.id);
      const nap = new Int32Array(new SharedArrayBuffer(4));
      for (let i = 0; i < workerData.n; i++) {
        n.locked(() => {
          const v = n.obtainValue();
          Atomics.wait(nap, 0, 0, 1); // 1 ms: the others try meanwhile
          n.setValue(v + 1);
        });
      }`, { eval: true, workerData: { id: n.id, n: N } });
    w.on('error', reject);
    w.on('exit', (c) => (c === 0 ? resolve() : reject(new Error(`exit ${c}`))));
  });
  await Promise.all([run(), run(), run()]);
  assert.equal(n.obtainValue(), 3 * N);
});

test('a worker terminated inside locked() leaves nothing held', async () => {
  const broker = await startBroker();
  try {
    const flag = new Int32Array(new SharedArrayBuffer(4));
    const w = new Worker(`const { Arena } = require(${pkg});
      const { workerData } = require('node:worker_threads');
      const a = Arena.open('locked-term', { create: true, capacity: 1 << 20, socket: workerData.socket });
      const n = a.number('n');
      n.locked(() => {
        Atomics.store(workerData.flag, 0, 1);
        Atomics.notify(workerData.flag, 0);
        for (;;) Atomics.wait(workerData.flag, 0, 1, 50); // until terminated
      });`, { eval: true, workerData: { flag, socket: broker.socket } });
    const exited = new Promise((resolve) => w.on('exit', resolve));
    w.on('error', () => {});
    for (let t = 0; Atomics.load(flag, 0) === 0; t++) {
      assert.ok(t < 4000, 'the worker got the lock');
      await new Promise((r) => setTimeout(r, 5));
    }
    await w.terminate();
    await exited;
    // released at the worker's teardown: otherwise this process (alive)
    // would still own it and the other process would wait until killed
    const r = await runNode(`const { Arena } = require('sharena');
      const a = Arena.open('locked-term', { socket: process.env.SOCK });
      const n = a.number('n');
      n.locked(() => n.setValue(5));
      console.log(n.obtainValue());
      a.close();`, { env: { SOCK: broker.socket, SHARENA_AUTOSTART: '0' }, timeoutMs: 20000 });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), '5');
  } finally {
    await broker.stop();
  }
});

// The default arena is not closed at a worker's teardown (other threads
// use it): the lock is released by the addon's env cleanup. The check runs
// in another worker, bounded: a lock still held would block it for good
// (in native code, where termination cannot reach), so that worker is
// unref()ed and a timeout fails the test instead of hanging it.
test('a worker terminated inside locked() on the default arena leaves nothing held', async () => {
  const n = NumberRef.from(0);
  const flag = new Int32Array(new SharedArrayBuffer(4));
  const w = new Worker(`const { NumberRef } = require(${pkg});
    const { workerData } = require('node:worker_threads');
    const n = new NumberRef(workerData.id);
    n.locked(() => {
      Atomics.store(workerData.flag, 0, 1);
      Atomics.notify(workerData.flag, 0);
      for (;;) Atomics.wait(workerData.flag, 0, 1, 50); // until terminated
    });`, { eval: true, workerData: { id: n.id, flag } });
  const exited = new Promise((resolve) => w.on('exit', resolve));
  w.on('error', () => {});
  for (let t = 0; Atomics.load(flag, 0) === 0; t++) {
    assert.ok(t < 4000, 'the worker got the lock');
    await new Promise((r) => setTimeout(r, 5));
  }
  await w.terminate();
  await exited;
  const checker = new Worker(`const { NumberRef } = require(${pkg});
    const { workerData, parentPort } = require('node:worker_threads');
    const n = new NumberRef(workerData);
    n.locked(() => n.setValue(5));
    parentPort.postMessage('done');`, { eval: true, workerData: n.id });
  checker.unref();
  const got = await new Promise((resolve) => {
    const t = setTimeout(() => resolve('still held after 20 s'), 20000);
    checker.on('message', (m) => { clearTimeout(t); resolve(m); });
    checker.on('error', (e) => { clearTimeout(t); resolve(String(e)); });
  });
  assert.equal(got, 'done');
  assert.equal(n.obtainValue(), 5);
});

const prelude = `
const fs = require('node:fs');
const { Arena } = require('sharena');
const arena = Arena.open('lockedp', { create: true, capacity: 4 << 20, socket: process.env.SOCK });
const m = arena.map('m');
`;

test('locked() excludes another process, and a process SIGKILLed inside it leaves nothing held', async () => {
  const broker = await startBroker();
  const env = { SOCK: broker.socket, SHARENA_AUTOSTART: '0' };
  const kids = [];
  try {
    // A holds the lock until told on stdin (a synchronous read inside fn),
    // writes step=1 and leaves; B, started while A holds it, reads step
    // inside its own locked(): it can only get in after A's write.
    const a = spawnNode(`${prelude}
      m.locked(() => {
        process.stdout.write('locked\\n');
        fs.readSync(0, Buffer.alloc(1));
        m.set('step', 1);
      });
      process.stdout.write('out\\n');`, { env });
    kids.push(a);
    assert.equal(await a.line(), 'locked', a.stderr());
    const b = spawnNode(`${prelude}
      process.stdout.write('trying\\n');
      const got = m.locked(() => { const v = m.get('step'); const x = v && v.obtainValue(); m.set('step', 2); return x; });
      process.stdout.write(String(got) + '\\n');`, { env });
    kids.push(b);
    assert.equal(await b.line(), 'trying', b.stderr());
    a.send('go');
    assert.equal(await a.line(), 'out', a.stderr());
    assert.equal(await b.line(), '1', b.stderr());

    // C is SIGKILLed while inside locked(); D then takes the lock
    const c = spawnNode(`${prelude}
      m.locked(() => {
        m.set('step', 3);
        process.stdout.write('locked\\n');
        fs.readSync(0, Buffer.alloc(1)); // never answered: killed here
      });`, { env });
    kids.push(c);
    assert.equal(await c.line(), 'locked', c.stderr());
    c.child.kill('SIGKILL');
    assert.equal((await c.exited).signal, 'SIGKILL');
    const d = await runNode(`${prelude}
      const got = m.locked(() => { m.set('step', 4); return m.get('step').obtainValue(); });
      console.log(got);
      arena.close();`, { env, timeoutMs: 30000 });
    assert.equal(d.code, 0, d.stderr);
    assert.equal(d.stdout.trim(), '4');
  } finally {
    for (const k of kids) if (k.child.exitCode === null && k.child.signalCode === null) k.child.kill('SIGKILL');
    await broker.stop();
  }
});
