'use strict';
// Names on a shared broker (docs/security.md, "Names on a shared broker"):
// arena.created / ownerUid / mode / qualifiedName say what an open found,
// a plain name is the caller's own, 'user:name' reaches another user's, a
// create-or-open never hands over an arena that is not what was asked, and
// the broker's policy file can share a plain name. The other-uid cases run
// a child as `nobody` and need root (and a checkout nobody can read); they
// are skipped otherwise.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { spawn, spawnSync } = require('node:child_process');
const { Arena, defaultArena } = require('..');
const { startBroker, assertCode } = require('../test-support/helpers');

const pkg = JSON.stringify(path.join(__dirname, '..'));
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const uid = process.getuid();

function nobodyCanLoad() {
  if (!isRoot) return false;
  const r = spawnSync(process.execPath, ['-e', `require(${pkg})`], { uid: 65534, gid: 65534, cwd: '/' });
  return r.status === 0;
}
const skipOther = !isRoot ? 'needs root (runs a child as nobody)'
  : !nobodyCanLoad() ? 'nobody cannot read this checkout' : false;

function runAsNobody(code) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', code], {
      uid: 65534, gid: 65534, cwd: '/', stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    child.on('error', reject);
    child.on('exit', (c) => {
      assert.equal(c, 0, err);
      resolve(JSON.parse(out));
    });
  });
}

test('own name: created on the first open only; owner, mode and qualified name', async (t) => {
  const broker = await startBroker();
  t.after(() => broker.stop());
  const { socket } = broker;
  const a = Arena.open('cfg', { socket, mode: 0o640 });
  assert.equal(a.created, true);
  assert.equal(a.ownerUid, uid);
  assert.equal(a.mode, 0o640);
  assert.equal(a.qualifiedName, `${uid}:cfg`);
  const b = Arena.open('cfg', { socket, mode: 0o640 });
  assert.equal(b.created, false);
  const c = Arena.open(`${uid}:cfg`, { socket, create: false });
  assert.equal(c.created, false);
  assert.equal(c.mode, 0o640);
  for (const x of [a, b, c]) x.close();
  const local = Arena.fromFd(defaultArena.fd); // not through a broker
  assert.equal(local.created, false);
  assert.equal(local.ownerUid, uid, "the memfd's owner");
  assert.equal(local.qualifiedName, null);
  local.close();
});

test('create-or-open asking another mode: EEXIST naming the mode; nothing changes', async (t) => {
  const broker = await startBroker();
  t.after(() => broker.stop());
  const { socket } = broker;
  const a = Arena.open('m', { socket, mode: 0o640 });
  assert.throws(() => Arena.open('m', { socket, mode: 0o600 }),
    (e) => e.code === 'EEXIST' && /mode 0640/.test(e.message) && /\{ create: false \}/.test(e.message));
  const b = Arena.open('m', { socket }); // no mode asked: opens
  assert.equal(b.created, false);
  const c = Arena.open('m', { socket, create: false, mode: 0o600 });
  assert.equal(c.mode, 0o640);
  assert.throws(() => Arena.open('m', { socket, exclusive: true }),
    (e) => e.code === 'EEXIST' && /without \{ exclusive: true \}/.test(e.message));
  assert.throws(() => Arena.open('no_such_user_zz:m', { socket }), assertCode('ENOENT'));
  assert.throws(() => Arena.open('a:b:c', { socket }), assertCode('EINVAL'));
  for (const x of [a, b, c]) x.close();
});

