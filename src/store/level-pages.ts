/**
 * The read side of the LevelDB store: a page of a queue's stored messages, decoded. Kept apart from level-store.ts
 * (the write path, batches and recovery).
 */
import type { Level } from 'level';
import { Packr } from 'msgpackr';
import type { BrokerMessage } from '../model/message.js';

const packr = new Packr({ useRecords: false, structuredClone: false });

/** A message record as level-codec.ts's encodeMessage writes it: absent optional fields are stored as undefined. */
type StoredRecord = Omit<BrokerMessage, 'persistent' | 'ord'>;

/**
 * A stored message as the broker holds it. Built as a fresh object, optional fields added only when present: the
 * decoded record with its undefined fields deleted (as this used to do) was a dictionary-mode object, slow for
 * every later read of its fields while it is dispatched, encoded and acked.
 */
export function decodeStoredMessage(value: Uint8Array): BrokerMessage {
  const r = packr.unpack(value) as StoredRecord;
  const m: BrokerMessage = {
    seq: r.seq,
    id: r.id,
    dest: r.dest,
    body: r.body,
    bt: r.bt,
    persistent: true,
    priority: r.priority,
    timestamp: r.timestamp,
    expires: r.expires,
    deliveryCount: r.deliveryCount,
  };
  if (r.headers != null) m.headers = r.headers;
  if (r.correlationId != null) m.correlationId = r.correlationId;
  if (r.replyTo != null) m.replyTo = r.replyTo;
  if (r.pid != null) m.pid = r.pid;
  if (r.pseq != null) m.pseq = r.pseq;
  if (r.home != null) m.home = r.home;
  if (r.path != null) m.path = r.path;
  return m;
}

/**
 * Up to `limit` stored messages with keys in (gt, lt), in key order. Values only: the keys (which the decoded
 * records repeat) are not copied out of LevelDB nor decoded into strings.
 */
export async function loadPage(db: Level<string, Uint8Array>, gt: string, lt: string, limit: number): Promise<BrokerMessage[]> {
  const it = db.values({ gt, lt, limit });
  try {
    const values = await it.all();
    const out: BrokerMessage[] = new Array(values.length);
    for (let i = 0; i < values.length; i++) out[i] = decodeStoredMessage(values[i]!);
    return out;
  } finally {
    await it.close().catch(() => {});
  }
}
