'use strict';
// The Node half of scripts/demo.sh: publish a small job board into the
// named arena "jobboard" (through the broker at $SHARENA_SOCKET), then wait
// until Python workers have done every job, watching the board change live.
const path = require('node:path');
const { Arena } = require(process.env.SHARENA_NODE_PACKAGE || path.join(__dirname, '..', '..', 'node'));

const arena = Arena.open('jobboard', { capacity: 4 << 20 });
const jobs = arena.map('jobs');
const stats = arena.map('stats');
const titles = ['resize images', 'send invoices', 'rebuild index', 'email digest', 'backup db'];
titles.forEach((title, i) => {
  jobs.set(`job-${i + 1}`, { title, state: 'open', priority: titles.length - i, worker: '' });
});
stats.set('published_by', `node ${process.version} (pid ${process.pid})`);
stats.set('done', 0);
console.log(`node:   published ${titles.length} jobs into arena 'jobboard'`);
process.stdout.write('READY\n');

// Every change anywhere in the arena wakes this callback (no polling).
const stop = arena.watch(null, () => {
  const n = stats.get('done').obtainValue();
  if (n >= titles.length) {
    stop();
    const who = new Set();
    for (const [, job] of jobs.entries()) who.add(job.get('worker').obtainValue());
    console.log(`node:   saw all ${n} jobs done by ${[...who].join(', ')}`);
    console.log(`node:   results: ${jobs.get('job-1').get('result').obtainValue()} ...`);
    arena.close();
  }
}, { keepAlive: true });
