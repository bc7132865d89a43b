'use strict';
// Map values stored in the map's entry (format 4): a number, boolean, null
// or string of up to 16 bytes has no object and no id until a ref to it is
// asked for. getValue(), toObject(), has() and keys() read without writing;
// get() and entries() give such a value an id (promotion: under the map's
// lock it becomes an object the map owns), which is a write: EROFS on a
// read-only arena. Objects are counted with arena.info().objects, writes
// with arena.info().changes.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { Arena, MapRef, NumberRef, StringRef, BoolRef, defaultArena } = require('..');
const { startBroker, rootDir, assertCode } = require('../test-support/helpers');

const SHORT = 'sixteen-bytes-ok'; // 16 bytes: the longest stored in an entry
const LONG = 'seventeen-bytes-x'; // 17 bytes: an object of its own
const VALUES = {
  num: 1.5,
  neg0: -0,
  big: Number.MAX_VALUE,
  nan: NaN,
  yes: true,
  no: false,
  nil: null,
  empty: '',
  short: SHORT,
  long: LONG,
  uni: 'é✓🎉', // 9 bytes of UTF-8
  uni16: 'ééééééé✓', // 14 + 3 = 17 bytes: an object
};

const objects = (arena) => arena.info().objects;
const changes = (arena) => arena.info().changes;

function sameValue(got, want, what) {
  assert.ok(Object.is(got, want) || (Number.isNaN(want) && Number.isNaN(got)),
    `${what}: got ${String(got)}, want ${String(want)}`);
}

test('values stored in entries: set, getValue, toObject, has, keys round-trip; set makes no object', () => {
  assert.equal(Buffer.byteLength(SHORT), 16);
  assert.equal(Buffer.byteLength(LONG), 17);
  assert.equal(Buffer.byteLength(VALUES.uni16), 17);
  const m = new MapRef();
  const o0 = objects(defaultArena);
  for (const [k, v] of Object.entries(VALUES)) m.set(k, v);
  // only the two strings longer than 16 bytes became objects
  assert.equal(objects(defaultArena) - o0, 2);
  for (const [k, v] of Object.entries(VALUES)) sameValue(m.getValue(k), v, `getValue(${k})`);
  assert.equal(m.getValue('missing'), undefined);
  const c0 = changes(defaultArena);
  const snap = m.toObject();
  assert.deepEqual(Object.keys(snap), Object.keys(VALUES));
  for (const [k, v] of Object.entries(VALUES)) sameValue(snap[k], v, `toObject().${k}`);
  assert.deepEqual(JSON.parse(JSON.stringify(m)), JSON.parse(JSON.stringify(VALUES)));
  for (const k of Object.keys(VALUES)) assert.equal(m.has(k), true, k);
  assert.equal(m.has('missing'), false);
  assert.deepEqual([...m.keys()], Object.keys(VALUES));
  // none of these reads wrote anything
  assert.equal(changes(defaultArena), c0, 'toObject/has/keys wrote');
  assert.equal(objects(defaultArena) - o0, 2);
  // replacing an in-entry value by another kind and back
  m.set('num', 'now a string');
  assert.equal(m.getValue('num'), 'now a string');
  m.set('num', 7);
  assert.equal(m.getValue('num'), 7);
  m.drop();
  assert.equal(objects(defaultArena), o0 - 1, 'the map and its long strings went');
});

test('toObject: long keys and strings (the native read grows its buffers), a dangling ref left out', () => {
  const m = new MapRef();
  const longKey = 'k'.repeat(300);
  const text = 'ü'.repeat(600); // 1200 bytes
  const big = 'b'.repeat(100000);
  m.set(longKey, 1);
  m.set('text', text);
  m.set('big', big);
  m.set(`${longKey}2`, big);
  const gone = StringRef.from('not owned');
  m.set('gone', gone);
  m.set('after', true);
  gone.drop();
  assert.deepEqual(m.toObject(), { [longKey]: 1, text, big, [`${longKey}2`]: big, after: true });
  assert.equal(m.getValue('big'), big);
  assert.deepEqual([...m.keys()], [longKey, 'text', 'big', `${longKey}2`, 'gone', 'after']);
  // entries() leaves the dangling one out too
  assert.deepEqual([...m.entries()].map(([k]) => k), [longKey, 'text', 'big', `${longKey}2`, 'after']);
  m.drop();
});

