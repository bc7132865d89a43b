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
//
// This file puts the package together: the classes live in arena.js (Arena),
// refs.js (Ref and the scalar refs), containers.js (MapRef, VectorRef) and
// structs.js (StructRef, StructFactory); internal.js holds what they share.

const native = require('./native');
const { error, codeName } = require('./errors');
const { T, TYPE_NAMES, kH, kArena, scratch } = require('./internal');
const { Arena, defaultArena, arenaOf } = require('./arena');
const { Ref, StringRef, NumberRef, BoolRef, BytesRef, wrap } = require('./refs');
const { MapRef, VectorRef } = require('./containers');
const { StructRef, StructFactory } = require('./structs');

// ---------------------------------------------------------------------------
// Snapshots

function snapshot(ref, seen) {
  if (ref === null) return null; // a null value (wrap() reads it as null)
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
    // values read as values (mapItems): a number, boolean, null or short
    // string the map stores in its entry is not given an id (no write: a
    // read-only arena too, and a map of a million numbers makes no object)
    out = {};
    const flat = native.mapItems(ref[kH], ref.id);
    for (let i = 0; i < flat.length; i += 3) {
      const t = flat[i + 2];
      const v = flat[i + 1];
      out[flat[i]] = t === T.NULL || t === T.NUMBER || t === T.BOOL || t === T.STRING
        ? v : snapshot(wrap(ref[kArena], t, v), seen);
    }
  } else if (ref instanceof VectorRef) {
    // element values, not refs: a number stored in an item stays there
    out = [];
    for (let i = 0; ; i++) {
      const v = native.vecGetValue(ref[kH], ref.id, i);
      const t = scratch[0];
      if (t === 0) break; // the end
      out.push(t === T.NULL || t === T.NUMBER || t === T.BOOL || t === T.STRING
        ? v : snapshot(wrap(ref[kArena], t, v), seen));
    }
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

// Bind the names each module takes from those loaded after it.
{
  const mods = [require('./arena'), require('./refs'), require('./containers'), require('./structs')];
  const all = Object.assign({ snapshot }, ...mods);
  for (const m of mods) if (m.link) m.link(all);
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
