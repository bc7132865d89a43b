#!/usr/bin/env node
'use strict';
// `npm install` / `npm run build`: configure and build the addon with the
// project's CMake (the same build as -DSHARENA_BUILD_NODE=ON at the top
// level), into node/build. Also builds sharenad when its dependencies are
// installed, so the named-arena tests find a broker. No downloads: the Node
// headers come from /usr/include/node (override: SHARENA_NODE_INCLUDE_DIR).
const { spawnSync } = require('node:child_process');
const path = require('node:path');
const fs = require('node:fs');

const pkg = path.join(__dirname, '..');
const root = path.join(pkg, '..');
const build = path.join(pkg, 'build');

if (!fs.existsSync(path.join(root, 'lib', 'include', 'sharena.h'))) {
  // An installed tarball (npm pack): no source tree around us, but the
  // library's sources were vendored into native/lib. Compile them with the
  // addon directly; the broker comes from the system (sharenad).
  buildVendored();
  process.exit(0);
}

function buildVendored() {
  const native = path.join(pkg, 'native', 'lib');
  if (!fs.existsSync(path.join(native, 'include', 'sharena.h'))) {
    console.error('sharena: neither ../lib nor native/lib found: build from the sharena source tree');
    process.exit(1);
  }
  const nodeInc = process.env.SHARENA_NODE_INCLUDE_DIR ||
    [path.join(path.dirname(process.execPath), '..', 'include', 'node'), '/usr/include/node']
      .find((d) => fs.existsSync(path.join(d, 'node_api.h')));
  if (!nodeInc) {
    console.error('sharena: node_api.h not found (set SHARENA_NODE_INCLUDE_DIR)');
    process.exit(1);
  }
  const cc = process.env.CC || 'cc';
  const srcs = [
    ...fs.readdirSync(path.join(native, 'src')).filter((f) => f.endsWith('.c'))
      .map((f) => path.join(native, 'src', f)),
    ...fs.readdirSync(path.join(pkg, 'src')).filter((f) => f.endsWith('.c'))
      .map((f) => path.join(pkg, 'src', f)),
  ];
  const outDir = path.join(build, 'node');
  fs.mkdirSync(outDir, { recursive: true });
  const out = path.join(outDir, 'sharena.node');
  const args = ['-std=gnu11', '-O2', '-fPIC', '-shared', '-fvisibility=hidden', '-D_GNU_SOURCE',
    // (no -I native/src: the addon sees only the public header; the
    // library's own sources find internal.h next to themselves)
    '-I', path.join(native, 'include'), '-I', path.join(pkg, 'src'),
    '-isystem', nodeInc, ...srcs, '-o', out, '-lpthread', '-lm',
    '-Wl,--unresolved-symbols=ignore-all'];
  const r = spawnSync(cc, args, { stdio: 'inherit' });
  if (r.error || r.status !== 0) {
    console.error(`sharena: compiling the addon with ${cc} failed`);
    process.exit(1);
  }
  console.log(`sharena: built ${out}`);
}

function run(args) {
  const r = spawnSync('cmake', args, { stdio: 'inherit' });
  if (r.error) {
    console.error(`sharena: cannot run cmake (${r.error.message}); install cmake and a C compiler`);
    process.exit(1);
  }
  return r.status === 0;
}

const common = ['-S', root, '-B', build, '-DSHARENA_BUILD_NODE=ON',
  '-DSHARENA_BUILD_TESTS=OFF', '-DSHARENA_BUILD_BENCH=OFF',
  '-DCMAKE_BUILD_TYPE=Release'];
if (process.env.SHARENA_NODE_INCLUDE_DIR) {
  common.push(`-DSHARENA_NODE_INCLUDE_DIR=${process.env.SHARENA_NODE_INCLUDE_DIR}`);
}
let broker = true;
if (!run([...common, '-DSHARENA_BUILD_BROKER=ON'])) {
  console.error('sharena: configuring with the broker failed; building the addon only');
  broker = false;
  if (!run([...common, '-DSHARENA_BUILD_BROKER=OFF'])) process.exit(1);
}
const jobs = String(Math.max(1, require('node:os').availableParallelism?.() || 2));
const targets = ['sharena_node'];
if (broker) targets.push('sharenad');
if (!run(['--build', build, '-j', jobs, '--target', ...targets])) process.exit(1);
console.log(`sharena: built ${path.join(build, 'node', 'sharena.node')}`);
