// Type declarations for sharena (node/lib/index.js and node/lib/index.mjs).
// Every class, function and constant here exists at run time; the type
// aliases and interfaces (SharenaError, AnyRef, Storable, Snapshot, ...) are
// types only. Buffer, AbortSignal and NodeJS.ArrayBufferView come from
// @types/node, which TypeScript users of a Node addon have installed.

/// <reference types="node" />

// ---------------------------------------------------------------------------
// Errors

/**
 * The `code` of every Error sharena throws (or a promise rejects with). The
 * names mirror libsharena's error table (an argument of the wrong JS type is
 * a `TypeError` or `RangeError` with code `EINVAL`). `ABORT_ERR` is the code of the
 * AbortError a `changed({ signal })` rejects with; `ENOADDON` means the
 * native addon is not built; `ENAPI` a Node-API call failed (seen only as
 * a worker_thread is being terminated, if at all).
 */
export type SharenaErrorCode =
  | 'EPERM' | 'ENOENT' | 'EINTR' | 'EIO' | 'EBADF' | 'EAGAIN' | 'ENOMEM'
  | 'EACCES' | 'EBUSY' | 'EEXIST' | 'EINVAL' | 'ENOSPC' | 'EROFS' | 'ERANGE'
  | 'EDEADLK' | 'ENAMETOOLONG' | 'ENOSYS' | 'EPROTO' | 'EOVERFLOW' | 'EILSEQ'
  | 'ECONNREFUSED' | 'ETIMEDOUT' | 'ESTALE' | 'ETYPE' | 'EFULL' | 'ECORRUPT'
  | 'ELAYOUT' | 'EOWNERDEAD' | 'EUNSEALED' | 'ECLOSED' | 'EDROPPED' | 'ELOOP'
  | 'ABORT_ERR' | 'ENOADDON' | 'ENAPI' | 'EUNKNOWN';

/**
 * The shape of sharena's errors: an `Error` with a stable `code` (one of
 * SharenaErrorCode; typed `string` so that a code added later still fits)
 * and a message that says what to do. A type only: test with
 * `(e as SharenaError).code === 'ESTALE'`.
 */
export interface SharenaError extends Error {
  code: SharenaErrorCode | (string & {});
}

// ---------------------------------------------------------------------------
// Type names and shared aliases

/** The object types of an arena, as `types` numbers them. */
export declare const types: Readonly<{
  NONE: 0;
  STRING: 1;
  NUMBER: 2;
  BOOL: 3;
  MAP: 4;
  VECTOR: 5;
  STRUCT: 6;
  BYTES: 7;
  SHAPE: 8;
  NULL: 9;
}>;

/** What `ref.type` says for a live object. */
export type RefType =
  | 'string' | 'number' | 'boolean' | 'map' | 'vector' | 'struct' | 'bytes';

/** Any ref that `map.get()`, `vector.index()`, `arena.ref()`, ... can return. */
export type AnyRef =
  | StringRef
  | NumberRef
  | BoolRef
  | BytesRef
  | MapRef
  | VectorRef
  | StructRef;

/** What a container may hold, as `map.get()`, `vector.index()`,
 * `arena.root()` give it: a ref, or `null` for a null value (stored from
 * `null`, Python's None or JSON's null; it has no ref class). The default
 * element type of MapRef and VectorRef. */
export type AnyValue = AnyRef | null;

/**
 * What a map or vector stores: a ref (stored as is: it stays the caller's)
 * or a plain value, turned into a new object the container owns (string ->
 * StringRef, number -> NumberRef, boolean -> BoolRef, Buffer / TypedArray /
 * DataView -> BytesRef, array -> VectorRef, plain object -> MapRef, recursively).
 * `null` is stored as the arena's null and reads back as `null` (it has no
 * ref class). `undefined` (absent), functions and class instances are
 * refused (EINVAL).
 */
export type Storable =
  | Ref
  | string
  | number
  | boolean
  | null
  | NodeJS.ArrayBufferView
  | readonly Storable[]
  | { readonly [key: string]: Storable };

/** The plain values that stand for refs of type `V` when stored. */
export type PlainFor<V> =
  V extends null ? null
  : V extends StringRef ? string
  : V extends NumberRef ? number
  : V extends BoolRef ? boolean
  : V extends BytesRef ? NodeJS.ArrayBufferView
  : V extends MapRef<infer W> ? { readonly [key: string]: StorableFor<W> }
  : V extends VectorRef<infer W> ? readonly StorableFor<W>[]
  : never;

