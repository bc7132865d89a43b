'use strict';
// index.d.ts against the TypeScript compiler (`tsc --noEmit --strict`, from
// the package's devDependencies): the declarations themselves, the seed
// README's examples and a sample of the whole API (test-types/*.ts) type-check
// as `import ... from 'sharena'`, both through the package's own name (CJS
// mode) and from an ESM user project with sharena under node_modules; and
// copies of index.d.ts made deliberately too loose (or missing a seed call)
// make the same check fail, so this test can catch a wrong declaration.
const test = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { pkgDir, tmpDir, userProject } = require('../test-support/helpers');

// The samples live outside test/: `node --test test/` runs every file under a
// test/ directory, and Node >= 23 (type stripping) would run .ts files too.
const typesDir = path.join(pkgDir, 'test-types');
const dts = path.join(pkgDir, 'index.d.ts');
const sampleFiles = fs.readdirSync(typesDir).filter((f) => f.endsWith('.ts')).sort();
const tsc = require.resolve('typescript/bin/tsc', { paths: [pkgDir] });
const STRICT = ['--noEmit', '--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022'];

function runTsc(args, cwd) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [tsc, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { out += d; });
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, out }));
  });
}

// A project directory holding copies of test-types/*.ts (plus `extra`) and a
// tsconfig that finds @types/node in this package's node_modules.
function tsProject(dir, extra = {}, skipLibCheck = false) {
  for (const f of sampleFiles) fs.copyFileSync(path.join(typesDir, f), path.join(dir, f));
  for (const [name, text] of Object.entries(extra)) fs.writeFileSync(path.join(dir, name), text);
  fs.writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({
    compilerOptions: {
      types: ['node'],
      typeRoots: [path.join(pkgDir, 'node_modules', '@types')],
      skipLibCheck,
    },
    include: ['*.ts'],
  }));
  return dir;
}

test('test/ holds only test files (node --test runs every file under it)', () => {
  const walk = (dir) => fs.readdirSync(dir, { withFileTypes: true }).flatMap((d) =>
    d.isDirectory() ? walk(path.join(dir, d.name)) : [path.relative(__dirname, path.join(dir, d.name))]);
  const files = walk(__dirname);
  assert.ok(files.length >= 5, files.join(' '));
  assert.deepEqual(files.filter((f) => !/^[\w-]+\.test\.js$/.test(f)), []);
});

test('the samples cover the seed README and the API', () => {
  for (const f of ['seed-main.ts', 'seed-worker.ts', 'seed-examples.ts', 'api.ts']) {
    assert.ok(sampleFiles.includes(f), f);
  }
  const api = fs.readFileSync(path.join(typesDir, 'api.ts'), 'utf8');
  assert.ok((api.match(/@ts-expect-error/g) || []).length >= 20);
});

test('index.d.ts and the samples type-check under --strict (self-reference, CJS mode)', async () => {
  const r = await runTsc([...STRICT, '--types', 'node', '--listFiles', dts,
    ...sampleFiles.map((f) => path.join(typesDir, f))], pkgDir);
  assert.equal(r.code, 0, r.out);
  // 'sharena' resolved to this package's declarations (not to nothing)
  assert.ok(r.out.split('\n').includes(dts), r.out);
});

test('an ESM user project with sharena in node_modules type-checks, default import included', async (t) => {
  const dir = userProject({ 'package.json': '{ "type": "module" }\n' });
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  tsProject(dir, {
    'esm.ts': `import sharena, { MapRef, StringRef } from 'sharena'
const m: MapRef<StringRef> = new sharena.MapRef<StringRef>()
m.set('k', 'v')
const v: string | undefined = (await Promise.resolve(m.get('k')))?.obtainValue()
// @ts-expect-error: the default export is the same module object
sharena.NoSuchExport
export { v }
`,
  });
  const r = await runTsc(['-p', dir, ...STRICT, '--listFiles'], dir);
  assert.equal(r.code, 0, r.out);
  assert.ok(r.out.split('\n').includes(dts), `resolved through node_modules/sharena: ${r.out}`);
});

// Each mutation: [what, text in index.d.ts, replacement, error the samples
// must then report]. TS2578 is "Unused '@ts-expect-error' directive"
// (a misuse stopped erroring); TS2554 comes from a failed is<A, B>() check.
const MUTATIONS = [
  ['MapRef.get returns any', 'get(key: string): V | undefined;', 'get(key: string): any;', /api\.ts\(\d+,\d+\): error TS2(578|554)/],
  ['Arena gets a public constructor', 'private constructor();', 'constructor();', /api\.ts\(\d+,\d+\): error TS2578/],
  ['setKey accepts any value', 'setKey<K extends keyof D & string>(key: K, value: FieldValue<D[K]>): void;', 'setKey(key: string, value: unknown): void;', /api\.ts\(\d+,\d+\): error TS2578/],
  ['undefined becomes storable', '  | boolean\n  | null\n  | NodeJS.ArrayBufferView\n  | readonly Storable[]', '  | boolean\n  | null\n  | undefined\n  | NodeJS.ArrayBufferView\n  | readonly Storable[]', /api\.ts\(\d+,\d+\): error TS2578/],
  ['new_proxy is missing', '  new_proxy(init?: Partial<StructValues<D>> | null, options?: RefOptions): StructProxy<D>;\n', '', /seed-examples\.ts\(\d+,\d+\): error TS2339/],
];

test('loosened or incomplete declarations fail the check', async (t) => {
  const original = fs.readFileSync(dts, 'utf8');
  const pkgJson = fs.readFileSync(path.join(pkgDir, 'package.json'), 'utf8');
  const root = tmpDir('sharena-types-');
  t.after(() => fs.rmSync(root, { recursive: true, force: true }));
  const runs = MUTATIONS.map(([what, from, to, expected], i) => {
    assert.ok(original.includes(from), `index.d.ts no longer contains the text of mutation '${what}'`);
    const dir = path.join(root, `m${i}`);
    const mod = path.join(dir, 'node_modules', 'sharena');
    fs.mkdirSync(mod, { recursive: true });
    fs.writeFileSync(path.join(dir, 'package.json'), '{ "type": "module" }\n');
    fs.writeFileSync(path.join(mod, 'package.json'), pkgJson);
    fs.writeFileSync(path.join(mod, 'index.d.ts'), original.replace(from, to));
    tsProject(dir, {}, true);
    return [what, expected, () => runTsc(['-p', dir, ...STRICT], dir)];
  });
  // two at a time: the machine is shared
  for (let i = 0; i < runs.length; i += 2) {
    await Promise.all(runs.slice(i, i + 2).map(async ([what, expected, run]) => {
      const r = await run();
      assert.notEqual(r.code, 0, `'${what}' still type-checks:\n${r.out}`);
      assert.match(r.out, expected, `'${what}'`);
    }));
  }
});
