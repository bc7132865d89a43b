'use strict';
// Node benchmark of this tree against another build of the package, in one
// invocation: bench.js runs alternately on each side (separate processes,
// so that neither side's classes share V8 feedback with the other's), and
// the best ns/op of each side is kept, with the seed's from the same runs.
//
//   node compare.js BASE_PACKAGE_DIR [--runs N] [--full] [--cpu]
//
// --cpu: time CPU time, not the wall clock (SHARENA_BENCH_CLOCK=cpu): on a
// loaded machine the wall clock mostly measures the other work.
// BASE_PACKAGE_DIR is another checkout's node/ with its addon built (e.g.
// `git archive REV | tar -x -C DIR` and a CMake build with
// -DSHARENA_BUILD_NODE=ON in DIR/build). Prints a Markdown table: base,
// this tree, the ratio (base / this: above 1 is faster now), and the seed.
const { execFileSync } = require('node:child_process');
const path = require('node:path');

const args = process.argv.slice(2);
const base = args.find((a) => !a.startsWith('--'));
if (!base) {
  process.stderr.write('usage: node compare.js BASE_PACKAGE_DIR [--runs N] [--full] [--cpu]\n');
  process.exit(2);
}
const ri = args.indexOf('--runs');
const runs = ri >= 0 ? Number(args[ri + 1]) : 3;
const full = args.includes('--full');
const sides = { base: path.resolve(base), now: path.join(__dirname, '..', '..', 'node') };

const best = {}; // op -> { group, base, now, seed }
for (let r = 0; r < runs; r++) {
  for (const [side, dir] of Object.entries(sides)) {
    const out = execFileSync(process.execPath, [path.join(__dirname, 'bench.js'), ...(full ? [] : ['--quick'])],
      { env: { ...process.env, SHARENA_NODE: dir, ...(args.includes('--cpu') ? { SHARENA_BENCH_CLOCK: 'cpu' } : {}) }, stdio: ['ignore', 'pipe', 'ignore'], encoding: 'utf8' });
    for (const line of out.split('\n')) {
      if (!line.startsWith('{')) continue;
      const j = JSON.parse(line);
      const b = best[j.op] || (best[j.op] = { group: j.group });
      const key = j.impl === 'sharena' ? side : j.impl === 'seed' ? 'seed' : null;
      if (key && !(b[key] <= j.ns_per_op)) b[key] = j.ns_per_op;
    }
    process.stderr.write(`run ${r + 1}/${runs} ${side} done\n`);
  }
}
process.stdout.write('| operation | base | this tree | base ÷ this | seed | seed ÷ this |\n|---|---|---|---|---|---|\n');
for (const b of Object.values(best)) {
  if (b.now === undefined) continue;
  process.stdout.write(`| ${b.group} | ${b.base.toFixed(1)} ns | ${b.now.toFixed(1)} ns | ` +
    `${(b.base / b.now).toFixed(2)}x | ${b.seed.toFixed(0)} ns | ${(b.seed / b.now).toFixed(1)}x |\n`);
}