/** What a `MapRef<V>` / `VectorRef<V>` accepts: a `V`, or a plain value that
 * becomes one. For the default `V = AnyValue` this is every Storable but a
 * bare `Ref`. */
export type StorableFor<V> = V | PlainFor<V>;

/** The plain JS value `toJSON()` / `toObject()` / `toArray()` /
 * `map.getValue()` give for a ref of type `V`. */
export type Snapshot<V> =
  V extends null ? null
  : V extends StringRef ? string
  : V extends NumberRef ? number
  : V extends BoolRef ? boolean
  : V extends BytesRef ? Buffer
  : V extends MapRef<infer W> ? { [key: string]: Snapshot<W> }
  : V extends VectorRef<infer W> ? Snapshot<W>[]
  : V extends StructRef<infer D> ? StructValues<D>
  : unknown;

/** Options of the ref constructors and `X.from()`: the arena to create the
 * object in (default: `defaultArena`, the in-process one). */
export interface RefOptions {
  arena?: Arena;
}

// ---------------------------------------------------------------------------
// Arenas

/** Options of `Arena.open()`. */
export interface OpenOptions {
  /** Create the arena if it is missing (default: true unless `readonly`). */
  create?: boolean;
  /** With `create`: fail with EEXIST if it already exists. */
  exclusive?: boolean;
  /** Bytes, when creating (0 or absent: 64 MiB, sparse). */
  capacity?: number;
  /** Map it read-only: writes throw EROFS. */
  readonly?: boolean;
  /** The broker's socket (default: $SHARENA_SOCKET, else
   * $XDG_RUNTIME_DIR/sharena/broker.sock, else /tmp/sharena-$UID/broker.sock,
   * where a per-user sharenad is started if none answers). */
  socket?: string | null;
  /** Permission bits when creating, like 0o600 (0 or absent: 0o600). With
   * `create`, an existing arena must have this mode (else EEXIST); 0 or
   * absent accepts any. */
  mode?: number;
}

/** Options of `Arena.delete()` and `Arena.list()`. */
export interface BrokerOptions {
  socket?: string | null;
}

/** `Arena.load()` options. */
export interface LoadOptions extends BrokerOptions {
  /** access mode of the new arena, like 0o600 (the default) */
  mode?: number;
  /** open the loaded arena read-only */
  readonly?: boolean;
}

/** What `arena.save()` wrote. */
export interface SaveInfo {
  /** arena bytes in the image (its non-zero pages) */
  bytes: number;
  /** size of the image file */
  imageBytes: number;
  /** how long writers were held off, in nanoseconds */
  barrierNs: number;
}

/** `arena.info()`: counters from the arena header. */
export interface ArenaInfo {
  name: string;
  capacity: number;
  heapBytes: number;
  usedBytes: number;
  objects: number;
  /** Creation time, ms since the epoch. */
  createdMs: number;
  /** The arena-wide change counter: grows with each write to an object
   * (creating one does not count). */
  changes: number;
  readonly: boolean;
}

/** One entry of `Arena.list()`. */
export interface ArenaStat {
  name: string;
  capacity: number;
  usedBytes: number;
  objects: number;
  /** Processes that have it open. */
  clients: number;
  /** Owner's uid. */
  uid: number;
  /** Permission bits. */
  mode: number;
}

/** What an `arena.watch()` callback receives: the new version after each
 * change, or (once, at the end) the error that ended the watch, e.g. ESTALE
 * when the watched object was dropped. */
export type WatchEvent<R> =
  | { ref: R; version: number; error?: undefined }
  | { ref: R; error: SharenaError; version?: undefined };

/** Options of `arena.watch()`. */
export interface WatchOptions {
  /** Keep the process alive while the watch is active (default false). */
  keepAlive?: boolean;
}

/**
 * An arena: the in-process default one (`defaultArena`), or a named arena
 * opened through the broker with `Arena.open()`, or one mapped from a memfd
 * with `Arena.fromFd()`. There is no public constructor.
 */
export declare class Arena {
  private constructor();

