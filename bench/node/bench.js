'use strict';
// sharena's Node API against the seed package, @alshdavid/worker-shared-memory,
// on each operation of the seed's API, in one process and one run.
//
// The registry has only the seed's native platform package
// (@alshdavid/worker-shared-memory_linux-amd64, installed by package.json
// here); its JS layer is a thin class wrapper. So the seed is measured two
// ways:
//   seed           its exported native functions called directly, the
//                  cheapest the seed can possibly be (the ratio that the
//                  ">= 5x the seed" target is judged on);
//   seed-api       the same calls plus what the seed's JS classes do around
//                  them (get/index look the type up with js_typeof and wrap
//                  the id in a ref object), for reference.
// sharena is measured through its public API (require('sharena')), with the
// argument checks and ref wrapping that a user gets, on the in-process
// default arena (the seed is in-process too). When SHARENA_BENCH_NAPI_FLOOR
// names the napi_floor.c addon (run.sh builds it), a no-op N-API call is
// measured as well: the floor under any N-API binding's per-call cost.
//
// lmdb-js (the npm package `lmdb`, installed by package.json here) is a peer
// for the reads, three times: `lmdb` with its cache on (lmdb-js's default
// options otherwise: msgpack values), `lmdb-nocache`, and `lmdb-validated`
// (cache: { validated: true }: a cached value is checked against the
// store's transaction id on every get; the plain cache answers from a JS
// map, checked against nothing another process does), each a store in a
// fresh mktemp directory holding the same values as the sharena objects
// (removed at exit). Its cache keeps object values only (lmdb's
// caching.js: a string or number is read from LMDB on every get), so its
// cached get is the struct rows', whose value is an object. When lmdb
// cannot be loaded its columns are left out ("–"), with the reason on
// stderr and in a JSON line {impl: 'lmdb', skipped: reason}.
//
// Output: JSON lines on stdout, a summary on stderr.
//   node bench.js [--quick] [--only OP[,OP...]] [--redis-server PATH]
//
// --only runs just those operations (their "op" ids), e.g. for perf.

const path = require('node:path');

const quick = process.argv.includes('--quick');
const sharena = require(process.env.SHARENA_NODE ||
  path.join(__dirname, '..', '..', 'node'));
const seed = require('@alshdavid/worker-shared-memory_linux-amd64');

const TARGET_NS = quick ? 15e6 : 60e6; // per timed run
const REPS = quick ? 3 : 5;
const KEYS = 1024;
let sink = 0;

const keys = [];
for (let i = 0; i < KEYS; i++) {
  keys.push(`user:${String((i * 2654435761) % 10000000).padStart(7, '0')}`);
}
const STR_A = 'hello, sharena!!';
const STR_B = 'HELLO, SHARENA??';

// ---------------------------------------------------------------------------
// sharena objects

const { StringRef, NumberRef, BoolRef, MapRef, VectorRef, StructFactory } = sharena;
const s = {
  str: StringRef.from(STR_A),
  num: NumberRef.from(1.5),
  bool: BoolRef.from(true),
  val1: StringRef.from('v1'),
  val2: StringRef.from('v2'),
  map: new MapRef(),
  vec: new VectorRef(),
  pushVec: null,
};
for (const k of keys) s.map.set(k, s.val1);
for (let i = 0; i < KEYS; i++) s.vec.push(s.val1);
const Shape = new StructFactory({ name: 'string', count: 'number' });
s.struct = Shape.new({ name: 'foo', count: 42 });
s.proxy = StructFactory.proxy(s.struct);
s.addNum = NumberRef.from(0);

// ---------------------------------------------------------------------------
// seed objects

const p = {
  str: seed.js_string_new(),
  num: seed.js_number_new(),
  val1: seed.js_string_new(),
  val2: seed.js_string_new(),
  map: seed.js_maps_new(),
  vec: seed.js_vectors_new(),
  pushVec: null,
};
seed.js_string_set(p.str, STR_A);
seed.js_number_set(p.num, 1.5);
seed.js_string_set(p.val1, 'v1');
seed.js_string_set(p.val2, 'v2');
for (const k of keys) seed.js_maps_set(p.map, k, p.val1);
for (let i = 0; i < KEYS; i++) seed.js_vectors_push(p.vec, p.val1);
const seedShape = seed.js_struct_factory_new();
seed.js_struct_factory_define_key(seedShape, 'name', 'string');
seed.js_struct_factory_define_key(seedShape, 'count', 'number');
p.struct = seed.js_struct_factory_instantiate(seedShape);
seed.js_struct_set_key(p.struct, 'name', 'foo');
seed.js_struct_set_key(p.struct, 'count', 42);

