import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { isDeepStrictEqual } from 'node:util';
import t from 'tap';
import { sendInputOf } from '../../src/model/wire.js';
import { decodeBody } from '../../src/protocol/codec.js';
import type { MessageCmd, SendCmd } from '../../src/protocol/commands.js';
import { decodeMessage, decodeSend } from '../../src/protocol/hot-decode.js';
import { decodePlainSend, decodePlainSendInput, plainSendRid } from '../../src/protocol/hot-send.js';
import { encodeMessage, encodeSend, type MessageFields, messageBound, sendBound } from '../../src/protocol/hot-encode.js';
import { validateClientCommand } from '../../src/protocol/validate.js';

/**
 * The hot codec must mean exactly what msgpackr + validate.ts mean: whatever the fast SEND reader takes, the general
 * path takes too, with the same fields; whatever it does not take falls through to the general path. The encoders'
 * bytes must read back, through msgpackr, as the command they were given.
 */

const packr = new Packr({ useRecords: false, structuredClone: false, variableMapSize: true });

/** The fast reader gives SEND bodies as plain Uint8Array views, msgpackr as Buffers: the bytes must be the same. */
function sameBytes(a: unknown, b: unknown): boolean {
  return a instanceof Uint8Array && b instanceof Uint8Array && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
}

function asBuffers<T extends { body: Uint8Array }>(x: T): T {
  return { ...x, body: Buffer.from(x.body.buffer, x.body.byteOffset, x.body.byteLength) };
}

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

/** Header maps: mostly plain scalars, sometimes what the validator or the fast reader refuses. */
const headersLike = fc.dictionary(
  fc.oneof({ weight: 8, arbitrary: ascii(12) }, { weight: 1, arbitrary: fc.constantFrom('__proto__', 'é', '1', 'k'.repeat(1025), 'constructor') }),
  fc.oneof(
    { weight: 8, arbitrary: fc.oneof(ascii(20), fc.integer(), fc.boolean(), fc.constant(null), fc.double(), fc.constantFrom(2 ** 40, -(2 ** 40), 1764662400123, -100, -129, -200, -32768, 200, 40000, 2 ** 31 + 1)) },
    { weight: 1, arbitrary: anyValue },
  ),
  { maxKeys: 6 },
);
/** Broker paths: lists of names, sometimes empty names, long lists or non-strings. */
const pathLike = fc.oneof(
  { weight: 8, arbitrary: fc.array(ascii(20), { maxLength: 5 }) },
  { weight: 1, arbitrary: fc.array(fc.constantFrom('a', '', 'é', 'n'.repeat(257)), { minLength: 0, maxLength: 70 }) },
  { weight: 1, arbitrary: fc.array(anyValue, { maxLength: 3 }) },
);

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
    headers: field(fc.oneof(fc.constant(null), headersLike)),
    priority: field(int(9)),
    ttl: field(int(Number.MAX_SAFE_INTEGER)),
    correlationId: field(ascii(40)),
    replyTo: field(ascii(40)),
    tx: field(ascii(20)),
    path: field(fc.oneof(fc.constant(null), pathLike)),
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
        if (!(a === b || (k === 'body' && sameBytes(a, b)) || (k !== 'body' && isDeepStrictEqual(a, b)))) {
          throw new Error(`field ${k}: fast ${JSON.stringify(a)}, general ${JSON.stringify(b)}`);
        }
      }
      if (!isDeepStrictEqual(asBuffers(sendInputOf(fast)), asBuffers(sendInputOf(general)))) throw new Error('the broker would see another message');
      return true;
    }),
    { numRuns: 3000 },
  );
  t.ok(taken > 100, `the property exercised the fast reader (${taken} frames taken)`);
});

