'use strict';
// Runs one of the programs this package built at install (sharenad, the
// broker; sharena, the command-line tool) with the caller's arguments, and
// exits as it did: the `sharena` and `sharenad` bin entries (npx sharena ...).
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const pkg = path.join(__dirname, '..');

/** Full path of the package's own program @p name, or null when not built. */
function programPath(name) {
  const list = [
    path.join(pkg, 'build', 'node', name), // built from the tarball
    path.join(pkg, 'build', name === 'sharenad' ? 'broker' : 'tools', name), // in the source tree
  ];
  return list.find((p) => fs.existsSync(p)) || null;
}

function run(name) {
  const exe = programPath(name);
  if (!exe) {
    console.error(
      `sharena: ${name} was not built with this package (${path.join(pkg, 'build', 'node', name)} ` +
        'is missing): its install script did not run or failed. Run `npm rebuild sharena` in ' +
        'your project (without --ignore-scripts); it needs a C compiler and the Node.js ' +
        'headers (Debian/Ubuntu: sudo apt-get install build-essential libnode-dev).');
    process.exit(1);
  }
  const child = spawn(exe, process.argv.slice(2), { stdio: 'inherit' });
  const forward = (sig) => child.kill(sig);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, forward);
  child.on('error', (e) => {
    console.error(`sharena: cannot run ${exe}: ${e.message}`);
    process.exit(1);
  });
  child.on('exit', (code, sig) => {
    if (sig) {
      process.removeAllListeners(sig);
      process.kill(process.pid, sig);
    } else {
      process.exit(code);
    }
  });
}

module.exports = { run, programPath };
