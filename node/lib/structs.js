'use strict';
// node/lib/structs.js: StructRef, StructFactory and the struct proxy.

const native = require('./native');
const { error } = require('./errors');
const { T, TYPE_NAMES, kH, kArena, kTrusted, kFields, kCache, scratch } = require('./internal');
const { arenaOf } = require('./arena');
const { ctorArgs, Ref, FAST, missed, keepState, SKIP } = require('./refs');
// Defined by modules that load after this one (they build on it):
// bound by index.js once every module is loaded.
let snapshot;

// ---------------------------------------------------------------------------
// Structs

const FIELD_TYPES = {
  string: T.STRING, number: T.NUMBER, boolean: T.BOOL, bool: T.BOOL,
};
// A type spec ending in '?' ('number?') makes a nullable field; the addon
// takes and gives a field's type as its tag | flags << 8.
const NULLABLE = native.fieldFlags.NULLABLE;

function fieldsFromShape(arena, shapeId) {
  let f = arena._fieldCache.get(shapeId);
  if (f) return f;
  const flat = native.shapeFields(arena[kH], shapeId);
  f = new Map();
  for (let i = 0; i < flat.length; i += 2) {
    const t = flat[i + 1];
    f.set(flat[i], { index: i / 2, type: t & 0xff, nullable: ((t >> 8) & NULLABLE) !== 0 });
  }
  arena._fieldCache.set(shapeId, f);
  return f;
}

// Fast reads of fields (refs.js, "Fast reads"): a struct ref keeps, while
// the struct's counter (and the arena's epoch) has one value, the fields it
// read, by index: { val, ci, seq }, where a string field's ci and seq are
// its string's counter (a write of that string's id moves it, not the
// struct's), and ci is -1 for a number, boolean or null (only a write
// through the struct, which moves the struct's counter, changes those).
// Another counter starts an empty field table.

// The field `f` of `st` read through the addon, kept when it can be.
function fieldGetSlow(st, f) {
  let c = st[kCache];
  const val = native.structGetF(st[kH], st.id, f.index, f.type);
  const seq = scratch[FAST + 1] >>> 0;
  const fresh = c === null || c.seq !== seq || c.ci !== scratch[FAST] ||
    c.ep !== scratch[FAST + 3] >>> 0;
  c = st[kCache] = keepState(st, c, c === null ? [] : c.val);
  if (c === null) return val;
  if (fresh) c.val.length = 0;
  if (f.type !== T.STRING || val === null) {
    c.val[f.index] = { val, ci: -1, seq: 0 };
  } else {
    const cci = scratch[FAST + 4];
    // (a string past the view, or unknown: not kept)
    if (cci >= 0 && cci < c.u.length) c.val[f.index] = { val, ci: cci, seq: scratch[FAST + 5] >>> 0 };
    else c.val[f.index] = undefined;
  }
  return val;
}

// The value of field `f` (from _field()) of struct `st`.
function fieldGet(st, f) {
  const c = st[kCache];
  if (c !== null) {
    if (c.skip === 0) {
      const u = c.u;
      if (c.lim < u.length && Atomics.load(u, c.ci) === c.seq &&
          u[c.ei] === c.ep) {
        c.hit = true;
        const e = c.val[f.index];
        if (e !== undefined && (e.ci < 0 || u[e.ci] === e.seq)) return e.val;
        return fieldGetSlow(st, f);
      }
    } else {
      if (--c.skip === 0) c.retry = true;
      return native.structGet(st[kH], st.id, f.index, f.type);
    }
  }
  return missed(c) === SKIP ? native.structGet(st[kH], st.id, f.index, f.type)
    : fieldGetSlow(st, f);
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
    return fieldGet(this, this._field(key, 'getKey'));
  }
  setKey(key, value) {
    const f = this._field(key, 'setKey');
    if (value === null) {
      if (!f.nullable) {
        throw error('ETYPE', `setKey('${key}'): the field is not nullable ` +
          `(declare it as '${TYPE_NAMES[f.type]}?' to allow null)`, TypeError);
      }
      native.structSetNull(this[kH], this.id, f.index);
      return;
    }
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
      throw error('EINVAL', 'StructFactory: expected { field: "string" | "number" | "boolean" (or "number?"... for a nullable field) }', TypeError);
    }
    this.definition = Object.freeze({ ...definition });
    this._names = [];
    this._types = [];
    this._fields = new Map();
    for (const [k, v] of Object.entries(definition)) {
      const nullable = typeof v === 'string' && v.endsWith('?');
      const t = FIELD_TYPES[nullable ? v.slice(0, -1) : v];
      if (!t) {
        throw error('EINVAL', `StructFactory: field '${k}' has type '${v}'; use "string", "number" or "boolean", or "string?", "number?", "boolean?" for a field that may be null`, TypeError);
      }
      this._fields.set(k, { index: this._names.length, type: t, nullable });
      this._names.push(k);
      this._types.push(nullable ? t | (NULLABLE << 8) : t);
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
  /** A new struct, fields set from `init` (others: null when nullable,
   * else '', 0, false). */
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
      if (f) return fieldGet(target, f);
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

function link(all) {
  ({ snapshot } = all);
}

module.exports = { StructRef, StructFactory, link };