t.test('whatever the fast SEND reader refuses, it refuses for a reason: plain headers and paths are taken', async (t) => {
  let withHeaders = 0;
  let withPath = 0;
  fc.assert(
    fc.property(sendLike, (cmd) => {
      const bytes = packr.pack(cmd);
      let general: SendCmd;
      try {
        general = validateClientCommand(decodeBody(bytes)) as SendCmd;
      } catch {
        return true;
      }
      // msgpackr writes every number as an integer of at most 32 bits or a float64, both of which the reader takes.
      const plain = (v: unknown): boolean => typeof v !== 'string' || (/^[\x00-\x7f]*$/.test(v) && v.length < 0x10000);
      const simple = Object.entries(cmd).every(([k, v]) => {
        if (k === 'headers' && v !== null && typeof v === 'object') {
          return Object.entries(v as object).every(([hk, hv]) => plain(hk) && hk !== '__proto__' && plain(hv) && !(typeof hv === 'object' && hv !== null));
        }
        if (k === 'path' && Array.isArray(v)) return v.every(plain);
        return plain(v) && (typeof v !== 'object' || v === null || Buffer.isBuffer(v));
      });
      if (!simple) return true;
      const fast = decodeSend(bytes);
      if (fast === undefined) throw new Error(`a plain SEND was refused: ${JSON.stringify(cmd)}`);
      if (general.headers != null) withHeaders++;
      if (general.path != null) withPath++;
      return true;
    }),
    { numRuns: 3000 },
  );
  t.ok(withHeaders > 50 && withPath > 50, `plain SENDs with headers (${withHeaders}) and paths (${withPath}) were taken`);
});

/** SENDs as the bundled client writes them (encodeSend), plain fields only, sometimes out of range. */
const plainSend = fc.record(
  {
    dest: field(ascii(40).map((s) => `queue://${s}`)).filter((v) => typeof v === 'string').map(String),
    body: fc.uint8Array({ maxLength: 70000 }).map((a) => Buffer.from(a)),
    bt: fc.constantFrom(0, 1, 2, 2, 3),
    persistent: fc.boolean(),
    pid: fc.oneof({ weight: 8, arbitrary: ascii(30) }, { weight: 1, arbitrary: fc.constantFrom('P-é', 'p'.repeat(257), 'p'.repeat(256)) }),
    seq: fc.oneof(fc.nat(), fc.constantFrom(0, 127, 128, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1)),
    rid: fc.nat(),
    priority: fc.constantFrom(0, 4, 9, 9, 10),
    ttl: fc.oneof(fc.nat(), fc.constant(2 ** 40)),
    correlationId: fc.constantFrom('c'),
    headers: fc.oneof({ weight: 3, arbitrary: headersLike }, { weight: 1, arbitrary: fc.constant({ 'ferry.run': 'r-0123456789', 'ferry.seq': 12345 }) }),
    // what a network bridge forwards, with values on both sides of what validate.ts takes
    path: fc.oneof(
      { weight: 12, arbitrary: fc.constantFrom(['broker-a'], ['broker-a', 'broker-b']) },
      { weight: 2, arbitrary: pathLike },
      { weight: 1, arbitrary: fc.constantFrom([], ['é'], ['b'.repeat(256)], ['b'.repeat(257)], Array.from({ length: 64 }, () => 'a'), Array.from({ length: 65 }, () => 'a')) },
    ),
    mid: fc.oneof({ weight: 12, arbitrary: ascii(40) }, { weight: 1, arbitrary: fc.constantFrom('ID:é', 'm'.repeat(512), 'm'.repeat(513)) }),
    ts: fc.oneof({ weight: 12, arbitrary: fc.nat() }, { weight: 2, arbitrary: fc.constantFrom(1764662400123, 0, 2 ** 53 - 1, 2 ** 53, -1, 1.5) }),
    exp: fc.oneof({ weight: 12, arbitrary: fc.nat() }, { weight: 2, arbitrary: fc.constantFrom(0, 1764662460123, -5, 0.25) }),
    rd: fc.oneof({ weight: 12, arbitrary: fc.boolean() }, { weight: 1, arbitrary: fc.constant(1) }),
  },
  { requiredKeys: ['dest', 'body'] },
).map((f) => (f.correlationId !== undefined && f.seq !== undefined && f.seq % 5 !== 0 ? { ...f, correlationId: undefined } : f))
  .map((f) => Object.fromEntries(Object.entries(f).filter(([, v]) => v !== undefined)));

