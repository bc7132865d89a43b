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
  console.error('sharena: build from the sharena source tree (lib/ not found next to node/)');
  process.exit(1);
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
