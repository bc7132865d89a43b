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
  assert.match(e.message, /^arena\.watch: use after free.*\(this ref must not be used again\)$/);
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
    [() => dropped.get('k'), 'ESTALE', /use after free.*must not be used again/],
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