  /** The arena's name (`'node-default'` for the default arena, `'fd:N'` for
   * one from `fromFd`). */
  readonly name: string;
  /** The socket given to `Arena.open`, or null. */
  readonly socket: string | null;
  /** Mapped read-only: what was granted, not what was asked for (the
   * broker may grant only read access; `fromFd` of an O_RDONLY fd maps
   * read-only). Writes then throw EROFS. */
  readonly readonly: boolean;
  /** The arena's file descriptor (a sealed memfd), e.g. to pass to a child
   * process for `Arena.fromFd`. Owned by the arena and closed with it: dup
   * it to keep it. @throws ECLOSED after close(). */
  readonly fd: number;
  /** `close()` was called. */
  readonly closed: boolean;
  /** This open created the arena (the broker said so; `false` when it
   * existed). For `fromFd`: false; for the default arena: true. */
  readonly created: boolean;
  /** The arena's owner (for `fromFd` and the default arena: the memfd's). */
  readonly ownerUid: number;
  readonly ownerGid: number;
  /** The arena's access mode, like 0o600. */
  readonly mode: number;
  /** The name that reaches this arena from any user, `'UID:name'`; null
   * when it was not opened through a broker. */
  readonly qualifiedName: string | null;

  /**
   * Open (by default: create if missing) the named arena through the
   * broker. `name`: 1..128 bytes of [A-Za-z0-9._-] for your own arena (or
   * one the broker's policy file shares under that name), or
   * `'user:name'` (login name or uid) for another user's, which you open
   * with `{ create: false }`.
   * @throws ECONNREFUSED (no broker), ENOENT (`create: false` and missing,
   * or an unknown user), EEXIST (`exclusive`, or a create-or-open of an
   * arena that is not your own or not of the `mode` asked: the message
   * names its owner and mode), EACCES (the arena's owner and mode, the
   * broker's policy or a delegated connection grant no access; a create in
   * another user's namespace), EINVAL.
   */
  static open(name: string, options?: OpenOptions): Arena;
  /**
   * Map an arena from a sealed memfd another process passed; the fd is
   * duplicated, the caller keeps its own.
   * @throws ELAYOUT (not an arena of this build's layout), EUNSEALED.
   */
  static fromFd(fd: number, options?: { readonly?: boolean }): Arena;
  /** Unlink a named arena at the broker (mappings stay valid until closed). */
  static delete(name: string, options?: BrokerOptions): void;
  /** Arenas the broker lets this process see. */
  static list(options?: BrokerOptions): ArenaStat[];
  /**
   * Create arena `name` from an image written by `arena.save()` (or
   * `sharena save`) and open it. The image is checked whole before anything
   * is created, and the new arena with fsck before use.
   * @throws ECORRUPT (not an image, truncated, checksum mismatch, or fsck
   * found problems; no arena is left), ELAYOUT (another image or arena
   * format version), EEXIST (the name is taken), ENOENT (no such file),
   * ECONNREFUSED.
   */
  static load(path: string, name: string, options?: LoadOptions): Arena;
  /**
   * Write a consistent image of this arena to `path` (temporary file,
   * fsync, rename). Writers wait while it is taken; readers do not.
   * @throws EROFS (a read-only arena), EBUSY (another save, or a write that
   * did not finish), ENOSYS (no membarrier), file system errors.
   */
  save(path: string): SaveInfo;

  /** Close this arena: its refs throw ECLOSED, pending waits reject with
   * ECLOSED, zero-copy buffers are detached (length 0). Idempotent; a no-op
   * on the default arena. */
  close(): void;
  /** Counters from the arena header. */
  info(): ArenaInfo;

  /** Root `name` as a MapRef, created empty if missing (ETYPE if it holds
   * another type). */
  map(name: string): MapRef;
  /** Root `name` as a VectorRef, created empty if missing. */
  vector(name: string): VectorRef;
  /** Root `name` as a StringRef, created empty if missing. */
  string(name: string): StringRef;
  /** Root `name` as a NumberRef, created as 0 if missing. */
  number(name: string): NumberRef;
  /** Root `name` as a BoolRef, created false if missing. */
  bool(name: string): BoolRef;
  /** Root `name` as a BytesRef, created zeroed with `size` bytes if
   * missing. */
  bytes(name: string, size: number): BytesRef;

