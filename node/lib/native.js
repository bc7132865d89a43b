'use strict';
// Loads the compiled addon. Search order: $SHARENA_NODE_ADDON, the build that
// `npm install` makes in node/build, then the project's CMake build trees
// (build/, build-*/ next to node/).
const fs = require('node:fs');
const path = require('node:path');

function candidates() {
  const list = [];
  if (process.env.SHARENA_NODE_ADDON) list.push(process.env.SHARENA_NODE_ADDON);
  const pkg = path.join(__dirname, '..');
  list.push(path.join(pkg, 'build', 'node', 'sharena.node'));
  const root = path.join(pkg, '..');
  list.push(path.join(root, 'build', 'node', 'sharena.node'));
  let dirs = [];
  try {
    dirs = fs.readdirSync(root).filter((d) => d.startsWith('build-')).sort();
  } catch {
    // unreadable: no build-* trees to look in
  }
  for (const d of dirs) list.push(path.join(root, d, 'node', 'sharena.node'));
  return list;
}

function load() {
  const tried = [];
  for (const file of candidates()) {
    if (!fs.existsSync(file)) {
      tried.push(file);
      continue;
    }
    return require(file);
  }
  const e = new Error(
    'sharena: the native addon is not built. Run `npm install` in the ' +
      'package directory (it runs CMake), or build the project with ' +
      '-DSHARENA_BUILD_NODE=ON. Looked for:\n  ' + tried.join('\n  '));
  e.code = 'ENOADDON';
  throw e;
}

module.exports = load();
