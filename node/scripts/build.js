#!/usr/bin/env node
'use strict';
// `npm install` / `npm run build`: build the addon (sharena.node), the broker
// (sharenad) and the command-line tool (sharena) of this package. No
// downloads and no prebuilt binaries: everything compiles here, from the C
// sources.
//
// - In the source tree (../lib exists): the project's CMake build, the same
//   as -DSHARENA_BUILD_NODE=ON at the top level, into node/build (addon in
//   build/node/, sharenad in build/broker/, sharena in build/tools/).
// - From an installed tarball (npm pack; npm install sharena): the sources
//   were vendored into native/ (scripts/vendor.js); they are compiled with
//   the C compiler directly into build/node/: sharena.node, sharenad and
//   sharena side by side. The library's autostart finds sharenad beside the
//   addon; bin/ runs the two programs for `npx sharena` / `npx sharenad`.
//
// The Node headers come from next to the node executable (official builds)
// or /usr/include/node (Debian: libnode-dev); SHARENA_NODE_INCLUDE_DIR
// overrides. libseccomp and libbsd are used when installed (Debian:
// libseccomp-dev, libbsd-dev); without libseccomp the broker runs without
// its seccomp filter and its log says so.
const { spawn, spawnSync } = require('node:child_process');
const path = require('node:path');
const fs = require('node:fs');
const os = require('node:os');

const pkg = path.join(__dirname, '..');
const root = path.join(pkg, '..');
const build = path.join(pkg, 'build');

const HOW =
  'Install a C compiler and the Node.js headers (Debian/Ubuntu: ' +
  'sudo apt-get install build-essential libnode-dev; optional, for the ' +
  "broker's sandbox and pidfile: libseccomp-dev libbsd-dev), then run " +
  '`npm rebuild sharena` in your project. No prebuilt binaries are ' +
  'shipped: the package compiles its addon, sharenad and sharena at install.';

function die(msg) {
  console.error(`sharena: ${msg}\n${HOW}`);
  process.exit(1);
}

function jobs() {
  return Math.max(1, os.availableParallelism?.() || os.cpus().length || 2);
}

// ---- from an installed tarball: the C compiler directly -------------------

function nodeHeaders() {
  const dirs = process.env.SHARENA_NODE_INCLUDE_DIR
    ? [process.env.SHARENA_NODE_INCLUDE_DIR]
    : [path.join(path.dirname(process.execPath), '..', 'include', 'node'), '/usr/include/node'];
  const found = dirs.find((d) => fs.existsSync(path.join(d, 'node_api.h')));
  if (!found) die(`node_api.h not found (looked in ${dirs.join(', ')}; set SHARENA_NODE_INCLUDE_DIR).`);
  return found;
}

function cSources(dir) {
  return fs.readdirSync(dir).filter((f) => f.endsWith('.c')).sort().map((f) => path.join(dir, f));
}

// Compile many files at once, `jobs()` at a time.
async function compileAll(cc, units) {
  let next = 0;
  let failed = null;
  async function worker() {
    while (next < units.length && !failed) {
      const u = units[next++];
      const code = await new Promise((resolve) => {
        const p = spawn(cc, u.args, { stdio: 'inherit' });
        p.on('error', (e) => resolve(e));
        p.on('exit', (c) => resolve(c));
      });
      if (code !== 0) failed = { u, code };
    }
  }
  await Promise.all(Array.from({ length: jobs() }, worker));
  if (failed) {
    if (failed.code instanceof Error) die(`cannot run the C compiler '${cc}' (${failed.code.message}).`);
    die(`compiling ${failed.u.src} with ${cc} failed (see above).`);
  }
}

// Does a tiny program using @p header link with @p libs?
function probe(cc, dir, name, code, libs) {
  const src = path.join(dir, `probe-${name}.c`);
  fs.writeFileSync(src, code);
  const r = spawnSync(cc, [src, '-o', path.join(dir, `probe-${name}`), ...libs], { stdio: 'ignore' });
  return !r.error && r.status === 0;
}

