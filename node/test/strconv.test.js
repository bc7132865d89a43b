'use strict';
// JS strings reach the library as UTF-8 the way Node's own encoder makes
// it (Buffer.from(s, 'utf8'): a lone surrogate becomes U+FFFD), whole:
// on both sides of the addon's 256-byte buffer, where a string used to be
// cut short when a character of 2 or more bytes did not fit at its end
// ('é' x 128 came back as 127 characters), as values and as map keys.
const test = require('node:test');
const assert = require('node:assert/strict');
const { StringRef, MapRef } = require('..');

const cases = ['', 'a', 'hello, sharena!!', 'é', 'ÿ', '✓', '😀', 'a😀b', '\u07ff\u0800\uffff',
  '\ud800', 'x\udc00', '\ud800\ud800', '\udc00\ud800', 'end\ud83d', '\u0000in\u0000'];
// around the addon's 256-byte buffer, in characters of 1 to 4 bytes
for (const n of [81, 82, 83, 84, 85, 86, 127, 128, 255, 256, 300]) {
  cases.push('x'.repeat(n), 'é'.repeat(n), '✓'.repeat(n), '😀'.repeat(n >> 1),
    'a'.repeat(n - 1) + '😀', '\ud800'.repeat(n));
}

test('strings are stored as Node encodes them in UTF-8, short and long, values and keys', () => {
  for (const c of cases) {
    const want = Buffer.from(c, 'utf8').toString('utf8');
    const s = StringRef.from('');
    s.setValue(c);
    assert.equal(s.obtainValue(), want, JSON.stringify(c));
    assert.equal(s.byteLength(), Buffer.byteLength(c, 'utf8'), JSON.stringify(c));
    const m = new MapRef();
    m.set(c, c);
    assert.deepEqual([...m.keys()], [want], JSON.stringify(c));
    assert.equal(m.get(want).obtainValue(), want, JSON.stringify(c));
    assert.equal(m.get(c).obtainValue(), want, JSON.stringify(c));
    m.drop();
    s.drop();
  }
});