  /** The object at root `name` as a ref of its type, or undefined. */
  root(name: string): AnyValue | undefined;
  /** Bind root `name` to `ref`. The arena owns it only with
   * `{ owned: true }` (then removing the root frees it). */
  setRoot(name: string, ref: Ref, options?: { owned?: boolean }): void;
  /** Remove root `name`; true if it existed. */
  removeRoot(name: string): boolean;
  /** Names of every root. */
  roots(): string[];
  /** A ref of the right class for an existing object id.
   * @throws ENOENT, ESTALE, ETYPE (a shape). */
  ref(id: number): AnyValue;
  /** The object at `path` (`root/key/0/key`: map keys and vector indexes
   * separated by '/', a backslash escapes, a negative index counts from the
   * end; the CLI's PATH syntax).
   * @throws ENOENT (nothing there), ETYPE (a component under a value that is
   * not a map or a vector), EINVAL (an empty component, an index that is not
   * a number). */
  resolve(path: string): AnyValue;

  /**
   * Call `callback` after each change of `target` (a ref; a path, see
   * resolve(): the object there now; null: anything in the arena). When the target
   * is dropped, the callback gets `{ ref, error }` once and the watch ends.
   * Returns the unsubscribe function. Watches do not keep the process alive
   * unless `{ keepAlive: true }`.
   */
  watch<R extends Ref>(target: R, callback: (event: WatchEvent<R>) => void, options?: WatchOptions): () => void;
  watch(target: string, callback: (event: WatchEvent<AnyRef>) => void, options?: WatchOptions): () => void;
  watch(target: null, callback: (event: WatchEvent<null>) => void, options?: WatchOptions): () => void;
}

/** The in-process arena refs live in when no arena is given: no broker,
 * shared by the main thread and every worker_thread of the process. */
export declare const defaultArena: Arena;

// ---------------------------------------------------------------------------
// Refs

/** Options of `ref.drop()`. */
export interface DropOptions {
  /** Also drop children the container does not own. */
  recursive?: boolean;
}

/** Options of `ref.changed()`. */
export interface ChangedOptions {
  /** A version from `version()`: resolve at once if the object changed
   * since then. */
  since?: number | null;
  /** Reject with ETIMEDOUT after this many ms. */
  timeout?: number | null;
  /** Reject with an AbortError (code ABORT_ERR) when it aborts. */
  signal?: AbortSignal;
  /** Keep the process alive while waiting (default false). */
  keepAlive?: boolean;
}

/** The base class of every ref. `console.log(ref)` shows `{ id: N }`. */
export declare class Ref {
  protected constructor(id: number, arena: Arena);
  /** The object's id: pass it to another thread or process and open it
   * there with `new XRef(id)` (or `arena.ref(id)`). */
  readonly id: number;
  /** The arena this ref lives in. */
  readonly arena: Arena;
  /** The object's type, or 'freed' after drop (never throws ESTALE). */
  get type(): RefType | 'freed';
  /** Free the object; every later use of it, in any thread or process,
   * throws ESTALE ("use after free"). */
  drop(options?: DropOptions): void;
  /** The object's version: grows with every completed write. */
  version(): number;
  /**
   * Resolve with the new version at the next change (after `since` when
   * given). Rejects with ETIMEDOUT, an AbortError, ESTALE (dropped) or
   * ECLOSED (arena closed).
   */
  changed(options?: ChangedOptions): Promise<number>;
  /**
   * Run the synchronous `fn(this)` holding the object's lock (across
   * threads and processes) and return what it returns; the lock is
   * released when `fn` returns or throws (rethrown). Nested `locked()` of
   * the same object in one thread counts levels. An async `fn`, or a
   * returned promise, throws EINVAL. EROFS on a read-only arena.
   *
   * @example
   * const total = counter.locked((c) => {
   *   const v = c.obtainValue();
   *   c.setValue(v + 1);
   *   return v + 1;
   * });
   */
  locked<R>(fn: (ref: this) => R): R;
  /** A plain JS snapshot of the value (containers recursively). */
  toJSON(): unknown;
}

/** A UTF-8 string. */
export declare class StringRef extends Ref {
  /** `new StringRef()` (empty) or `new StringRef({ arena })`. */
  constructor(options?: RefOptions);
  /** `new StringRef(id)`: the existing string `id` (ETYPE if it is not a
   * string, ENOENT / ESTALE if there is none). */
  constructor(id?: number, options?: RefOptions);
  static from(value: string, options?: RefOptions): StringRef;
  get type(): 'string' | 'freed';
  /** The value; while the object is unchanged, the one this ref read
   * last, checked against its change counter without a native call (a
   * write from any thread or process is seen by the next read). */
  obtainValue(): string;
  setValue(value: string): void;
  /** Length in UTF-8 bytes. */
  byteLength(): number;
  toJSON(): string;
}

