'use strict';
// node/lib/refs.js: Ref, the base of every ref class, and the scalar refs:
// StringRef, NumberRef, BoolRef, BytesRef.

const util = require('node:util');
const native = require('./native');
const { error } = require('./errors');
const { T, TYPE_NAMES, fscratch, kH, kArena, kTrusted, kLocked, kCache, kView, scratch } = require('./internal');
const { checkSize, arenaOf, waits, cleanupWait } = require('./arena');
// Defined by modules that load after this one (they build on it):
// bound by index.js once every module is loaded.
let MapRef, VectorRef, StructRef, snapshot;

// ---------------------------------------------------------------------------
// Refs

function wrap(arena, type, id) {
  switch (type) {
    case T.STRING: return new StringRef(kTrusted, id, arena);
    case T.NUMBER: return new NumberRef(kTrusted, id, arena);
    case T.MAP: return new MapRef(kTrusted, id, arena);
    case T.VECTOR: return new VectorRef(kTrusted, id, arena);
    case T.BOOL: return new BoolRef(kTrusted, id, arena);
    case T.BYTES: return new BytesRef(kTrusted, id, arena);
    case T.STRUCT: return new StructRef(kTrusted, id, arena);
    // null has no value to read or set, so no ref class: it reads as null
    // (undefined stays "absent")
    case T.NULL: return null;
    default: throw error('ETYPE', `object ${id} has type ${TYPE_NAMES[type] || type}, which has no ref class`);
  }
}

// Decode the (idOrOptions, options) constructor arguments. Returns the arena
// and the id (undefined: create a new object).
function ctorArgs(a, b, type, name) {
  let arena;
  let id;
  if (a instanceof Ref || b instanceof Ref) {
    // (it would be read as options and make a new, empty object)
    throw error('EINVAL', `new ${name}(ref): pass an id (ref.id), not a ref ` +
      '(a ref is already usable as it is)', TypeError);
  }
  if (a !== null && typeof a === 'object') {
    arena = arenaOf(a, name);
  } else {
    arena = arenaOf(b, name);
    id = a;
  }
  if (id === undefined) return [arena, undefined];
  if (typeof id !== 'number') {
    throw error('EINVAL', `new ${name}(id): the id must be a number`, TypeError);
  }
  const t = native.typeOf(arena[kH], id);
  if (t !== type) {
    throw error('ETYPE', `new ${name}(${id}): object ${id} is a ${TYPE_NAMES[t]}, not a ${TYPE_NAMES[type]}`);
  }
  return [arena, id];
}

function checkRef(v, arena, op) {
  if (!(v instanceof Ref)) {
    throw error('EINVAL', `${op}: expected a ref`, TypeError);
  }
  if (v[kArena] !== arena) {
    throw error('EINVAL', `${op}: the ref belongs to another arena`);
  }
  return v;
}

// ---------------------------------------------------------------------------
// Fast reads (docs/api-node.md, "Fast reads"). A ref keeps the last value it
// read with the object's change counter and the arena's layout epoch, as
// lib's sharena_fastread (version 1) defines them: the addon's *GetF calls
// leave them in scratch[4..7] (counter index, counter, epoch index, epoch;
// index -1: keep nothing), taken before the value was read. A later read
// returns the kept value only if both words, read through a Uint32Array
// over the mapping, are unchanged: no write has completed since (in any
// thread or process). The counter is loaded with Atomics.load, the epoch
// (and a container's or struct's child counter) with plain reads after it:
// Node 20's V8 does not inline Atomics.load (a builtin call, ~8 ns here, a
// plain read ~1 ns), and one acquire load per check is what the interface
// needs: the reads after it are ordered after it (by the CPU, and by the
// JIT, which cannot move a load across the call), so none can be hoisted
// out of a loop or answered from an older read (docs/api-c.md, "Fast
// reads"). The view is only read, its words only compared; anything odd
// (no view, a detached one after close, an index past it) takes the call,
// which validates and throws as before.

const FAST = 4;

function viewOf(arena) {
  let u = arena[kView];
  if (u === undefined) {
    const ab = native.arenaView(arena[kH]);
    u = arena[kView] = ab === null ? null : new Uint32Array(ab);
  }
  return u;
}

// A value that changes between most reads is not worth keeping: the check
// (an Atomics load and a read) and the keeping cost more than the call they would
// save. After a miss of a kept value that was never returned, the next 1,
// 2, 4, ... up to SKIP_MAX reads go through the plain call, with no check;
// then one read keeps again, to find out whether the value has settled.
const SKIP_MAX = 256;
const MISS = Symbol('sharena.miss'); // read and keep (a *GetF call)
const SKIP = Symbol('sharena.skip'); // read with the plain call

