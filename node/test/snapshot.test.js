'use strict';
// Snapshots: arena.save(path) and Arena.load(path, name) through a real
// broker. A round trip keeps every type; a damaged image throws ECORRUPT
// and leaves no arena behind.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { Arena, StructFactory, BytesRef } = require('..');
const { startBroker, assertCode } = require('../test-support/helpers');

test('save and load: every type survives, the copy is its own arena', async (t) => {
  const broker = await startBroker();
  t.after(() => broker.stop());
  const { socket } = broker;
  const img = path.join(broker.dir, 'a.img');
  const a = Arena.open('src', { socket, capacity: 8 << 20 });
  const m = a.map('cfg');
  m.set('n', 1.5);
  m.set('b', true);
  m.set('s', 'héllo');
  m.set('list', [1, 'two', [3]]);
  const bytes = a.bytes('raw', 4096);
  bytes.write(Buffer.from('sharena bytes'));
  const Point = new StructFactory({ x: 'number', label: 'string', ok: 'boolean' });
  const p = Point.new({ x: 3, label: 'pt', ok: true }, { arena: a });
  a.setRoot('pt', p);
  const info = a.save(img);
  assert.ok(info.imageBytes > 0 && info.imageBytes === fs.statSync(img).size);
  assert.ok(info.barrierNs >= 0);

  const b = Arena.load(img, 'copy', { socket, mode: 0o640 });
  t.after(() => b.close());
  assert.equal(b.name, 'copy');
  assert.equal(b.mode, 0o640);
  const c = b.map('cfg');
  assert.equal(c.get('n').obtainValue(), 1.5);
  assert.equal(c.get('b').obtainValue(), true);
  assert.equal(c.get('s').obtainValue(), 'héllo');
  assert.deepEqual(c.getValue('list'), [1, 'two', [3]]);
  const raw = b.root('raw');
  assert.ok(raw instanceof BytesRef);
  assert.equal(Buffer.from(raw.read(0, 13)).toString(), 'sharena bytes');
  const q = b.root('pt');
  assert.equal(q.getKey('x'), 3);
  assert.equal(q.getKey('label'), 'pt');
  assert.equal(q.getKey('ok'), true);
  assert.deepEqual(q.fields(), ['x', 'label', 'ok']);
  // its own arena: a change to the copy leaves the source alone
  c.set('s', 'changed');
  assert.equal(c.get('s').obtainValue(), 'changed');
  assert.equal(m.get('s').obtainValue(), 'héllo');
  // the name is taken now
  assert.throws(() => Arena.load(img, 'copy', { socket }), assertCode('EEXIST'));
  a.close();
});

test('load refuses a damaged image and leaves no arena', async (t) => {
  const broker = await startBroker();
  t.after(() => broker.stop());
  const { socket } = broker;
  const img = path.join(broker.dir, 'a.img');
  const a = Arena.open('src', { socket, capacity: 1 << 20 });
  a.map('cfg').set('k', 'v');
  a.save(img);
  a.close();
  const data = fs.readFileSync(img);
  fs.writeFileSync(img, data.subarray(0, data.length - 100));
  assert.throws(() => Arena.load(img, 'bad', { socket }), (e) => {
    assertCode('ECORRUPT')(e);
    assert.match(e.message, /truncated|trailer/);
    return true;
  });
  data[9000] ^= 0x40;
  fs.writeFileSync(img, data);
  assert.throws(() => Arena.load(img, 'bad', { socket }), (e) => {
    assertCode('ECORRUPT')(e);
    assert.match(e.message, /checksum/);
    return true;
  });
  assert.ok(!Arena.list({ socket }).some((s) => s.name === 'bad'));
});
