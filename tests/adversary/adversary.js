'use strict';
// adversary.js: a Node reader or writer of the adversary test
// (tests/adversary/adversary.c starts it; the broker is $SHARENA_SOCKET).
//
//   node adversary.js reader|writer ARENA SECONDS SEED
//
// Loops over every kind of object in ARENA for SECONDS while a flipper
// toggles the arena's fields: gets, sets, iterations, lengths, zero-copy
// Buffers whose LAST byte it reads (and, as a writer, writes). Every
// exception is fine (a library code counts as `lib`, anything else as
// `foreign`); only a signal or a hang is a failure, which the driver sees.
// Prints "P <ops>" at least every 100 ms while it makes progress, and
// "E ops=N lib=N foreign=N ..." at the end.
const fs = require('node:fs');
const path = require('node:path');
const {
  Arena, MapRef, VectorRef, StringRef, BytesRef, StructRef,
} = require(process.env.SHARENA_NODE_PACKAGE || path.join(__dirname, '..', '..', 'node'));

// The codes sharena's errors carry (index.d.ts SharenaErrorCode).
const LIBRARY_CODES = new Set([
  'EPERM', 'ENOENT', 'EINTR', 'EIO', 'EBADF', 'EAGAIN', 'ENOMEM', 'EACCES', 'EBUSY',
  'EEXIST', 'EINVAL', 'ENOSPC', 'EROFS', 'ERANGE', 'EDEADLK', 'ENAMETOOLONG', 'EPROTO',
  'EOVERFLOW', 'EILSEQ', 'ECONNREFUSED', 'ETIMEDOUT', 'ESTALE', 'ETYPE', 'EFULL',
  'ECORRUPT', 'ELAYOUT', 'EOWNERDEAD', 'EUNSEALED', 'ECLOSED', 'ELOOP', 'EUNKNOWN',
]);
const ROOTS = ['m.big', 'm.small', 'm.nested', 'v.list', 's.text', 's.long', 'b.small',
  'b.big', 'st.rec', 'st.blob', 'n.count', 'f.flag'];

const [mode, name, secs, seedArg] = process.argv.slice(2);
const until = Date.now() + Number(secs) * 1000;
let x = ((Number(seedArg) * 2654435761) + 1) >>> 0 || 1; // xorshift32
const rnd = (n) => {
  x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
  return n > 0 ? x % n : 0;
};
let ops = 0;
let lib = 0;
let foreign = 0;
let lastBeat = 0;
const kinds = {};

function say(s) {
  try {
    fs.writeSync(1, s);
  } catch {
    process.exit(3); // the driver is gone
  }
}
function beat() {
  const now = Date.now();
  if (now - lastBeat >= 100) {
    lastBeat = now;
    say(`P ${ops}\n`);
  }
}
// One call: its result, or undefined after counting its error. A call that
// came back is progress (an error too): only a stuck call is a hang, not an
// operation of several calls that each waited out a scribbled counter.
function t(fn) {
  try {
    return fn();
  } catch (e) {
    if (e && LIBRARY_CODES.has(e.code)) {
      lib++;
    } else {
      foreign++;
      const k = `${e && e.constructor ? e.constructor.name : typeof e}`;
      kinds[k] = (kinds[k] || 0) + 1;
    }
    return undefined;
  } finally {
    ops++;
    beat();
  }
}

function lastByte(b) {
  const buf = b.buffer();
  return buf.length ? buf[buf.length - 1] : undefined;
}