test('another uid: plain names are per user, user:name reaches the owner', { skip: skipOther }, async (t) => {
  const broker = await startBroker();
  t.after(() => broker.stop());
  fs.chmodSync(broker.dir, 0o755); // let nobody reach the socket
  const socket = JSON.stringify(broker.socket);
  // nobody creates app-cfg (0600) and stores a value
  let out = await runAsNobody(`
    const { Arena } = require(${pkg});
    const a = Arena.open('app-cfg', { socket: ${socket}, mode: 0o600 });
    a.number('mine').setValue(7);
    console.log(JSON.stringify({ created: a.created, uid: a.ownerUid, mode: a.mode }));`);
  assert.deepEqual(out, { created: true, uid: 65534, mode: 0o600 });
  // root's create-or-open of app-cfg: a new arena of its own, said so
  assert.throws(() => Arena.open('app-cfg', { socket: broker.socket, create: false }),
    (e) => e.code === 'ENOENT' && /65534:app-cfg/.test(e.message));
  const mine = Arena.open('app-cfg', { socket: broker.socket, mode: 0o600 });
  assert.equal(mine.created, true);
  assert.equal(mine.ownerUid, 0);
  mine.number('secret').setValue(42);
  // nobody's arena has no secret
  out = await runAsNobody(`
    const { Arena } = require(${pkg});
    const a = Arena.open('app-cfg', { socket: ${socket}, mode: 0o600 });
    const r = a.root('secret'); // root's secret must not be here
    const secret = r == null ? 'none' : r.obtainValue();
    console.log(JSON.stringify({ created: a.created, uid: a.ownerUid, secret, mine: a.number('mine').obtainValue() }));`);
  assert.deepEqual(out, { created: false, uid: 65534, secret: 'none', mine: 7 });
  // qualified: root reaches nobody's, told whose it is
  const theirs = Arena.open('nobody:app-cfg', { socket: broker.socket, create: false });
  assert.equal(theirs.created, false);
  assert.equal(theirs.ownerUid, 65534);
  assert.equal(theirs.mode, 0o600);
  assert.equal(theirs.qualifiedName, '65534:app-cfg');
  assert.equal(theirs.number('mine').obtainValue(), 7);
  // create-or-open of it (the default): refused, naming the owner
  assert.throws(() => Arena.open('nobody:app-cfg', { socket: broker.socket }),
    (e) => e.code === 'EEXIST' && /uid 65534/.test(e.message));
  assert.throws(() => Arena.open('65534:fresh', { socket: broker.socket }),
    (e) => e.code === 'EACCES' && /only uid 65534 may create it/.test(e.message));
  // nobody cannot read root's 0600 app-cfg, nor create in root's namespace
  out = await runAsNobody(`
    const { Arena } = require(${pkg});
    const r = {};
    try { Arena.open('root:app-cfg', { socket: ${socket}, create: false }); } catch (e) { r.read = e.code; }
    try { Arena.open('0:fresh', { socket: ${socket} }); } catch (e) { r.create = e.code; }
    console.log(JSON.stringify(r));`);
  assert.deepEqual(out, { read: 'EACCES', create: 'EACCES' });
  theirs.close();
  mine.close();
});

test('granted by the policy file: a plain name shared by its owner', { skip: skipOther }, async (t) => {
  const dir = fs.mkdtempSync('/tmp/sharena-node-policy-');
  const policy = path.join(dir, 'policy');
  fs.writeFileSync(policy, 'root:pub.* nobody ro\n');
  const broker = await startBroker(['--policy', policy]);
  t.after(async () => { await broker.stop(); fs.rmSync(dir, { recursive: true, force: true }); });
  fs.chmodSync(broker.dir, 0o755);
  const a = Arena.open('pub.cfg', { socket: broker.socket, mode: 0o600 });
  a.number('x').setValue(5);
  const out = await runAsNobody(`
    const { Arena } = require(${pkg});
    const socket = ${JSON.stringify(broker.socket)};
    const a = Arena.open('pub.cfg', { socket, create: false });
    const r = { created: a.created, uid: a.ownerUid, readonly: a.readonly, x: a.number('x').obtainValue() };
    try { Arena.open('pub.cfg', { socket }); } catch (e) { r.create = e.code; }
    const own = Arena.open('nobody:pub.cfg', { socket });
    r.own = [own.created, own.ownerUid];
    console.log(JSON.stringify(r));`);
  assert.deepEqual(out, { created: false, uid: 0, readonly: true, x: 5, create: 'EEXIST', own: [true, 65534] });
  a.close();
});
