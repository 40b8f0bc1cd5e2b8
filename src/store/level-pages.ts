/**
 * The read side of the LevelDB store: a page of a queue's stored messages, decoded. Kept apart from level-store.ts
 * (the write path, batches and recovery).
 */
import type { Level } from 'level';
import { Packr } from 'msgpackr';
import type { BrokerMessage } from '../model/message.js';
import { F, readMessageRecord } from './record-reader.js';

const packr = new Packr({ useRecords: false, structuredClone: false });

/** A message record as message-codec.ts writes it (absent optional fields left out; before it, stored as undefined). */
type StoredRecord = Omit<BrokerMessage, 'persistent' | 'ord'>;

/**
 * A stored message as the broker holds it: one literal with every field, in the order the broker builds a message
 * in (broker.ts `send`), so stored and fresh messages share one object shape and the code that dispatches, encodes
 * and acks them stays monomorphic. The record is read by record-reader.ts; what it leaves aside, msgpackr reads.
 */
export function decodeStoredMessage(value: Uint8Array): BrokerMessage {
  const f = fields;
  if (!readMessageRecord(value, f)) {
    const r = packr.unpack(value) as StoredRecord;
    f[F.seq] = r.seq;
    f[F.id] = r.id;
    f[F.dest] = r.dest;
    f[F.body] = r.body;
    f[F.bt] = r.bt;
    f[F.priority] = r.priority;
    f[F.timestamp] = r.timestamp;
    f[F.expires] = r.expires;
    f[F.headers] = r.headers;
    f[F.correlationId] = r.correlationId;
    f[F.replyTo] = r.replyTo;
    f[F.deliveryCount] = r.deliveryCount;
    f[F.pid] = r.pid;
    f[F.pseq] = r.pseq;
    f[F.home] = r.home;
    f[F.path] = r.path;
  }
  return {
    seq: f[F.seq] as number,
    id: f[F.id] as string,
    dest: f[F.dest] as string,
    body: f[F.body] as Uint8Array,
    bt: f[F.bt] as BrokerMessage['bt'],
    persistent: true,
    priority: f[F.priority] as number,
    timestamp: f[F.timestamp] as number,
    expires: f[F.expires] as number,
    headers: (f[F.headers] ?? undefined) as BrokerMessage['headers'],
    correlationId: (f[F.correlationId] ?? undefined) as string | undefined,
    replyTo: (f[F.replyTo] ?? undefined) as string | undefined,
    deliveryCount: f[F.deliveryCount] as number,
    ord: undefined,
    home: (f[F.home] ?? undefined) as string | undefined,
    pid: (f[F.pid] ?? undefined) as string | undefined,
    pseq: (f[F.pseq] ?? undefined) as number | undefined,
    pidId: false,
    path: (f[F.path] ?? undefined) as readonly string[] | undefined,
  };
}

/** A record's fields, for the record being decoded (one at a time, synchronously). */
const fields: unknown[] = new Array<unknown>(16);

/**
 * Bytes of values LevelDB reads per iterator call. classic-level stops a `nextv` once this much is read; its default
 * of 16 KiB meant 16 messages of 1 KiB per round trip through the thread pool, each waiting for the main thread's
 * turn: a page of 5000 took 300 round trips, and the drain waited for its reads (bench/deep.js, 300,000 × 1 KiB:
 * 32–39k msg/s with 16 KiB, 44–48k with 256 KiB to 4 MiB). Larger reads held more of the broker's native memory
 * (RssAnon 110 MiB at 256 KiB, 153 at 1 MiB, 330–420 at 4 MiB), for no further gain.
 */
export const PAGE_READ_BYTES = 256 * 1024;

/**
 * Up to `limit` stored messages with keys in (gt, lt), in key order, handed to `onChunk` as LevelDB's reads come
 * in (one call per iterator read), until it returns false. Values only: the keys (which the decoded records
 * repeat) are not copied out of LevelDB nor decoded into strings.
 */
export async function readPage(
  db: Level<string, Uint8Array>,
  gt: string,
  lt: string,
  limit: number,
  onChunk: (msgs: BrokerMessage[]) => boolean,
): Promise<void> {
  // A page is read once, in order: its blocks need not displace others from LevelDB's block cache.
  const it = db.values({ gt, lt, limit, highWaterMarkBytes: PAGE_READ_BYTES, fillCache: false });
  let next: Promise<Uint8Array[]> | null = it.nextv(limit);
  try {
    for (let left = limit; next !== null; ) {
      const values: Uint8Array[] = await next;
      left -= values.length;
      // The next read runs in LevelDB's thread while this part is decoded and dispatched.
      next = values.length > 0 && left > 0 ? it.nextv(left) : null;
      if (values.length === 0) break;
      const msgs: BrokerMessage[] = new Array(values.length);
      for (let i = 0; i < values.length; i++) msgs[i] = decodeStoredMessage(values[i]!);
      if (!onChunk(msgs)) break;
    }
  } finally {
    // A read still under way ends before the iterator is closed (its result is not wanted).
    if (next !== null) await next.catch(() => []);
    await it.close().catch(() => {});
  }
}
