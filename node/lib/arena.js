'use strict';
// node/lib/arena.js: Arena (named, from an fd, the default one) and the dispatcher of change
// waits and watches.

const util = require('node:util');
const native = require('./native');
const { error, codeError } = require('./errors');
const { T, CREATE, EXCL, READONLY, scratch, kH, kTrusted, kLocked, kView } = require('./internal');
// Defined by modules that load after this one (they build on it):
// bound by index.js once every module is loaded.
let wrap, checkRef, MapRef, VectorRef;

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
    this[kLocked] = 0;
    this[kView] = undefined; // made at the first fast read (refs.js)
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
    if (this[kLocked] > 0) {
      throw error('EBUSY', 'arena.close(): this thread holds a lock on the ' +
        'arena (inside ref.locked()); close it after the locked() call returns');
    }
    this.closed = true;
    this[kView] = null; // (the addon detaches it: cached reads go slow)
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
    return native.mapKeys(this[kH], native.rootsDir(this[kH]));
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
    if (ref === undefined) throw error('ENOENT', `${op}: no root named '${parts[0]}'`);
    for (let i = 1; i < parts.length; i++) {
      const at = parts.slice(0, i).join('/');
      let next;
      if (ref === null) {
        throw error('ETYPE', `${op}: '${at}' is null, not a map or a vector`);
      } else if (ref instanceof MapRef) {
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
      if (ref === null) {
        // (a null ref would mean "the whole arena")
        throw error('ETYPE', `arena.watch: '${target}' is null, which never ` +
          'changes: watch the map or vector that holds it');
      }
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

function link(all) {
  ({ wrap, checkRef, MapRef, VectorRef } = all);
}

module.exports = { Arena, checkSize, defaultArena, arenaOf, waits, cleanupWait, link };
