'use strict';
// Separate node processes (spawned one after another and side by side, not
// sharing memory by inheritance) meet by name through a private sharenad:
// what one writes, nested values included, the next reads; concurrent
// atomic adds and distinct inserts from two processes lose nothing.
const test = require('node:test');
const assert = require('node:assert');
const { startBroker, runNode, spawnNode } = require('../test-support/helpers');

const prelude = `
const { Arena } = require('sharena');
const arena = Arena.open('procs', { create: true, capacity: 8 << 20, socket: process.env.SOCK });
`;

test('two separately spawned node processes share a named arena through the broker', async () => {
  const broker = await startBroker();
  try {
    const env = { SOCK: broker.socket, SHARENA_AUTOSTART: '0' };
    const w = await runNode(`${prelude}
      const m = arena.map('config');
      m.set('title', 'résumé ✓');
      m.set('nested', { list: [1, 2.5, { deep: 'yes' }], flag: true });
      arena.number('hits').setValue(41);
      console.log('pid', process.pid);
      arena.close();`, { env });
    assert.strictEqual(w.code, 0, w.stderr);
    const writerPid = Number(w.stdout.split(' ')[1]);

    const r = await runNode(`${prelude}
      const m = arena.map('config');
      arena.number('hits').add(1);
      m.set('answered', process.pid);
      console.log(JSON.stringify({ cfg: m.toObject(), hits: arena.number('hits').obtainValue(),
                                   roots: arena.roots().sort() }));
      arena.close();`, { env });
    assert.strictEqual(r.code, 0, r.stderr);
    const got = JSON.parse(r.stdout);
    assert.deepStrictEqual(got.cfg.nested, { list: [1, 2.5, { deep: 'yes' }], flag: true });
    assert.strictEqual(got.cfg.title, 'résumé ✓');
    assert.strictEqual(got.hits, 42);
    assert.deepStrictEqual(got.roots, ['config', 'hits']);
    assert.notStrictEqual(got.cfg.answered, writerPid, 'a different process answered');

    // a third process sees the second one's write
    const t = await runNode(`${prelude}
      console.log(arena.map('config').get('answered').obtainValue());`, { env });
    assert.strictEqual(t.code, 0, t.stderr);
    assert.strictEqual(Number(t.stdout), got.cfg.answered);
  } finally {
    await broker.stop();
  }
});

test('two node processes at once: 2 x 10,000 adds and 2 x 2,000 distinct inserts lose nothing', async () => {
  const broker = await startBroker();
  try {
    const env = { SOCK: broker.socket, SHARENA_AUTOSTART: '0' };
    const worker = (tag) => `${prelude}
      const n = arena.number('count');
      const m = arena.map('keys');
      process.stdout.write('ready\\n');
      process.stdin.once('data', () => {
        for (let i = 0; i < 10000; i++) {
          n.add(1);
          if (i % 5 === 0) m.set('${tag}' + i, i);
        }
        arena.close();
        process.stdout.write('done\\n');
      });`;
    // create the roots first so both workers open the same objects
    const init = await runNode(`${prelude} arena.number('count'); arena.map('keys'); arena.close();`, { env });
    assert.strictEqual(init.code, 0, init.stderr);
    const a = spawnNode(worker('a'), { env });
    const b = spawnNode(worker('b'), { env });
    assert.strictEqual(await a.line(), 'ready', a.stderr());
    assert.strictEqual(await b.line(), 'ready', b.stderr());
    a.send('go');
    b.send('go');
    assert.strictEqual(await a.line(), 'done', a.stderr());
    assert.strictEqual(await b.line(), 'done', b.stderr());
    a.child.stdin.end();
    b.child.stdin.end();
    assert.strictEqual((await a.exited).code, 0, a.stderr());
    assert.strictEqual((await b.exited).code, 0, b.stderr());
    const r = await runNode(`${prelude}
      const m = arena.map('keys');
      console.log(JSON.stringify({ count: arena.number('count').obtainValue(), len: m.len(),
                                   a: m.get('a9995').obtainValue(), b: m.get('b0').obtainValue() }));`, { env });
    assert.strictEqual(r.code, 0, r.stderr);
    assert.deepStrictEqual(JSON.parse(r.stdout), { count: 20000, len: 4000, a: 9995, b: 0 });
  } finally {
    await broker.stop();
  }
});

// Poll the broker until `cond()` holds (a hang guard, not a time limit: the
// broker learns of a dead process from its socket, asynchronously).
async function until(cond, what) {
  for (let i = 0; i < 2000; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.fail(`never happened: ${what}`);
}

test('a child process that exits without close() (or is killed) is released at the broker; this process keeps working', async () => {
  const broker = await startBroker();
  const { Arena } = require('..');
  const socket = broker.socket;
  const clients = () => Arena.list({ socket }).find((a) => a.name === 'procs').clients;
  try {
    const env = { SOCK: broker.socket, SHARENA_AUTOSTART: '0' };
    const arena = Arena.open('procs', { create: true, capacity: 8 << 20, socket });
    const log = arena.vector('log');
    assert.equal(clients(), 1);
    const child = (how) => `${prelude}
      arena.vector('log').push('${how}');
      arena.number('n').add(1);
      console.log(JSON.stringify({ clients: Arena.list({ socket: process.env.SOCK }).find((a) => a.name === 'procs').clients }));
      ${how === 'exit' ? 'process.exit(0);' : ''}
      ${how === 'killed' ? 'setInterval(() => arena.number("n").obtainValue(), 1000);' : ''}`;
    for (const how of ['ends', 'exit']) {
      const r = await runNode(child(how), { env });
      assert.strictEqual(r.code, 0, r.stderr);
      assert.deepStrictEqual(JSON.parse(r.stdout), { clients: 2 }, `${how}: both had it open`);
      await until(() => clients() === 1, `${how}: the child released at the broker`);
    }
    const k = spawnNode(child('killed'), { env });
    assert.deepStrictEqual(JSON.parse(await k.line()), { clients: 2 }, k.stderr());
    k.child.kill('SIGKILL');
    assert.strictEqual((await k.exited).signal, 'SIGKILL');
    await until(() => clients() === 1, 'killed: the child released at the broker');

    // this process keeps working, and what it writes now the next child reads
    assert.deepStrictEqual(log.toArray(), ['ends', 'exit', 'killed']);
    assert.strictEqual(arena.number('n').add(1), 4);
    arena.map('config').set('after', 'children');
    const r = await runNode(`${prelude}
      console.log(JSON.stringify({ after: arena.map('config').get('after').obtainValue(), n: arena.number('n').obtainValue() }));
      arena.close();`, { env });
    assert.strictEqual(r.code, 0, r.stderr);
    assert.deepStrictEqual(JSON.parse(r.stdout), { after: 'children', n: 4 });
    await until(() => clients() === 1, 'the last child released at the broker');
    arena.close();
    assert.strictEqual(clients(), 0);
  } finally {
    await broker.stop();
  }
});
