'use strict';
// Change notifications: changed() and watch() in the default arena and in a
// named arena written by another process; timeouts, AbortSignal, drops and
// closes end a wait with the right error; pending watches do not keep the
// process alive (so the waits here ask for keepAlive: the test runner's
// loop would otherwise end under them).
const test = require('node:test');
const assert = require('node:assert');
const { spawnSync } = require('node:child_process');
const path = require('node:path');
const { NumberRef, MapRef, Arena } = require('..');
const { startBroker } = require('../test-support/helpers');

test('changed() resolves with the new version on a write from another thread', async () => {
  const n = NumberRef.from(1);
  const v0 = n.version();
  const p = n.changed({ timeout: 10000, keepAlive: true });
  setTimeout(() => n.setValue(2), 10);
  const v = await p;
  assert.ok(v > v0);
  assert.strictEqual(n.obtainValue(), 2);
  n.drop();
});

test('changed({ since }) reports a change made before the call', async () => {
  const n = NumberRef.from(1);
  const since = n.version();
  n.setValue(3);
  const v = await n.changed({ since, timeout: 5000, keepAlive: true });
  assert.ok(v > since);
  n.drop();
});

test('a timeout rejects with ETIMEDOUT; an AbortSignal with AbortError', async () => {
  const n = NumberRef.from(1);
  await assert.rejects(n.changed({ timeout: 30, keepAlive: true }), (e) => e.code === 'ETIMEDOUT');
  const ac = new AbortController();
  const p = n.changed({ signal: ac.signal, keepAlive: true });
  setTimeout(() => ac.abort(), 10);
  await assert.rejects(p, (e) => e.name === 'AbortError');
  await assert.rejects(n.changed({ signal: AbortSignal.abort() }), (e) => e.name === 'AbortError');
  n.drop();
});

test('dropping the object rejects a pending wait with ESTALE', async () => {
  const n = NumberRef.from(1);
  const p = n.changed({ timeout: 10000, keepAlive: true });
  setTimeout(() => n.drop(), 10);
  await assert.rejects(p, (e) => e.code === 'ESTALE' && /use after free/.test(e.message));
});

test('watch() calls back for each change and stops when unsubscribed', async () => {
  const m = new MapRef();
  const seen = [];
  let unsubscribe;
  const done = new Promise((resolve) => {
    unsubscribe = Arena.prototype.watch.call(require('..').defaultArena, m, (ev) => {
      seen.push(ev.version);
      if (seen.length === 3) resolve();
    }, { keepAlive: true });
  });
  const timer = setInterval(() => m.set('k', Math.random()), 5);
  await done;
  clearInterval(timer);
  unsubscribe();
  assert.strictEqual(seen.length, 3);
  assert.ok(seen[0] < seen[1] && seen[1] < seen[2]);
  m.drop();
});

test('a named arena: a write by another process wakes the waiter; close rejects with ECLOSED', async (t) => {
  const broker = await startBroker();
  t.after(() => broker.stop());
  const a = Arena.open('waits', { socket: broker.socket });
  const n = a.number('n');
  const p = n.changed({ timeout: 20000, keepAlive: true });
  const writer = `
    const { Arena } = require(${JSON.stringify(path.join(__dirname, '..'))});
    const a = Arena.open('waits', { socket: ${JSON.stringify(broker.socket)} });
    a.number('n').setValue(42);
    a.close();`;
  const r = spawnSync(process.execPath, ['-e', writer], { encoding: 'utf8' });
  assert.strictEqual(r.status, 0, r.stderr);
  await p;
  assert.strictEqual(n.obtainValue(), 42);
  const pending = n.changed({ keepAlive: true });
  a.close();
  await assert.rejects(pending, (e) => e.code === 'ECLOSED');
});

test('a pending watch does not keep the process alive', () => {
  const code = `
    const { NumberRef } = require(${JSON.stringify(path.join(__dirname, '..'))});
    const n = NumberRef.from(1);
    n.changed().then(() => console.log('changed'));
    console.log('end of script');`;
  const r = spawnSync(process.execPath, ['-e', code], { encoding: 'utf8', timeout: 20000 });
  assert.strictEqual(r.status, 0, r.stderr);
  assert.strictEqual(r.stdout.trim(), 'end of script');
});
