'use strict';
// `npm pack` makes a tarball that installs and builds on its own (the C
// library's sources travel in native/lib), outside this source tree, with
// no network: a user-style project requires it and uses a map.
const test = require('node:test');
const assert = require('node:assert');
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { tmpDir } = require('../test-support/helpers');

test('npm pack -> npm install of the tarball -> require works', { timeout: 300000 }, (t) => {
  const dir = tmpDir('sharena-pack-');
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const pkgDir = path.join(__dirname, '..');
  const npm = (args, cwd) => spawnSync('npm', args, { cwd, encoding: 'utf8', env: { ...process.env, npm_config_audit: 'false', npm_config_fund: 'false' } });
  let r = npm(['pack', '--pack-destination', dir, '--silent'], pkgDir);
  assert.strictEqual(r.status, 0, r.stderr);
  const tgz = fs.readdirSync(dir).find((f) => f.endsWith('.tgz'));
  assert.ok(tgz, 'a tarball');
  const proj = path.join(dir, 'proj');
  fs.mkdirSync(proj);
  fs.writeFileSync(path.join(proj, 'package.json'), '{"name":"proj","version":"1.0.0","private":true}');
  r = npm(['install', '--offline', path.join(dir, tgz)], proj);
  assert.strictEqual(r.status, 0, r.stdout + r.stderr);
  assert.ok(fs.existsSync(path.join(proj, 'node_modules', 'sharena', 'build', 'node', 'sharena.node')),
    'the install script built the addon inside the installed package');
  const code = `
    const { MapRef, NumberRef } = require('sharena');
    const m = new MapRef();
    m.set('a', { b: [1, 2] });
    const n = NumberRef.from(41); n.add(1);
    console.log(JSON.stringify(m.get('a').toObject()), n.obtainValue(), require.resolve('sharena'));`;
  r = spawnSync(process.execPath, ['-e', code], { cwd: proj, encoding: 'utf8', env: { ...process.env, SHARENA_NODE_ADDON: '' } });
  assert.strictEqual(r.status, 0, r.stderr);
  const [json, num, where] = r.stdout.trim().split(' ');
  assert.strictEqual(json, '{"b":[1,2]}');
  assert.strictEqual(num, '42');
  assert.ok(where.startsWith(proj), where);
});
