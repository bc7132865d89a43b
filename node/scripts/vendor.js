#!/usr/bin/env node
'use strict';
// `npm pack` (prepack): copy the C sources of the library (../lib), the
// broker (../broker) and the command-line tool (../tools/cli) into native/,
// so that the packed tarball builds on its own (scripts/build.js compiles
// them at install when ../lib is not there).
const fs = require('node:fs');
const path = require('node:path');

const pkg = path.join(__dirname, '..');
const root = path.join(pkg, '..');
if (!fs.existsSync(path.join(root, 'lib', 'include', 'sharena.h'))) {
  console.error('sharena: vendor.js runs in the source tree (../lib not found)');
  process.exit(1);
}
const out = path.join(pkg, 'native');
fs.rmSync(out, { recursive: true, force: true });
const copies = { 'lib/include': 'lib/include', 'lib/src': 'lib/src', broker: 'broker', cli: 'tools/cli' };
for (const [dst, src] of Object.entries(copies)) {
  fs.mkdirSync(path.join(out, dst), { recursive: true });
  for (const f of fs.readdirSync(path.join(root, src))) {
    if (/\.[ch]$/.test(f)) fs.copyFileSync(path.join(root, src, f), path.join(out, dst, f));
  }
}
console.log(`sharena: vendored lib/, broker/ and tools/cli/ into ${out}`);
