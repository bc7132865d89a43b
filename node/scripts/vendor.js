#!/usr/bin/env node
'use strict';
// `npm pack` (prepack): copy the C library's sources from ../lib into
// native/lib, so that the packed tarball builds on its own (scripts/build.js
// compiles them with the addon when ../lib is not there).
const fs = require('node:fs');
const path = require('node:path');

const pkg = path.join(__dirname, '..');
const lib = path.join(pkg, '..', 'lib');
if (!fs.existsSync(path.join(lib, 'include', 'sharena.h'))) {
  console.error('sharena: vendor.js runs in the source tree (../lib not found)');
  process.exit(1);
}
const out = path.join(pkg, 'native', 'lib');
fs.rmSync(out, { recursive: true, force: true });
for (const sub of ['include', 'src']) {
  fs.mkdirSync(path.join(out, sub), { recursive: true });
  for (const f of fs.readdirSync(path.join(lib, sub))) {
    if (/\.[ch]$/.test(f)) fs.copyFileSync(path.join(lib, sub, f), path.join(out, sub, f));
  }
}
console.log(`sharena: vendored ${lib} into ${out}`);
