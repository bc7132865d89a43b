// ESM entry: the same objects as require('sharena').
import cjs from './index.js';

export const {
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
  StructDefinition,
  typeOf,
  types,
  version,
} = cjs;
export default cjs;