function touch(r, depth) {
  if (r === undefined || r === null || typeof r !== 'object') return;
  if (r instanceof MapRef) {
    t(() => r.len());
    t(() => (depth < 1 ? touch(r.get(`key${rnd(300)}`), depth + 1) : undefined));
    t(() => {
      let n = 0;
      for (const [, v] of r.entries()) {
        if (depth < 1 && rnd(4) === 0) touch(v, depth + 1);
        if (++n >= 40) break;
      }
    });
  } else if (r instanceof VectorRef) {
    const n = t(() => r.len()) || 0;
    t(() => touch(r.index(rnd(n + 2)), depth + 1));
    t(() => {
      let i = 0;
      for (const v of r.values()) {
        if (depth < 1 && rnd(8) === 0) touch(v, depth + 1);
        if (++i >= 40) break;
      }
    });
  } else if (r instanceof BytesRef) {
    t(() => lastByte(r));
    t(() => r.read(r.size - 1, 1));
    t(() => r.read(rnd(r.size), 1));
  } else if (r instanceof StructRef) {
    t(() => r.fields().forEach((f) => t(() => r.getKey(f))));
    t(() => r.toObject());
  } else if (r instanceof StringRef) {
    t(() => r.obtainValue());
    t(() => r.byteLength());
  } else if (typeof r.obtainValue === 'function') {
    t(() => r.obtainValue());
  }
  t(() => r.version());
}

function read(a) {
  const r = t(() => a.root(ROOTS[rnd(ROOTS.length)]));
  touch(r, 0);
  if (rnd(8) === 0) t(() => a.roots());
  if (rnd(4) === 0) t(() => touch(a.ref(rnd(3) * 2 ** 32 + 1 + rnd(600)), 1));
}

function write(a) {
  switch (rnd(9)) {
    case 0: {
      const m = t(() => a.root('m.big'));
      t(() => m.set(`key${rnd(350)}`, rnd(2) ? ops : 'v'.repeat(rnd(200))));
      break;
    }
    case 1: {
      const m = t(() => a.root(rnd(2) ? 'm.big' : 'm.small'));
      t(() => m.remove(`key${rnd(350)}`));
      break;
    }
    case 2: {
      const v = t(() => a.root('v.list'));
      t(() => v.push(ops));
      t(() => v.pop());
      break;
    }
    case 3: {
      const v = t(() => a.root('v.list'));
      const n = t(() => v.len()) || 0;
      t(() => v.set(rnd(n + 1), 'x'));
      t(() => v.insert(rnd(n + 1), 1));
      t(() => v.remove(rnd(n + 1)));
      break;
    }
    case 4: {
      const s = t(() => a.root(rnd(2) ? 's.text' : 's.long'));
      t(() => s.setValue('y'.repeat(rnd(3000))));
      break;
    }
    case 5: {
      const b = t(() => a.root(rnd(2) ? 'b.big' : 'b.small'));
      t(() => {
        const buf = b.buffer();
        if (buf.length) buf[buf.length - 1] = ops & 255;
      });
      t(() => b.write(Uint8Array.of(ops & 255), rnd(b.size)));
      break;
    }
    case 6: {
      const st = t(() => a.root('st.rec'));
      t(() => st.setKey('score', ops));
      t(() => st.setKey('name', 'n'.repeat(rnd(100))));
      t(() => st.setKey('ok', rnd(2) === 1));
      break;
    }
    case 7: {
      t(() => a.root('n.count').add(1));
      t(() => a.root('f.flag').setValue(rnd(2) === 1));
      break;
    }
    default: {
      const s = t(() => StringRef.from('tmp'.repeat(rnd(30)), { arena: a }));
      if (s && t(() => a.setRoot('tmp.node', s, { owned: true })) === undefined) t(() => s.drop());
      if (rnd(2)) t(() => a.removeRoot('tmp.node'));
    }
  }
}

let a;
while (!a && Date.now() < until) {
  a = t(() => Arena.open(name, { create: false }));
  ops++; // an error is progress too: only a stuck call is a hang
  beat();
  if (!a) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
}
say(`P ${ops}\n`);
const writer = mode === 'writer';
while (a && Date.now() < until) {
  if (writer && rnd(4) !== 0) write(a);
  else read(a);
  ops++;
  beat();
}
say(`P ${ops + 1}\nE ops=${ops} lib=${lib} foreign=${foreign} ${JSON.stringify(kinds)}\n`);
process.exit(0);
