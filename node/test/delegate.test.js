'use strict';
// Delegated connections (SHARENA_FD) live until their holder closes them,
// not until the broker's --hello-timeout (DESIGN 10); when the broker did
// close one, the error says so (EDROPPED, "the broker closed this delegated
// connection: <reason>"), not "no broker is listening". The broker runs
// with --hello-timeout 1 and the child first uses its connection 2.5 s
// later. The delegation is made by build/tests/support/sharena-test-delegate
// (the C library's sharena_delegate, which the Node API does not expose).
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { Arena } = require('..');
const { startBroker, rootDir } = require('../test-support/helpers');

const pkg = JSON.stringify(path.join(__dirname, '..'));
const delegator = process.env.SHARENA_TEST_DELEGATE ||
  path.join(rootDir, 'build', 'tests', 'support', 'sharena-test-delegate');
const skip = !fs.existsSync(delegator) && `${delegator} is not built (the C build makes it)`;

/** Run `node -e code` under the delegator with a connection to arena
 * `name`; returns the child (stdout/stderr collected in .out/.err). */
function delegated(broker, name, code) {
  const env = { ...process.env, SHARENA_AUTOSTART: '0' };
  delete env.SHARENA_FD;
  env.SHARENA_SOCKET = path.join(broker.dir, 'not-this-one'); // SHARENA_FD wins
  const child = spawn(delegator, [broker.socket, name, '--', process.execPath, '-e', code], {
    env, stdio: ['pipe', 'pipe', 'pipe'],
  });
  child.out = '';
  child.err = '';
  child.stdout.on('data', (d) => { child.out += d; });
  child.stderr.on('data', (d) => { child.err += d; });
  child.done = new Promise((resolve) => child.on('exit', resolve));
  return child;
}

test('a child that starts after the HELLO timeout is served', { skip }, async (t) => {
  const broker = await startBroker(['--hello-timeout', '1']);
  t.after(() => broker.stop());
  const a = Arena.open('late', { socket: broker.socket });
  a.number('n').setValue(42);
  const child = delegated(broker, 'late', `
    const { Arena } = require(${pkg});
    setTimeout(() => { // later than the broker's HELLO timeout of 1 s
      const a = Arena.open('late'); // through SHARENA_FD
      console.log(a.number('n').obtainValue());
      a.number('n').setValue(43);
      a.close();
    }, 2500);`);
  const code = await child.done;
  assert.equal(code, 0, child.err);
  assert.equal(child.out.trim(), '42');
  assert.equal(a.number('n').obtainValue(), 43);
  a.close();
});

test('a delegated connection the broker closed says so', { skip }, async (t) => {
  const broker = await startBroker(['--hello-timeout', '1']);
  t.after(() => broker.stop());
  Arena.open('closing', { socket: broker.socket }).close();
  const child = delegated(broker, 'closing', `
    const { Arena } = require(${pkg});
    console.log('ready'); // the delegation is made
    process.stdin.once('data', () => { // once the broker has stopped
      try {
        Arena.open('closing');
        console.log(JSON.stringify({ opened: true }));
      } catch (e) {
        console.log(JSON.stringify({ code: e.code, message: e.message }));
      }
      process.exit(0);
    });`);
  for (let i = 0; i < 1500 && !child.out.includes('ready'); i++) { // a hang guard
    assert.equal(child.exitCode, null, child.err);
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.match(child.out, /ready/, child.err);
  await broker.stop();
  child.stdin.end('go\n');
  const code = await child.done;
  assert.equal(code, 0, child.err);
  const out = JSON.parse(child.out.split('\n')[1]);
  assert.equal(out.code, 'EDROPPED', child.out);
  assert.match(out.message, /the broker closed this delegated connection: /);
  assert.match(out.message, /exited or restarted/);
  assert.doesNotMatch(out.message, /no broker is listening/);
});
