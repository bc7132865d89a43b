'use strict';
// sharena for Node: a thin layer over the C addon. It checks arguments,
// wraps ids in ref classes and turns plain JS values into owned arena
// objects; every rule about the arena itself lives in libsharena.
//
// The seed package's API (@alshdavid/worker-shared-memory) is reproduced
// name for name: StringRef, NumberRef, MapRef, VectorRef, StructFactory /
// StructDefinition, `new X()`, `new X(id)`, `.id`, `X.from(v)`, setValue,
// obtainValue, drop, set/get/remove/len, push/index/len, new/new_proxy,
// getKey/setKey.

const util = require('node:util');
const native = require('./native');
const { error, codeError, codeName } = require('./errors');

const T = Object.freeze({
  NONE: 0, STRING: 1, NUMBER: 2, BOOL: 3, MAP: 4, VECTOR: 5, STRUCT: 6,
  BYTES: 7, SHAPE: 8,
});
const TYPE_NAMES = ['none', 'string', 'number', 'boolean', 'map', 'vector',
  'struct', 'bytes', 'shape'];

const CREATE = 1;
const EXCL = 2;
const READONLY = 4;

const [scratch, fscratch] = native.scratch();
const kH = Symbol('sharena.handle');
const kArena = Symbol('sharena.arena');
const kTrusted = Symbol('sharena.trusted');
const kFields = Symbol('sharena.fields');

// ---------------------------------------------------------------------------
// Arenas

const arenasByHandle = new Map(); // handle -> Arena (this thread's)

/**
 * An arena: the in-process default one (`defaultArena`), or a named arena
 * opened through the broker with `Arena.open()`.
 */
class Arena {
  constructor(token, handle, name, socket) {
    if (token !== kTrusted) {
      throw error('EINVAL', 'use Arena.open(name, options) or defaultArena',
        TypeError);
    }
    this[kH] = handle;
    this.name = name;
    this.socket = socket;
    // What the mapping is, not what was asked for: the broker may grant
    // only read access, and fromFd may be given a read-only fd.
    this.readonly = native.arenaReadonly(handle);
    // Whose it is and whether this open made it, as the broker said
    // (docs/security.md, "Names on a shared broker"). For Arena.fromFd and
    // the default arena: the memfd's owner and mode, created false/true.
    const own = native.arenaOwner(handle);
    this.created = own.created;
    this.ownerUid = own.uid;
    this.ownerGid = own.gid;
    this.mode = own.mode;
    this.qualifiedName = own.qualifiedName || null;
    this.closed = false;
    this._shapes = new Map(); // StructFactory -> shape id
    this._fieldCache = new Map(); // shape id -> fields
    arenasByHandle.set(handle, this);
  }

  /**
   * Open (by default: create if missing) the named arena through the broker.
   * A plain name is your own arena (or one the broker's policy shares under
   * that name); 'user:name' (login name or uid) is that user's, opened with
   * { create: false }: a create-or-open of an arena that is not your own,
   * or not of the mode asked, throws EEXIST naming its owner. The result
   * says whether it was created (arena.created) and whose it is
   * (arena.ownerUid, arena.mode, arena.qualifiedName).
   * @param {string} name 1..128 bytes of [A-Za-z0-9._-], or 'user:name'
   * @param {{create?: boolean, exclusive?: boolean, capacity?: number,
   *   readonly?: boolean, socket?: string, mode?: number}} [opts]
   */
  static open(name, opts = {}) {
    if (typeof name !== 'string') {
      throw error('EINVAL', 'Arena.open: the name must be a string', TypeError);
    }
    const o = opts || {};
    const create = o.create !== undefined ? !!o.create : !o.readonly;
    let flags = 0;
    if (create) flags |= CREATE;
    if (o.exclusive) flags |= EXCL;
    if (o.readonly) flags |= READONLY;
    const capacity = o.capacity === undefined ? 0 : o.capacity;
    if (typeof capacity !== 'number' || !Number.isInteger(capacity) ||
        capacity < 0) {
      throw error('EINVAL', 'Arena.open: capacity is a byte count', TypeError);
    }
    const mode = o.mode === undefined ? 0 : o.mode;
    const socket = o.socket === undefined ? null : o.socket;
    const h = native.arenaOpen(socket, name, capacity, flags, mode);
    return new Arena(kTrusted, h, name, socket);
  }