// The kept value of `ref` (never a symbol), or MISS or SKIP.
function cached(ref) {
  const c = ref[kCache];
  if (c !== null) {
    if (c.skip === 0) {
      const u = c.u;
      if (c.lim < u.length && Atomics.load(u, c.ci) === c.seq &&
          u[c.ei] === c.ep) {
        c.hit = true;
        return c.val;
      }
    } else {
      if (--c.skip === 0) c.retry = true;
      return SKIP;
    }
  }
  return missed(c);
}

// After a miss of kept state `c` (or none): MISS, or SKIP to start skipping.
function missed(c) {
  if (c === null) return MISS;
  if (c.retry) {
    c.retry = false;
    return MISS;
  }
  if (c.hit) {
    c.backoff = 0;
    return MISS;
  }
  c.backoff = c.backoff === 0 ? 1 : Math.min(c.backoff * 2, SKIP_MAX);
  c.skip = c.backoff;
  return SKIP;
}

// The fast-read state a *GetF call left in scratch, into `c` (made when
// null); null when there is none to keep.
function keepState(ref, c, val) {
  const ci = scratch[FAST];
  if (ci < 0) return null;
  const arena = ref[kArena];
  const u = arena[kView] === undefined ? viewOf(arena) : arena[kView];
  if (u === null) return null;
  const ei = scratch[FAST + 2];
  if (c === null) {
    c = { u, ci, ei, lim: ci > ei ? ci : ei, ep: 0, seq: 0, val, hit: false, skip: 0, backoff: 0, retry: false };
  } else {
    c.u = u;
    c.ci = ci;
    c.ei = ei;
    c.lim = ci > ei ? ci : ei;
    c.val = val;
    c.hit = false;
  }
  c.seq = scratch[FAST + 1] >>> 0;
  c.ep = scratch[FAST + 3] >>> 0;
  return c;
}

// Keep `val`, just read by a *GetF call.
function keep(ref, val) {
  ref[kCache] = keepState(ref, ref[kCache], val);
  return val;
}


class Ref {
  constructor(id, arena) {
    this.id = id;
    this[kArena] = arena;
    this[kH] = arena[kH];
    this[kCache] = null;
  }

  /** The arena this ref lives in. */
  get arena() { return this[kArena]; }

  /** Type name: 'string', 'number', 'boolean', 'map', 'vector', 'struct',
   * 'bytes', or 'freed' after drop (never throws ESTALE). */
  get type() {
    const t = native.typeOrError(this[kH], this.id);
    return t > 0 ? TYPE_NAMES[t] : 'freed';
  }

  /** Free the object; every later use of it (any thread, any process)
   * throws ESTALE. Pass `{ recursive: true }` to also drop children the
   * container does not own. */
  drop(opts) {
    native.drop(this[kH], this.id, !!(opts && opts.recursive));
  }

  /** The object's version: grows with every completed write. */
  version() {
    return native.version(this[kH], this.id);
  }

  /**
   * Resolve with the new version at the next change of this object (after
   * version `since` when given: read `v = ref.version()`, then the value,
   * then `await ref.changed({ since: v })` misses no change in between).
   * Rejects with ETIMEDOUT after `timeout` ms, with an AbortError when
   * `signal` aborts, with ESTALE when the object is dropped, ECLOSED when
   * its arena is closed. Does not keep the process alive unless
   * `{ keepAlive: true }`.
   */
  changed(opts = {}) {
    const o = opts || {};
    const signal = o.signal;
    if (signal && signal.aborted) {
      return Promise.reject(abortError(signal));
    }
    const h = this[kH];
    const since = o.since === undefined || o.since === null ? -1 : o.since;
    if (since !== -1 && (!Number.isSafeInteger(since) || since < 0)) {
      return Promise.reject(error('EINVAL', 'changed: since is a version from version()', TypeError));
    }
    let token;
    try {
      token = native.watchAdd(h, this.id, since, true, !!o.keepAlive);
    } catch (e) {
      return Promise.reject(e);
    }
    return new Promise((resolve, reject) => {
      const w = { h, once: true, resolve, reject, timer: null, signal, onAbort: null };
      waits.set(token, w);
      if (o.timeout !== undefined && o.timeout !== null) {
        w.timer = setTimeout(() => {
          if (!waits.delete(token)) return;
          native.watchRemove(h, token);
          cleanupWait(w);
          reject(error('ETIMEDOUT', `changed: no change within ${o.timeout} ms`));
        }, o.timeout);
        if (!o.keepAlive) w.timer.unref();
      }
      if (signal) {
        w.onAbort = () => {
          if (!waits.delete(token)) return;
          native.watchRemove(h, token);
          cleanupWait(w);
          reject(abortError(signal));
        };
        signal.addEventListener('abort', w.onAbort, { once: true });
      }
    });
  }

