'use strict';
// The Node side of bench/wake: `wait ARENA N`, `sockwait PATH N` (waiters,
// print the same JSON as wake.c), `write ARENA N` and `sockwrite PATH N`
// (writers: one timestamp every 300 us).
const path = require('node:path');
const net = require('node:net');
const fs = require('node:fs');
const { Arena } = require(path.join(__dirname, '..', '..', 'node'));
const now = () => Number(process.hrtime.bigint()); // CLOCK_MONOTONIC ns
const [mode, where, count] = process.argv.slice(2);
const n = Number(count);
function report(lat) {
  lat.sort((a, b) => a - b);
  const n = lat.length;
  process.stdout.write(JSON.stringify({ n, median_us: lat[n >> 1] / 1e3, p99_us: lat[Math.floor(n * 99 / 100)] / 1e3 }) + '\n');
}
if (mode === 'wait') {
  (async () => {
    const a = Arena.open(where, { capacity: 1 << 20 });
    const t = a.number('t');
    process.stdout.write('READY\n');
    const lat = [];
    while (lat.length < n) { // writes coalesced into one wake are skipped
      await t.changed({ since: t.version(), keepAlive: true });
      const at = now();
      const v = t.obtainValue();
      if (v < 0) break;
      lat.push(at - v);
    }
    report(lat);
    a.close();
  })();
} else if (mode === 'sockwait') {
  try { fs.unlinkSync(where); } catch { /* not there */ }
  const lat = [];
  let buf = Buffer.alloc(0);
  const server = net.createServer((c) => {
    c.on('data', (d) => {
      const at = now();
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 8) {
        lat.push(at - buf.readDoubleLE(0));
        buf = buf.subarray(8);
      }
      if (lat.length >= n) { report(lat.slice(0, n)); c.destroy(); server.close(); }
    });
    c.on('end', () => {
      if (lat.length < n) { report(lat); server.close(); }
    });
  });
  server.listen(where, () => process.stdout.write('READY\n'));
} else if (mode === 'sockwrite') {
  // Connect, then write synchronously between sleeps like the arena writer:
  // libuv tries each write at once when nothing is queued, so the timestamp
  // leaves before the next sleep.
  const sock = net.connect(where, () => {
    const sleeper = new Int32Array(new SharedArrayBuffer(4));
    const b = Buffer.alloc(8);
    for (let i = 0; i < n; i++) {
      Atomics.wait(sleeper, 0, 0, 0.3); // 300 us
      b.writeDoubleLE(now(), 0);
      sock.write(Buffer.from(b));
    }
    sock.end();
  });
} else if (mode === 'write') {
  const a = Arena.open(where, { capacity: 1 << 20 });
  const t = a.number('t');
  const sleeper = new Int32Array(new SharedArrayBuffer(4));
  for (let i = 0; i < n; i++) {
    Atomics.wait(sleeper, 0, 0, 0.3); // 300 us
    t.setValue(now());
  }
  Atomics.wait(sleeper, 0, 0, 0.3);
  t.setValue(-1); // the end
  a.close();
}