// ---------------------------------------------------------------------------
// lmdb-js objects: the same values, in a store with its cache on (l.c) and
// one with it off (l.n); null with the reason in lmdbSkipped when the
// package cannot be loaded or opened.

const l = { c: null, n: null, v: null, dir: null };
let lmdbSkipped = null;
try {
  const { open } = require('lmdb');
  const fs = require('node:fs');
  const os = require('node:os');
  l.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sharena-nodebench-lmdb.'));
  process.on('exit', () => fs.rmSync(l.dir, { recursive: true, force: true }));
  for (const [k, cache] of [['c', true], ['n', false], ['v', { validated: true }]]) {
    const db = open({ path: path.join(l.dir, k), cache });
    db.putSync('str', STR_A);
    db.putSync('num', 1.5);
    db.putSync('bool', true);
    db.putSync('struct', { name: 'foo', count: 42 });
    for (const key of keys) db.putSync(key, 'v1');
    for (let i = 0; i < KEYS; i++) db.putSync(i, 'v1');
    l[k] = db;
  }
} catch (e) {
  lmdbSkipped = `lmdb-js not loaded: ${e.message.split('\n')[0]}`;
  l.c = l.n = l.v = null;
}
// Both lmdb columns of a row from one body `fn(db, n)`.
function lmdbImpls(fn) {
  if (lmdbSkipped) return {};
  return {
    lmdb(n) { fn(l.c, n); },
    'lmdb-nocache'(n) { fn(l.n, n); },
    'lmdb-validated'(n) { fn(l.v, n); },
  };
}

// What the seed's JS classes do with an id coming back from get/index.
class SeedRef { constructor(id) { this.id = id; } }
function seedWrap(id) {
  const t = seed.js_typeof(id);
  return t === 'string' || t === 'number' || t === 'vector'
    ? new SeedRef(id) : undefined;
}
function seedStructValue(id) {
  const t = seed.js_typeof(id);
  return t === 'string' ? seed.js_string_get(id) : seed.js_number_get(id);
}

// ---------------------------------------------------------------------------
// The operations: [op, group, { sharena, seed, 'seed-api' }, reset]