test('MapRef.from and nested plain objects store scalars in entries', () => {
  const o0 = objects(defaultArena);
  const plain = {};
  for (let i = 0; i < 1000; i++) plain[`k${i}`] = i % 3 === 0 ? i : i % 3 === 1 ? `s${i}` : i % 2 === 0;
  plain.inner = { a: 1, b: null, c: 'x' };
  const m = MapRef.from(plain);
  // the outer map and the inner one: no object per value
  assert.equal(objects(defaultArena) - o0, 2);
  assert.deepEqual(m.toObject(), plain);
  // a plain object set at a key: its scalars stored in its entries too
  m.set('inner2', { x: 2, y: 'why' });
  assert.equal(objects(defaultArena) - o0, 3);
  assert.deepEqual(m.getValue('inner2'), { x: 2, y: 'why' });
  m.set('nil', null);
  assert.equal(objects(defaultArena) - o0, 3, 'set(k, null) stores the null in the entry');
  assert.equal(m.get('nil'), null, 'get of a null is null, with no object made');
  assert.equal(m.get('nil'), null, 'and again (kept with the map\'s state)');
  assert.equal(objects(defaultArena) - o0, 3);
  new MapRef(m.id).set('nil', 5); // another ref: this one's kept null must go
  assert.equal(m.get('nil').obtainValue(), 5);
  new MapRef(m.id).set('nil', null);
  assert.equal(m.get('nil'), null);
  assert.equal(m.get('nil'), null);
  m.drop();
  assert.equal(objects(defaultArena), o0);
});

test('promotion: get() gives an in-entry value an id that stays; set() makes that ref stale', () => {
  const m = new MapRef();
  m.set('n', 42);
  m.set('s', 'short');
  m.set('b', true);
  assert.equal(m.getValue('n'), 42, 'getValue before get');
  const o0 = objects(defaultArena);
  const r = m.get('n');
  assert.ok(r instanceof NumberRef);
  assert.equal(r.obtainValue(), 42);
  assert.equal(objects(defaultArena), o0 + 1, 'get() made the one object');
  // the same ref again (fast reads kept it, with the map's state taken after
  // the promotion), and the same id through a ref without a cache
  assert.ok(m.get('n') === r, 'the kept ref');
  assert.equal(new MapRef(m.id).get('n').id, r.id);
  assert.equal(objects(defaultArena), o0 + 1, 'a second get() makes nothing');
  // the ref is the map's value now: a write through it shows in the map
  r.setValue(43);
  assert.equal(m.getValue('n'), 43);
  assert.equal(m.get('n').obtainValue(), 43);
  assert.equal(m.get('n').id, r.id);
  // the other kinds
  const s = m.get('s');
  assert.ok(s instanceof StringRef);
  assert.equal(s.obtainValue(), 'short');
  const b = m.get('b');
  assert.ok(b instanceof BoolRef);
  assert.equal(b.obtainValue(), true);
  assert.equal(objects(defaultArena), o0 + 3);
  // replacing the value: the promoted object (the map's own) is dropped
  m.set('n', 7);
  assert.throws(() => r.obtainValue(), assertCode('ESTALE'));
  assert.equal(objects(defaultArena), o0 + 2);
  const r2 = m.get('n');
  assert.notEqual(r2.id, r.id);
  assert.equal(r2.obtainValue(), 7);
  // removing it: the same
  assert.equal(m.remove('n'), true);
  assert.throws(() => r2.obtainValue(), assertCode('ESTALE'));
  assert.equal(m.get('n'), undefined);
  // a value changed by another handle while this map's get() is cached
  const w = new MapRef(m.id);
  const s2 = m.get('s'); // (the map changed since s: a new ref, kept now)
  assert.equal(s2.id, s.id);
  assert.ok(m.get('s') === s2, 'the kept ref');
  w.set('s', 'other');
  assert.throws(() => s.obtainValue(), assertCode('ESTALE'));
  assert.equal(m.get('s').obtainValue(), 'other');
  m.drop();
});

test('entries() and values() give ids; toObject() after them reads the same values', () => {
  const m = MapRef.from({ a: 1, b: 'two', c: false, d: null, e: { f: 3 } });
  const o0 = objects(defaultArena);
  const ents = [...m.entries()];
  assert.deepEqual(ents.map(([k]) => k), ['a', 'b', 'c', 'd', 'e']);
  assert.equal(ents[0][1].obtainValue(), 1);
  assert.equal(ents[1][1].obtainValue(), 'two');
  assert.equal(ents[2][1].obtainValue(), false);
  assert.equal(ents[3][1], null);
  assert.deepEqual(ents[4][1].toObject(), { f: 3 });
  // a, b, c promoted; the null is not (no ref to give)
  assert.equal(objects(defaultArena), o0 + 3);
  assert.equal(m.get('a').id, ents[0][1].id);
  assert.deepEqual([...m.values()].map((v) => v && v.id), ents.map(([, v]) => v && v.id));
  assert.deepEqual(m.toObject(), { a: 1, b: 'two', c: false, d: null, e: { f: 3 } });
  m.drop();
  assert.equal(objects(defaultArena), o0 - 2);
});