  /**
   * Map an arena from a sealed memfd another process passed (for example
   * over a Unix socket); the fd is duplicated, the caller keeps its own.
   * A memfd that is not a sharena arena of this build's layout throws
   * ELAYOUT; one not sealed throws EUNSEALED.
   * @param {number} fd
   * @param {{readonly?: boolean}} [opts]
   */
  static fromFd(fd, opts = {}) {
    if (!Number.isInteger(fd) || fd < 0) {
      throw error('EINVAL', 'Arena.fromFd: expected a file descriptor', TypeError);
    }
    const readonly = !!(opts && opts.readonly);
    const h = native.arenaFromFd(fd, readonly);
    return new Arena(kTrusted, h, `fd:${fd}`, null);
  }

  /** Unlink a named arena at the broker (mappings stay valid until closed). */
  static delete(name, opts = {}) {
    native.arenaDelete(opts && opts.socket != null ? opts.socket : null, name);
  }

  /**
   * Create arena `name` from an image written by `arena.save()` or
   * `sharena save`, and open it. The whole image is checked first and the
   * new arena is checked with fsck before use: a corrupt, truncated or
   * foreign image throws (ECORRUPT, ELAYOUT) and no arena is left; an
   * existing name throws EEXIST.
   * @param {string} path
   * @param {string} name
   * @param {{mode?: number, readonly?: boolean, socket?: string}} [opts]
   */
  static load(path, name, opts = {}) {
    if (typeof path !== 'string' || typeof name !== 'string') {
      throw error('EINVAL', 'Arena.load(path, name): strings expected',
        TypeError);
    }
    const o = opts || {};
    const socket = o.socket === undefined ? null : o.socket;
    native.arenaLoad(socket, path, name, o.mode === undefined ? 0 : o.mode);
    return Arena.open(name, { create: false, readonly: !!o.readonly,
      socket: socket === null ? undefined : socket });
  }

  /** Arenas the broker lets this process see. */
  static list(opts = {}) {
    return native.arenaList(opts && opts.socket != null ? opts.socket : null);
  }

  /**
   * Write a consistent image of this arena to `path` (temporary file,
   * fsync, rename). Writers of the arena wait while it is taken, readers
   * do not. Returns { bytes, imageBytes, barrierNs }.
   * @param {string} path
   */
  save(path) {
    if (typeof path !== 'string') {
      throw error('EINVAL', 'arena.save(path): a string expected', TypeError);
    }
    return native.arenaSave(this[kH], path);
  }

  /** Close this arena: its refs throw ECLOSED, pending waits reject with
   * ECLOSED, zero-copy buffers are detached (length 0). Idempotent. The
   * default arena cannot be closed. */
  close() {
    if (this.closed || this === defaultArena) return;
    this.closed = true;
    rejectArenaWaits(this[kH]);
    native.arenaClose(this[kH]);
    arenasByHandle.delete(this[kH]);
  }

  /** The arena's file descriptor (a sealed memfd), e.g. to hand to a child
   * process that maps it with `Arena.fromFd`. Owned by the arena: it is
   * closed with it (dup it to keep it). ECLOSED after close(). */
  get fd() {
    return native.arenaFd(this[kH]);
  }

  /** Counters from the arena header. */
  info() {
    return native.arenaInfo(this[kH]);
  }

  /** Named root `name` as a MapRef, created empty if missing. */
  map(name) { return this._ensure(name, T.MAP, 0); }
  /** Named root `name` as a VectorRef, created empty if missing. */
  vector(name) { return this._ensure(name, T.VECTOR, 0); }
  /** Named root `name` as a StringRef, created empty if missing. */
  string(name) { return this._ensure(name, T.STRING, 0); }
  /** Named root `name` as a NumberRef, created as 0 if missing. */
  number(name) { return this._ensure(name, T.NUMBER, 0); }
  /** Named root `name` as a BoolRef, created false if missing. */
  bool(name) { return this._ensure(name, T.BOOL, 0); }
  /** Named root `name` as a BytesRef of `size` bytes, zeroed if missing. */
  bytes(name, size) {
    checkSize(size, 'arena.bytes');
    return this._ensure(name, T.BYTES, size);
  }

  _ensure(name, type, size) {
    checkName(name);
    return wrap(this, type, native.rootEnsure(this[kH], name, type, size));
  }

