import { Packr } from 'msgpackr';
import type { Level } from 'level';
import type { BrokerMessage } from '../model/message.js';
import type { DurableRecord, StoredDestination } from './store.js';
import { JOURNAL_HEADER_BYTES } from './journal.js';
import { type Nested, nestedOf, storedBound, writeStoredMessage } from './message-codec.js';

/*
 * Key layout (strings; the separator \x00 cannot occur in destination names, client ids or producer ids):
 *   m\x00<dest>\x00<seq as 16 hex digits> -> msgpack BrokerMessage  (per destination, in store-sequence order)
 *   c\x00<dest>                            -> msgpack number         (messages stored for dest)
 *   s\x00                                  -> msgpack number         (highest store sequence written)
 *   p\x00<producer id>                     -> msgpack number         (highest sequence stored for that producer)
 *   d\x00<client id>\x00<name>             -> msgpack DurableRecord
 *   w\x00<dest>                            -> msgpack number         (dispatch watermark: highest seq dispatchable)
 *   j\x00                                  -> msgpack number         (journal checkpoint: last journal record in LevelDB)
 * Values are msgpack. Counters and the sequence are written in the same atomic batch as the messages they count,
 * so open reads a few small keys and no message at all (a scan of a deep queue would pull the whole store into
 * memory through LevelDB's mapped tables); queues page their messages in with load().
 */
export const MSG = 'm\x00';
export const COUNT = 'c\x00';
export const SEQ = 's\x00';
export const PRODUCER = 'p\x00';
export const DURABLE = 'd\x00';
export const MARK = 'w\x00';
export const CHECKPOINT = 'j\x00';
export const destPrefix = (dest: string): string => `${MSG}${dest}\x00`;
export const seqKey = (dest: string, seq: number): string => destPrefix(dest) + seq.toString(16).padStart(16, '0');
/** The sequence a message key ends with. */
export const seqOfKey = (key: string): number => parseInt(key.slice(-16), 16);

/**
 * One write. A message put carries the message while its batch is gathered: its record is encoded straight into
 * the journal record (encodeOps), and `value` is then a view of it.
 */
export type Op = { type: 'put'; key: string; value: Uint8Array; msg?: BrokerMessage } | { type: 'del'; key: string };

/** The value of a message put before it is encoded. */
export const UNENCODED = new Uint8Array(0);

export const packr = new Packr({ useRecords: false, structuredClone: false });

const PUT = 1;
const DEL = 2;

/**
 * One batch's operations as a journal record (room for the journal's header first): per operation a type byte,
 * the key's length (uint16) and UTF-8 bytes, and for a put the value's length (uint32) and bytes. A message put's
 * record is encoded here, in place, and its `value` becomes a view of it: each message is encoded once, and
 * LevelDB is later given the bytes the journal holds.
 */
export function encodeOps(ops: readonly Op[]): Buffer {
  let size = JOURNAL_HEADER_BYTES;
  let nested: (Nested | undefined)[] | undefined;
  for (let i = 0; i < ops.length; i++) {
    const o = ops[i]!;
    size += 3 + o.key.length * 3;
    if (o.type !== 'put') continue;
    if (o.msg === undefined) size += 4 + o.value.byteLength;
    else {
      const n = nestedOf(o.msg);
      if (n !== undefined) (nested ??= [])[i] = n;
      size += 4 + storedBound(o.msg, n);
    }
  }
  const buf = Buffer.allocUnsafe(size);
  let off = JOURNAL_HEADER_BYTES;
  for (let i = 0; i < ops.length; i++) {
    const o = ops[i]!;
    buf[off] = o.type === 'put' ? PUT : DEL;
    const n = buf.write(o.key, off + 3, 'utf8');
    buf.writeUInt16LE(n, off + 1);
    off += 3 + n;
    if (o.type !== 'put') continue;
    if (o.msg !== undefined) {
      const end = writeStoredMessage(buf, off + 4, o.msg, nested?.[i]);
      o.value = buf.subarray(off + 4, end);
      o.msg = undefined;
    } else buf.set(o.value, off + 4);
    buf.writeUInt32LE(o.value.byteLength, off);
    off += 4 + o.value.byteLength;
  }
  return buf.subarray(0, off);
}

