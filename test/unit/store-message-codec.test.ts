import t from 'tap';
import { Packr } from 'msgpackr';
import type { BrokerMessage } from '../../src/model/message.js';
import { decodeStoredMessage } from '../../src/store/level-pages.js';
import { decodeOps, encodeOps, type Op, UNENCODED } from '../../src/store/level-codec.js';
import { encodeStoredMessage } from '../../src/store/message-codec.js';

const unpackr = new Packr({ useRecords: false, structuredClone: false });

const base = (over: Partial<BrokerMessage> = {}): BrokerMessage => ({
  seq: 1,
  id: 'ID:1',
  dest: 'queue://a',
  body: Buffer.from('hello'),
  bt: 0,
  persistent: true,
  priority: 4,
  timestamp: 1_796_209_458_160,
  expires: 0,
  deliveryCount: 0,
  ...over,
});

const cases: [string, BrokerMessage][] = [
  ['plain', base()],
  ['every field', base({ headers: { a: 1, b: 'x', c: true, nested: { d: [1, 2] } }, correlationId: 'c-1', replyTo: 'queue://r', pid: 'P:1', pseq: 7, home: 'queue://d', path: ['b1', 'b2'] })],
  ['numbers at every width', base({ seq: 2 ** 40 + 3, priority: 0, bt: 127, deliveryCount: 128, expires: 65_536, pseq: 0xffffffff, timestamp: 0.5 })],
  ['a negative number', base({ deliveryCount: -1 as number, pseq: 2 ** 53 - 1 })],
  ['strings at every width, not ASCII', base({ id: 'é'.repeat(10), dest: 'queue://' + 'x'.repeat(300), correlationId: 'ü'.repeat(30_000), replyTo: '😀'.repeat(5), pid: '' })],
  ['empty body', base({ body: new Uint8Array(0) })],
  ['str8', base({ id: 'ID:' + 'x'.repeat(60), dest: 'queue://' + 'ä'.repeat(40) })],
  ['bodies at every width', base({ body: Buffer.alloc(255, 1) })],
  ['bin16', base({ body: Buffer.alloc(256, 2) })],
  ['bin32', base({ body: Buffer.alloc(70_000, 3) })],
];

t.test('a stored record reads back as the message it was written from', async (t) => {
  for (const [name, m] of cases) {
    const back = decodeStoredMessage(encodeStoredMessage(m)) as unknown as Record<string, unknown>;
    const { ord: _ord, ...want } = { ...m, persistent: true };
    // The stored fields; the broker may keep more on a message in memory (derived, never stored).
    const got = Object.fromEntries(Object.keys(want).map((k) => [k, back[k]]));
    t.same({ ...got, body: Buffer.from(back['body'] as Uint8Array) }, { ...want, body: Buffer.from(m.body) }, name);
    for (const k of ['headers', 'correlationId', 'replyTo', 'pid', 'pseq', 'home', 'path'] as const) {
      if (m[k] === undefined) t.equal(back[k], undefined, `${name}: ${k} absent`);
    }
    // msgpack as any decoder reads it: nothing left over, the fields present and no others.
    const raw = unpackr.unpack(encodeStoredMessage(m)) as Record<string, unknown>;
    t.same(Object.keys(raw).sort(), Object.keys(want).filter((k) => k !== 'persistent').sort(), `${name}: the fields present`);
  }
});

t.test('a message put is encoded into the journal record once, its value a view of it', async (t) => {
  const msgs = cases.map(([, m]) => m);
  const ops: Op[] = [
    { type: 'del', key: 'm\x00queue://a\x000' },
    ...msgs.map((m, i): Op => ({ type: 'put', key: `m\x00queue://a\x00${i}`, value: UNENCODED, msg: m })),
    { type: 'put', key: 'c\x00queue://a', value: Buffer.from([9]) },
  ];
  const record = encodeOps(ops);
  const payload = record.subarray(20);
  const replayed = decodeOps(payload);
  t.equal(replayed.length, ops.length);
  for (let i = 0; i < msgs.length; i++) {
    const o = ops[i + 1] as { value: Uint8Array; msg?: BrokerMessage };
    t.equal(o.msg, undefined, 'the message is let go once encoded');
    t.equal(o.value.buffer, record.buffer, 'the value is a view of the record');
    const r = replayed[i + 1] as { value: Uint8Array };
    t.same(Buffer.from(r.value), Buffer.from(o.value), `replayed value ${i} is the same bytes`);
    t.same(decodeStoredMessage(r.value).id, msgs[i]!.id);
  }
  t.same(Buffer.from((replayed[ops.length - 1] as { value: Uint8Array }).value), Buffer.from([9]));
});