/** A 64-bit float, stored exactly; reads and writes are atomic. */
export declare class NumberRef extends Ref {
  /** `new NumberRef()` (0) or `new NumberRef({ arena })`. */
  constructor(options?: RefOptions);
  constructor(id?: number, options?: RefOptions);
  static from(value: number, options?: RefOptions): NumberRef;
  get type(): 'number' | 'freed';
  /** The value; while the object is unchanged, the one this ref read
   * last, checked against its change counter without a native call (a
   * write from any thread or process is seen by the next read). */
  obtainValue(): number;
  setValue(value: number): void;
  /** Atomically add `delta`; returns the new value. */
  add(delta: number): number;
  /** Atomically set `desired` if the value is `expected` (bitwise: NaN
   * matches NaN, -0 differs from 0). Returns the value found; it swapped iff
   * that is `expected`. */
  compareExchange(expected: number, desired: number): number;
  toJSON(): number;
}

/** A boolean. */
export declare class BoolRef extends Ref {
  /** `new BoolRef()` (false) or `new BoolRef({ arena })`. */
  constructor(options?: RefOptions);
  constructor(id?: number, options?: RefOptions);
  static from(value: boolean, options?: RefOptions): BoolRef;
  get type(): 'boolean' | 'freed';
  /** The value; while the object is unchanged, the one this ref read
   * last, checked against its change counter without a native call (a
   * write from any thread or process is seen by the next read). */
  obtainValue(): boolean;
  setValue(value: boolean): void;
  toJSON(): boolean;
}

/** A fixed-size byte buffer with a zero-copy view. */
export declare class BytesRef extends Ref {
  /** `new BytesRef(id)`: the existing buffer `id`. Make new ones with
   * `alloc`/`from`: `new BytesRef()` without an id throws EINVAL. */
  constructor(id: number, options?: RefOptions);
  /** A zero-filled buffer of `size` bytes. */
  static alloc(size: number, options?: RefOptions): BytesRef;
  /** A new buffer holding a copy of `data` (Buffer, TypedArray, DataView). */
  static from(data: NodeJS.ArrayBufferView, options?: RefOptions): BytesRef;
  get type(): 'bytes' | 'freed';
  /** Size in bytes (fixed at creation). */
  get size(): number;
  /**
   * A Buffer over the arena memory itself (no copy): writes are seen by
   * every thread and process at once. It is detached (length 0) when this
   * process frees the object (drop; the map, vector or root owning it
   * overwrites or removes it, or is dropped; from another worker_thread: at
   * this thread's next event-loop turn) or closes the arena. A free by
   * another process is not seen (the Buffer then aliases reused memory:
   * see docs/api-node.md). The mapping stays until every such Buffer is
   * garbage-collected. EROFS on a read-only arena.
   */
  buffer(): Buffer;
  /** Copy `length` bytes from `offset` (default: all) into a new Buffer. */
  read(offset?: number, length?: number): Buffer;
  /** Copy `data` (Buffer, TypedArray, DataView) in at `offset` (ERANGE
   * past the end). */
  write(data: NodeJS.ArrayBufferView, offset?: number): void;
  toJSON(): Buffer;
}

/**
 * A map from string keys to refs. `V` is the type of its values as far as
 * TypeScript knows (default: any ref); it is not checked at run time.
 */
