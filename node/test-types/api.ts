// Type-checks the whole declared API of 'sharena' (never run: tsc --noEmit
// --strict). `Is<typeof x, T>` lines pin exact types, so a declaration that
// turns into `any` fails; each `@ts-expect-error` line is a misuse that must
// stay an error, so a declaration that becomes too loose fails too.
import * as sharena from 'sharena'
import {
  Arena, defaultArena, Ref, StringRef, NumberRef, BoolRef, BytesRef, MapRef,
  VectorRef, StructRef, StructFactory, StructDefinition, typeOf, types,
} from 'sharena'
import type {
  AnyRef, AnyValue, SharenaError, WatchEvent, ArenaInfo, ArenaStat, StructProxy,
} from 'sharena'

type Equals<A, B> =
  (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true : false
function is<A, B>(..._: Equals<A, B> extends true ? [] : ['not the same type']): void {}

export async function main(fd: number, socket: string): Promise<void> {
  // ---- arenas
  const arena = Arena.open('demo', { create: true, capacity: 1 << 20, socket, mode: 0o600 })
  Arena.open('demo', { readonly: true, create: false, exclusive: false, socket: null })
  Arena.open('demo')
  is<typeof arena, Arena>()
  is<typeof arena.name, string>()
  is<typeof arena.socket, string | null>()
  is<typeof arena.readonly, boolean>()
  is<typeof arena.closed, boolean>()
  is<typeof arena.fd, number>()
  // @ts-expect-error: the fd is read-only
  arena.fd = 3
  // @ts-expect-error: there is no public constructor
  new Arena()
  // @ts-expect-error: the capacity is a number
  Arena.open('demo', { capacity: '1M' })
  const viaFd = Arena.fromFd(fd, { readonly: true })
  is<typeof viaFd, Arena>()
  Arena.delete('old', { socket })
  Arena.delete('old')
  const list = Arena.list({ socket })
  is<typeof list, ArenaStat[]>()
  is<typeof list[0]['clients'], number>()
  const info = arena.info()
  is<typeof info, ArenaInfo>()
  is<typeof info.usedBytes, number>()
  is<typeof defaultArena, Arena>()

  const cfg = arena.map('config')
  is<typeof cfg, MapRef<AnyValue>>()
  is<ReturnType<typeof arena.vector>, VectorRef<AnyValue>>()
  is<ReturnType<typeof arena.string>, StringRef>()
  is<ReturnType<typeof arena.number>, NumberRef>()
  is<ReturnType<typeof arena.bool>, BoolRef>()
  const blob = arena.bytes('blob', 64)
  is<typeof blob, BytesRef>()
  // @ts-expect-error: a bytes root needs its size
  arena.bytes('blob')
  const r = arena.root('config')
  is<typeof r, AnyRef | null | undefined>()
  arena.setRoot('alias', cfg)
  arena.setRoot('owned', StringRef.from('x', { arena }), { owned: true })
  // @ts-expect-error: a root is bound to a ref, not a plain value
  arena.setRoot('plain', 'x')
  is<ReturnType<typeof arena.removeRoot>, boolean>()
  is<ReturnType<typeof arena.roots>, string[]>()
  const any = arena.ref(cfg.id)
  is<typeof any, AnyValue>()

  // ---- watch / changed
  const counter = arena.number('counter')
  const stop = arena.watch(counter, (ev) => {
    is<typeof ev, WatchEvent<NumberRef>>()
    if (ev.error) {
      is<typeof ev.error, SharenaError>()
      return
    }
    is<typeof ev.version, number>()
    ev.ref.obtainValue()
  }, { keepAlive: true })
  is<typeof stop, () => void>()
  arena.watch('config', (ev) => { is<typeof ev.ref, AnyRef>() })
  arena.watch('config/servers/0', (ev) => { is<typeof ev.ref, AnyRef>() })
  is<ReturnType<typeof arena.resolve>, AnyValue>()
  arena.watch(null, (ev) => { is<typeof ev.ref, null>() })
  // @ts-expect-error: the version is there only when no error is
  arena.watch(counter, (ev) => ev.version.toFixed())
  // @ts-expect-error: the callback is required
  arena.watch(counter)
  const since = counter.version()
  is<typeof since, number>()
  const v = await counter.changed({ since, timeout: 1000, signal: AbortSignal.timeout(5000), keepAlive: true })
  is<typeof v, number>()
  // @ts-expect-error: since is a version number
  counter.changed({ since: 'now' })
  // locked(fn): fn gets the ref itself, locked() returns what fn returns
  const bumped = counter.locked((c) => { is<typeof c, typeof counter>(); c.setValue(c.obtainValue() + 1); return c.obtainValue() })
  is<typeof bumped, number>()
  // @ts-expect-error: locked takes a function
  counter.locked()

  // ---- strings, numbers, booleans
  const s1 = new StringRef()
  const s2 = new StringRef(s1.id)
  const s3 = new StringRef({ arena })
  const s4 = new StringRef(s3.id, { arena })
  is<typeof s4, StringRef>()
  is<ReturnType<typeof s2.obtainValue>, string>()
  is<typeof s1.type, 'string' | 'freed'>()
  is<ReturnType<typeof s1.byteLength>, number>()
  s1.setValue('héllo 🎉')
  // @ts-expect-error: a StringRef holds strings
  StringRef.from(42)
  // @ts-expect-error: a StringRef holds strings
  s1.setValue(1)
  const n = NumberRef.from(0.1, { arena })
  is<ReturnType<typeof n.add>, number>()
  is<ReturnType<typeof n.compareExchange>, number>()
  is<ReturnType<typeof n.toJSON>, number>()
  // @ts-expect-error: add takes a number
  n.add('1')
  const b = BoolRef.from(true)
  is<ReturnType<typeof b.obtainValue>, boolean>()
  b.setValue(false)
  new BoolRef()
  new NumberRef(n.id)

  // ---- bytes
  const map0 = new MapRef()
  const bytes = BytesRef.alloc(16)
  BytesRef.from(Buffer.from('abc'))
  BytesRef.from(new Float64Array(2), { arena })
  is<typeof bytes.size, number>()
  is<ReturnType<typeof bytes.buffer>, Buffer>()
  is<ReturnType<typeof bytes.read>, Buffer>()
  bytes.write(Buffer.from('hi'), 2)
  bytes.write(new DataView(new ArrayBuffer(2)), 2)
  BytesRef.from(new DataView(new ArrayBuffer(2)))
  map0.set('dv', new DataView(new ArrayBuffer(2)))
  bytes.read(0, 2)
  // @ts-expect-error: write takes a Buffer, TypedArray or DataView
  bytes.write('hi')
  // @ts-expect-error: not an ArrayBuffer itself
  bytes.write(new ArrayBuffer(2))

  // ---- maps
  const map = new MapRef()
  map.set('s', StringRef.from('v'))
  map.set('n', 1)
  map.set('b', true)
  map.set('o', { nested: [1, 'two', { three: false }], buf: Buffer.from('x') })
  map.set('r', [n, s1])
  // @ts-expect-error: undefined is not storable
  map.set('u', undefined)
  map.set('z', null) // null is a value
  map.set('zz', { a: [null, 1] })
  // @ts-expect-error: class instances are not storable
  map.set('d', new Date())
  // @ts-expect-error: keys are strings
  map.set(1, 'x')
  const got = map.get('s')
  is<typeof got, AnyRef | null | undefined>()
  // @ts-expect-error: a missing key gives undefined
  got.id
  if (got instanceof StringRef) is<ReturnType<typeof got.obtainValue>, string>()
  if (got?.type === 'number') is<typeof got, NumberRef>()
  is<ReturnType<typeof map.has>, boolean>()
  is<ReturnType<typeof map.remove>, boolean>()
  is<ReturnType<typeof map.delete>, boolean>()
  is<ReturnType<typeof map.len>, number>()
  is<typeof map.size, number>()
  for (const [k, val] of map) {
    is<typeof k, string>()
    is<typeof val, AnyRef | null>()
  }
  is<ReturnType<typeof map.keys>, Generator<string, void, unknown>>()
  const plain = map.toObject()
  is<typeof plain['x'], sharena.Snapshot<AnyValue>>()
  map.getValue('o')
  MapRef.from({ a: 1, b: ['x'], c: { d: n } }, { arena })
  MapRef.from({ a: { b: null } })
  // @ts-expect-error: nor is undefined
  VectorRef.from([1, undefined])
  map.drop({ recursive: true })

  // a map whose values TypeScript knows (the seed's MapRef<T>)
  const names = new MapRef<StringRef>()
  names.set('a', 'alice')
  names.set('b', StringRef.from('bob'))
  // @ts-expect-error: this map holds strings
  names.set('c', 3)
  // @ts-expect-error: strings only, not null
  names.set('d', null)
  const name = names.get('a')
  is<typeof name, StringRef | undefined>()
  is<ReturnType<typeof names.toObject>, { [key: string]: string }>()
  is<ReturnType<typeof names.getValue>, string | undefined>()

  // ---- vectors
  const vec = new VectorRef()
  vec.push('a')
  vec.push(n)
  vec.insert(0, { k: 1 })
  vec.set(1, [1, 2])
  is<ReturnType<typeof vec.index>, AnyRef | null | undefined>()
  is<ReturnType<typeof vec.at>, AnyRef | null | undefined>()
  is<ReturnType<typeof vec.pop>, AnyRef | null | undefined>()
  is<ReturnType<typeof vec.remove>, AnyRef | null | undefined>()
  is<typeof vec.length, number>()
  for (const item of vec) is<typeof item, AnyRef | null>()
  vec.push(null)
  const nums = VectorRef.from([1, 2, 3]) as VectorRef<NumberRef>
  is<ReturnType<typeof nums.toArray>, number[]>()
  // @ts-expect-error: the elements are NumberRefs
  const wrong: string = nums.index(0)!.obtainValue()
  // @ts-expect-error: this vector holds numbers
  nums.push('four')
  // @ts-expect-error: index takes a number
  vec.index('0')
  const nested = new MapRef<VectorRef<MapRef<BoolRef>>>()
  nested.set('x', [{ ok: true }])
  is<ReturnType<typeof nested.toObject>, { [key: string]: { [key: string]: boolean }[] }>()

  // ---- structs
  const Point = new StructFactory({ x: 'number', y: 'number', label: 'string', on: 'bool' })
  const p = Point.new({ x: 1, y: 2 }, { arena })
  is<typeof p, StructRef<{ x: 'number'; y: 'number'; label: 'string'; on: 'bool' }>>()
  is<ReturnType<typeof p.getKey<'x'>>, number>()
  is<ReturnType<typeof p.getKey<'on'>>, boolean>()
  p.setKey('label', 'origin')
  // @ts-expect-error: x is a number field
  p.setKey('x', 'one')
  // @ts-expect-error: no such field
  p.getKey('z')
  // @ts-expect-error: x is a number field
  Point.new({ x: '1' })
  is<ReturnType<typeof p.fields>, Array<'x' | 'y' | 'label' | 'on'>>()
  is<ReturnType<typeof p.toObject>, { x: number; y: number; label: string; on: boolean }>()
  const pp = Point.new_proxy({ label: 'p' })
  pp.x = 3
  is<typeof pp.label, string>()
  is<typeof pp.id, number>()
  pp.drop()
  // @ts-expect-error: x is a number field
  pp.x = 'three'
  const Def = new StructDefinition({ a: 'string' })
  is<typeof Def, StructFactory<{ a: 'string' }>>()
  is<typeof Def.definition, Readonly<{ a: 'string' }>>()
  const opened = new StructRef(p.id)
  is<ReturnType<typeof opened.getKey>, string | number | boolean | null>()
  const px = StructFactory.proxy(p)
  is<typeof px, StructProxy<{ x: 'number'; y: 'number'; label: 'string'; on: 'bool' }>>()
  // @ts-expect-error: a StructRef is opened by id
  new StructRef()
  // @ts-expect-error: 'date' is not a field type
  new StructFactory({ when: 'date' })
  const Opt = new StructFactory({ n: 'number', on: 'number?', os: 'string?' })
  const o = Opt.new({ n: 1, on: null })
  is<ReturnType<typeof o.getKey<'on'>>, number | null>()
  is<ReturnType<typeof o.getKey<'n'>>, number>()
  o.setKey('os', null)
  // @ts-expect-error: n is not nullable
  o.setKey('n', null)
  map.set('point', p)

  // ---- the rest
  const t = typeOf(p.id, { arena })
  is<typeof t, 'string' | 'number' | 'boolean' | 'map' | 'vector' | 'struct' | 'bytes' | 'shape' | 'null' | 'freed' | 'undefined'>()
  // @ts-expect-error: not a name typeOf can return
  if (t === 'str') {}
  is<typeof types.MAP, 4>()
  // @ts-expect-error: types is read-only
  types.MAP = 5
  is<typeof p.arena, Arena>()
  const base: Ref = p
  is<typeof base.type, 'string' | 'number' | 'boolean' | 'map' | 'vector' | 'struct' | 'bytes' | 'freed'>()
  // @ts-expect-error: the id is read-only
  p.id = 3
  // @ts-expect-error: Ref has no public constructor
  new Ref(1, arena)
  is<typeof sharena.StructDefinition, typeof StructFactory>()

  // ---- errors
  try {
    s1.obtainValue()
  } catch (e) {
    const err = e as SharenaError
    if (err.code === 'ESTALE' || err.code === 'ECLOSED') console.error(err.message)
    // @ts-expect-error: codes are strings
    const code: number = err.code
  }
  arena.close()
}
