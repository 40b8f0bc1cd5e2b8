import { mkdir } from 'node:fs/promises';
import { Level } from 'level';
import { Packr } from 'msgpackr';
import type { BrokerMessage } from '../broker/message.js';
import { FerryError } from '../errors.js';
import type { MessageStore, RecoveredState, StoreCallback } from './store.js';

/*
 * Key layout (strings; the separator \x00 cannot occur in destination names or producer ids):
 *   m\x00<seq as 16 hex digits>   -> msgpack BrokerMessage   (sorts by store sequence)
 *   p\x00<producer id>            -> msgpack number          (highest sequence stored for that producer)
 * Values are msgpack; in-memory indexes are rebuilt on open.
 */
const MSG = 'm\x00';
const PRODUCER = 'p\x00';
const seqKey = (seq: number): string => MSG + seq.toString(16).padStart(16, '0');

type Op = { type: 'put'; key: string; value: Uint8Array } | { type: 'del'; key: string };

const packr = new Packr({ useRecords: false, structuredClone: false });

/** Fields written for a message: its delivery state except the in-memory-only ones. */
function encodeMessage(m: BrokerMessage): Uint8Array {
  return packr.pack({
    seq: m.seq,
    id: m.id,
    dest: m.dest,
    body: m.body,
    bt: m.bt,
    priority: m.priority,
    timestamp: m.timestamp,
    expires: m.expires,
    headers: m.headers,
    correlationId: m.correlationId,
    replyTo: m.replyTo,
    deliveryCount: m.deliveryCount,
    pid: m.pid,
    pseq: m.pseq,
  });
}

/**
 * LevelDB store with group commit: operations queued while a batch is being written go into the next batch,
 * written with `sync: true` when it holds any put (a put must survive power loss before its receipt); batches
 * of deletes alone are not synced.
 */
export class LevelStore implements MessageStore {
  readonly kind = 'levelDB';
  private readonly db: Level<string, Uint8Array>;
  private ops: Op[] = [];
  private callbacks: StoreCallback[] = [];
  private needsSync = false;
  /** Producer sequences written by the batch being gathered, coalesced to one put per producer. */
  private producerSeqs = new Map<string, number>();
  private writing = false;
  private scheduled = false;
  private closed = false;
  private closing: Promise<void> | null = null;
  private idle: (() => void) | null = null;

  constructor(readonly directory: string) {
    this.db = new Level<string, Uint8Array>(directory, { keyEncoding: 'utf8', valueEncoding: 'view' });
  }

  async open(): Promise<RecoveredState> {
    await mkdir(this.directory, { recursive: true });
    try {
      await this.db.open();
    } catch (err) {
      throw new FerryError('FERRY_STORE', `cannot open LevelDB store at ${this.directory}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    const messages: BrokerMessage[] = [];
    let nextSeq = 1;
    for await (const [, value] of this.db.iterator({ gt: MSG, lt: MSG + '\xff' })) {
      const m = packr.unpack(value) as BrokerMessage;
      m.persistent = true;
      if (m.headers === undefined) delete m.headers;
      messages.push(m);
      nextSeq = m.seq + 1;
    }
    const producers = new Map<string, number>();
    for await (const [key, value] of this.db.iterator({ gt: PRODUCER, lt: PRODUCER + '\xff' })) {
      producers.set(key.slice(PRODUCER.length), packr.unpack(value) as number);
    }
    return { messages, producers, nextSeq };
  }

  add(msg: BrokerMessage, cb: StoreCallback): void {
    if (this.closed) {
      cb(new FerryError('FERRY_STORE', 'store is closed'));
      return;
    }
    this.ops.push({ type: 'put', key: seqKey(msg.seq), value: encodeMessage(msg) });
    if (msg.pid !== undefined && msg.pseq !== undefined) this.producerSeqs.set(msg.pid, msg.pseq);
    this.callbacks.push(cb);
    this.needsSync = true;
    this.schedule();
  }

  remove(seq: number): void {
    if (this.closed) return;
    this.ops.push({ type: 'del', key: seqKey(seq) });
    this.schedule();
  }

  forgetProducer(pid: string): void {
    if (this.closed) return;
    this.producerSeqs.delete(pid);
    this.ops.push({ type: 'del', key: PRODUCER + pid });
    this.schedule();
  }

  barrier(cb: StoreCallback): void {
    if (!this.writing && this.ops.length === 0) {
      queueMicrotask(cb);
      return;
    }
    this.callbacks.push(cb);
    this.schedule();
  }

  private schedule(): void {
    if (this.writing || this.scheduled) return;
    this.scheduled = true;
    // One macrotask of slack lets every send of the current socket reads join the batch.
    setImmediate(() => {
      this.scheduled = false;
      void this.writeBatch();
    });
  }

  private async writeBatch(): Promise<void> {
    if (this.writing) return;
    if (this.ops.length === 0 && this.callbacks.length === 0) {
      this.idle?.();
      return;
    }
    this.writing = true;
    const ops = this.ops;
    const callbacks = this.callbacks;
    const sync = this.needsSync;
    for (const [pid, seq] of this.producerSeqs) ops.push({ type: 'put', key: PRODUCER + pid, value: packr.pack(seq) });
    this.ops = [];
    this.callbacks = [];
    this.needsSync = false;
    this.producerSeqs = new Map();
    let error: Error | undefined;
    try {
      if (ops.length > 0) await this.db.batch(ops, { sync });
    } catch (err) {
      error = new FerryError('FERRY_STORE', `store write failed: ${(err as Error).message}`, { cause: err });
    }
    this.writing = false;
    for (const cb of callbacks) cb(error);
    if (this.ops.length > 0 || this.callbacks.length > 0) void this.writeBatch();
    else this.idle?.();
  }

  close(): Promise<void> {
    if (this.closing) return this.closing;
    this.closing = (async () => {
      if (this.writing || this.ops.length > 0 || this.scheduled) {
        await new Promise<void>((resolve) => {
          this.idle = resolve;
          if (!this.writing && !this.scheduled) void this.writeBatch();
        });
      }
      this.closed = true;
      await this.db.close();
    })();
    return this.closing;
  }
}
