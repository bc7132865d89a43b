'use strict';
// Test helpers: a private sharenad per test file, child node processes, and
// a scratch directory where a user-style project can `import 'sharena'`.
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const pkgDir = path.join(__dirname, '..');
const rootDir = path.join(pkgDir, '..');

function findSharenad() {
  const list = [
    process.env.SHARENA_SHARENAD,
    path.join(pkgDir, 'build', 'broker', 'sharenad'),
    path.join(rootDir, 'build', 'broker', 'sharenad'),
  ].filter(Boolean);
  for (const p of list) if (fs.existsSync(p)) return p;
  throw new Error(`sharenad not found (looked in ${list.join(', ')}); run npm install or set SHARENA_SHARENAD`);
}

function tmpDir(prefix = 'sharena-node-') {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

function canConnect(sock) {
  // sharenad uses SOCK_SEQPACKET, which net cannot open; the socket file
  // appearing (bound and listening before it is created) is the signal.
  return fs.existsSync(sock);
}

/** Start sharenad on a private socket (extra arguments @p args); returns { socket, dir, pid, exited,
 * stop() } (`exited` settles when sharenad exits). */
async function startBroker(args = []) {
  const dir = tmpDir('sharena-broker-');
  const socket = path.join(dir, 's');
  const child = spawn(findSharenad(), ['--socket', socket, '--foreground', ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  for (let i = 0; i < 1000 && !canConnect(socket); i++) {
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  if (!canConnect(socket)) {
    child.kill('SIGKILL');
    throw new Error(`sharenad did not start: ${stderr}`);
  }
  return {
    socket,
    dir,
    pid: child.pid,
    exited,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Run `node -e code` (CommonJS, `sharena` resolvable); resolves with
 * { code, stdout, stderr }. */
function runNode(code, { env = {}, args = [], input, cwd = pkgDir, timeoutMs = 30000, esm = false } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...(esm ? ['--input-type=module'] : []), '-e', code, ...args], {
      cwd,
      env: { ...process.env, ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`child timed out after ${timeoutMs} ms: ${stdout} ${stderr}`));
    }, timeoutMs);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    if (input !== undefined) child.stdin.end(input);
    else child.stdin.end();
  });
}

/** Spawn a node child and return it with a line reader. */
function spawnNode(code, { env = {}, cwd = pkgDir } = {}) {
  const child = spawn(process.execPath, ['-e', code], {
    cwd,
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let buf = '';
  const lines = [];
  const waiters = [];
  child.stderr.setEncoding('utf8');
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
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
  const exited = new Promise((resolve) => child.on('exit', (c, s) => resolve({ code: c, signal: s })));
  child.on('exit', () => { while (waiters.length) waiters.shift()(null); });
  return {
    child,
    exited,
    stderr: () => stderr,
    /** next stdout line (null at exit), bounded at 20 s as a hang guard */
    line() {
      if (lines.length) return Promise.resolve(lines.shift());
      if (child.exitCode !== null) return Promise.resolve(null);
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no line from child; stderr: ${stderr}`)), 20000);
        waiters.push((l) => { clearTimeout(t); resolve(l); });
      });
    },
    send(s) { child.stdin.write(`${s}\n`); },
  };
}

/** A project directory whose node_modules/sharena links to this package. */
function userProject(files) {
  const dir = tmpDir('sharena-project-');
  fs.mkdirSync(path.join(dir, 'node_modules'));
  fs.symlinkSync(pkgDir, path.join(dir, 'node_modules', 'sharena'), 'dir');
  for (const [name, text] of Object.entries(files)) {
    fs.writeFileSync(path.join(dir, name), text);
  }
  return dir;
}

function assertCode(code) {
  return (e) => {
    if (e.code !== code) throw new Error(`expected code ${code}, got ${e.code}: ${e.message}`);
    return true;
  };
}

module.exports = {
  pkgDir, rootDir, findSharenad, startBroker, runNode, spawnNode, tmpDir,
  userProject, assertCode, spawnSync,
};
