import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { isDeepStrictEqual } from 'node:util';
import t from 'tap';
import { sendInputOf } from '../../src/model/wire.js';
import { decodeBody } from '../../src/protocol/codec.js';
import type { MessageCmd, SendCmd } from '../../src/protocol/commands.js';
import { decodeMessage, decodeSend } from '../../src/protocol/hot-decode.js';
import { encodeMessage, encodeSend, type MessageFields, messageBound, sendBound } from '../../src/protocol/hot-encode.js';
import { validateClientCommand } from '../../src/protocol/validate.js';

/**
 * The hot codec must mean exactly what msgpackr + validate.ts mean: whatever the fast SEND reader takes, the general
 * path takes too, with the same fields; whatever it does not take falls through to the general path. The encoders'
 * bytes must read back, through msgpackr, as the command they were given.
 */

const packr = new Packr({ useRecords: false, structuredClone: false, variableMapSize: true });

const SEND_KEYS = ['t', 'dest', 'body', 'bt', 'persistent', 'pid', 'seq', 'rid', 'headers', 'priority', 'ttl', 'correlationId', 'replyTo', 'tx', 'path', 'mid', 'ts', 'exp', 'rd'] as const;

/** Any value a field may carry, right or wrong: the reader must never take what the validator refuses. */
const anyValue = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer({ min: -5, max: 300 }),
  fc.constantFrom(0, 1, 2, 9, 10, 127, 128, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1, 2 ** 53, -1, -33, -129, -40000, 1.5, 1764662400123),
  fc.double(),
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 10 }),
  fc.constantFrom('queue://a', 'queue://bench.np', 'SEND', 'é', 'x'.repeat(300), 'y'.repeat(1025)),
  fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
  fc.dictionary(fc.string({ maxLength: 5 }), fc.oneof(fc.string({ maxLength: 5 }), fc.integer()), { maxKeys: 3 }),
  fc.array(fc.string({ maxLength: 5 }), { maxLength: 3 }),
);

/** Mostly a valid value for the field, sometimes anything at all. */
const field = (valid: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> => fc.oneof({ weight: 12, arbitrary: valid }, { weight: 1, arbitrary: anyValue });
const ascii = (max: number): fc.Arbitrary<string> => fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: max });
const int = (max: number): fc.Arbitrary<number> => fc.oneof(fc.integer({ min: 0, max: Math.min(max, 2 ** 31) }), fc.constantFrom(0, max));

const sendLike = fc.record(
  {
    t: fc.oneof({ weight: 6, arbitrary: fc.constant('SEND') }, { weight: 1, arbitrary: anyValue }),
    dest: field(ascii(40).map((s) => `queue://${s}`)),
    body: field(fc.uint8Array({ maxLength: 2000 }).map((a) => Buffer.from(a))),
    bt: field(int(2)),
    persistent: field(fc.boolean()),
    pid: field(ascii(30)),
    seq: field(int(Number.MAX_SAFE_INTEGER)),
    rid: field(int(Number.MAX_SAFE_INTEGER)),
    headers: field(fc.constant(null)),
    priority: field(int(9)),
    ttl: field(int(Number.MAX_SAFE_INTEGER)),
    correlationId: field(ascii(40)),
    replyTo: field(ascii(40)),
    tx: field(ascii(20)),
    path: field(fc.constant(null)),
    mid: field(ascii(40)),
    ts: field(int(Number.MAX_SAFE_INTEGER)),
    exp: field(int(Number.MAX_SAFE_INTEGER)),
    rd: field(fc.boolean()),
    other: anyValue,
  },
  { requiredKeys: ['t', 'dest', 'body', 'persistent'] },
);

t.test('whatever the fast SEND reader takes, msgpackr + the validator take with the same fields', async (t) => {
  let taken = 0;
  fc.assert(
    fc.property(sendLike, (cmd) => {
      const bytes = packr.pack(cmd);
      const fast = decodeSend(bytes);
      if (fast === undefined) return true;
      taken++;
      const general = validateClientCommand(decodeBody(bytes)) as SendCmd;
      for (const k of SEND_KEYS) {
        const a = fast[k as keyof SendCmd];
        const b = general[k as keyof SendCmd];
        if (!(a === b || (Buffer.isBuffer(a) && Buffer.isBuffer(b) && a.equals(b)))) throw new Error(`field ${k}: fast ${String(a)}, general ${String(b)}`);
      }
      if (!isDeepStrictEqual(sendInputOf(fast), sendInputOf(general))) throw new Error('the broker would see another message');
      return true;
    }),
    { numRuns: 3000 },
  );
  t.ok(taken > 100, `the property exercised the fast reader (${taken} frames taken)`);
});

