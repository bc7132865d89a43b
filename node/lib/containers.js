'use strict';
// node/lib/containers.js: MapRef and VectorRef, and the storing of plain JS values
// through the library's value builder.

const native = require('./native');
const { error } = require('./errors');
const { T, scratch, kH, kArena, kTrusted, kCache } = require('./internal');
const { checkSize, arenaOf } = require('./arena');
const { wrap, ctorArgs, checkRef, Ref, FAST, missed, keepState, SKIP } = require('./refs');
// Defined by modules that load after this one (they build on it):
// bound by index.js once every module is loaded.
let snapshot;

// Plain JS values become arena objects through the library's value builder
// (native build*: the same builder as the CLI's and Python's). A tree is
// built whole, then linked in one step; any failure (a full arena, a value
// that cannot be stored anywhere in the tree) leaves nothing behind and the
// target unchanged. The native walk hands what is not a plain value to
// resolve(): a ref of this arena gives its id (stored as a reference, it
// stays the caller's), anything else throws.
function resolver(arena, op) {
  return (v) => {
    if (v instanceof Ref) return checkRef(v, arena, op).id;
    throw error('EINVAL', `${op}: cannot store ${v === null ? 'null' : typeof v}; use a string, number, boolean, Buffer, plain object, array or ref`, TypeError);
  };
}

// A new detached object for a plain value (the caller links or drops it).
function storePlain(arena, value, op) {
  if (value instanceof Ref) throw error('EINVAL', `${op}: expected a plain value, not a ref`, TypeError);
  return native.buildNew(arena[kH], value, resolver(arena, op), op);
}

function setValue(arena, mapId, key, value, op) {
  if (value instanceof Ref) {
    native.mapSet(arena[kH], mapId, key, checkRef(value, arena, op).id, false);
    return;
  }
  const t = typeof value;
  // (stored in the map's entry: no object, no id until get() asks for one)
  if (t === 'string' || t === 'number' || t === 'boolean' || value === null) {
    native.mapSetValue(arena[kH], mapId, key, value);
    return;
  }
  native.buildSet(arena[kH], mapId, key, value, resolver(arena, op), op);
}

function pushValue(arena, vecId, value, op) {
  if (value instanceof Ref) {
    native.vecPush(arena[kH], vecId, checkRef(value, arena, op).id, false);
    return;
  }
  if (typeof value === 'number') {
    // stored in the item itself: no object (docs/format.md)
    native.vecPushNumber(arena[kH], vecId, value);
    return;
  }
  native.buildSplice(arena[kH], vecId, -1, 0, [value], resolver(arena, op), op);
}

// vecSet or vecInsert (`put`) of a ref (stays the caller's), of a number
// (`putNumber`: stored in the item, no object) or of a plain value made
// into a new object the vector owns (dropped again if `put` fails, so a
// failure leaves nothing behind).
function storeAt(vec, i, value, put, putNumber, op) {
  checkSize(i, op);
  const arena = vec[kArena];
  if (value instanceof Ref) {
    put(vec[kH], vec.id, i, checkRef(value, arena, op).id, false);
    return;
  }
  if (typeof value === 'number') {
    putNumber(vec[kH], vec.id, i, value);
    return;
  }
  const id = storePlain(arena, value, op);
  try {
    put(vec[kH], vec.id, i, id, true);
  } catch (e) {
    native.drop(vec[kH], id, false);
    throw e;
  }
}

function checkKey(key, op) {
  if (typeof key !== 'string') {
    throw error('EINVAL', `${op}: the key must be a string`, TypeError);
  }
}

// A map's fast-read cache: the keys looked up while its counter had one
// value (at most KEYS_KEPT; then it starts again), each with no value
// (ABSENT) or { ref, ci, seq }: the child's ref and counter.
const ABSENT = Symbol('sharena.absent');
const KEYS_KEPT = 4096;

function mapGetPlain(map, key) {
  const id = native.mapGet(map[kH], map.id, key);
  return id === 0 ? undefined : wrap(map[kArena], scratch[0], id);
}

function vecGetPlain(vec, i) {
  const id = native.vecGet(vec[kH], vec.id, i);
  return id === 0 ? undefined : wrap(vec[kArena], scratch[0], id);
}

