// The seed README's "Usage" worker.js, as TypeScript under --strict. Three
// changes, each one a type annotation, none a change of behaviour:
// - `parentPort!` and `: any`: @types/node types parentPort as possibly null
//   and an addEventListener callback's argument as a bare Event;
// - `MapRef<StringRef>`: says what the map holds (the seed's own typings
//   spell it the same way), and `!`: sharena's map.get returns undefined for
//   a missing key where the seed panicked.
import { MapRef, StringRef } from 'sharena'
import { parentPort } from 'node:worker_threads'
// Get the ID of the Map
parentPort!.addEventListener('message', ({ data: map_id }: any) => {
// Connect to the same map
const map = new MapRef<StringRef>(map_id)
console.log(map.get('foo')!.obtainValue()) // "Hello World"
})