t.test('the client\'s SEND is written in place, taken by the fast reader, and reads back the same through msgpackr', async (t) => {
  const sends: SendCmd[] = [
    { t: 'SEND', dest: 'queue://bench.np.1', body: Buffer.alloc(1024, 0x61), bt: 0, persistent: false, pid: 'P-0123456789abcdef', seq: 1 },
    { t: 'SEND', dest: 'queue://q', body: Buffer.alloc(70000, 1), bt: 1, persistent: true, pid: 'P-x', seq: 2 ** 40, rid: 300, priority: 9, ttl: 5000 },
    { t: 'SEND', dest: 'topic://t', body: Buffer.alloc(0), bt: 2, persistent: false, correlationId: 'c'.repeat(100), replyTo: 'temp-queue://r', tx: 'T1' },
  ];
  for (const cmd of sends) {
    const out = Buffer.alloc(sendBound(cmd));
    const n = encodeSend(out, 0, cmd);
    const bytes = out.subarray(0, n);
    t.same(decodeBody(bytes), cmd, `${cmd.dest}: msgpackr reads what was written`);
    const fast = decodeSend(bytes);
    t.ok(fast !== undefined, `${cmd.dest}: the fast reader takes it`);
    t.same(sendInputOf(fast!), sendInputOf(validateClientCommand(decodeBody(bytes)) as SendCmd), `${cmd.dest}: same input either way`);
  }
  t.equal(sendBound({ ...sends[0]!, headers: { a: 1 } }), -1, 'a SEND with headers is left to msgpackr');
});

t.test('the fast SEND reader leaves malformed, exotic or invalid frames to the general path', async (t) => {
  const plain = packr.pack({ t: 'SEND', dest: 'queue://q', body: Buffer.from('x'), persistent: false });
  t.ok(decodeSend(plain), 'the plain frame is taken');
  t.equal(decodeSend(Buffer.concat([plain, Buffer.from([0])])), undefined, 'trailing bytes');
  for (let i = 0; i < plain.length; i++) t.equal(decodeSend(plain.subarray(0, i)), undefined, `truncated at ${i}`);
  t.equal(decodeSend(packr.pack({ t: 'SEND', dest: 'queue://é', body: Buffer.from('x') })), undefined, 'a non-ASCII string');
  t.equal(decodeSend(packr.pack({ t: 'SEND', dest: 'queue://q', body: Buffer.from('x'), headers: { a: 1 } })), undefined, 'headers');
  t.equal(decodeSend(packr.pack({ t: 'SEND', dest: 'queue://q', body: Buffer.from('x'), priority: 10 })), undefined, 'priority out of range');
  t.equal(decodeSend(packr.pack({ t: 'SEND', dest: 'queue://q', body: 'x' })), undefined, 'a string body');
  t.equal(decodeSend(packr.pack({ t: 'ACK', sid: 1, tag: 2 })), undefined, 'another command');
  t.equal(decodeSend(packr.pack([1, 2])), undefined, 'not a map');
});

const messages: MessageFields[] = [
  { id: 'P-0123456789abcdef:1', dest: 'queue://bench.np', body: Buffer.alloc(1024, 0x61), bt: 0, persistent: false, priority: 4, timestamp: 1764662400123, expires: 0, deliveryCount: 1 },
  { id: 'ID:b:2', dest: 'topic://t', body: Buffer.alloc(300, 2), bt: 1, persistent: true, priority: 9, timestamp: 1, expires: 1764662400123 + 0.5, deliveryCount: 7, correlationId: 'c', replyTo: 'temp-queue://r' },
  { id: 'é', dest: 'queue://ü', body: Buffer.alloc(70000, 3), bt: 2, persistent: false, priority: 0, timestamp: 2 ** 31, expires: 0, deliveryCount: 2, headers: { k: 'v', n: -3, f: 1.25, b: true, z: null, big: 2 ** 40, neg: -(2 ** 40) }, path: ['a', 'b'] },
];

t.test('a MESSAGE written in place reads back through msgpackr, and through the fast reader when plain', async (t) => {
  for (const m of messages) {
    const out = Buffer.alloc(messageBound(m));
    const n = encodeMessage(out, 0, 3, 1234567, m);
    const bytes = out.subarray(0, n);
    const expected: MessageCmd = {
      t: 'MESSAGE', sid: 3, tag: 1234567, id: m.id, dest: m.dest, body: m.body, bt: m.bt, persistent: m.persistent, priority: m.priority,
      timestamp: m.timestamp, expires: m.expires, deliveryCount: m.deliveryCount, redelivered: m.deliveryCount > 1,
    };
    if (m.headers !== undefined) expected.headers = m.headers;
    if (m.correlationId !== undefined) expected.correlationId = m.correlationId;
    if (m.replyTo !== undefined) expected.replyTo = m.replyTo;
    if (m.path !== undefined) expected.path = [...m.path];
    t.same(decodeBody(bytes), expected, `${m.id}: msgpackr reads what was written`);
    const fast = decodeMessage(bytes);
    if (m.headers === undefined && /^[\x00-\x7f]*$/.test(m.id + m.dest)) t.same(fast, expected, `${m.id}: the fast reader reads the same`);
    else t.equal(fast, undefined, `${m.id}: headers, a path or non-ASCII text are left to msgpackr`);
  }
});