/** Bytes of keys and values in `ops` (a running estimate of what LevelDB is given). */
export function bytesOf(ops: readonly Op[]): number {
  let n = 0;
  for (let i = 0; i < ops.length; i++) {
    const o = ops[i]!;
    n += o.key.length + (o.type === 'put' ? o.value.byteLength : 0);
  }
  return n;
}

/** The operations of a journal record's payload; values are views into it. */
export function decodeOps(payload: Buffer): Op[] {
  const ops: Op[] = [];
  let off = 0;
  while (off < payload.length) {
    const type = payload[off];
    const n = payload.readUInt16LE(off + 1);
    const key = payload.toString('utf8', off + 3, off + 3 + n);
    off += 3 + n;
    if (type === PUT) {
      const len = payload.readUInt32LE(off);
      ops.push({ type: 'put', key, value: payload.subarray(off + 4, off + 4 + len) });
      off += 4 + len;
    } else {
      ops.push({ type: 'del', key });
    }
  }
  return ops;
}

type Db = Level<string, Uint8Array>;

/**
 * Write one batch. abstract-level's public batch() copies and validates every operation on the main thread
 * (half the broker's CPU at 30k persistent msg/s); its implementation hook `_batch` takes operations already in
 * the binding's form — our keys are strings and values bytes, always valid — for half the cost.
 */
export function writeRaw(level: Db, ops: Op[], sync: boolean): Promise<void> {
  const db = level as unknown as { _batch?: (ops: object[], opts: { sync: boolean }) => Promise<void> };
  if (typeof db._batch !== 'function') return level.batch(ops, { sync });
  const raw = new Array<object>(ops.length);
  for (let i = 0; i < ops.length; i++) {
    const o = ops[i]!;
    raw[i] =
      o.type === 'put'
        ? { type: 'put', key: o.key, value: o.value, keyEncoding: 'utf8', valueEncoding: 'view' }
        : { type: 'del', key: o.key, keyEncoding: 'utf8' };
  }
  return db._batch(raw, { sync });
}

/** The small keys open() reads: counts, the sequence, the producer audit, durable records, watermarks. */
export async function readState(db: Db): Promise<{
  counts: Map<string, number>;
  destinations: Map<string, StoredDestination>;
  nextSeq: number;
  producers: Map<string, number>;
  durables: DurableRecord[];
  marks: Map<string, number>;
}> {
  const counts = new Map<string, number>();
  const destinations = new Map<string, StoredDestination>();
  for await (const [key, value] of db.iterator({ gt: COUNT, lt: COUNT + '\xff' })) {
    const count = packr.unpack(value) as number;
    const dest = key.slice(COUNT.length);
    counts.set(dest, count);
    if (count > 0) destinations.set(dest, { count });
  }
  const seq = await db.get(SEQ);
  const nextSeq = (seq === undefined ? 0 : (packr.unpack(seq) as number)) + 1;
  const producers = new Map<string, number>();
  // The audit's sequences are not store sequences; nothing to fold into nextSeq.
  for await (const [key, value] of db.iterator({ gt: PRODUCER, lt: PRODUCER + '\xff' })) producers.set(key.slice(PRODUCER.length), packr.unpack(value) as number);
  const durables: DurableRecord[] = [];
  for await (const [, value] of db.iterator({ gt: DURABLE, lt: DURABLE + '\xff' })) durables.push(packr.unpack(value) as DurableRecord);
  const marks = new Map<string, number>();
  for await (const [key, value] of db.iterator({ gt: MARK, lt: MARK + '\xff' })) marks.set(key.slice(MARK.length), packr.unpack(value) as number);
  return { counts, destinations, nextSeq, producers, durables, marks };
}