const ops = [
  ['string_get', 'StringRef.obtainValue', {
    sharena(n) { let a = 0; for (let i = 0; i < n; i++) a += s.str.obtainValue().length; sink += a; },
    seed(n) { let a = 0; for (let i = 0; i < n; i++) a += seed.js_string_get(p.str).length; sink += a; },
    ...lmdbImpls((db, n) => { let a = 0; for (let i = 0; i < n; i++) a += db.get('str').length; sink += a; }),
  }],
  ['string_set', 'StringRef.setValue', {
    sharena(n) { for (let i = 0; i < n; i++) s.str.setValue(i & 1 ? STR_B : STR_A); },
    seed(n) { for (let i = 0; i < n; i++) seed.js_string_set(p.str, i & 1 ? STR_B : STR_A); },
  }],
  ['number_get', 'NumberRef.obtainValue', {
    sharena(n) { let a = 0; for (let i = 0; i < n; i++) a += s.num.obtainValue(); sink += a; },
    seed(n) { let a = 0; for (let i = 0; i < n; i++) a += seed.js_number_get(p.num); sink += a; },
    ...lmdbImpls((db, n) => { let a = 0; for (let i = 0; i < n; i++) a += db.get('num'); sink += a; }),
  }],
  ['number_set', 'NumberRef.setValue', {
    sharena(n) { for (let i = 0; i < n; i++) s.num.setValue(i); },
    seed(n) { for (let i = 0; i < n; i++) seed.js_number_set(p.num, i); },
  }],
  ['number_add', 'NumberRef.add', {
    sharena(n) { let a = 0; for (let i = 0; i < n; i++) a += s.addNum.add(1); sink += a; },
    // the seed has no add: a get and a set, its cheapest equivalent
    seed(n) { for (let i = 0; i < n; i++) seed.js_number_set(p.num, seed.js_number_get(p.num) + 1); },
  }],
  ['bool_get', 'BoolRef.obtainValue', {
    sharena(n) { let a = 0; for (let i = 0; i < n; i++) a += s.bool.obtainValue() ? 1 : 0; sink += a; },
    // (the seed has no booleans)
    ...lmdbImpls((db, n) => { let a = 0; for (let i = 0; i < n; i++) a += db.get('bool') ? 1 : 0; sink += a; }),
  }],
  ['map_get', 'MapRef.get (1k keys)', {
    sharena(n) { let a = 0; for (let i = 0; i < n; i++) a += s.map.get(keys[i & (KEYS - 1)]).id; sink += a; },
    seed(n) { let a = 0; for (let i = 0; i < n; i++) a += seed.js_maps_get(p.map, keys[i & (KEYS - 1)]); sink += a; },
    'seed-api'(n) { let a = 0; for (let i = 0; i < n; i++) a += seedWrap(seed.js_maps_get(p.map, keys[i & (KEYS - 1)])).id; sink += a; },
  }],
  ['map_get_value', 'MapRef.get + obtainValue (1k keys)', {
    sharena(n) { let a = 0; for (let i = 0; i < n; i++) a += s.map.get(keys[i & (KEYS - 1)]).obtainValue().length; sink += a; },
    seed(n) { let a = 0; for (let i = 0; i < n; i++) a += seed.js_string_get(seed.js_maps_get(p.map, keys[i & (KEYS - 1)])).length; sink += a; },
    ...lmdbImpls((db, n) => { let a = 0; for (let i = 0; i < n; i++) a += db.get(keys[i & (KEYS - 1)]).length; sink += a; }),
  }],
  ['map_get_value_1', 'MapRef.get + obtainValue (same key)', {
    sharena(n) { let a = 0; const k = keys[7]; for (let i = 0; i < n; i++) a += s.map.get(k).obtainValue().length; sink += a; },
    seed(n) { let a = 0; const k = keys[7]; for (let i = 0; i < n; i++) a += seed.js_string_get(seed.js_maps_get(p.map, k)).length; sink += a; },
    ...lmdbImpls((db, n) => { let a = 0; const k = keys[7]; for (let i = 0; i < n; i++) a += db.get(k).length; sink += a; }),
  }],
  ['map_set', 'MapRef.set (1k keys)', {
    sharena(n) { for (let i = 0; i < n; i++) s.map.set(keys[i & (KEYS - 1)], i & 1 ? s.val2 : s.val1); },
    seed(n) { for (let i = 0; i < n; i++) seed.js_maps_set(p.map, keys[i & (KEYS - 1)], i & 1 ? p.val2 : p.val1); },
  }],
  ['vector_push', 'VectorRef.push', {
    sharena(n) { const v = s.pushVec; for (let i = 0; i < n; i++) v.push(s.val1); },
    seed(n) { const v = p.pushVec; for (let i = 0; i < n; i++) seed.js_vectors_push(v, p.val1); },
  }, {
    // a fresh vector per run; the seed's drop deadlocks, so its old vectors
    // are left behind (a few MB)
    sharena() { if (s.pushVec) s.pushVec.drop(); s.pushVec = new VectorRef(); },
    seed() { p.pushVec = seed.js_vectors_new(); },
  }, 1 << 20],
  ['vector_index', 'VectorRef.index', {
    sharena(n) { let a = 0; for (let i = 0; i < n; i++) a += s.vec.index(i & (KEYS - 1)).id; sink += a; },
    seed(n) { let a = 0; for (let i = 0; i < n; i++) a += seed.js_vectors_index(p.vec, i & (KEYS - 1)); sink += a; },
    'seed-api'(n) { let a = 0; for (let i = 0; i < n; i++) a += seedWrap(seed.js_vectors_index(p.vec, i & (KEYS - 1))).id; sink += a; },
  }],
  ['vector_index_value', 'VectorRef.index + obtainValue', {
    sharena(n) { let a = 0; for (let i = 0; i < n; i++) a += s.vec.index(i & (KEYS - 1)).obtainValue().length; sink += a; },
    seed(n) { let a = 0; for (let i = 0; i < n; i++) a += seed.js_string_get(seed.js_vectors_index(p.vec, i & (KEYS - 1))).length; sink += a; },
    ...lmdbImpls((db, n) => { let a = 0; for (let i = 0; i < n; i++) a += db.get(i & (KEYS - 1)).length; sink += a; }),
  }],
  ['struct_get', 'StructRef.getKey (string)', {
    sharena(n) { let a = 0; for (let i = 0; i < n; i++) a += s.struct.getKey('name').length; sink += a; },
    seed(n) { let a = 0; for (let i = 0; i < n; i++) a += seedStructValue(seed.js_struct_get_key(p.struct, 'name')).length; sink += a; },
    ...lmdbImpls((db, n) => { let a = 0; for (let i = 0; i < n; i++) a += db.get('struct').name.length; sink += a; }),
  }],
  ['struct_proxy_get', 'struct proxy field (string)', {
    sharena(n) { let a = 0; const q = s.proxy; for (let i = 0; i < n; i++) a += q.name.length; sink += a; },
    // the seed's proxy makes the same calls as its getKey
    seed(n) { let a = 0; for (let i = 0; i < n; i++) a += seedStructValue(seed.js_struct_get_key(p.struct, 'name')).length; sink += a; },
    ...lmdbImpls((db, n) => { let a = 0; for (let i = 0; i < n; i++) a += db.get('struct').name.length; sink += a; }),
  }],
  ['struct_set', 'StructRef.setKey (number)', {
    sharena(n) { for (let i = 0; i < n; i++) s.struct.setKey('count', i); },
    seed(n) { for (let i = 0; i < n; i++) seed.js_struct_set_key(p.struct, 'count', i); },
  }],
];

