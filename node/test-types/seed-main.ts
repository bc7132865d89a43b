// The seed README's "Usage" main.js, as TypeScript: unchanged but for the
// import line.
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