  /** The object at root `name` as a ref of its type, or undefined. */
  root(name) {
    checkName(name);
    const id = native.rootGet(this[kH], name);
    return id === 0 ? undefined : wrap(this, scratch[0], id);
  }

  /** Bind root `name` to `ref` (the arena does not own it unless
   * `{ owned: true }`). */
  setRoot(name, ref, opts = {}) {
    checkName(name);
    const r = checkRef(ref, this, 'arena.setRoot');
    native.rootSet(this[kH], name, r.id, !!(opts && opts.owned));
  }

  /** Remove root `name`; true if it existed. */
  removeRoot(name) {
    checkName(name);
    return native.rootRemove(this[kH], name);
  }

  /** Names of every root. */
  roots() {
    const flat = native.mapEntries(this[kH], native.rootsDir(this[kH]));
    const names = [];
    for (let i = 0; i < flat.length; i += 3) names.push(flat[i]);
    return names;
  }

  /** A ref of the right class for an existing object id. */
  ref(id) {
    return wrap(this, native.typeOf(this[kH], id), id);
  }

  /**
   * The ref at `path`: a root name, then map keys and vector indexes
   * separated by '/' (`config/servers/0/host`), the CLI's PATH syntax:
   * a backslash escapes the next character (`a\\/b` is the key "a/b"), a
   * leading '/' is ignored, a vector index may be negative (-1: the last).
   * ENOENT when something along it is missing, ETYPE when a component
   * would go into a value that is not a map or a vector.
   */
  resolve(path, op = 'arena.resolve') {
    const parts = splitPath(path, op);
    let ref = this.root(parts[0]);
    if (!ref) throw error('ENOENT', `${op}: no root named '${parts[0]}'`);
    for (let i = 1; i < parts.length; i++) {
      const at = parts.slice(0, i).join('/');
      let next;
      if (ref instanceof MapRef) {
        next = ref.get(parts[i]);
      } else if (ref instanceof VectorRef) {
        if (!/^-?[0-9]+$/.test(parts[i])) {
          throw error('EINVAL', `${op}: '${parts[i]}' under vector '${at}' is not an index`);
        }
        next = ref.at(Number(parts[i]));
      } else {
        throw error('ETYPE', `${op}: '${at}' is a ${ref.constructor.name}, not a map or a vector: watch it whole`);
      }
      if (next === undefined) {
        throw error('ENOENT', `${op}: nothing at '${parts.slice(0, i + 1).join('/')}'`);
      }
      ref = next;
    }
    return ref;
  }

  /**
   * Call `callback({ ref, version })` after each change of `target` (a ref,
   * or a path: the object there now, see resolve()), or of anything in the arena
   * when `target` is null. When the target is dropped, the callback gets
   * `{ ref, error }` once and the watch ends. Returns the unsubscribe
   * function. Watches do not keep the process alive unless
   * `{ keepAlive: true }`.
   */
  watch(target, callback, opts = {}) {
    if (typeof callback !== 'function') {
      throw error('EINVAL', 'arena.watch: the callback must be a function',
        TypeError);
    }
    let ref = null;
    if (typeof target === 'string') {
      ref = this.resolve(target, 'arena.watch');
    } else if (target != null) {
      ref = checkRef(target, this, 'arena.watch');
    }
    const h = this[kH];
    const token = native.watchAdd(h, ref ? ref.id : 0, -1, false,
      !!(opts && opts.keepAlive));
    const entry = { h, ref, callback, once: false };
    waits.set(token, entry);
    return function unsubscribe() {
      if (waits.delete(token)) native.watchRemove(h, token);
    };
  }

  [util.inspect.custom]() {
    return `Arena { name: ${JSON.stringify(this.name)}${this.closed ? ', closed' : ''} }`;
  }
}

/* PATH = ROOT[/KEY-or-INDEX...], as tools/cli/path.c parses it. */
function splitPath(path, op) {
  if (typeof path !== 'string') {
    throw error('EINVAL', `${op}: a path must be a string`, TypeError);
  }
  const parts = [];
  let cur = '';
  let i = path.startsWith('/') ? 1 : 0;
  for (; i < path.length; i++) {
    const c = path[i];
    if (c === '\\' && i + 1 < path.length) {
      cur += path[++i];
    } else if (c === '/') {
      parts.push(cur);
      cur = '';
    } else {
      cur += c;
    }
  }
  parts.push(cur);
  if (parts.some((p) => p === '')) {
    throw error('EINVAL', `${op}: '${path}' has an empty component`);
  }
  return parts;
}

