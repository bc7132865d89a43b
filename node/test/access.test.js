'use strict';
// What an arena's mapping really is and why: arena.readonly reports the mode
// that was granted (not the option asked for), arena.fd hands the memfd to a
// child process, and permission errors say which cause applies (mode bits of
// another user's arena, a read-only grant, a read-only fd, an explicit
// { readonly: true }). The other-uid cases run a child as `nobody` and need
// root; they are skipped otherwise. That child loads a copy of the package
// from a temporary directory (it may not reach the checkout).
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn, spawnSync } = require('node:child_process');
const { Arena, defaultArena, NumberRef } = require('..');
const { startBroker, assertCode } = require('../test-support/helpers');

const pkg = JSON.stringify(path.join(__dirname, '..'));
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

function erofs(re) {
  return (e) => {
    assert.equal(e.code, 'EROFS', e.message);
    assert.match(e.message, re);
    return true;
  };
}

test('arena.fd: a child process maps it with Arena.fromFd (passed via stdio)', () => {
  const fd = defaultArena.fd;
  assert.ok(Number.isInteger(fd) && fd >= 0);
  assert.equal(defaultArena.fd, fd, 'the same descriptor every time');
  assert.ok(fs.fstatSync(fd).size >= defaultArena.info().capacity);
  const m = defaultArena.map('fd-test');
  m.set('from-parent', 'hello child');
  const child = `
    const { Arena } = require(${pkg});
    const a = Arena.fromFd(3);
    const m = a.map('fd-test');
    m.set('from-child', m.get('from-parent').obtainValue() + ', hello parent');
    console.log(a.readonly, a.fd !== 3);
    a.close();`;
  const r = spawnSync(process.execPath, ['-e', child], {
    stdio: ['ignore', 'pipe', 'pipe', fd], encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'false true', 'read-write; fromFd keeps a dup of its own');
  assert.equal(m.get('from-child').obtainValue(), 'hello child, hello parent');
  defaultArena.removeRoot('fd-test');
});

test('arena.fd is owned by the arena: ECLOSED after close(), the dup stays usable', () => {
  const a = Arena.fromFd(defaultArena.fd);
  const fd = a.fd;
  assert.notEqual(fd, defaultArena.fd);
  a.close();
  assert.throws(() => a.fd, assertCode('ECLOSED'));
  assert.ok(fs.fstatSync(defaultArena.fd).isFile());
});

test('fromFd: readonly reflects the fd (O_RDONLY) and the option; EROFS says which', () => {
  defaultArena.number('ro-test').setValue(1);
  const rw = Arena.fromFd(defaultArena.fd);
  assert.equal(rw.readonly, false);
  assert.equal(defaultArena.readonly, false);
  rw.close();

  const roFd = fs.openSync(`/proc/self/fd/${defaultArena.fd}`, 'r');
  try {
    const granted = Arena.fromFd(roFd); // readonly not asked for
    assert.equal(granted.readonly, true, 'an O_RDONLY fd can only be mapped read-only');
    assert.equal(granted.root('ro-test').obtainValue(), 1);
    assert.throws(() => granted.root('ro-test').setValue(2), erofs(/read-only file descriptor/));
    assert.throws(() => granted.map('new-root'), erofs(/read-only file descriptor/));
    granted.close();
  } finally {
    fs.closeSync(roFd);
  }

  const asked = Arena.fromFd(defaultArena.fd, { readonly: true });
  assert.equal(asked.readonly, true);
  assert.throws(() => asked.root('ro-test').setValue(2), erofs(/\{ readonly: true \}/));
  asked.close();
  assert.equal(defaultArena.root('ro-test').obtainValue(), 1);
  defaultArena.removeRoot('ro-test');
});

test('Arena.open({ readonly: true }) by the owner: readonly, EROFS names the option', async (t) => {
  const broker = await startBroker();
  t.after(() => broker.stop());
  const w = Arena.open('mine', { socket: broker.socket });
  assert.equal(w.readonly, false);
  w.number('n').setValue(3);
  const r = Arena.open('mine', { socket: broker.socket, readonly: true });
  assert.equal(r.readonly, true);
  assert.equal(r.number('n').obtainValue(), 3);
  assert.throws(() => r.number('n').setValue(4), erofs(/opened with \{ readonly: true \}/));
  r.close();
  w.close();
});

function runAs(uid, code, env = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', code], {
      uid, gid: uid, cwd: '/', env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    child.on('error', reject);
    child.on('exit', (c) => resolve({ code: c, out, err }));
  });
}

