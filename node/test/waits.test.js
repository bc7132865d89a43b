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

// How a wait is done: through the pollable notifier (io_uring futex wait on
// the loop, no thread) when the kernel has it, a helper thread otherwise
// (SHARENA_NO_IO_URING=1, read-only arenas). Each case runs in a fresh
// process so that its watchers are the only ones.
function waitMode(env, body) {
  const code = `
    const sharena = require(${JSON.stringify(path.join(__dirname, '..'))});
    const native = require(${JSON.stringify(path.join(__dirname, '..', 'lib', 'native'))});
    (async () => {
      ${body}
      console.log(JSON.stringify({ supported: native.notifierSupported(), modes }));
    })().catch((e) => { console.error(e); process.exit(1); });`;
  const r = spawnSync(process.execPath, ['-e', code], {
    encoding: 'utf8', timeout: 20000, env: { ...process.env, ...env },
  });
  assert.strictEqual(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').pop());
}

const waitAndRead = `
  const n = sharena.NumberRef.from(1);
  const p = n.changed({ keepAlive: true });
  const modes = native.watchModes();
  setTimeout(() => n.setValue(2), 5);
  await p;
  if (n.obtainValue() !== 2) throw new Error('wrong value');`;

test('waits use the pollable notifier when the kernel has it', () => {
  const r = waitMode({ SHARENA_NO_IO_URING: '' }, waitAndRead);
  // (on a kernel without io_uring's futex wait, this checks the fallback)
  assert.deepStrictEqual(r.modes, [r.supported === 0 ? 'poll' : 'thread']);
});

test('SHARENA_NO_IO_URING=1 forces the helper thread, and it still works', () => {
  const r = waitMode({ SHARENA_NO_IO_URING: '1' }, waitAndRead);
  assert.strictEqual(r.supported, errorsCode('ENOSYS'));
  assert.deepStrictEqual(r.modes, ['thread']);
});

test('a read-only arena waits on a thread; its writer wakes it', () => {
  const r = waitMode({ SHARENA_NO_IO_URING: '' }, `
    const w = sharena.Arena.fromFd(sharena.defaultArena.fd);
    const ro = sharena.Arena.fromFd(sharena.defaultArena.fd, { readonly: true });
    const n = w.number('ro-wait');
    const p = ro.root('ro-wait').changed({ keepAlive: true });
    const modes = native.watchModes();
    setTimeout(() => n.setValue(7), 5);
    await p;
    if (ro.root('ro-wait').obtainValue() !== 7) throw new Error('wrong value');`);
  assert.deepStrictEqual(r.modes, ['thread']);
});

test('many waits and watches on one arena share one watcher, in order', async () => {
  const n = NumberRef.from(0);
  const m = new MapRef();
  const seen = [];
  const un = Arena.prototype.watch.call(require('..').defaultArena, m,
    (ev) => seen.push(ev.version), { keepAlive: true });
  for (let i = 1; i <= 200; i++) {
    const p = n.changed({ keepAlive: true, timeout: 10000 });
    n.setValue(i);
    m.set('k', i);
    await p;
  }
  un();
  assert.strictEqual(n.obtainValue(), 200);
  assert.ok(seen.length >= 1);
  for (let i = 1; i < seen.length; i++) assert.ok(seen[i] > seen[i - 1]);
  n.drop();
  m.drop();
});

function errorsCode(name) {
  const errors = require('../lib/errors');
  for (const [code, c] of errors.codes) if (c.name === name) return code;
  throw new Error(`no code ${name}`);
}

test('arena.resolve() and watch(path) follow map keys and vector indexes like the CLI', async () => {
  const { defaultArena } = require('..');
  const cfg = defaultArena.map('watch-path-cfg');
  cfg.set('servers', [{ host: 'a', port: 1 }, { host: 'b', port: 2 }]);
  cfg.set('a/b', { deep: 'x' });
  assert.strictEqual(defaultArena.resolve('watch-path-cfg/servers/1/host').obtainValue(), 'b');
  assert.strictEqual(defaultArena.resolve('/watch-path-cfg/servers/-1/port').obtainValue(), 2);
  assert.strictEqual(defaultArena.resolve('watch-path-cfg/a\\/b/deep').obtainValue(), 'x');
  assert.strictEqual(defaultArena.resolve('watch-path-cfg').id, cfg.id);
  for (const [p, code] of [['watch-path-cfg/nothing', 'ENOENT'], ['no-such-root/x', 'ENOENT'],
    ['watch-path-cfg/servers/7', 'ENOENT'], ['watch-path-cfg/servers/x', 'EINVAL'],
    ['watch-path-cfg/servers/0/host/more', 'ETYPE'], ['watch-path-cfg//servers', 'EINVAL']]) {
    assert.throws(() => defaultArena.resolve(p), (e) => e.code === code, p);
    assert.throws(() => defaultArena.watch(p, () => {}), (e) => e.code === code, p);
  }
  // a watch on a path watches the object there now
  const server = defaultArena.resolve('watch-path-cfg/servers/0');
  let unsubscribe;
  const seen = new Promise((resolve) => {
    unsubscribe = defaultArena.watch('watch-path-cfg/servers/0', (ev) => resolve(ev), { keepAlive: true });
  });
  setTimeout(() => server.set('port', 8080), 5);
  const ev = await seen;
  unsubscribe();
  assert.strictEqual(ev.ref.id, server.id);
  assert.strictEqual(ev.ref.get('port').obtainValue(), 8080);
  defaultArena.removeRoot('watch-path-cfg');
});

test('a pending arena.watch() does not keep the process alive either', () => {
  const code = `
    const { defaultArena } = require(${JSON.stringify(path.join(__dirname, '..'))});
    defaultArena.number('n');
    defaultArena.watch('n', () => console.log('changed'));
    defaultArena.watch(null, () => console.log('anything'));
    console.log('end of script');`;
  const r = spawnSync(process.execPath, ['-e', code], { encoding: 'utf8', timeout: 20000 });
  assert.strictEqual(r.status, 0, r.stderr);
  assert.strictEqual(r.stdout.trim(), 'end of script');
});