  /**
   * Run `fn(ref)` holding the object's lock and return what it returns: a
   * multi-step update (read, compute, write; several writes) that other
   * threads and processes see whole, as Python's `with ref.locked():`.
   * Other writers of the object wait (readers never do); this thread's own
   * operations on it go on. Nested `locked()` of the same object in the same
   * thread counts levels (the library's rule, as in Python). The lock is
   * released when `fn` returns or throws (the error is rethrown); a process
   * that dies inside `fn` leaves nothing held (the next locker recovers it),
   * and a worker_thread terminated inside `fn` releases it at its teardown.
   * `fn` must be synchronous: an async function is refused (EINVAL) before
   * locking, and a returned promise throws EINVAL after unlocking (the part
   * after its first `await` ran unlocked). Waits as long as another live
   * thread or process holds the lock. EROFS on a read-only arena; ECLOSED,
   * ESTALE as other operations.
   */
  locked(fn) {
    if (typeof fn !== 'function') {
      throw error('EINVAL', 'locked(fn): expected a function', TypeError);
    }
    if (fn[Symbol.toStringTag] === 'AsyncFunction') {
      throw error('EINVAL', 'locked(fn): fn must be synchronous (the lock ' +
        'cannot be held across an await)', TypeError);
    }
    const h = this[kH];
    const arena = this[kArena];
    native.lock(h, this.id);
    arena[kLocked]++;
    let out;
    try {
      out = fn(this);
    } finally {
      arena[kLocked]--;
      native.unlock(h, this.id);
    }
    if (out !== null && typeof out === 'object' && typeof out.then === 'function') {
      throw error('EINVAL', 'locked(fn): fn returned a promise: the lock was ' +
        'released when fn returned, so its work after an await ran unlocked; ' +
        'pass a synchronous function', TypeError);
    }
    return out;
  }

  /** A plain JS snapshot of the value (containers recursively). */
  toJSON() { return snapshot(this, new Set()); }

  [util.inspect.custom]() {
    return { id: this.id };
  }
}

function abortError(signal) {
  const e = new Error('changed: the wait was aborted', { cause: signal.reason });
  e.name = 'AbortError';
  e.code = 'ABORT_ERR';
  return e;
}

class StringRef extends Ref {
  /** `new StringRef()` (empty), `new StringRef(id)`, `new StringRef({ arena })`,
   * `new StringRef(id, { arena })`. */
  constructor(a, b, c) {
    if (a === kTrusted) { super(b, c); return; }
    const [arena, id] = ctorArgs(a, b, T.STRING, 'StringRef');
    super(id === undefined ? native.strNew(arena[kH], '') : id, arena);
  }
  static from(value, opts) {
    if (typeof value !== 'string') {
      throw error('EINVAL', 'StringRef.from: expected a string', TypeError);
    }
    const arena = arenaOf(opts, 'StringRef.from');
    return new StringRef(kTrusted, native.strNew(arena[kH], value), arena);
  }
  obtainValue() {
    const v = cached(this);
    if (typeof v !== 'symbol') return v;
    return v === SKIP ? native.strGet(this[kH], this.id)
      : keep(this, native.strGetF(this[kH], this.id));
  }
  setValue(value) {
    if (typeof value !== 'string') {
      throw error('EINVAL', 'StringRef.setValue: expected a string', TypeError);
    }
    native.strSet(this[kH], this.id, value);
  }
  /** Length in UTF-8 bytes. */
  byteLength() { return native.strLen(this[kH], this.id); }
}

class NumberRef extends Ref {
  constructor(a, b, c) {
    if (a === kTrusted) { super(b, c); return; }
    const [arena, id] = ctorArgs(a, b, T.NUMBER, 'NumberRef');
    super(id === undefined ? native.numNew(arena[kH], 0) : id, arena);
  }
  static from(value, opts) {
    if (typeof value !== 'number') {
      throw error('EINVAL', 'NumberRef.from: expected a number', TypeError);
    }
    const arena = arenaOf(opts, 'NumberRef.from');
    return new NumberRef(kTrusted, native.numNew(arena[kH], value), arena);
  }
  obtainValue() {
    const v = cached(this);
    if (typeof v !== 'symbol') return v;
    return v === SKIP ? native.numGet(this[kH], this.id)
      : keep(this, native.numGetF(this[kH], this.id));
  }
  setValue(value) {
    if (typeof value !== 'number') {
      throw error('EINVAL', 'NumberRef.setValue: expected a number', TypeError);
    }
    native.numSet(this[kH], this.id, value);
  }
  /** Atomically add `delta`; returns the new value. */
  add(delta) {
    if (typeof delta !== 'number') {
      throw error('EINVAL', 'NumberRef.add: expected a number', TypeError);
    }
    return native.numAdd(this[kH], this.id, delta);
  }
  /** Atomically set `desired` if the value is `expected` (bitwise, so NaN
   * matches NaN and -0 differs from 0). Returns the value found, like
   * Atomics.compareExchange: it swapped iff that is `expected`. */
  compareExchange(expected, desired) {
    if (typeof expected !== 'number' || typeof desired !== 'number') {
      throw error('EINVAL', 'NumberRef.compareExchange: expected numbers',
        TypeError);
    }
    native.numCas(this[kH], this.id, expected, desired);
    return fscratch[0];
  }
}

