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
    'sharena: the native addon is not built: the install script of the ' +
      'package did not run (npm --ignore-scripts) or failed. No prebuilt ' +
      'binaries are shipped; the package compiles its addon, sharenad and ' +
      'sharena at install. Run `npm rebuild sharena` in your project (it ' +
      'needs a C compiler and the Node.js headers; Debian/Ubuntu: sudo ' +
      'apt-get install build-essential libnode-dev), or, in the source ' +
      'tree, `npm install` in node/ or a CMake build with ' +
      '-DSHARENA_BUILD_NODE=ON. Looked for:\n  ' + tried.join('\n  '));
  e.code = 'ENOADDON';
  throw e;
}

// The addon's exports object is built one property at a time, which leaves
// it in V8's dictionary mode: every `native.fn` lookup a hash probe. A
// plain object holding the same functions keeps fast properties, so call
// sites get a constant lookup.
// (Object.fromEntries makes one with fast properties; stores do not.)
module.exports = Object.fromEntries(Object.entries(load()));