// ---------------------------------------------------------------------------
// Timing: calibrate to TARGET_NS per run, REPS runs interleaved across the
// implementations, best and median reported.

// SHARENA_BENCH_CLOCK=cpu times the process's CPU time (user + system,
// all its threads) instead of the wall clock: on a machine loaded with
// other work, time spent descheduled then does not count (compare.js).
const cpuClock = process.env.SHARENA_BENCH_CLOCK === 'cpu';
function runOnce(fn, reset, n) {
  if (reset) reset();
  if (cpuClock) {
    const c0 = process.cpuUsage();
    fn(n);
    const c = process.cpuUsage(c0);
    return (c.user + c.system) * 1000 / n;
  }
  const t0 = process.hrtime.bigint();
  fn(n);
  return Number(process.hrtime.bigint() - t0) / n;
}

// After a warm-up run, grow n until a run takes 1/8 of the target, then size it from one more
// run at the projected length (which also finishes warming the JIT up).
function calibrate(fn, reset, maxN) {
  const size = (per) => Math.max(1, Math.min(maxN, Math.floor(TARGET_NS / Math.max(per, 0.01))));
  runOnce(fn, reset, Math.min(maxN, 1 << 16)); // (so V8 optimises it first)
  let n = 256;
  for (;;) {
    const per = runOnce(fn, reset, n);
    if (per * n >= TARGET_NS / 8 || n >= maxN) {
      const m = size(per);
      return m > n ? size(runOnce(fn, reset, m)) : m;
    }
    n *= 4;
  }
}

// The N-API floor: a no-op native call of the same shape as
// NumberRef.obtainValue's (built by run.sh from napi_floor.c).
if (process.env.SHARENA_BENCH_NAPI_FLOOR) {
  const floor = require(process.env.SHARENA_BENCH_NAPI_FLOOR);
  ops.push(['napi_floor', 'N-API no-op call (2 numbers in, a double out)', {
    'napi-noop'(n) { let a = 0; for (let i = 0; i < n; i++) a += floor.noop(0, 5); sink += a; },
  }]);
}