// A copy of the package (its JavaScript and the addon it loaded) in a fresh
// directory that any uid can read: nobody may not reach this checkout (a
// clone under a mode-0700 home directory, as root's usually is). Returns
// the directory, or null and why nobody cannot load even the copy.
async function packageForNobody(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sharena-nobody-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const pkgDir = path.join(__dirname, '..');
  fs.cpSync(path.join(pkgDir, 'lib'), path.join(dir, 'lib'), { recursive: true });
  fs.copyFileSync(path.join(pkgDir, 'package.json'), path.join(dir, 'package.json'));
  const addon = Object.keys(require.cache).find((f) => f.endsWith('.node'));
  fs.mkdirSync(path.join(dir, 'build', 'node'), { recursive: true });
  fs.copyFileSync(addon, path.join(dir, 'build', 'node', 'sharena.node'));
  const open = (p) => {
    fs.chmodSync(p, fs.statSync(p).isDirectory() ? 0o755 : 0o644);
    if (fs.statSync(p).isDirectory()) for (const e of fs.readdirSync(p)) open(path.join(p, e));
  };
  open(dir);
  const probe = await runAs(65534, `require(${JSON.stringify(dir)})`, { SHARENA_NODE_ADDON: '' });
  if (probe.code !== 0) {
    return { dir: null, why: `uid 65534 cannot run ${process.execPath} on a copy of the package in ${dir}: ${probe.err.trim().split('\n')[0]}` };
  }
  return { dir };
}

test('another uid: the broker grants by mode; readonly and the errors follow', { skip: !isRoot && 'needs root (runs a child as nobody)' }, async (t) => {
  const copy = await packageForNobody(t);
  if (!copy.dir) {
    t.skip(copy.why);
    return;
  }
  const broker = await startBroker();
  t.after(() => broker.stop());
  fs.chmodSync(broker.dir, 0o755); // let nobody reach the socket
  for (const [name, mode] of [['secret', 0o600], ['shared', 0o644], ['open', 0o666]]) {
    const a = Arena.open(name, { socket: broker.socket, mode });
    a.number('n').setValue(1);
    a.close();
  }
  const child = `
    const { Arena } = require(${JSON.stringify(copy.dir)});
    const socket = ${JSON.stringify(broker.socket)};
    const out = {};
    const err = (e) => ({ code: e.code, message: e.message });
    // root's arenas, by their qualified names (a plain name is nobody's own)
    try { Arena.open('0:secret', { socket }); } catch (e) { out.secret = err(e); }
    const shared = Arena.open('root:shared', { socket, create: false }); // readonly not asked for
    out.sharedReadonly = shared.readonly;
    out.sharedValue = shared.number('n').obtainValue();
    try { shared.number('n').setValue(2); } catch (e) { out.sharedWrite = err(e); }
    const open = Arena.open('0:open', { socket, create: false });
    out.openReadonly = open.readonly;
    open.number('n').setValue(5);
    try { Arena.delete('0:open', { socket }); } catch (e) { out.del = err(e); }
    console.log(JSON.stringify(out));`;
  const r = await runAs(65534, child, { SHARENA_NODE_ADDON: '' });
  assert.equal(r.code, 0, r.err);
  const out = JSON.parse(r.out);
  assert.equal(out.secret.code, 'EACCES');
  assert.match(out.secret.message, /belongs to another user/);
  assert.match(out.secret.message, /uid 65534/);
  assert.match(out.secret.message, /mode/);
  assert.equal(out.sharedReadonly, true, 'mode 0644 grants another uid read only');
  assert.equal(out.sharedValue, 1);
  assert.equal(out.sharedWrite.code, 'EROFS');
  assert.match(out.sharedWrite.message, /broker granted only read access/);
  assert.equal(out.openReadonly, false, 'mode 0666 grants write');
  assert.equal(out.del.code, 'EACCES');
  assert.match(out.del.message, /only the arena's owner/);
  const check = Arena.open('open', { socket: broker.socket });
  assert.equal(check.number('n').obtainValue(), 5);
  check.close();
});

test('NumberRef in a closed arena: ECLOSED says to open it again', () => {
  const a = Arena.fromFd(defaultArena.fd);
  const n = NumberRef.from(1, { arena: a });
  a.close();
  assert.throws(() => n.obtainValue(), (e) => e.code === 'ECLOSED' && /open it again/.test(e.message));
  new NumberRef(n.id).drop();
});