// A vector's kept entries: indexes below KEYS_KEPT in an array (a Map
// lookup of a number cost more than the rest of a kept index() together),
// other indexes never kept. Bounded by construction, so never cleared for
// its size.
class IndexTable {
  constructor() { this.a = []; }
  get size() { return 0; }
  get(i) { return (i >>> 0) === i && i < KEYS_KEPT ? this.a[i] : undefined; }
  set(i, e) { if ((i >>> 0) === i && i < KEYS_KEPT) this.a[i] = e; }
  clear() { this.a = []; }
}

// A lookup that keeps what it found (and the container's state): `getF`
// is the addon's mapGetF or vecGetF, `Table` the kept entries' class.
function mapGetSlow(map, key, getF = native.mapGetF, Table = Map) {
  const arena = map[kArena];
  let c = map[kCache];
  const id = getF(map[kH], map.id, key);
  const r = id === 0 ? undefined : wrap(arena, scratch[0], id);
  // the map's state: a new one (another counter) starts an empty key table
  const seq = scratch[FAST + 1] >>> 0;
  const fresh = c === null || c.seq !== seq || c.ci !== scratch[FAST] ||
    c.ep !== scratch[FAST + 3] >>> 0 || c.val.size >= KEYS_KEPT;
  c = map[kCache] = keepState(map, c, c === null ? new Table() : c.val);
  if (c === null) return r;
  if (fresh) c.val.clear();
  if (id === 0) {
    c.val.set(key, ABSENT);
  } else {
    const cci = scratch[FAST + 4];
    // (a child past the view, or unknown: not kept)
    if (cci >= 0 && cci < c.u.length) c.val.set(key, { ref: r, ci: cci, seq: scratch[FAST + 5] >>> 0 });
  }
  return r;
}

class MapRef extends Ref {
  constructor(a, b, c) {
    if (a === kTrusted) { super(b, c); return; }
    const [arena, id] = ctorArgs(a, b, T.MAP, 'MapRef');
    super(id === undefined ? native.mapNew(arena[kH]) : id, arena);
  }
  /** A new map holding owned copies of a plain object's entries. */
  static from(object, opts) {
    if (object === null || typeof object !== 'object' || Array.isArray(object)) {
      throw error('EINVAL', 'MapRef.from: expected a plain object', TypeError);
    }
    const arena = arenaOf(opts, 'MapRef.from');
    return new MapRef(kTrusted, storePlain(arena, object, 'MapRef.from'), arena);
  }
  /**
   * Set `key`. A ref is stored as is and stays the caller's (dropping the
   * map does not drop it). A number, boolean, null or string of up to 16
   * bytes is stored in the map's entry (no object, no id until get() asks
   * for one). A longer string, Buffer, plain object or array is stored as
   * a new object the map owns: overwriting, removing or dropping the map
   * frees it.
   */
  set(key, value) {
    checkKey(key, 'MapRef.set');
    setValue(this[kArena], this.id, key, value, 'MapRef.set');
  }
  /** The ref stored at `key`, or undefined. A value stored in the map's
   * entry is given an id first (the addon's mapGet: a write, EROFS on a
   * read-only arena); getValue() reads it without writing. */
  get(key) {
    checkKey(key, 'MapRef.get');
    // Fast reads (refs.js): while the map's counter is unchanged, a key
    // gives what it gave last time: no key, or the same ref, if that
    // object's counter is unchanged too (else it may be dropped: the
    // addon says, ESTALE for a dangling entry).
    const c = this[kCache];
    if (c !== null) {
      if (c.skip === 0) {
        const u = c.u;
        if (c.lim < u.length && Atomics.load(u, c.ci) === c.seq &&
            u[c.ei] === c.ep) {
          // (the map's state was good: even a key to look up is no waste)
          c.hit = true;
          const e = c.val.get(key);
          if (e === ABSENT) return undefined;
          if (e !== undefined && u[e.ci] === e.seq) return e.ref;
          return mapGetSlow(this, key);
        }
      } else {
        if (--c.skip === 0) c.retry = true;
        return mapGetPlain(this, key);
      }
    }
    return missed(c) === SKIP ? mapGetPlain(this, key) : mapGetSlow(this, key);
  }
  /** The plain value at `key` (containers as snapshots), or undefined. */
  getValue(key) {
    checkKey(key, 'MapRef.getValue');
    // a scalar's type and value come from one consistent library read;
    // a container is snapshotted from its id
    const v = native.mapGetValue(this[kH], this.id, key);
    const t = scratch[0];
    if (t === 0 || t === T.NULL || t === T.NUMBER || t === T.BOOL || t === T.STRING) return v;
    return snapshot(wrap(this[kArena], t, v), new Set());
  }
  has(key) {
    checkKey(key, 'MapRef.has');
    return native.mapHas(this[kH], this.id, key);
  }
  /** Remove `key`; true if it was there. An owned value is freed. */
  remove(key) {
    checkKey(key, 'MapRef.remove');
    return native.mapRemove(this[kH], this.id, key);
  }
  /** Alias of remove(), as in Map. */
  delete(key) { return this.remove(key); }
  len() { return native.mapLen(this[kH], this.id); }
  get size() { return this.len(); }
  *entries() {
    const flat = native.mapEntries(this[kH], this.id);
    const arena = this[kArena];
    for (let i = 0; i < flat.length; i += 3) {
      yield [flat[i], wrap(arena, flat[i + 2], flat[i + 1])];
    }
  }
  *keys() {
    // (no value read: none is given an id)
    yield* native.mapKeys(this[kH], this.id);
  }
  *values() {
    for (const [, v] of this.entries()) yield v;
  }
  [Symbol.iterator]() { return this.entries(); }
  /** As Map#forEach: fn(ref, key, map) for each entry of a snapshot. */
  forEach(fn, thisArg) {
    for (const [k, v] of this.entries()) fn.call(thisArg, v, k, this);
  }
  /** A plain object snapshot, recursively. */
  toObject() { return snapshot(this, new Set()); }
}