const oi = process.argv.indexOf('--only');
if (oi > 0) {
  const only = new Set((process.argv[oi + 1] || '').split(','));
  for (let i = ops.length - 1; i >= 0; i--) if (!only.has(ops[i][0])) ops.splice(i, 1);
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

process.stderr.write(`Node benchmark (${quick ? 'quick' : 'full'}), node ${process.version}\n`);
if (lmdbSkipped) {
  process.stderr.write(`  (lmdb columns left out: ${lmdbSkipped})\n`);
  process.stdout.write(JSON.stringify({ bench: 'node', op: 'lmdb', impl: 'lmdb', skipped: lmdbSkipped }) + '\n');
}
for (const [op, group, impls, resets = {}, maxN = 2 ** 31] of ops) {
  const names = Object.keys(impls);
  const iters = {};
  for (const name of names) iters[name] = calibrate(impls[name], resets[name], maxN);
  const runs = Object.fromEntries(names.map((nm) => [nm, []]));
  for (let r = 0; r < REPS; r++) {
    for (const name of names) runs[name].push(runOnce(impls[name], resets[name], iters[name]));
  }
  const best = {};
  for (const name of names) {
    best[name] = Math.min(...runs[name]);
    process.stdout.write(JSON.stringify({
      bench: 'node', op, group, impl: name,
      ns_per_op: +best[name].toFixed(3),
      median_ns: +median(runs[name]).toFixed(3),
      iters: iters[name], runs: REPS,
    }) + '\n');
  }
  if (best.sharena === undefined || best.seed === undefined) {
    for (const name of names) process.stderr.write(`  ${group.padEnd(28)} ${name} ${best[name].toFixed(1)} ns\n`);
    continue;
  }
  let line = `  ${group.padEnd(28)} sharena ${best.sharena.toFixed(1).padStart(8)} ns   seed ${best.seed.toFixed(1).padStart(8)} ns   x${(best.seed / best.sharena).toFixed(2)}`;
  if (best['seed-api'] !== undefined) line += `   (seed-api ${best['seed-api'].toFixed(1)} ns)`;
  if (best.lmdb !== undefined) {
    line += `   (lmdb ${best.lmdb.toFixed(1)} / no cache ${best['lmdb-nocache'].toFixed(1)} / validated ${best['lmdb-validated'].toFixed(1)} ns)`;
  }
  process.stderr.write(line + '\n');
}

// ---------------------------------------------------------------------------
// Redis over a Unix socket (DESIGN: map reads >= 50x Redis), when
// --redis-server PATH is given: a private redis-server in a mktemp
// directory, node-redis (installed by package.json here), one awaited GET
// at a time, the way a program that needs the value would do it.

async function redisBench(server) {
  const fs = require('node:fs');
  const os = require('node:os');
  const { spawn } = require('node:child_process');
  const { createClient } = require('redis');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sharena-nodebench.'));
  const sock = path.join(dir, 'redis.sock');
  const proc = spawn(server, ['--port', '0', '--unixsocket', sock, '--unixsocketperm', '700',
    '--save', '', '--appendonly', 'no', '--dir', dir, '--daemonize', 'no',
    '--loglevel', 'warning'], { stdio: 'ignore' });
  let client;
  try {
    for (let i = 0; i < 1000 && !fs.existsSync(sock); i++) {
      if (proc.exitCode !== null) throw new Error(`redis-server exited (${proc.exitCode})`);
      await new Promise((r) => setTimeout(r, 10));
    }
    client = createClient({ socket: { path: sock } });
    await client.connect();
    for (let i = 0; i < KEYS; i++) await client.set(keys[i], String(i));
    const body = async (n) => {
      let a = 0;
      for (let i = 0; i < n; i++) a += (await client.get(keys[i & (KEYS - 1)])).length;
      sink += a;
    };
    const once = async (n) => {
      const t0 = process.hrtime.bigint();
      await body(n);
      return Number(process.hrtime.bigint() - t0) / n;
    };
    let n = 64;
    let per;
    for (;;) {
      per = await once(n);
      if (per * n >= TARGET_NS / 8) break;
      n *= 4;
    }
    n = Math.max(16, Math.floor(TARGET_NS / per));
    const runs = [];
    for (let r = 0; r < 3; r++) runs.push(await once(n));
    const best = Math.min(...runs);
    process.stdout.write(JSON.stringify({
      bench: 'node', op: 'map_get', group: 'MapRef.get (1k keys)', impl: 'redis',
      ns_per_op: +best.toFixed(3), median_ns: +median(runs).toFixed(3), iters: n, runs: 3,
    }) + '\n');
    process.stderr.write(`  ${'Redis GET (unix socket)'.padEnd(28)} ${best.toFixed(0)} ns\n`);
  } finally {
    if (client) await client.quit().catch(() => {});
    proc.kill('SIGTERM');
    await new Promise((r) => (proc.exitCode !== null ? r() : proc.once('exit', r)));
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const ri = process.argv.indexOf('--redis-server');
if (ri > 0 && process.argv[ri + 1]) {
  redisBench(process.argv[ri + 1]).catch((e) => {
    process.stderr.write(`node bench: Redis: ${e.message}\n`);
    process.exitCode = 1;
  });
}
if (sink === 0.5) process.stderr.write('');