export declare class MapRef<V extends Ref | null = AnyValue> extends Ref {
  /** `new MapRef()` (empty) or `new MapRef({ arena })`. */
  constructor(options?: RefOptions);
  /** `new MapRef(id)`: the existing map `id`. */
  constructor(id?: number, options?: RefOptions);
  /** A new map holding owned copies of a plain object's entries. */
  static from(object: { readonly [key: string]: Storable }, options?: RefOptions): MapRef;
  get type(): 'map' | 'freed';
  /** Set `key`. A ref is stored as is and stays the caller's. A number,
   * boolean, null or string of up to 16 UTF-8 bytes is stored in the map's
   * entry, with no object and no id until get() asks for one; another
   * plain value becomes an object the map owns (freed on overwrite,
   * remove, drop). */
  set(key: string, value: StorableFor<V>): void;
  /** The ref at `key`, null for a null value, or undefined (no such key).
   * A value stored in the map's entry (see set()) is given an id first:
   * under the map's lock it becomes an object the map owns, the same id
   * on every later get() until the key is set again or removed. That is a
   * write (it moves the map's change counter): on a read-only arena it
   * throws EROFS; read such values with getValue() or toObject(), which
   * never write. While the map and that object are unchanged, the same ref
   * object again, without a native call (see "Fast reads" in
   * docs/api-node.md). */
  get(key: string): V | undefined;
  /** The plain value at `key` (containers as snapshots, null as null), or
   * undefined. Never writes (read-only arenas too). */
  getValue(key: string): Snapshot<V> | undefined;
  /** Whether `key` is there. Never writes. */
  has(key: string): boolean;
  /** Remove `key`; true if it was there. An owned value is freed. */
  remove(key: string): boolean;
  /** Alias of remove(). */
  delete(key: string): boolean;
  len(): number;
  /** Same as len(). */
  get size(): number;
  /** [key, ref] pairs of a snapshot of the entries; each value stored in
   * its entry is given an id as get() does (a write: EROFS on a read-only
   * arena; toObject() reads values without writing). */
  entries(): Generator<[string, V], void, unknown>;
  /** The keys of a snapshot. Never writes. */
  keys(): Generator<string, void, unknown>;
  /** The refs of entries() (ids given as get() does). */
  values(): Generator<V, void, unknown>;
  [Symbol.iterator](): Generator<[string, V], void, unknown>;
  /** As Map#forEach, over a snapshot of the entries (refs, as entries()). */
  forEach(fn: (value: V, key: string, map: this) => void, thisArg?: unknown): void;
  /** A plain object snapshot, recursively (ELOOP on a cycle). Reads
   * values and never writes: read-only arenas too, and no object is made
   * for a value stored in an entry. */
  toObject(): { [key: string]: Snapshot<V> };
  toJSON(): { [key: string]: Snapshot<V> };
}

/**
 * An ordered list of refs. `V` is the type of its elements as far as
 * TypeScript knows (default: any ref); it is not checked at run time.
 */
export declare class VectorRef<V extends Ref | null = AnyValue> extends Ref {
  /** `new VectorRef()` (empty) or `new VectorRef({ arena })`. */
  constructor(options?: RefOptions);
  /** `new VectorRef(id)`: the existing vector `id`. */
  constructor(id?: number, options?: RefOptions);
  /** A new vector holding owned copies of an array's elements. */
  static from(array: readonly Storable[], options?: RefOptions): VectorRef;
  get type(): 'vector' | 'freed';
  /** Append a ref (stays the caller's) or a plain value (owned); a number
   * is stored in the item itself, with no object. */
  push(value: StorableFor<V>): void;
  /** The ref at `index`, null for a null value, or undefined past the end.
   * While the vector and that object are unchanged, the same ref object
   * again, without a native call. A number stored in the vector's item has
   * no id: this makes it a number object the vector owns (EROFS on a
   * read-only arena: read it with getValue() or toFloat64Array()). */
  index(index: number): V | undefined;
  /** The plain value at `index` (containers as snapshots), or undefined
   * past the end; never makes a number stored in an item an object. */
  getValue(index: number): Snapshot<V> | undefined;
  /** A copy (not a view) of elements [start, end) as a Float64Array, read
   * in one consistent pass. RangeError (code ERANGE) unless
   * 0 <= start <= end <= len(); TypeError (code ETYPE) when an element in
   * the range is not a number. */
  toFloat64Array(start?: number, end?: number): Float64Array;
  /** Like index(), and a negative index counts from the end. */
  at(index: number): V | undefined;
  len(): number;
  /** Same as len(). */
  get length(): number;
  /** Replace element `index` (ERANGE past the end; an owned previous value
   * is freed). */
  set(index: number, value: StorableFor<V>): void;
  /** Insert before `index` (`len()` appends). */
  insert(index: number, value: StorableFor<V>): void;
  /** Remove element `index`: an owned value is freed (returns undefined),
   * a ref the caller stored is returned. */
  remove(index: number): V | undefined;
  /** Remove and return the last element; ownership moves to the caller
   * (drop it when done; a null is dropped and reads null). undefined when
   * empty. */
  pop(): V | undefined;
  values(): Generator<V, void, unknown>;
  [Symbol.iterator](): Generator<V, void, unknown>;
  /** As Array#keys, over a snapshot. */
  keys(): Generator<number, void, unknown>;
  /** As Array#entries, over a snapshot. */
  entries(): Generator<[number, V], void, unknown>;
  /** As Array#forEach, over a snapshot. */
  forEach(fn: (value: V, index: number, vector: this) => void, thisArg?: unknown): void;
  /** A plain array snapshot, recursively. */
  toArray(): Snapshot<V>[];
  toJSON(): Snapshot<V>[];
}