test('toObject() of a map of 100k numbers makes no object and writes nothing', async (t) => {
  const broker = await startBroker();
  t.after(() => broker.stop());
  const a = Arena.open('dense', { socket: broker.socket, create: true, capacity: 64 << 20 });
  t.after(() => a.close());
  const m = a.map('m');
  const o0 = objects(a);
  const N = 100000;
  for (let i = 0; i < N; i++) m.set(`k${i}`, i + 0.5);
  assert.equal(objects(a), o0, 'set of a number makes no object');
  const c0 = changes(a);
  const snap = m.toObject();
  assert.equal(Object.keys(snap).length, N);
  for (let i = 0; i < N; i += 997) assert.equal(snap[`k${i}`], i + 0.5);
  assert.equal(objects(a), o0, 'toObject made objects');
  assert.equal(changes(a), c0, 'toObject wrote');
  assert.equal(m.getValue(`k${N - 1}`), N - 0.5);
  assert.equal(m.has('k5'), true);
  assert.equal([...m.keys()].length, N);
  assert.equal(objects(a), o0);
  assert.equal(changes(a), c0);
  // and get() is the one read that makes an object
  assert.equal(m.get('k5').obtainValue(), 5.5);
  assert.equal(objects(a), o0 + 1);
});

test('read-only arena: getValue, toObject, has, keys work; get() of an in-entry value throws EROFS and says why', async (t) => {
  const broker = await startBroker();
  t.after(() => broker.stop());
  const w = Arena.open('ro', { socket: broker.socket, create: true });
  t.after(() => w.close());
  const wm = w.map('m');
  for (const [k, v] of Object.entries(VALUES)) wm.set(k, v);
  wm.set('inner', { x: 1 });
  wm.set('given', 5);
  const given = wm.get('given'); // promoted by the writer
  const r = Arena.open('ro', { socket: broker.socket, readonly: true });
  t.after(() => r.close());
  assert.equal(r.readonly, true);
  const m = r.map('m');
  for (const [k, v] of Object.entries(VALUES)) sameValue(m.getValue(k), v, `getValue(${k})`);
  const snap = m.toObject();
  for (const [k, v] of Object.entries(VALUES)) sameValue(snap[k], v, `toObject().${k}`);
  assert.deepEqual(snap.inner, { x: 1 });
  assert.equal(m.has('num'), true);
  assert.equal(m.has('nope'), false);
  assert.deepEqual([...m.keys()], [...Object.keys(VALUES), 'inner', 'given']);
  assert.deepEqual(r.roots(), ['m']);
  // values that have an id already: refs as before
  assert.equal(m.get('given').id, given.id);
  assert.equal(m.get('long').obtainValue(), LONG);
  assert.deepEqual(m.get('inner').toObject(), { x: 1 });
  assert.equal(m.get('nil'), null, 'a null needs no id');
  assert.equal(m.get('nope'), undefined);
  // a value stored in the entry: no id, and giving it one is a write
  const erofs = (e) => {
    assert.equal(e.code, 'EROFS', e.message);
    assert.match(e.message, /stored in the map's entry/);
    assert.match(e.message, /getValue\(\) or toObject\(\)/);
    assert.match(e.message, /\{ readonly: true \}/, 'the cause is named too');
    return true;
  };
  for (let i = 0; i < 3; i++) { // the fast-read paths too: a failure is not kept
    assert.throws(() => m.get('num'), erofs);
    assert.throws(() => m.get('short'), erofs);
  }
  assert.throws(() => [...m.entries()], erofs);
  assert.throws(() => m.forEach(() => {}), erofs);
  assert.throws(() => r.resolve('m/yes'), erofs);
  assert.throws(() => m.get('num'), /key 'num'/);
  // nothing changed, and the writer's handle still reads it stored in place
  assert.equal(w.map('m').getValue('num'), 1.5);
  const o = objects(w);
  assert.equal(wm.get('num').obtainValue(), 1.5);
  assert.equal(objects(w), o + 1, "the writer's get() was the one to promote it");
  assert.equal(m.get('num').obtainValue(), 1.5, 'and the reader now has a ref');
});

// The venv python the other suites use (scripts/test.sh exports it).
function findPython() {
  for (const p of [process.env.SHARENA_PYTHON, path.join(rootDir, 'build', 'venv', 'bin', 'python')]) {
    if (p && fs.existsSync(p)) return p;
  }
  return null;
}
const python = findPython();

const PY = String.raw`
import sys, time, sharena
a = sharena.open(sys.argv[1], socket=sys.argv[2])
m = a.map("m")
m["n"] = 1.5
m["t"] = True
m["z"] = None
m["s"] = "sixteen-bytes-ok"
m["u"] = "é✓"
m["p"] = 42
print("ready", flush=True)
# read "p" (values, never ids) until Node says stop (a hang guard ends it)
reads = bad = 0
deadline = time.monotonic() + 120
while m.get("stop") is None and time.monotonic() < deadline:
    if m["p"] != 42:
        bad += 1
    reads += 1
    if reads == 1000:
        print("reading", flush=True)
print("reads", reads, bad, m.get("stop") is not None, flush=True)
for line in sys.stdin:
    cmd = line.strip()
    if cmd == "read":
        print(repr(m["n"]), repr(m["s"]), flush=True)
    elif cmd == "set":
        m["n"] = 7
        print("set", flush=True)
    elif cmd == "quit":
        break
a.close()
`;

test('another process: Python writes values in entries, Node reads them and promotes one while Python reads', { skip: !python && 'no python with sharena (set SHARENA_PYTHON or run scripts/setup-python.sh build/venv)' }, async (t) => {
  const broker = await startBroker();
  t.after(() => broker.stop());
  const a = Arena.open('xproc', { socket: broker.socket, create: true });
  t.after(() => a.close());
  const child = spawn(python, ['-c', PY, 'xproc', broker.socket], {
    env: { ...process.env, SHARENA_AUTOSTART: '0' }, stdio: ['pipe', 'pipe', 'pipe'],
  });
  t.after(() => { if (child.exitCode === null) child.kill('SIGKILL'); });
  let buf = '';
  let err = '';
  const lines = [];
  const waiters = [];
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      lines.push(buf.slice(0, i));
      buf = buf.slice(i + 1);
    }
    while (waiters.length && lines.length) waiters.shift()(lines.shift());
  });
  child.stderr.on('data', (d) => { err += d; });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  // the next line of Python's output (an exit without one fails)
  const line = () => (lines.length ? Promise.resolve(lines.shift()) : Promise.race([
    new Promise((resolve) => waiters.push(resolve)),
    exited.then((code) => { throw new Error(`python exited (${code}): ${err}`); }),
  ]));
  assert.equal(await line(), 'ready');

  const m = a.map('m');
  assert.equal(m.getValue('n'), 1.5);
  assert.equal(m.getValue('t'), true);
  assert.equal(m.getValue('z'), null);
  assert.equal(m.getValue('s'), 'sixteen-bytes-ok');
  assert.equal(m.getValue('u'), 'é✓');
  assert.deepEqual(m.toObject(), { n: 1.5, t: true, z: null, s: 'sixteen-bytes-ok', u: 'é✓', p: 42 });
  // Python stored them in entries: get() makes one object per value
  assert.equal(await line(), 'reading');
  const o0 = objects(a);
  const p = m.get('p'); // while Python keeps reading "p"
  assert.equal(objects(a), o0 + 1, 'p was stored in its entry and promoted now');
  assert.equal(p.obtainValue(), 42);
  for (let i = 0; i < 1000; i++) assert.equal(m.get('p').id, p.id);
  const n = m.get('n');
  const s = m.get('s');
  assert.equal(objects(a), o0 + 3);
  m.set('stop', true);
  const readLine = await line();
  const [, reads, bad, stopped] = readLine.split(' ');
  assert.equal(bad, '0', 'Python read something else than 42 while p was promoted');
  assert.equal(stopped, 'True', 'Python stopped by its hang guard, not by Node');
  assert.ok(Number(reads) >= 1000, readLine);
  // Python reads the promoted values (through their objects now)
  child.stdin.write('read\n');
  assert.equal(await line(), "1.5 'sixteen-bytes-ok'");
  n.setValue(2.5);
  s.setValue('changed by node');
  child.stdin.write('read\n');
  assert.equal(await line(), "2.5 'changed by node'");
  // Python replaces "n": Node's ref to the old value is stale
  child.stdin.write('set\n');
  assert.equal(await line(), 'set');
  assert.throws(() => n.obtainValue(), assertCode('ESTALE'));
  assert.equal(m.getValue('n'), 7);
  assert.equal(m.get('n').obtainValue(), 7);
  child.stdin.write('quit\n');
  assert.equal(await exited, 0, err);
});
