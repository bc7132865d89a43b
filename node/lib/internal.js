'use strict';
// node/lib/internal.js: what every module of the package shares: the
// addon's type tags and flags, the scratch arrays and the private symbols.

const native = require('./native');

// The type tags and open flags come from the addon (the C header's values).
const T = Object.freeze({ ...native.types });
// Type names as JavaScript says them (typeof: 'boolean'), by tag.
const TYPE_NAMES = [];
for (const [k, v] of Object.entries(T)) TYPE_NAMES[v] = k === 'BOOL' ? 'boolean' : k.toLowerCase();
const { CREATE, EXCL, READONLY } = native.openFlags;

const [scratch, fscratch] = native.scratch();
const kH = Symbol('sharena.handle');
const kArena = Symbol('sharena.arena');
const kTrusted = Symbol('sharena.trusted');
const kFields = Symbol('sharena.fields');
const kLocked = Symbol('sharena.locked'); // ref.locked() levels held, per Arena
const kCache = Symbol('sharena.cache'); // a ref's fast-read cache (refs.js)
const kView = Symbol('sharena.view');   // an Arena's Uint32Array of its mapping

module.exports = { T, TYPE_NAMES, CREATE, EXCL, READONLY, scratch, fscratch, kH, kArena, kTrusted, kFields, kLocked, kCache, kView };