function checkName(name) {
  if (typeof name !== 'string') {
    throw error('EINVAL', 'a root name must be a string', TypeError);
  }
}

function checkSize(size, op) {
  if (typeof size !== 'number' || !Number.isInteger(size) || size < 0) {
    throw error('EINVAL', `${op}: the size must be a non-negative integer`,
      TypeError);
  }
}

const defaultArena = new Arena(kTrusted, native.defaultArena(), 'node-default',
  null);

function arenaOf(opts, op) {
  if (opts == null) return defaultArena;
  if (typeof opts !== 'object') {
    throw error('EINVAL', `${op}: options must be an object`, TypeError);
  }
  const a = opts.arena;
  if (a === undefined) return defaultArena;
  if (!(a instanceof Arena)) {
    throw error('EINVAL', `${op}: options.arena must be an Arena`, TypeError);
  }
  return a;
}

// ---------------------------------------------------------------------------
// Change waits: one dispatcher receives every event of this thread.

const waits = new Map(); // token -> { h, ref, resolve, reject, callback, ... }

native.watchInit(function dispatch(token, code, version) {
  const w = waits.get(token);
  if (!w) return; // cancelled meanwhile
  if (w.once) {
    waits.delete(token);
    cleanupWait(w);
    if (code < 0) w.reject(codeError(code, 'changed'));
    else w.resolve(version);
    return;
  }
  if (code < 0) {
    waits.delete(token);
    w.callback({ ref: w.ref, error: codeError(code, 'arena.watch') });
  } else {
    w.callback({ ref: w.ref, version });
  }
});

function cleanupWait(w) {
  if (w.timer) clearTimeout(w.timer);
  if (w.signal && w.onAbort) w.signal.removeEventListener('abort', w.onAbort);
}

function rejectArenaWaits(h) {
  for (const [token, w] of waits) {
    if (w.h !== h) continue;
    waits.delete(token);
    if (w.once) {
      cleanupWait(w);
      w.reject(error('ECLOSED', 'changed: the arena was closed'));
    }
  }
}

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