t.test('the plain SEND reader takes only what msgpackr + the validator take, with the same fields', async (t) => {
  let taken = 0;
  let refused = 0;
  fc.assert(
    fc.property(plainSend, fc.boolean(), (fields, viaPackr) => {
      const cmd = { t: 'SEND', ...fields } as unknown as SendCmd;
      let bytes: Buffer;
      // headers encodeSend leaves to msgpackr (sendBound -1) go through msgpackr, as the client sends them
      if (viaPackr || sendBound(cmd) < 0) bytes = packr.pack(cmd);
      else {
        const out = Buffer.alloc(sendBound(cmd));
        bytes = out.subarray(0, encodeSend(out, 0, cmd));
      }
      // inside a larger chunk, as the broker reads it
      const chunk = Buffer.concat([Buffer.from([1, 2, 3]), bytes, Buffer.from([4])]);
      const fast = decodePlainSend(chunk, 3, 3 + bytes.length);
      if (fast === undefined) {
        refused++;
        return true;
      }
      taken++;
      const general = validateClientCommand(decodeBody(bytes)) as SendCmd;
      for (const k of SEND_KEYS) {
        const a = fast[k as keyof SendCmd];
        const b = general[k as keyof SendCmd];
        if (!(a === b || (k === 'body' && sameBytes(a, b)) || ((k === 'headers' || k === 'path') && isDeepStrictEqual(a, b)))) {
          throw new Error(`field ${k}: fast ${JSON.stringify(a)}, general ${JSON.stringify(b)}`);
        }
      }
      const again = decodeSend(chunk, 3, 3 + bytes.length);
      if (!isDeepStrictEqual(again && asBuffers(sendInputOf(again)), asBuffers(sendInputOf(general)))) throw new Error('decodeSend disagrees');
      return true;
    }),
    { numRuns: 3500 },
  );
  t.ok(taken > 250 && refused > 100, `taken ${taken}, left to the general readers ${refused}`);
  const plain = packr.pack({ t: 'SEND', dest: 'queue://q', body: Buffer.from('x'), persistent: false, seq: 3 });
  t.ok(decodePlainSend(plain, 0, plain.length), 'a plain frame is taken');
  for (let i = 0; i < plain.length; i++) t.equal(decodePlainSend(plain, 0, i), undefined, `truncated at ${i}`);
  t.equal(decodePlainSend(Buffer.concat([plain, Buffer.from([0])]), 0, plain.length + 1), undefined, 'trailing bytes');
  t.equal(decodePlainSend(packr.pack({ t: 'SENT', dest: 'queue://q', body: Buffer.from('x') }), 0, 30), undefined, 'another command');
});

t.test('the client\'s SEND is written in place, taken by the fast reader, and reads back the same through msgpackr', async (t) => {
  const sends: SendCmd[] = [
    { t: 'SEND', dest: 'queue://bench.np.1', body: Buffer.alloc(1024, 0x61), bt: 0, persistent: false, pid: 'P-0123456789abcdef', seq: 1 },
    { t: 'SEND', dest: 'queue://q', body: Buffer.alloc(70000, 1), bt: 1, persistent: true, pid: 'P-x', seq: 2 ** 40, rid: 300, priority: 9, ttl: 5000 },
    { t: 'SEND', dest: 'topic://t', body: Buffer.alloc(0), bt: 2, persistent: false, correlationId: 'c'.repeat(100), replyTo: 'temp-queue://r', tx: 'T1' },
    // what a network bridge forwards (bridge.ts `forward`)
    {
      t: 'SEND', dest: 'queue://bridged', body: Buffer.alloc(1024, 0x62), bt: 0, persistent: true, priority: 4, mid: 'ID:broker-a-1:7', ts: 1764662400123,
      path: ['broker-a', 'broker-b'], rd: true, exp: 1764662460123, headers: { JMSXGroupID: 'g', n: 3, big: 2 ** 40, f: -1.5, b: false, z: null }, pid: 'P-bridge', seq: 9,
    },
    { t: 'SEND', dest: 'queue://bridged', body: Buffer.alloc(10, 1), bt: 1, persistent: false, priority: 0, mid: 'x'.repeat(300), ts: 0, path: Array.from({ length: 20 }, (_, i) => `b${i}`), rd: false, exp: 1 },
    { t: 'SEND', dest: 'queue://h', body: Buffer.alloc(10, 1), headers: Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`key-${i}`, `value ${i}`])) },
  ];
  for (const cmd of sends) {
    const out = Buffer.alloc(sendBound(cmd));
    const n = encodeSend(out, 0, cmd);
    const bytes = out.subarray(0, n);
    t.same(decodeBody(bytes), cmd, `${cmd.dest}: msgpackr reads what was written`);
    const fast = decodeSend(bytes);
    t.ok(fast !== undefined, `${cmd.dest}: the fast reader takes it`);
    t.ok(isDeepStrictEqual(asBuffers(sendInputOf(fast!)), asBuffers(sendInputOf(validateClientCommand(decodeBody(bytes)) as SendCmd))), `${cmd.dest}: same input either way`);
  }
  t.equal(sendBound({ ...sends[0]!, headers: { a: undefined } as never }), -1, 'a header valued undefined is left to msgpackr');
  t.equal(sendBound({ ...sends[0]!, headers: { a: { b: 1 } } as never }), -1, 'a nested header is left to msgpackr');
  t.equal(sendBound({ ...sends[0]!, headers: new Map() as never }), -1, 'a Map of headers is left to msgpackr');
  t.equal(sendBound({ ...sends[0]!, path: ['a', 1] as never }), -1, 'a path with a non-string is left to msgpackr');
});