class BoolRef extends Ref {
  constructor(a, b, c) {
    if (a === kTrusted) { super(b, c); return; }
    const [arena, id] = ctorArgs(a, b, T.BOOL, 'BoolRef');
    super(id === undefined ? native.boolNew(arena[kH], false) : id, arena);
  }
  static from(value, opts) {
    if (typeof value !== 'boolean') {
      throw error('EINVAL', 'BoolRef.from: expected a boolean', TypeError);
    }
    const arena = arenaOf(opts, 'BoolRef.from');
    return new BoolRef(kTrusted, native.boolNew(arena[kH], value), arena);
  }
  obtainValue() {
    const v = cached(this);
    if (typeof v !== 'symbol') return v;
    return v === SKIP ? native.boolGet(this[kH], this.id)
      : keep(this, native.boolGetF(this[kH], this.id));
  }
  setValue(value) {
    if (typeof value !== 'boolean') {
      throw error('EINVAL', 'BoolRef.setValue: expected a boolean', TypeError);
    }
    native.boolSet(this[kH], this.id, value);
  }
}

class BytesRef extends Ref {
  /** `new BytesRef(id)` opens an existing buffer; make new ones with
   * `BytesRef.alloc(size)` or `BytesRef.from(buffer)`. Without an id it
   * throws EINVAL: a buffer's size is fixed when it is made, and a 0-byte
   * one is never what was meant. */
  constructor(a, b, c) {
    if (a === kTrusted) { super(b, c); return; }
    const [arena, id] = ctorArgs(a, b, T.BYTES, 'BytesRef');
    if (id === undefined) {
      throw error('EINVAL', 'new BytesRef(): give the id of an existing ' +
        'buffer; make a new one with BytesRef.alloc(size) or ' +
        'BytesRef.from(data)', TypeError);
    }
    super(id, arena);
  }
  /** A zero-filled buffer of `size` bytes. */
  static alloc(size, opts) {
    checkSize(size, 'BytesRef.alloc');
    const arena = arenaOf(opts, 'BytesRef.alloc');
    return new BytesRef(kTrusted, native.bytesNew(arena[kH], size), arena);
  }
  /** A new buffer holding a copy of `data` (Buffer, TypedArray, DataView). */
  static from(data, opts) {
    checkView(data, 'BytesRef.from');
    const arena = arenaOf(opts, 'BytesRef.from');
    const id = native.bytesNew(arena[kH], data.byteLength);
    try {
      native.bytesWrite(arena[kH], id, 0, data);
    } catch (e) {
      native.drop(arena[kH], id, false);
      throw e;
    }
    return new BytesRef(kTrusted, id, arena);
  }
  /** Size in bytes (fixed at creation). */
  get size() { return native.bytesSize(this[kH], this.id); }
  /**
   * A Buffer over the arena memory itself (no copy): writes are seen by
   * every thread and process at once. Detached (length 0) when this process
   * frees the object (drop, or the map/vector/root owning it overwrites or
   * removes it or is dropped; in another worker_thread: at this thread's
   * next event-loop turn) or closes the arena. A free by another process is
   * not seen: see docs/api-node.md. The mapping stays until every such
   * Buffer is garbage-collected, so it never points at unmapped memory.
   */
  buffer() {
    return Buffer.from(native.bytesView(this[kH], this.id));
  }
  /** Copy `length` bytes from `offset` (default: all) into a new Buffer. */
  read(offset = 0, length) {
    const len = length === undefined ? this.size - offset : length;
    return native.bytesRead(this[kH], this.id, offset, len);
  }
  /** Copy `data` into the buffer at `offset` (bounds-checked); counts as a
   * change for changed()/watch(). */
  write(data, offset = 0) {
    checkView(data, 'BytesRef.write');
    native.bytesWrite(this[kH], this.id, offset, data);
  }
}

function checkView(data, op) {
  if (!ArrayBuffer.isView(data)) {
    throw error('EINVAL', `${op}: expected a Buffer, TypedArray or DataView`,
      TypeError);
  }
}

function link(all) {
  ({ MapRef, VectorRef, StructRef, snapshot } = all);
}

module.exports = { wrap, ctorArgs, checkRef, Ref, StringRef, NumberRef, BoolRef, BytesRef, link, viewOf, FAST, missed, keepState, SKIP };