class Ref {
  constructor(id, arena) {
    this.id = id;
    this[kArena] = arena;
    this[kH] = arena[kH];
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
  obtainValue() { return native.strGet(this[kH], this.id); }
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
  obtainValue() { return native.numGet(this[kH], this.id); }
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
  obtainValue() { return native.boolGet(this[kH], this.id); }
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
  if (t === 'string' || t === 'number' || t === 'boolean') {
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
  native.buildSplice(arena[kH], vecId, -1, 0, [value], resolver(arena, op), op);
}

function checkKey(key, op) {
  if (typeof key !== 'string') {
    throw error('EINVAL', `${op}: the key must be a string`, TypeError);
  }
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
   * map does not drop it). A string, number, boolean, Buffer, plain object
   * or array is stored as a new object the map owns: overwriting, removing
   * or dropping the map frees it.
   */
  set(key, value) {
    checkKey(key, 'MapRef.set');
    setValue(this[kArena], this.id, key, value, 'MapRef.set');
  }
  /** The ref stored at `key`, or undefined. */
  get(key) {
    checkKey(key, 'MapRef.get');
    const id = native.mapGet(this[kH], this.id, key);
    return id === 0 ? undefined : wrap(this[kArena], scratch[0], id);
  }
  /** The plain value at `key` (containers as snapshots), or undefined. */
  getValue(key) {
    const r = this.get(key);
    return r === undefined ? undefined : snapshot(r, new Set());
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
    const flat = native.mapEntries(this[kH], this.id);
    for (let i = 0; i < flat.length; i += 3) yield flat[i];
  }
  *values() {
    for (const [, v] of this.entries()) yield v;
  }
  [Symbol.iterator]() { return this.entries(); }
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
  /** The ref at `index`, or undefined past the end. */
  index(i) {
    if (typeof i !== 'number') {
      throw error('EINVAL', 'VectorRef.index: expected a number', TypeError);
    }
    const id = native.vecGet(this[kH], this.id, i);
    return id === 0 ? undefined : wrap(this[kArena], scratch[0], id);
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
    checkSize(i, 'VectorRef.set');
    const arena = this[kArena];
    if (value instanceof Ref) {
      native.vecSet(this[kH], this.id, i, checkRef(value, arena, 'VectorRef.set').id, false);
      return;
    }
    const id = storePlain(arena, value, 'VectorRef.set');
    try {
      native.vecSet(this[kH], this.id, i, id, true);
    } catch (e) {
      native.drop(this[kH], id, false);
      throw e;
    }
  }
  /** Insert before `index` (== len() appends). */
  insert(i, value) {
    checkSize(i, 'VectorRef.insert');
    const arena = this[kArena];
    if (value instanceof Ref) {
      native.vecInsert(this[kH], this.id, i, checkRef(value, arena, 'VectorRef.insert').id, false);
      return;
    }
    const id = storePlain(arena, value, 'VectorRef.insert');
    try {
      native.vecInsert(this[kH], this.id, i, id, true);
    } catch (e) {
      native.drop(this[kH], id, false);
      throw e;
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
    return id === 0 ? undefined : wrap(this[kArena], scratch[0], id);
  }
  *values() {
    const flat = native.vecItems(this[kH], this.id);
    const arena = this[kArena];
    for (let i = 0; i < flat.length; i += 2) yield wrap(arena, flat[i + 1], flat[i]);
  }
  [Symbol.iterator]() { return this.values(); }
  /** A plain array snapshot, recursively. */
  toArray() { return snapshot(this, new Set()); }
}

// ---------------------------------------------------------------------------
// Structs

const FIELD_TYPES = {
  string: T.STRING, number: T.NUMBER, boolean: T.BOOL, bool: T.BOOL,
};

function fieldsFromShape(arena, shapeId) {
  let f = arena._fieldCache.get(shapeId);
  if (f) return f;
  const flat = native.shapeFields(arena[kH], shapeId);
  f = new Map();
  for (let i = 0; i < flat.length; i += 2) f.set(flat[i], { index: i / 2, type: flat[i + 1] });
  arena._fieldCache.set(shapeId, f);
  return f;
}

/** A struct instance: fixed fields stored inline, owned by the struct. */
class StructRef extends Ref {
  /** `new StructRef(id)` opens an existing struct (its shape is read from
   * the arena); make new ones with a StructFactory. */
  constructor(a, b, c, fields) {
    if (a === kTrusted) {
      super(b, c);
      this[kFields] = fields || null;
      return;
    }
    const [arena, id] = ctorArgs(a, b, T.STRUCT, 'StructRef');
    if (id === undefined) {
      throw error('EINVAL', 'new StructRef() needs an id; create structs with a StructFactory', TypeError);
    }
    super(id, arena);
    this[kFields] = null;
  }
  _fields() {
    let f = this[kFields];
    if (!f) {
      const arena = this[kArena];
      f = fieldsFromShape(arena, native.structShape(this[kH], this.id));
      this[kFields] = f;
    }
    return f;
  }
  _field(key, op) {
    const f = this._fields().get(key);
    if (!f) throw error('ENOENT', `${op}: the struct has no field '${String(key)}'`);
    return f;
  }
  getKey(key) {
    const f = this._field(key, 'getKey');
    return native.structGet(this[kH], this.id, f.index, f.type);
  }
  setKey(key, value) {
    const f = this._field(key, 'setKey');
    if (typeof value !== TYPE_NAMES[f.type]) {
      throw error('EINVAL', `setKey('${key}'): expected a ${TYPE_NAMES[f.type]}`, TypeError);
    }
    native.structSet(this[kH], this.id, f.index, f.type, value);
  }
  /** Field names in definition order. */
  fields() { return [...this._fields().keys()]; }
  toObject() { return snapshot(this, new Set()); }
}

/**
 * A struct definition: `new StructFactory({ name: 'string', age: 'number',
 * ok: 'boolean' })`. `.new(init)` makes a StructRef, `.new_proxy(init)` a
 * Proxy whose properties read and write the fields.
 */
class StructFactory {
  constructor(definition) {
    if (definition === null || typeof definition !== 'object') {
      throw error('EINVAL', 'StructFactory: expected { field: "string" | "number" | "boolean" }', TypeError);
    }
    this.definition = Object.freeze({ ...definition });
    this._names = [];
    this._types = [];
    this._fields = new Map();
    for (const [k, v] of Object.entries(definition)) {
      const t = FIELD_TYPES[v];
      if (!t) {
        throw error('EINVAL', `StructFactory: field '${k}' has type '${v}'; use "string", "number" or "boolean"`, TypeError);
      }
      this._fields.set(k, { index: this._names.length, type: t });
      this._names.push(k);
      this._types.push(t);
    }
  }
  _shape(arena) {
    let s = arena._shapes.get(this);
    if (s === undefined) {
      s = native.shapeNew(arena[kH], this._names, this._types);
      arena._shapes.set(this, s);
      arena._fieldCache.set(s, this._fields);
    }
    return s;
  }
  /** A new struct, fields set from `init` (others: '', 0, false). */
  new(init = {}, opts) {
    const arena = arenaOf(opts, 'StructFactory.new');
    const h = arena[kH];
    const id = native.structNew(h, this._shape(arena));
    const st = new StructRef(kTrusted, id, arena, this._fields);
    if (init) {
      try {
        for (const k of Object.keys(init)) st.setKey(k, init[k]);
      } catch (e) {
        native.drop(h, id, false);
        throw e;
      }
    }
    return st;
  }
  /** Like new(), wrapped in a Proxy: `p.field` reads, `p.field = v` writes.
   * Methods and `id` of the struct stay reachable unless a field has the
   * same name. */
  new_proxy(init = {}, opts) {
    return structProxy(this.new(init, opts));
  }
  /** A Proxy over an existing struct ref. */
  static proxy(struct) {
    if (!(struct instanceof StructRef)) {
      throw error('EINVAL', 'StructFactory.proxy: expected a StructRef', TypeError);
    }
    return structProxy(struct);
  }
}

const proxyHandler = {
  get(target, prop) {
    if (typeof prop === 'string') {
      const f = target._fields().get(prop);
      if (f) return native.structGet(target[kH], target.id, f.index, f.type);
    }
    const v = Reflect.get(target, prop, target);
    return typeof v === 'function' ? v.bind(target) : v;
  },
  set(target, prop, value) {
    if (typeof prop === 'string' && target._fields().has(prop)) {
      target.setKey(prop, value);
      return true;
    }
    return Reflect.set(target, prop, value, target);
  },
  has(target, prop) {
    return (typeof prop === 'string' && target._fields().has(prop)) || prop in target;
  },
  ownKeys(target) {
    return [...target._fields().keys()];
  },
  getOwnPropertyDescriptor(target, prop) {
    if (typeof prop === 'string' && target._fields().has(prop)) {
      return { value: proxyHandler.get(target, prop), writable: true, enumerable: true, configurable: true };
    }
    return undefined;
  },
};

function structProxy(st) {
  return new Proxy(st, proxyHandler);
}

// ---------------------------------------------------------------------------
// Snapshots

function snapshot(ref, seen) {
  if (ref instanceof StringRef || ref instanceof NumberRef || ref instanceof BoolRef) {
    return ref.obtainValue();
  }
  if (ref instanceof BytesRef) return ref.read();
  if (seen.has(ref.id)) {
    throw error('ELOOP', `snapshot: object ${ref.id} contains itself`);
  }
  seen.add(ref.id);
  let out;
  if (ref instanceof MapRef) {
    out = {};
    for (const [k, v] of ref.entries()) out[k] = snapshot(v, seen);
  } else if (ref instanceof VectorRef) {
    out = [];
    for (const v of ref.values()) out.push(snapshot(v, seen));
  } else if (ref instanceof StructRef) {
    out = {};
    for (const k of ref._fields().keys()) out[k] = ref.getKey(k);
  }
  seen.delete(ref.id);
  return out;
}

/** Type of the object `id` in the default arena (or `{ arena }`), as the
 * seed's js_typeof: 'string', 'number', ..., 'freed' after drop,
 * 'undefined' for an id never issued. */
function typeOf(id, opts) {
  const arena = arenaOf(opts, 'typeOf');
  const t = native.typeOrError(arena[kH], id);
  if (t > 0) return TYPE_NAMES[t];
  return codeName(t) === 'ESTALE' ? 'freed' : 'undefined';
}

module.exports = {
  Arena,
  defaultArena,
  Ref,
  StringRef,
  NumberRef,
  BoolRef,
  BytesRef,
  MapRef,
  VectorRef,
  StructRef,
  StructFactory,
  StructDefinition: StructFactory,
  typeOf,
  types: T,
  /** The release of the C library compiled into the addon ("0.1.0"). */
  version: [Math.floor(native.libVersion / 10000), Math.floor(native.libVersion / 100) % 100,
    native.libVersion % 100].join('.'),
};