t.test('the fast SEND reader leaves malformed, exotic or invalid frames to the general path', async (t) => {
  const plain = packr.pack({ t: 'SEND', dest: 'queue://q', body: Buffer.from('x'), persistent: false });
  t.ok(decodeSend(plain), 'the plain frame is taken');
  t.equal(decodeSend(Buffer.concat([plain, Buffer.from([0])])), undefined, 'trailing bytes');
  for (let i = 0; i < plain.length; i++) t.equal(decodeSend(plain.subarray(0, i)), undefined, `truncated at ${i}`);
  t.equal(decodeSend(packr.pack({ t: 'SEND', dest: 'queue://é', body: Buffer.from('x') })), undefined, 'a non-ASCII string');
  t.equal(decodeSend(packr.pack({ t: 'SEND', dest: 'queue://q', body: Buffer.from('x'), headers: { a: Buffer.from('x') } })), undefined, 'a binary header');
  t.equal(decodeSend(packr.pack({ t: 'SEND', dest: 'queue://q', body: Buffer.from('x'), headers: { a: [1] } })), undefined, 'a list header');
  t.equal(decodeSend(packr.pack({ t: 'SEND', dest: 'queue://q', body: Buffer.from('x'), headers: { ['__proto__']: 1 } })), undefined, 'a __proto__ header');
  t.equal(decodeSend(packr.pack({ t: 'SEND', dest: 'queue://q', body: Buffer.from('x'), headers: 'h' })), undefined, 'headers not a map');
  t.equal(decodeSend(packr.pack({ t: 'SEND', dest: 'queue://q', body: Buffer.from('x'), path: ['a', ''] })), undefined, 'an empty broker name');
  t.equal(decodeSend(packr.pack({ t: 'SEND', dest: 'queue://q', body: Buffer.from('x'), path: 'a' })), undefined, 'a path not a list');
  t.equal(decodeSend(packr.pack({ t: 'SEND', dest: 'queue://q', body: Buffer.from('x'), path: Array.from({ length: 65 }, () => 'a') })), undefined, 'a path too long');
  t.equal(decodeSend(packr.pack({ t: 'SEND', dest: 'queue://q', body: Buffer.from('x'), priority: 10 })), undefined, 'priority out of range');
  t.equal(decodeSend(packr.pack({ t: 'SEND', dest: 'queue://q', body: 'x' })), undefined, 'a string body');
  t.equal(decodeSend(packr.pack({ t: 'ACK', sid: 1, tag: 2 })), undefined, 'another command');
  t.equal(decodeSend(packr.pack([1, 2])), undefined, 'not a map');
});

const messages: MessageFields[] = [
  { id: 'P-0123456789abcdef:1', dest: 'queue://bench.np', body: Buffer.alloc(1024, 0x61), bt: 0, persistent: false, priority: 4, timestamp: 1764662400123, expires: 0, deliveryCount: 1 },
  { id: 'ID:b:2', dest: 'topic://t', body: Buffer.alloc(300, 2), bt: 1, persistent: true, priority: 9, timestamp: 1, expires: 1764662400123 + 0.5, deliveryCount: 7, correlationId: 'c', replyTo: 'temp-queue://r' },
  { id: 'ID:a:3', dest: 'queue://bridged', body: Buffer.alloc(10, 3), bt: 0, persistent: true, priority: 4, timestamp: 5, expires: 0, deliveryCount: 1, headers: { k: 'v', n: -3, f: 1.25, b: true, z: null, big: 2 ** 40 }, path: ['broker-a'] },
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
    if (/^[\x00-\x7f]*$/.test(m.id + m.dest)) t.same(fast, expected, `${m.id}: the fast reader reads the same`);
    else t.equal(fast, undefined, `${m.id}: non-ASCII text is left to msgpackr`);
  }
});

