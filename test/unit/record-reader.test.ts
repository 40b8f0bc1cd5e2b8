import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { isDeepStrictEqual } from 'node:util';
import t from 'tap';
// The store's writer of message records (message-codec.ts), under the name this test was written with.
import { encodeStoredMessage as encodeMessage } from '../../src/store/message-codec.js';
import { decodeStoredMessage } from '../../src/store/level-pages.js';
import { FAIL, readMessageRecord, readRecord } from '../../src/store/record-reader.js';
import type { BrokerMessage } from '../../src/model/message.js';

/**
 * The stored-record reader must read what msgpackr reads, or leave the value to msgpackr (FAIL): whatever it takes
 * is msgpackr's value exactly (binaries as views of the same bytes). And it must take the records the store writes.
 */

const packr = new Packr({ useRecords: false, structuredClone: false });

/** Binaries as Buffers, so a view and msgpackr's Buffer compare by their bytes. */
function norm(v: unknown): unknown {
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  if (Array.isArray(v)) return v.map(norm);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, norm(x)]));
  return v;
}

const leaf = fc.oneof(
  fc.constant(null),
  fc.constant(undefined),
  fc.boolean(),
  fc.integer(),
  fc.constantFrom(0, 127, 128, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1, -1, -32, -33, -128, -129, -32768, -32769, -(2 ** 31), -(2 ** 31) - 1, 1.5, -0, 1764662400123),
  fc.double(),
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 8 }),
  fc.constantFrom('x'.repeat(300), 'y'.repeat(70000), '__proto__'),
  fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
  fc.constant(Buffer.alloc(70000, 7)),
);
const valueArb = fc.letrec((tie) => ({
  v: fc.oneof({ depthSize: 'small', withCrossShrink: true }, leaf, fc.array(tie('v'), { maxLength: 4 }), fc.dictionary(fc.oneof(fc.string({ maxLength: 6 }), fc.constant('__proto__')), tie('v'), { maxKeys: 4 })),
})).v;

t.test('whatever the reader takes, it reads as msgpackr does', async (t) => {
  let taken = 0;
  fc.assert(
    fc.property(valueArb, (v) => {
      const bytes = packr.pack(v);
      const got = readRecord(bytes);
      if (got === FAIL) return true;
      taken++;
      const want = packr.unpack(bytes);
      if (!isDeepStrictEqual(norm(got), norm(want))) throw new Error(`read ${JSON.stringify(norm(got))}, msgpackr ${JSON.stringify(norm(want))}`);
      return true;
    }),
    { numRuns: 3000 },
  );
  t.ok(taken > 1000, `the reader took most values (${taken})`);
  const plain = packr.pack({ a: 1 });
  t.equal(readRecord(Buffer.concat([plain, Buffer.from([0])])), FAIL, 'trailing bytes');
  for (let i = 0; i < plain.length; i++) t.equal(readRecord(plain.subarray(0, i)), FAIL, `truncated at ${i}`);
});

t.test('stored message records are read by the reader and come back as the message stored', async (t) => {
  const base: BrokerMessage = { seq: 7, id: 'P-1:2', dest: 'queue://q', body: Buffer.alloc(1024, 0x61), bt: 0, persistent: true, priority: 4, timestamp: 1764662400123, expires: 0, deliveryCount: 0 };
  const cases: BrokerMessage[] = [
    base,
    { ...base, headers: { 'ferry.run': 'r1', 'ferry.seq': 17, f: 1.5, b: true, z: null }, correlationId: 'c', replyTo: 'temp-queue://x', pid: 'P-1', pseq: 2, home: 'queue://durable', path: ['a', 'b'], deliveryCount: 3, expires: 1764662460123 },
  ];
  for (const m of cases) {
    const bytes = encodeMessage(m);
    t.ok(readMessageRecord(bytes, new Array(16)), `${m.id}: the record reader takes the record`);
    const back = decodeStoredMessage(bytes);
    const want = decodeStoredMessage(Buffer.from(packr.pack({ ...(packr.unpack(bytes) as object), extra: new Float32Array(1) })));
    t.same(norm({ ...back, body: back.body }), norm({ ...want, body: want.body }), `${m.id}: the same message either way (msgpackr read the second)`);
    for (const k of ['seq', 'id', 'dest', 'bt', 'priority', 'timestamp', 'expires', 'deliveryCount', 'headers', 'correlationId', 'replyTo', 'pid', 'pseq', 'home', 'path'] as const) {
      t.same(back[k], m[k], `${m.id}: ${k}`);
    }
    t.ok(Buffer.from(back.body).equals(m.body), `${m.id}: body`);
  }
});

const FIELDS = ['seq', 'id', 'dest', 'body', 'bt', 'priority', 'timestamp', 'expires', 'headers', 'correlationId', 'replyTo', 'deliveryCount', 'pid', 'pseq', 'home', 'path'] as const;

t.test('the message record reader reads each field as msgpackr does, or leaves the record to it', async (t) => {
  const str = fc.oneof(fc.string({ maxLength: 20 }), fc.constantFrom('queue://a', 'queue://b', 'P-1', 'é'));
  const rec = fc.record({
    seq: fc.nat(), id: str, dest: fc.constantFrom('queue://a', 'queue://b', 'queue://ü'), body: fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)),
    bt: fc.constantFrom(0, 1, 2), priority: fc.integer({ min: 0, max: 9 }), timestamp: fc.oneof(fc.nat(), fc.constant(1764662400123)), expires: fc.oneof(fc.constant(0), fc.double()),
    headers: fc.option(fc.dictionary(fc.string({ maxLength: 5 }), fc.oneof(fc.string({ maxLength: 5 }), fc.integer(), fc.boolean(), fc.constant(null))), { nil: undefined }),
    correlationId: fc.option(str, { nil: undefined }), replyTo: fc.option(str, { nil: undefined }), deliveryCount: fc.nat(300),
    pid: fc.option(fc.constantFrom('P-1', 'P-2', 'ü'), { nil: undefined }), pseq: fc.option(fc.oneof(fc.nat(), fc.constant(2 ** 40)), { nil: undefined }),
    home: fc.option(fc.constantFrom('queue://d1', 'queue://d2'), { nil: undefined }), path: fc.option(fc.array(fc.constantFrom('a', 'b', 'é'), { maxLength: 3 }), { nil: undefined }),
  });
  let taken = 0;
  fc.assert(
    fc.property(fc.array(rec, { minLength: 1, maxLength: 5 }), (list) => {
      for (const r of list) {
        const bytes = encodeMessage({ ...r, persistent: true } as BrokerMessage);
        const out = new Array<unknown>(16);
        if (!readMessageRecord(bytes, out)) continue;
        taken++;
        const want = packr.unpack(bytes) as Record<string, unknown>;
        FIELDS.forEach((f, i) => {
          if (!isDeepStrictEqual(norm(out[i]), norm(want[f]))) throw new Error(`${f}: ${JSON.stringify(norm(out[i]))} != ${JSON.stringify(norm(want[f]))}`);
        });
      }
      return true;
    }),
    { numRuns: 1000 },
  );
  t.ok(taken > 500, `records taken by the reader (${taken})`);
  t.notOk(readMessageRecord(packr.pack({ seq: 1, other: 2 }), new Array(16)), 'an unknown field is left to msgpackr');
});
