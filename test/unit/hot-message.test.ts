import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { isDeepStrictEqual } from 'node:util';
import t from 'tap';
import { decodeBody } from '../../src/protocol/codec.js';
import { encodeMessage, type MessageFields, messageBound } from '../../src/protocol/hot-encode.js';
import { decodePlainMessage } from '../../src/protocol/hot-message.js';

/**
 * The client's plain MESSAGE reader must mean exactly what msgpackr means: whatever it takes reads as msgpackr reads
 * it (the leading fields it takes from the last frame included), and whatever it does not take is left to the
 * general readers (undefined).
 */

const packr = new Packr({ useRecords: false, structuredClone: false, variableMapSize: true });

/** The command without the optional fields the reader sets to undefined (msgpackr leaves them out). */
function defined(o: object | undefined): Record<string, unknown> | undefined {
  if (o === undefined) return undefined;
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}

function written(sid: number, tag: number, m: MessageFields): Buffer {
  const out = Buffer.alloc(messageBound(m) + 8);
  // at an offset inside a larger buffer, as frames sit in a received chunk
  return out.subarray(0, encodeMessage(out, 3, sid, tag, m));
}

/** Mostly absent (null), sometimes `x`. */
const rarely = <T,>(x: fc.Arbitrary<T>): fc.Arbitrary<T | null> => fc.oneof({ weight: 4, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: x });
const ascii = (max: number): fc.Arbitrary<string> => fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: max });

t.test('MESSAGEs as the broker writes them, one after another, read as msgpackr reads them', async (t) => {
  const fields = fc.record({
    sid: fc.constantFrom(1, 2, 300, 70000),
    tag: fc.oneof(fc.nat(), fc.constantFrom(2 ** 32 + 5)),
    dest: fc.constantFrom('queue://a', 'queue://bench.np', 'queue://bench.np', 'topic://t', `queue://${'q'.repeat(40)}`, `queue://${'q'.repeat(300)}`, 'queue://é'),
    bt: fc.constantFrom(0, 1, 2),
    persistent: fc.boolean(),
    priority: fc.constantFrom(0, 4, 9),
    deliveryCount: fc.constantFrom(1, 1, 2, 300),
    expires: fc.constantFrom(0, 1764662400123, 1764662400123.5),
    timestamp: fc.constantFrom(1, 1764662400123, -5),
    id: fc.oneof({ weight: 8, arbitrary: ascii(40) }, { weight: 1, arbitrary: fc.constantFrom('P-0123456789abcdef:17', 'ID:é:1', 'x'.repeat(300)) }),
    corr: rarely(fc.oneof(ascii(10), fc.constant('é'))),
    replyTo: rarely(fc.constantFrom('temp-queue://r', 'queue://reply')),
    headers: rarely(
      fc.dictionary(
        fc.oneof({ weight: 6, arbitrary: fc.constantFrom('ferry.run', 'ferry.seq', 'k', 'a') }, { weight: 1, arbitrary: fc.constantFrom('é', '__proto__', 'x'.repeat(40)) }),
        fc.oneof(ascii(12), fc.integer(), fc.boolean(), fc.constant(null), fc.double({ noNaN: true }), fc.constantFrom(2 ** 40, -(2 ** 40), 'é')),
        { maxKeys: 6 },
      ),
    ),
    path: rarely(fc.constant(['broker-a'])),
    body: fc.uint8Array({ maxLength: 300 }),
  });
  let taken = 0;
  let left = 0;
  fc.assert(
    fc.property(fc.array(fields, { minLength: 1, maxLength: 10 }), (list) => {
      for (const f of list) {
        const m: MessageFields = {
          id: f.id, dest: f.dest, body: Buffer.from(f.body), bt: f.bt as MessageFields['bt'], persistent: f.persistent, priority: f.priority,
          timestamp: f.timestamp, expires: f.expires, deliveryCount: f.deliveryCount,
        };
        if (f.corr !== null) m.correlationId = f.corr;
        if (f.replyTo !== null) m.replyTo = f.replyTo;
        if (f.headers !== null) m.headers = f.headers;
        if (f.path !== null) m.path = f.path;
        const bytes = written(f.sid, f.tag, m);
        const expected = decodeBody(bytes.subarray(3));
        const got = decodePlainMessage(bytes, 3, bytes.length);
        if (got === undefined) {
          left++;
          continue;
        }
        taken++;
        if (!isDeepStrictEqual(defined(got), expected)) throw new Error(`read ${JSON.stringify(got)}, msgpackr ${JSON.stringify(expected)}`);
        if (!Buffer.isBuffer(got.body)) throw new Error('the body must be a Buffer, as applications get it');
      }
      return true;
    }),
    { numRuns: 400 },
  );
  t.ok(taken > 1000, `frames taken by the plain reader (${taken})`);
  t.ok(left > 100, `frames left to the general readers (${left})`);
});