/** What msgpackr must read back from a MESSAGE written for `m`. */
function expectedMessage(sid: number, tag: number, m: MessageFields): MessageCmd {
  const e: MessageCmd = {
    t: 'MESSAGE', sid, tag, id: m.id, dest: m.dest, body: m.body, bt: m.bt, persistent: m.persistent, priority: m.priority,
    timestamp: m.timestamp, expires: m.expires, deliveryCount: m.deliveryCount, redelivered: m.deliveryCount > 1,
  };
  if (m.headers !== undefined) e.headers = m.headers;
  if (m.correlationId !== undefined) e.correlationId = m.correlationId;
  if (m.replyTo !== undefined) e.replyTo = m.replyTo;
  if (m.path !== undefined) e.path = [...m.path];
  return e;
}

t.test('MESSAGEs written one after another (repeated leading fields, ids made of pid:seq) read back exactly', async (t) => {
  const pids = ['P-a', 'P-0123456789abcdef0123456789', 'é-pid', 'P-'.padEnd(240, 'x')];
  const fields = fc.record({
    sid: fc.constantFrom(1, 2, 300),
    tag: fc.nat(),
    dest: fc.constantFrom('queue://a', 'queue://bench.np', 'topic://t', `queue://${'q'.repeat(300)}`),
    bt: fc.constantFrom(0, 1, 2),
    persistent: fc.boolean(),
    priority: fc.constantFrom(0, 4, 9),
    deliveryCount: fc.constantFrom(1, 1, 2, 300),
    expires: fc.constantFrom(0, 1764662400123),
    timestamp: fc.constantFrom(1, 1764662400123),
    pid: fc.constantFrom(...pids),
    pseq: fc.oneof(fc.nat(), fc.constantFrom(0, 9, 10, 99, 100, 2 ** 32, 2 ** 53 - 1)),
    derived: fc.boolean(),
    corr: fc.option(fc.constantFrom('c', 'corr-1')),
    headers: fc.option(fc.constant({ k: 'v', n: 1 })),
  });
  let derived = 0;
  fc.assert(
    fc.property(fc.array(fields, { minLength: 1, maxLength: 8 }), (list) => {
      for (const f of list) {
        const id = f.derived ? `${f.pid}:${f.pseq}` : `ID:other:${f.pseq}`;
        const m: MessageFields = {
          id, dest: f.dest, body: Buffer.from([1, 2, 3]), bt: f.bt as MessageFields['bt'], persistent: f.persistent, priority: f.priority,
          timestamp: f.timestamp, expires: f.expires, deliveryCount: f.deliveryCount, pid: f.pid, pseq: f.pseq, pidId: f.derived,
        };
        if (f.corr !== null) m.correlationId = f.corr;
        if (f.headers !== null) m.headers = f.headers;
        if (f.derived) derived++;
        const out = Buffer.alloc(messageBound(m));
        const bytes = out.subarray(0, encodeMessage(out, 0, f.sid, f.tag, m));
        const got = decodeBody(bytes);
        if (!isDeepStrictEqual(got, expectedMessage(f.sid, f.tag, { ...m, body: Buffer.from(m.body) }))) {
          throw new Error(`read back ${JSON.stringify(got)} for ${JSON.stringify(m)}`);
        }
      }
      return true;
    }),
    { numRuns: 500 },
  );
  t.ok(derived > 200, `ids written from pid and sequence (${derived})`);
});

t.test('header names remembered from the last frame are given again only when their bytes are the same', async (t) => {
  const seq: Record<string, string | number>[] = [{ a: 1, bb: 'x' }, { a: 1, bb: 'x' }, { a: 1, cc: 'x' }, { b: 2, a: 3 }, { a: 1, bb: 'x', ccc: 4, dddd: 5, eeeee: 6 }, { a: 1, bb: 'y', ccd: 4, dddd: 5, eeeef: 6 }];
  for (const headers of seq) {
    const bytes = packr.pack({ t: 'SEND', dest: 'queue://q', body: Buffer.from('x'), headers });
    t.same(decodeSend(bytes)?.headers, headers, `SEND ${JSON.stringify(headers)}`);
    const m: MessageFields = { id: 'i', dest: 'queue://q', body: Buffer.from('x'), bt: 0, persistent: false, priority: 4, timestamp: 1, expires: 0, deliveryCount: 1, headers };
    const out = Buffer.alloc(messageBound(m));
    t.same(decodeMessage(out.subarray(0, encodeMessage(out, 0, 1, 1, m)))?.headers, headers, `MESSAGE ${JSON.stringify(headers)}`);
  }
});

