'use strict';
// The package as a user gets it: `npm pack` makes a tarball that carries the
// C sources of the library, the broker and the CLI (native/), and no
// binaries. `npm install` of it into an empty project, with no network, a
// minimal PATH and no sharenad anywhere else, compiles the addon, sharenad
// and sharena. There a named arena opens with autostart, the broker that
// started is the package's own, `npx sharena` lists the arena and stops the
// broker, and every part reports one version. Installed with
// --ignore-scripts, the package says exactly what to do.
const test = require('node:test');
const assert = require('node:assert');
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { tmpDir } = require('../test-support/helpers');

const pkgDir = path.join(__dirname, '..');
const rootDir = path.join(pkgDir, '..');

function headerVersion() {
  const h = fs.readFileSync(path.join(rootDir, 'lib', 'include', 'sharena.h'), 'utf8');
  return ['MAJOR', 'MINOR', 'PATCH']
    .map((p) => h.match(new RegExp(`^#define SHARENA_VERSION_${p} (\\d+)$`, 'm'))[1]).join('.');
}

function alive(pid) {
  try {
    const st = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return st.slice(st.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

test('npm pack -> npm install in an empty project -> autostarted broker, npx sharena', { timeout: 600000 }, (t) => {
  const version = headerVersion();
  assert.strictEqual(require('../package.json').version, version, 'package.json and sharena.h');
  const dir = tmpDir('sharena-pack-');
  let brokerPid = null;
  const sock = path.join(dir, 'run', 'broker.sock');
  const cli = path.join(dir, 'proj', 'node_modules', 'sharena', 'build', 'node', 'sharena');
  t.after(() => {
    // a broker left by a failed assertion: stop it (it takes its helper along)
    if (fs.existsSync(sock) && fs.existsSync(cli)) {
      spawnSync(cli, ['--socket', sock, 'broker', 'stop'], { stdio: 'ignore', timeout: 60000 });
    }
    if (brokerPid !== null && alive(brokerPid)) process.kill(brokerPid, 'SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  });
  // A minimal PATH: node, npm and cc from the system, nothing of this tree.
  const PATH = [...new Set([path.dirname(process.execPath), '/usr/bin', '/bin'])].join(':');
  for (const d of PATH.split(':')) {
    assert.ok(!fs.existsSync(path.join(d, 'sharenad')), `a sharenad in ${d}`);
    assert.ok(!fs.existsSync(path.join(d, 'sharena')), `a sharena in ${d}`);
  }
  const home = path.join(dir, 'home');
  fs.mkdirSync(home);
  const baseEnv = {
    PATH, HOME: home, LANG: 'C.UTF-8', npm_config_audit: 'false', npm_config_fund: 'false',
    npm_config_update_notifier: 'false', npm_config_cache: path.join(dir, 'npm-cache'),
  };
  const sh = (cmd, args, cwd, env = {}) =>
    spawnSync(cmd, args, { cwd, encoding: 'utf8', env: { ...baseEnv, ...env }, timeout: 600000 });

  // npm pack (its prepack vendors the C sources); the packing itself runs
  // in this tree with the caller's environment.
  let r = spawnSync('npm', ['pack', '--pack-destination', dir, '--silent'],
    { cwd: pkgDir, encoding: 'utf8', env: { ...process.env, npm_config_update_notifier: 'false' } });
  assert.strictEqual(r.status, 0, r.stderr);
  const tgz = path.join(dir, fs.readdirSync(dir).find((f) => f.endsWith('.tgz')));
  assert.strictEqual(path.basename(tgz), `sharena-${version}.tgz`);
  r = spawnSync('tar', ['-tzf', tgz], { encoding: 'utf8' });
  const files = r.stdout.split('\n');
  for (const f of ['native/lib/include/sharena.h', 'native/lib/src/client.c', 'native/broker/main.c',
    'native/cli/main.c', 'bin/sharena.js', 'bin/sharenad.js', 'scripts/build.js']) {
    assert.ok(files.includes(`package/${f}`), `${f} in the tarball`);
  }
  assert.ok(!files.some((f) => f.startsWith('package/build/') || f.endsWith('.node')),
    'no binaries in the tarball');

  // npm install in an empty project: compiles the three programs.
  const proj = path.join(dir, 'proj');
  fs.mkdirSync(proj);
  fs.writeFileSync(path.join(proj, 'package.json'), '{"name":"proj","version":"1.0.0","private":true}');
  r = sh('npm', ['install', '--offline', tgz], proj);
  assert.strictEqual(r.status, 0, r.stdout + r.stderr);
  const installed = path.join(proj, 'node_modules', 'sharena');
  for (const f of ['sharena.node', 'sharenad', 'sharena']) {
    assert.ok(fs.existsSync(path.join(installed, 'build', 'node', f)), `the install built ${f}`);
  }

  // Versions: the package, the library in the addon, the two commands.
  fs.mkdirSync(path.dirname(sock));
  const userEnv = { SHARENA_SOCKET: sock };
  const npx = (args) => {
    const res = sh('npx', ['--no-install', ...args], proj, userEnv);
    assert.strictEqual(res.status, 0, `npx ${args.join(' ')}: ${res.stdout}${res.stderr}`);
    return res.stdout;
  };
  assert.strictEqual(npx(['sharena', '--version']).trim(), `sharena ${version}`);
  assert.ok(npx(['sharenad', '--version']).startsWith(`sharenad ${version} `));

  // A named arena with autostart (the user's code, in the project).
  const code = `
    const sharena = require('sharena');
    const a = sharena.Arena.open('pkgtest', { create: true });
    a.map('m').set('k', 'v');
    a.close();
    const b = sharena.Arena.open('pkgtest');
    console.log(JSON.stringify(b.map('m').toObject()), sharena.version, require.resolve('sharena'));
    b.close();`;
  r = sh(process.execPath, ['-e', code], proj, userEnv);
  assert.strictEqual(r.status, 0, r.stderr);
  const [value, libVersion, where] = r.stdout.trim().split(' ');
  assert.strictEqual(value, '{"k":"v"}');
  assert.strictEqual(libVersion, version);
  assert.ok(where.startsWith(proj), where);

  // The broker that started is the package's own.
  const status = JSON.parse(npx(['sharena', '--json', 'broker', 'status']));
  brokerPid = status.pid;
  assert.strictEqual(fs.realpathSync(`/proc/${brokerPid}/exe`),
    fs.realpathSync(path.join(installed, 'build', 'node', 'sharenad')));
  // npx sharena lists the arena, then stops the broker.
  const listing = JSON.parse(npx(['sharena', '--json', 'ls']));
  assert.ok(listing.some((a) => a.name === 'pkgtest'), JSON.stringify(listing));
  npx(['sharena', 'broker', 'stop']);
  for (let i = 0; i < 500 && alive(brokerPid); i++) spawnSync('sleep', ['0.01']);
  assert.ok(!alive(brokerPid), 'the broker stopped');
  brokerPid = null;
  assert.ok(!fs.existsSync(sock), 'the socket is gone');

  // Installed without its install script: the addon and the commands say
  // what to do.
  const bare = path.join(dir, 'bare');
  fs.mkdirSync(bare);
  fs.writeFileSync(path.join(bare, 'package.json'), '{"name":"bare","version":"1.0.0","private":true}');
  r = sh('npm', ['install', '--offline', '--ignore-scripts', tgz], bare);
  assert.strictEqual(r.status, 0, r.stdout + r.stderr);
  r = sh(process.execPath, ['-e', "require('sharena')"], bare, { SHARENA_NODE_ADDON: '' });
  assert.notStrictEqual(r.status, 0);
  assert.match(r.stderr, /npm rebuild sharena/);
  r = sh('npx', ['--no-install', 'sharena', '--version'], bare);
  assert.strictEqual(r.status, 1);
  assert.match(r.stderr, /sharena was not built with this package.*npm rebuild sharena/s);
});