// ---------------------------------------------------------------------------
// Structs

/** The field types of a struct definition ('bool' is a synonym of
 * 'boolean'); with a trailing '?' the field is nullable: it may hold null,
 * and a new struct has it null. */
export type FieldType =
  | 'string' | 'number' | 'boolean' | 'bool'
  | 'string?' | 'number?' | 'boolean?' | 'bool?';

/** A struct definition: field name -> field type, in order. */
export type StructShape = { readonly [field: string]: FieldType };

/** The JS type of a field of type `T`. */
export type FieldValue<T extends FieldType> =
  T extends 'string' ? string : T extends 'number' ? number
  : T extends 'boolean' | 'bool' ? boolean
  : T extends 'string?' ? string | null : T extends 'number?' ? number | null
  : boolean | null;

/** The field values of a struct of definition `D`. */
export type StructValues<D extends StructShape> = {
  -readonly [K in keyof D]: FieldValue<D[K]>;
};

/** `factory.new_proxy()`: the struct's fields as properties; the ref's own
 * members (`id`, `drop()`, ...) stay reachable unless a field has the same
 * name. */
export type StructProxy<D extends StructShape> =
  StructValues<D> & Omit<StructRef<D>, keyof D>;

/** A struct: fixed fields stored inline, owned by the struct (dropping it
 * frees them). */
export declare class StructRef<D extends StructShape = StructShape> extends Ref {
  /** `new StructRef(id)` opens an existing struct (its shape is read from
   * the arena); make new ones with a StructFactory. */
  constructor(id: number, options?: RefOptions);
  get type(): 'struct' | 'freed';
  /** A field's value (ENOENT for a field the struct does not have). While
   * the struct (and a string field's string) is unchanged, the value this
   * ref read last, without a native call (see "Fast reads" in
   * docs/api-node.md); a proxy's fields read the same way. */
  getKey<K extends keyof D & string>(key: K): FieldValue<D[K]>;
  /** Set a field (EINVAL if the value has another type). */
  setKey<K extends keyof D & string>(key: K, value: FieldValue<D[K]>): void;
  /** Field names in definition order. */
  fields(): Array<keyof D & string>;
  toObject(): StructValues<D>;
  toJSON(): StructValues<D>;
}

/**
 * A struct definition: `new StructFactory({ name: 'string', age: 'number',
 * ok: 'boolean' })`. `StructDefinition` is the same class.
 */
export declare class StructFactory<D extends StructShape = StructShape> {
  constructor(definition: D);
  /** The definition, frozen. */
  readonly definition: Readonly<D>;
  /** A new struct, fields set from `init` (the others: '', 0, false). */
  new(init?: Partial<StructValues<D>> | null, options?: RefOptions): StructRef<D>;
  /** Like new(), wrapped in a Proxy: `p.field` reads, `p.field = v`
   * writes. */
  new_proxy(init?: Partial<StructValues<D>> | null, options?: RefOptions): StructProxy<D>;
  /** A Proxy over an existing struct ref. */
  static proxy<D extends StructShape>(struct: StructRef<D>): StructProxy<D>;
}

export { StructFactory as StructDefinition };

// ---------------------------------------------------------------------------
// Functions

/** The type of object `id` in the default arena (or `{ arena }`), like the
 * seed's typeof: a type name, 'freed' after drop, 'undefined' for an id
 * never issued. */
export declare function typeOf(id: number, options?: RefOptions): RefType | 'shape' | 'null' | 'freed' | 'undefined';

/** The release of the C library compiled into the addon, "MAJOR.MINOR.PATCH"
 * (the same as this package's version, `sharena --version` and
 * `sharenad --version`). */
export declare const version: string;
