'use strict';
// Every code of libsharena's error table (SHARENA_ERRNO_MAP in sharena.h,
// read here from the header itself) has its name, message and a hint in the
// JavaScript error table, so watch/wait events never surface as "E10002";
// index.d.ts's SharenaErrorCode lists every name; errors raised by the addon
// and by the JS layer carry a stable code and say what to do.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const {
  Arena, defaultArena, MapRef, NumberRef, StringRef, VectorRef, BytesRef,
  StructFactory,
} = require('..');
const errors = require('../lib/errors');
const { startBroker } = require('../test-support/helpers');

const header = fs.readFileSync(path.join(__dirname, '..', '..', 'lib', 'include', 'sharena.h'), 'utf8');
const table = [...header.matchAll(/XX\((E[A-Z]+),\s*(-\d+),/g)].map(([, name, v]) => [name, Number(v)]);
const dts = fs.readFileSync(path.join(__dirname, '..', 'index.d.ts'), 'utf8');
const declared = new Set(dts.match(/export type SharenaErrorCode =([^;]*);/)[1].match(/'[A-Z_]+'/g).map((s) => s.slice(1, -1)));

test('the header\'s table was read', () => {
  assert.ok(table.length >= 29, `${table.length} codes`);
  for (const n of ['ESTALE', 'EFULL', 'ECLOSED', 'ETIMEDOUT', 'EOWNERDEAD', 'EACCES']) {
    assert.ok(table.some(([name]) => name === n), n);
  }
});

test('every library code maps to its name, its message and a specific hint', () => {
  assert.equal(errors.codes.size, table.length, 'the addon exports exactly the header\'s codes');
  for (const [name, code] of table) {
    assert.equal(errors.codeName(code), name, `code ${code}`);
    const e = errors.codeError(code, 'changed');
    assert.ok(e instanceof Error);
    assert.equal(e.code, name);
    const c = errors.codes.get(code);
    assert.equal(e.message, `changed: ${c.message} (${c.hint})`);
    assert.ok(c.message.length > 5 && c.message !== 'unknown error', name);
    assert.doesNotMatch(c.hint, /see docs\/api-node\.md/, `${name} has a hint of its own`);
    assert.ok(declared.has(name), `index.d.ts SharenaErrorCode lacks ${name}`);
  }
  assert.equal(errors.codeName(-99999), 'EUNKNOWN');
  assert.equal(errors.codeError(-99999, 'x').code, 'EUNKNOWN');
  assert.ok(declared.has('EUNKNOWN'));
});

test('errors delivered to waits and watches carry their names', async () => {
  const n = NumberRef.from(1);
  const p = n.changed({ keepAlive: true });
  n.drop();
  await assert.rejects(p, (e) => e.code === 'ESTALE' && /^changed: use after free/.test(e.message));
  const m = new MapRef();
  const seen = new Promise((resolve) => {
    defaultArena.watch(m, (ev) => { if (ev.error) resolve(ev.error); }, { keepAlive: true });
  });
  m.drop();
  const e = await seen;
  assert.equal(e.code, 'ESTALE');
  assert.match(e.message, /^arena\.watch: use after free.*\(the object was dropped here or in another process; look it up again from its map, vector or root\)$/);
});

test('errors thrown by the addon and the JS layer: a declared code and what to do', () => {
  const a = Arena.fromFd(defaultArena.fd);
  const closedRef = NumberRef.from(1, { arena: a });
  a.close();
  const s = StringRef.from('x');
  const dropped = new MapRef();
  dropped.drop();
  const F = new StructFactory({ a: 'number' });
  const cases = [
    [() => new MapRef(s.id), 'ETYPE', /another type|is a string/],
    [() => new NumberRef(123456789), 'ENOENT', /check the name or id/],
    [() => dropped.get('k'), 'ESTALE', /use after free.*look it up again/],
    [() => closedRef.obtainValue(), 'ECLOSED', /open it again/],
    [() => new VectorRef().set(5, 1), 'ERANGE', /within/],
    [() => BytesRef.alloc(2).write(Buffer.alloc(4)), 'ERANGE', /within/],
    [() => F.new({ b: 1 }), 'ENOENT', /no field 'b'/],
    [() => s.setValue(1), 'EINVAL', /expected a string/],
    [() => BytesRef.alloc(1).write('x'), 'EINVAL', /expected a Buffer, TypedArray or DataView/],
    [() => Arena.open('bad name!'), 'EINVAL', /\[A-Za-z0-9\._-\]/],
    [() => Arena.fromFd(-1), 'EINVAL', /file descriptor/],
    [() => Arena.fromFd(0), null, /./], // stdin is no arena: a code from the table
    [() => defaultArena.vector(defaultArena.map('errors-test') && 'errors-test'), 'ETYPE', /another type/],
  ];
  for (const [f, code, re] of cases) {
    let thrown;
    try { f(); } catch (e) { thrown = e; }
    assert.ok(thrown instanceof Error, `${f} throws`);
    if (code) assert.equal(thrown.code, code, `${f}: ${thrown.message}`);
    assert.ok(declared.has(thrown.code), `${f}: undeclared code ${thrown.code}`);
    assert.match(thrown.message, re, `${f}`);
  }
  defaultArena.removeRoot('errors-test');
  new NumberRef(closedRef.id).drop();
  s.drop();
});

// The smallest arena there is (SHARENA_MIN_CAPACITY, read from the header).
const capMatch = header.match(/#define SHARENA_MIN_CAPACITY \(UINT64_C\((\d+)\) << (\d+)\)/);
const MIN_CAPACITY = Number(capMatch[1]) * 2 ** Number(capMatch[2]);

function isFull(e) {
  return e instanceof Error && e.code === 'EFULL' &&
    /arena is full/.test(e.message) && /larger capacity/.test(e.message);
}

test('EFULL: a full arena keeps what it had, a failed nested value leaves nothing behind, freeing makes room again', async () => {
  assert.equal(MIN_CAPACITY, 256 * 1024);
  const broker = await startBroker();
  try {
    assert.throws(() => Arena.open('too-small', { capacity: MIN_CAPACITY - 1, socket: broker.socket }),
      (e) => e instanceof Error && e.code === 'EINVAL');
    const arena = Arena.open('full', { capacity: MIN_CAPACITY, socket: broker.socket });
    assert.equal(arena.info().capacity, MIN_CAPACITY);
    const m = arena.map('m');
    const vec = arena.vector('v');
    vec.push('first');
    // made before filling up; dropped at the end to make room
    const spare = StringRef.from('s'.repeat(16 << 10), { arena });
    const value = (i) => `${i}:${'v'.repeat(1000)}`;
    let n = 0;
    let full;
    for (; n < 1000 && !full; n++) { // 1000 such strings cannot fit in 256 KiB
      try { m.set(`k${n}`, value(n)); } catch (e) { full = e; }
    }
    n--; // the last call failed
    assert.ok(isFull(full), `${full && full.code}: ${full && full.message}`);
    assert.match(full.message, /^MapRef\.set: /);
    assert.ok(n > 100, `${n} strings fit`);
    const atFull = arena.info();
    const unchanged = (what) => {
      const now = arena.info();
      assert.equal(m.len(), n, `${what}: len`);
      assert.equal(now.usedBytes, atFull.usedBytes, `${what}: usedBytes`);
      assert.equal(now.objects, atFull.objects, `${what}: objects`);
    };
    unchanged('after the first EFULL');
    assert.equal(m.has(`k${n}`), false, 'the failed key is not there');
    for (let i = 0; i < n; i++) assert.equal(m.get(`k${i}`).obtainValue(), value(i));
    // every kind of write that does not fit fails the same way and changes nothing
    const big = 'x'.repeat(MIN_CAPACITY);
    for (const [what, f] of [
      ['set of a new key again', () => m.set(`k${n}`, value(n))],
      ['overwrite with a larger string', () => m.set('k0', big)],
      ['StringRef.setValue', () => m.get('k1').setValue(big)],
      ['StringRef.from', () => StringRef.from(big, { arena })],
      ['BytesRef.alloc', () => BytesRef.alloc(MIN_CAPACITY, { arena })],
      ['VectorRef.push', () => vec.push(big)],
    ]) {
      assert.throws(f, isFull, what);
      unchanged(what);
    }
    assert.equal(m.get('k0').obtainValue(), value(0), 'an overwrite that failed keeps the old value');
    assert.equal(m.get('k1').obtainValue(), value(1), 'a setValue that failed keeps the old value');
    assert.deepEqual(vec.toArray(), ['first']);

    // Make room for the first parts of a nested value but not its last one:
    // the parts made before the failure are freed again.
    for (let i = 0; i < 4; i++) assert.equal(m.remove(`k${i}`), true);
    const before = arena.info();
    assert.ok(before.usedBytes < atFull.usedBytes);
    const nested = { a: 'x'.repeat(500), b: [1, 'two', { c: big }] };
    for (const [what, f] of [
      ['MapRef.set', () => m.set('k', nested)],
      ['VectorRef.push', () => vec.push(nested)],
      ['VectorRef.insert', () => vec.insert(0, nested)],
      ['VectorRef.set', () => vec.set(0, nested)],
      ['MapRef.from', () => MapRef.from(nested, { arena })],
      ['VectorRef.from', () => VectorRef.from([nested], { arena })],
    ]) {
      assert.throws(f, isFull, what);
      const now = arena.info();
      assert.equal(now.usedBytes, before.usedBytes, `${what}: usedBytes`);
      assert.equal(now.objects, before.objects, `${what}: objects`);
    }
    assert.equal(m.has('k'), false);
    assert.equal(m.len(), n - 4);
    assert.deepEqual(vec.toArray(), ['first']);
    // what fitted before fits now: nothing of the failed calls stayed
    m.set('k', { a: nested.a, b: [1, 'two'] });
    assert.deepEqual(m.getValue('k'), { a: nested.a, b: [1, 'two'] });
    assert.equal(m.remove('k'), true);
    assert.equal(arena.info().usedBytes, before.usedBytes);

    // dropping an object makes room again: the call that failed now works
    // (the four removed keys may not all fit again: the allocator's good
    // fit may not take a hole of just a block's size for it)
    const later = [];
    for (let i = 0; i < 4; i++) {
      try { m.set(`k${i}`, value(i)); } catch (e) { assert.ok(isFull(e), `${e.code}`); later.push(i); }
    }
    assert.throws(() => m.set(`k${n}`, value(n)), isFull);
    spare.drop();
    assert.ok(arena.info().usedBytes < atFull.usedBytes);
    m.set(`k${n}`, value(n));
    for (const i of later) m.set(`k${i}`, value(i));
    assert.equal(m.get(`k${n}`).obtainValue(), value(n));
    assert.equal(m.len(), n + 1);
    for (let i = 0; i <= n; i++) assert.equal(m.get(`k${i}`).obtainValue(), value(i));
    arena.close();
  } finally {
    await broker.stop();
  }
});

test('Arena.open failures: ENOENT for a missing arena with create: false, ECONNREFUSED where no broker listens', async () => {
  const broker = await startBroker();
  const dead = await startBroker();
  try {
    const socket = broker.socket;
    for (const opts of [{ create: false }, { readonly: true }]) {
      assert.throws(() => Arena.open('never-made', { ...opts, socket }), (e) => {
        assert.ok(e instanceof Error);
        assert.equal(e.code, 'ENOENT', e.message);
        assert.match(e.message, /^Arena\.open\('never-made'\): no such arena/);
        assert.match(e.message, /no arena 'never-made' at the broker/);
        assert.match(e.message, /\{ create: true \}/, 'says how to create it');
        return true;
      }, JSON.stringify(opts));
    }
    assert.deepEqual(Arena.list({ socket }), [], 'a failed open creates nothing');
    // the connection still works: the same name opens (and is created) now
    const a = Arena.open('never-made', { socket });
    a.number('n').setValue(1);
    a.close();
    const b = Arena.open('never-made', { create: false, socket });
    assert.equal(b.number('n').obtainValue(), 1);
    b.close();

    // no broker: a path with nothing there, a directory that does not
    // exist, a regular file, and a socket file nobody listens on (a killed
    // broker's own is removed by its helper, docs/security.md 10; one bound
    // by a process that died stays: made here with Python)
    process.kill(dead.pid, 'SIGKILL');
    await dead.exited;
    const stale = path.join(broker.dir, 'stale.sock');
    const made = require('node:child_process').spawnSync('python3', ['-c',
      'import socket, sys; socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET).bind(sys.argv[1])',
      stale]);
    assert.equal(made.status, 0, String(made.stderr));
    assert.ok(fs.existsSync(stale), 'a socket file nobody listens on');
    const file = path.join(broker.dir, 'not-a-socket');
    fs.writeFileSync(file, '');
    for (const where of [path.join(broker.dir, 'nobody-here'), path.join(broker.dir, 'no-dir', 's'), file, stale, dead.socket]) {
      for (const [op, f] of [
        ["Arena.open('x')", () => Arena.open('x', { socket: where })],
        ['Arena.list', () => Arena.list({ socket: where })],
        ['Arena.delete', () => Arena.delete('x', { socket: where })],
      ]) {
        assert.throws(f, (e) => {
          assert.ok(e instanceof Error);
          assert.equal(e.code, 'ECONNREFUSED', `${op} at ${where}: ${e.message}`);
          assert.ok(e.message.startsWith(`${op}: no broker is listening on that socket`), e.message);
          assert.ok(e.message.includes(where), `the message names the socket: ${e.message}`);
          assert.match(e.message, /start sharenad/);
          return true;
        });
      }
    }
    // the live broker is unaffected
    assert.deepEqual(Arena.list({ socket }).map((s) => s.name), ['never-made']);
  } finally {
    await dead.stop();
    await broker.stop();
  }
});

test('type tags and open flags come from the addon, with the header\'s values', () => {
  const { types } = require('..');
  const native = require('../lib/native');
  const tags = Object.fromEntries([...header.matchAll(/SHARENA_T_([A-Z]+) = (\d+)/g)].map(([, n, v]) => [n, Number(v)]));
  assert.ok(Object.keys(tags).length >= 9, 'the header\'s sharena_type was read');
  assert.deepEqual({ ...types }, tags);
  assert.deepEqual({ ...native.types }, tags);
  const flags = Object.fromEntries([...header.matchAll(/SHARENA_(CREATE|EXCL|READONLY) = 1u << (\d)/g)].map(([, n, s]) => [n, 1 << Number(s)]));
  assert.equal(Object.keys(flags).length, 3, 'the header\'s open flags were read');
  assert.deepEqual({ ...native.openFlags }, flags);
  const nullable = header.match(/SHARENA_FIELD_NULLABLE = 1u << (\d)/);
  assert.ok(nullable, 'the header\'s field flag was read');
  assert.deepEqual({ ...native.fieldFlags }, { NULLABLE: 1 << Number(nullable[1]) });
  assert.ok(Object.isFrozen(types));
});