const plain: MessageFields = {
  id: 'P-0123456789abcdef:1', dest: 'queue://bench.np', body: Buffer.alloc(1024, 0x61), bt: 0, persistent: false, priority: 4,
  timestamp: 1764662400123, expires: 0, deliveryCount: 1,
};

t.test('the leading fields are taken from the last frame only when their bytes are the same', async (t) => {
  const a = written(1, 10, plain);
  t.equal(decodePlainMessage(a, 3, a.length)?.tag, 10);
  const cases: [string, number, MessageFields][] = [
    ['another subscription', 2, plain],
    ['another destination of the same length', 1, { ...plain, dest: 'queue://bench.nq' }],
    ['persistent', 1, { ...plain, persistent: true }],
    ['a redelivery', 1, { ...plain, deliveryCount: 2 }],
    ['another priority', 1, { ...plain, priority: 9 }],
    ['a text body', 1, { ...plain, bt: 1 }],
    ['headers (another map size)', 1, { ...plain, headers: { k: 'v' } }],
    ['the first again', 1, plain],
  ];
  for (const [what, sid, m] of cases) {
    const b = written(sid, 11, m);
    t.same(defined(decodePlainMessage(b, 3, b.length)), decodeBody(b.subarray(3)), what);
  }
  // The broker never writes these two, but they differ only in the leading run's last byte.
  const lead = { t: 'MESSAGE', sid: 1, dest: 'queue://q', bt: 0, persistent: false, priority: 4, deliveryCount: 1 };
  const rest = { tag: 2, id: 'i', timestamp: 1, expires: 0, body: Buffer.from('x') };
  for (const redelivered of [false, true, false]) {
    const b = packr.pack({ ...lead, redelivered, ...rest });
    t.equal(decodePlainMessage(b, 0, b.length)?.redelivered, redelivered, `redelivered ${redelivered}`);
  }
});

t.test('frames outside the plain shape are left to the general readers', async (t) => {
  const good = written(1, 10, plain).subarray(3);
  t.ok(decodePlainMessage(good, 0, good.length), 'the plain frame itself is taken');
  t.equal(decodePlainMessage(Buffer.concat([good, Buffer.from([0])]), 0, good.length + 1), undefined, 'trailing bytes');
  for (let i = 0; i < good.length - 1024; i++) t.equal(decodePlainMessage(good, 0, i), undefined, `truncated at ${i}`);
  t.equal(decodePlainMessage(good, 0, good.length - 1), undefined, 'a truncated body');
  const packed = (o: object): Buffer => packr.pack(o);
  const base = { t: 'MESSAGE', sid: 1, tag: 2, id: 'i', dest: 'queue://q', body: Buffer.from('x'), bt: 0, persistent: false, priority: 4, timestamp: 1, expires: 0, deliveryCount: 1, redelivered: false };
  const reordered = packed({ body: base.body, ...base });
  t.same(defined(decodePlainMessage(reordered, 0, reordered.length)), decodeBody(reordered), 'keys in another order read the same');
  const refused: [string, object][] = [
    ['a path', { ...base, path: ['a'] }],
    ['another key', { ...base, extra: 1 }],
    ['a missing field', { ...base, expires: undefined }],
    ['a RECEIPT', { t: 'RECEIPT', rid: 1 }],
    ['another command of seven letters', { ...base, t: 'MESSAGX' }],
    ['a string body', { ...base, body: 'x' }],
    ['a non-ASCII id', { ...base, id: 'é' }],
    ['a 64-bit tag', { ...base, tag: 2n ** 60n }],
    ['a nested header', { ...base, headers: { a: [1] } }],
    ['a binary header', { ...base, headers: { a: Buffer.from('x') } }],
    ['a __proto__ header', { ...base, headers: JSON.parse('{"__proto__": 1}') }],
    ['headers not a map', { ...base, headers: 'h' }],
    ['a sid as a string', { ...base, sid: '1' }],
    ['redelivered as a number', { ...base, redelivered: 1 }],
  ];
  for (const [what, o] of refused) {
    const b = new Packr({ useRecords: false, structuredClone: false, variableMapSize: true, useBigIntExtension: false, largeBigIntToFloat: false }).pack(
      Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)),
    );
    t.equal(decodePlainMessage(b, 0, b.length), undefined, what);
  }
  const twice = Buffer.concat([Buffer.from([0x8e]), packed(base).subarray(1), packed({ tag: 3 }).subarray(1)]);
  t.equal(decodePlainMessage(twice, 0, twice.length), undefined, 'a repeated key');
  t.equal(decodePlainMessage(Buffer.from([0x91, 0x01]), 0, 2), undefined, 'not a map');
  t.equal(decodePlainMessage(Buffer.alloc(0), 0, 0), undefined, 'an empty frame');
});