t.test('the plain SEND read straight as the broker\'s input is what sendInputOf makes of the validated SEND', async (t) => {
  let taken = 0;
  fc.assert(
    fc.property(fc.array(fc.tuple(plainSend, fc.boolean()), { minLength: 1, maxLength: 8 }), (list) => {
      for (const [fields, viaPackr] of list) {
        const cmd = { t: 'SEND', ...fields } as unknown as SendCmd;
        let bytes: Buffer;
        if (viaPackr || sendBound(cmd) < 0) bytes = packr.pack(cmd);
        else {
          const out = Buffer.alloc(sendBound(cmd));
          bytes = out.subarray(0, encodeSend(out, 0, cmd));
        }
        const chunk = Buffer.concat([Buffer.from([1, 2, 3]), bytes, Buffer.from([4])]);
        const input = decodePlainSendInput(chunk, 3, 3 + bytes.length);
        const asCmd = decodePlainSend(chunk, 3, 3 + bytes.length);
        if ((input === undefined) !== (asCmd === undefined)) throw new Error('the two plain readers disagree on what they take');
        if (input === undefined) continue;
        taken++;
        const general = validateClientCommand(decodeBody(bytes)) as SendCmd;
        if (!isDeepStrictEqual(asBuffers(input), asBuffers(sendInputOf(general)))) throw new Error(`input ${JSON.stringify(input)} for ${JSON.stringify(general)}`);
        if (plainSendRid !== general.rid) throw new Error(`rid ${plainSendRid}, validated ${general.rid}`);
      }
      return true;
    }),
    { numRuns: 900 },
  );
  t.ok(taken > 250, `frames taken (${taken})`);
});

t.test('a SEND\'s leading fields are taken from the last frame only when their bytes are the same', async (t) => {
  const base: SendCmd = { t: 'SEND', dest: 'queue://bench.np', body: Buffer.from('x'), bt: 0, persistent: false, pid: 'P-0123456789abcdef', seq: 1 };
  const variants: [string, SendCmd][] = [
    ['the first', base],
    ['another sequence', { ...base, seq: 2 }],
    ['another destination of the same length', { ...base, dest: 'queue://bench.nq' }],
    ['persistent, with a receipt', { ...base, persistent: true, rid: 7 }],
    ['another producer id of the same length', { ...base, pid: 'P-0123456789abcdeg' }],
    ['a text body', { ...base, bt: 1 }],
    ['no bt', { t: 'SEND', dest: base.dest, body: base.body, persistent: false, pid: base.pid, seq: 3 }],
    ['the first again', base],
  ];
  for (const [what, cmd] of variants) {
    const out = Buffer.alloc(sendBound(cmd));
    const bytes = out.subarray(0, encodeSend(out, 0, cmd));
    t.ok(isDeepStrictEqual(asBuffers(decodePlainSendInput(bytes, 0, bytes.length)!), asBuffers(sendInputOf(validateClientCommand(decodeBody(bytes)) as SendCmd))), what);
  }
  // Never written by the client, but differing only in the leading run's last byte.
  for (const persistent of [false, true, false]) {
    const bytes = packr.pack({ t: 'SEND', dest: 'queue://q', persistent, seq: 1, body: Buffer.from('x') });
    t.equal(decodePlainSendInput(bytes, 0, bytes.length)?.persistent, persistent, `persistent ${persistent}`);
  }
  // A field after the leading run is not part of what the next frame with the same run takes from it.
  for (const pid of ['P-after', undefined, 'P-later']) {
    const bytes = packr.pack({ t: 'SEND', dest: 'queue://q', persistent: false, seq: 1, ...(pid === undefined ? { priority: 4 } : { pid }), body: Buffer.from('x') });
    t.equal(decodePlainSendInput(bytes, 0, bytes.length)?.pid, pid, `a producer id after the run: ${pid}`);
  }
  // A key repeated after the leading run: the last one counts, as in msgpackr.
  const twice = Buffer.concat([Buffer.from([0x86]), packr.pack({ t: 'SEND', dest: 'queue://q', persistent: false, seq: 1, body: Buffer.from('x') }).subarray(1), packr.pack({ dest: 'queue://r' }).subarray(1)]);
  t.equal(decodePlainSendInput(twice, 0, twice.length)?.dest, (decodeBody(twice) as SendCmd).dest, 'a repeated destination');
});