class VectorRef extends Ref {
  constructor(a, b, c) {
    if (a === kTrusted) { super(b, c); return; }
    const [arena, id] = ctorArgs(a, b, T.VECTOR, 'VectorRef');
    super(id === undefined ? native.vecNew(arena[kH]) : id, arena);
  }
  /** A new vector holding owned copies of an array's elements. */
  static from(array, opts) {
    if (!Array.isArray(array)) {
      throw error('EINVAL', 'VectorRef.from: expected an array', TypeError);
    }
    const arena = arenaOf(opts, 'VectorRef.from');
    return new VectorRef(kTrusted, storePlain(arena, array, 'VectorRef.from'), arena);
  }
  /** Append a ref (stays the caller's) or a plain value (owned). */
  push(value) { pushValue(this[kArena], this.id, value, 'VectorRef.push'); }
  /** The ref at `index`, or undefined past the end. A number stored in
   * the vector's item has no id: this makes it a number object (owned by
   * the vector) to give one, which takes a writable arena (EROFS on a
   * read-only one: read it with getValue() or toFloat64Array()). */
  index(i) {
    if (typeof i !== 'number') {
      throw error('EINVAL', 'VectorRef.index: expected a number', TypeError);
    }
    // Fast reads, as MapRef.get (an index is a key; a write to the vector
    // moves its counter)
    const c = this[kCache];
    if (c !== null) {
      if (c.skip === 0) {
        const u = c.u;
        if (c.lim < u.length && Atomics.load(u, c.ci) === c.seq &&
            u[c.ei] === c.ep) {
          c.hit = true;
          const e = c.val.get(i);
          if (e === ABSENT) return undefined;
          if (e !== undefined && u[e.ci] === e.seq) return e.ref;
          return mapGetSlow(this, i, native.vecGetF, IndexTable);
        }
      } else {
        if (--c.skip === 0) c.retry = true;
        return vecGetPlain(this, i);
      }
    }
    return missed(c) === SKIP ? vecGetPlain(this, i) : mapGetSlow(this, i, native.vecGetF, IndexTable);
  }
  /** Alias of index() that also accepts negative indexes, like Array#at. */
  at(i) {
    const n = i < 0 ? this.len() + i : i;
    return n < 0 ? undefined : this.index(n);
  }
  len() { return native.vecLen(this[kH], this.id); }
  get length() { return this.len(); }
  /** Replace element `index` (an owned previous value is freed). */
  set(i, value) {
    storeAt(this, i, value, native.vecSet, native.vecSetNumber, 'VectorRef.set');
  }
  /** Insert before `index` (== len() appends). */
  insert(i, value) {
    storeAt(this, i, value, native.vecInsert, native.vecInsertNumber, 'VectorRef.insert');
  }
  /** The plain value at `index` (containers as snapshots), or undefined
   * past the end. A number stored in the vector's item is read from it:
   * unlike index(), this never makes it an object, and works on read-only
   * arenas. */
  getValue(i) {
    checkSize(i, 'VectorRef.getValue');
    const v = native.vecGetValue(this[kH], this.id, i);
    const t = scratch[0];
    if (t === 0 || t === T.NULL || t === T.NUMBER || t === T.BOOL || t === T.STRING) return v;
    return snapshot(wrap(this[kArena], t, v), new Set());
  }
  /**
   * A copy of elements [start, end) as a Float64Array, read in one
   * consistent pass (never a mix of two writes). A copy, not a view: another
   * process may grow the vector at any moment, which frees the block its
   * items were in. RangeError unless 0 <= start <= end <= len(); TypeError
   * when an element in the range is not a number.
   */
  toFloat64Array(start = 0, end = undefined) {
    const op = 'VectorRef.toFloat64Array';
    checkSize(start, op);
    if (end !== undefined) checkSize(end, op);
    // the length, then the copy: again when the vector shrank in between
    for (let tries = 0; ; tries++) {
      const n = this.len();
      const e = end === undefined ? n : end;
      if (start > e || e > n) {
        throw error('ERANGE', `${op}: [${start}, ${e}) is not within the vector's ${n} elements`, RangeError);
      }
      try {
        return native.vecReadNumbers(this[kH], this.id, start, e - start);
      } catch (err) {
        if (err.code === 'ETYPE') {
          throw error('ETYPE', `${op}: an element in [${start}, ${e}) is not a number`, TypeError);
        }
        if (err.code !== 'ERANGE' || tries >= 16) throw err;
      }
    }
  }
  /** Remove element `index`: an owned value is freed (returns undefined),
   * a ref the caller stored is returned. */
  remove(i) {
    checkSize(i, 'VectorRef.remove');
    const id = native.vecRemove(this[kH], this.id, i);
    return id === 0 ? undefined : this[kArena].ref(id);
  }
  /** Remove and return the last element; ownership moves to the caller
   * (drop it when done). undefined when empty. */
  pop() {
    const id = native.vecPop(this[kH], this.id);
    if (id === 0) return undefined;
    if (scratch[0] === T.NULL) {
      // a null has nothing to hand over: it is dropped, and reads as null
      native.drop(this[kH], id, false);
      return null;
    }
    return wrap(this[kArena], scratch[0], id);
  }
  *values() {
    const flat = native.vecItems(this[kH], this.id);
    const arena = this[kArena];
    for (let i = 0; i < flat.length; i += 2) yield wrap(arena, flat[i + 1], flat[i]);
  }
  [Symbol.iterator]() { return this.values(); }
  /** As Array#keys: the indexes of a snapshot. */
  *keys() {
    const n = native.vecItems(this[kH], this.id).length / 2;
    for (let i = 0; i < n; i++) yield i;
  }
  /** As Array#entries: [index, ref] pairs of a snapshot. */
  *entries() {
    let i = 0;
    for (const v of this.values()) yield [i++, v];
  }
  /** As Array#forEach: fn(ref, index, vector) over a snapshot. */
  forEach(fn, thisArg) {
    let i = 0;
    for (const v of this.values()) fn.call(thisArg, v, i++, this);
  }
  /** A plain array snapshot, recursively. */
  toArray() { return snapshot(this, new Set()); }
}

function link(all) {
  ({ snapshot } = all);
}

module.exports = { setValue, MapRef, VectorRef, link };
