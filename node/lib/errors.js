'use strict';
// The one table that turns libsharena's error codes into JavaScript Errors.
// Names, messages and hints come from the addon (`errorTable()`), which
// builds them from the C library's X-macro table (SHARENA_ERRNO_MAP) and
// sharena_errname()/sharena_strerror(): every code the library can return
// has its name here, none is hand-copied. Errors thrown inside the addon
// use the same names and hints.
const native = require('./native');

const byCode = new Map(); // code -> { name, message, hint }
for (const [code, name, message, hint] of native.errorTable()) {
  byCode.set(code, { name, message, hint });
}

/** An Error (or `Ctor`) with a stable `code`. */
function error(code, message, Ctor = Error) {
  const e = new Ctor(message);
  e.code = code;
  return e;
}

/** The symbolic name of a negative library code ('EUNKNOWN' if none). */
function codeName(code) {
  const c = byCode.get(code);
  return c ? c.name : 'EUNKNOWN';
}

/** The Error for library code `code` raised by operation `op`:
 * "op: <library message> (<what to do>)", code = its name. */
function codeError(code, op) {
  const c = byCode.get(code);
  if (!c) {
    return error('EUNKNOWN', `${op}: unknown error ${code} (the addon and ` +
      'this package come from different sharena versions; rebuild it)');
  }
  return error(c.name, `${op}: ${c.message} (${c.hint})`);
}

module.exports = { error, codeName, codeError, codes: byCode };
