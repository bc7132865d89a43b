'use strict';
// Every example of the seed package's README (@alshdavid/worker-shared-memory),
// run unchanged except for the import line, in a user-style project that
// installs sharena under node_modules.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const { userProject, spawnNode, runNode } = require('../test-support/helpers');

const MAIN = `// main.js
import { StringRef, MapRef } from 'sharena'
import { Worker } from 'node:worker_threads'
// Spawn worker
const worker = new Worker('./worker.js')
// Create Map in store
const map = new MapRef()
map.set('foo', StringRef.from("Hello World"))
// Give the worker the id of the Map
// I might add "named" values in future so you don't need to transfer IDs
worker.postMessage(map.id)
`;

const WORKER = `// worker.js
import { MapRef } from 'sharena'
import { parentPort } from 'node:worker_threads'
// Get the ID of the Map
parentPort.addEventListener('message', ({ data: map_id }) => {
// Connect to the same map
const map = new MapRef(map_id)
console.log(map.get('foo').obtainValue()) // "Hello World"
})
`;

const TYPES = `import { StringRef, NumberRef, MapRef, VectorRef } from 'sharena'
const str = new StringRef() // Empty string (utf8 string)
const num = new NumberRef() // Empty number (64 bit float)
const map = new MapRef() // Key/Value store that holds refs
const vec = new VectorRef() // Dynamic array that holds refs
console.log(JSON.stringify([str.obtainValue(), num.obtainValue(), map.len(), vec.len()]))
`;

// The README uses StructFactory / StructDefinition without showing their
// import; the import line is the one thing we add.
const STRUCTS = `import { StructFactory, StructDefinition } from 'sharena'
{
// Define struct
const Foo = new StructFactory({
key_1: "string",
key_2: "number",
})
const foo = Foo.new({
key_1: "foo",
key_2: 42,
})
console.log(foo.getKey('key_1')) // 'foo'
foo.setKey('key_1', 'something else')
console.log(foo.getKey('key_1'))
}
{
const Foo = new StructDefinition({
key_1: "string",
key_2: "number",
})
const foo = Foo.new_proxy({
key_1: "foo",
key_2: 42,
})
console.log(foo.key_1) // 'foo'
foo.key_1 = 'bar'
console.log(foo.key_1) // 'bar'
}
`;

const SAFETY = `import { StringRef } from 'sharena'
const str = StringRef.from('foo')
console.log(str) // { id: 342 }
console.log(str.obtainValue()) // 'foo'
`;

const MANUAL = `import { StringRef } from 'sharena'
const str = StringRef.from('foo')
console.log(str.obtainValue()) // 'foo'
str.drop() // will deallocate the value
console.log(str.obtainValue()) // Thrown Error ('use after free')
`;

let dir;
test.before(() => {
  dir = userProject({
    'package.json': '{ "type": "module" }\n',
    'main.js': MAIN,
    'worker.js': WORKER,
    'types.js': TYPES,
    'structs.js': STRUCTS,
    'safety.js': SAFETY,
    'manual.js': MANUAL,
  });
});
test.after(() => fs.rmSync(dir, { recursive: true, force: true }));

function runFile(file) {
  return runNode(`import(${JSON.stringify(`./${file}`)})`, { cwd: dir });
}

test('usage: main.js + worker.js share a map through its id', async () => {
  // The README's worker keeps listening, so the program never ends on its
  // own: read the line, then stop it.
  const p = spawnNode("import('./main.js')", { cwd: dir });
  const line = await p.line();
  assert.equal(line, 'Hello World', p.stderr());
  p.child.kill();
  await p.exited;
});

test('types: empty string, number, map and vector', async () => {
  const r = await runFile('types.js');
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), '["",0,0,0]');
});

test('structs: getKey/setKey and the proxy', async () => {
  const r = await runFile('structs.js');
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.stdout.trim().split('\n'), ['foo', 'something else', 'foo', 'bar']);
});

test('safety: console.log(ref) shows { id: N }', async () => {
  const r = await runFile('safety.js');
  assert.equal(r.code, 0, r.stderr);
  const [first, second] = r.stdout.trim().split('\n');
  assert.match(first, /^\{ id: \d+ \}$/);
  assert.equal(second, 'foo');
});

test('manual memory management: use after free throws', async () => {
  const r = await runFile('manual.js');
  assert.notEqual(r.code, 0);
  assert.equal(r.stdout.trim(), 'foo');
  assert.match(r.stderr, /use after free/);
  assert.match(r.stderr, /code: 'ESTALE'/);
});

test('CommonJS require works too', async () => {
  const r = await runNode(`
const { StringRef, MapRef } = require('sharena');
const m = new MapRef(); m.set('k', StringRef.from('v'));
console.log(m.get('k').obtainValue());`, { cwd: dir });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'v');
});