async function buildVendored() {
  const native = path.join(pkg, 'native');
  const lib = path.join(native, 'lib');
  for (const f of [path.join(lib, 'include', 'sharena.h'), path.join(native, 'broker', 'main.c'),
    path.join(native, 'cli', 'main.c')]) {
    if (!fs.existsSync(f)) die(`${f} is missing: this package is incomplete (neither ../lib nor native/).`);
  }
  const nodeInc = nodeHeaders();
  const cc = process.env.CC || 'cc';
  const v = spawnSync(cc, ['--version'], { stdio: 'ignore' });
  if (v.error) die(`no C compiler: cannot run '${cc}' (${v.error.message}).`);

  const outDir = path.join(build, 'node');
  const objDir = path.join(build, 'obj');
  fs.mkdirSync(outDir, { recursive: true });
  fs.mkdirSync(objDir, { recursive: true });

  const optional = [];
  const brokerDefs = [];
  const brokerLibs = [];
  if (probe(cc, objDir, 'seccomp', '#include <seccomp.h>\nint main(void) { scmp_filter_ctx c = seccomp_init(0); seccomp_release(c); return 0; }\n', ['-lseccomp'])) {
    brokerDefs.push('-DSHARENA_HAVE_SECCOMP=1');
    brokerLibs.push('-lseccomp');
  } else {
    optional.push('libseccomp (Debian: libseccomp-dev): sharenad runs without its seccomp filter, and its log says so');
  }
  if (probe(cc, objDir, 'bsd', '#include <bsd/libutil.h>\n#include <bsd/unistd.h>\nint main(int c, char **v, char **e) { struct pidfh *p = pidfile_open(0, 0644, 0); (void)p; setproctitle_init(c, v, e); return 0; }\n', ['-lbsd'])) {
    brokerDefs.push('-DSHARENA_HAVE_LIBBSD=1');
    brokerLibs.push('-lbsd');
  } else {
    optional.push('libbsd (Debian: libbsd-dev): sharenad has no pidfile lock or process title');
  }
  for (const o of optional) console.warn(`sharena: not found, built without ${o}`);

  const base = ['-std=gnu11', '-O2', '-fPIC', '-fvisibility=hidden', '-D_GNU_SOURCE',
    '-Wno-unused-parameter', '-Wno-missing-field-initializers',
    '-I', path.join(lib, 'include')];
  // lib/src (internal.h, proto.h) for the library, the broker and the CLI;
  // not for the addon, which sees only the public header
  const internal = ['-I', path.join(lib, 'src')];
  const units = [];
  const objs = {};
  const add = (group, dir, extra) => {
    objs[group] = [];
    for (const src of cSources(dir)) {
      const obj = path.join(objDir, `${group}-${path.basename(src, '.c')}.o`);
      objs[group].push(obj);
      units.push({ src, args: [...base, ...extra, '-c', src, '-o', obj] });
    }
  };
  add('lib', path.join(lib, 'src'), internal);
  add('addon', path.join(pkg, 'src'), ['-I', path.join(pkg, 'src'), '-isystem', nodeInc]);
  add('broker', path.join(native, 'broker'), ['-I', path.join(native, 'broker'), ...internal, ...brokerDefs]);
  add('cli', path.join(native, 'cli'), ['-I', path.join(native, 'cli'), ...internal]);
  await compileAll(cc, units);

  const links = [
    { out: path.join(outDir, 'sharena.node'), args: ['-shared', ...objs.addon, ...objs.lib,
      '-lpthread', '-lm', '-Wl,--unresolved-symbols=ignore-all'] },
    { out: path.join(outDir, 'sharenad'), args: [...objs.broker, ...objs.lib, ...brokerLibs, '-lpthread', '-lm', '-ldl'] },
    { out: path.join(outDir, 'sharena'), args: [...objs.cli, ...objs.lib, '-lpthread', '-lm', '-ldl'] },
  ];
  for (const l of links) {
    const r = spawnSync(cc, [...l.args, '-o', l.out], { stdio: 'inherit' });
    if (r.error || r.status !== 0) die(`linking ${l.out} with ${cc} failed (see above).`);
  }
  fs.rmSync(objDir, { recursive: true, force: true });
  console.log(`sharena: built ${links.map((l) => l.out).join(', ')}`);
}

// ---- in the source tree: the project's CMake build ------------------------

function cmake(args) {
  const r = spawnSync('cmake', args, { stdio: 'inherit' });
  if (r.error) die(`cannot run cmake (${r.error.message}); install cmake, or build from the npm tarball.`);
  return r.status === 0;
}

function buildTree() {
  const common = ['-S', root, '-B', build, '-DSHARENA_BUILD_NODE=ON',
    '-DSHARENA_BUILD_TESTS=OFF', '-DSHARENA_BUILD_BENCH=OFF',
    '-DCMAKE_BUILD_TYPE=Release'];
  if (process.env.SHARENA_NODE_INCLUDE_DIR) {
    common.push(`-DSHARENA_NODE_INCLUDE_DIR=${process.env.SHARENA_NODE_INCLUDE_DIR}`);
  }
  let broker = true;
  if (!cmake([...common, '-DSHARENA_BUILD_BROKER=ON'])) {
    console.error('sharena: configuring with the broker failed (scripts/bootstrap.sh installs its ' +
      'dependencies); building the addon only');
    broker = false;
    if (!cmake([...common, '-DSHARENA_BUILD_BROKER=OFF'])) process.exit(1);
  }
  const targets = ['sharena_node'];
  if (broker) targets.push('sharenad', 'sharena_cli');
  if (!cmake(['--build', build, '-j', String(jobs()), '--target', ...targets])) process.exit(1);
  console.log(`sharena: built ${path.join(build, 'node', 'sharena.node')}`);
}

if (fs.existsSync(path.join(root, 'lib', 'include', 'sharena.h'))) {
  buildTree();
} else {
  buildVendored().catch((e) => die(e.stack || String(e)));
}
