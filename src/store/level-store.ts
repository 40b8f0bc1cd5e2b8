import { mkdir } from 'node:fs/promises';
import { Level } from 'level';
import { Packr } from 'msgpackr';
import { type BrokerMessage, homeOf } from '../model/message.js';
import { FerryError } from '../errors.js';
import { loadPage } from './level-pages.js';
import type { DurableRecord, MessageStore, RecoveredState, StoreCallback, StoredDestination, StoreListener } from './store.js';

/*
 * Key layout (strings; the separator \x00 cannot occur in destination names, client ids or producer ids):
 *   m\x00<dest>\x00<seq as 16 hex digits> -> msgpack BrokerMessage  (per destination, in store-sequence order)
 *   c\x00<dest>                            -> msgpack number         (messages stored for dest)
 *   s\x00                                  -> msgpack number         (highest store sequence written)
 *   p\x00<producer id>                     -> msgpack number         (highest sequence stored for that producer)
 *   d\x00<client id>\x00<name>             -> msgpack DurableRecord
 *   w\x00<dest>                            -> msgpack number         (dispatch watermark: highest seq dispatchable)
 * Values are msgpack. Counters and the sequence are written in the same atomic batch as the messages they count,
 * so open reads a few small keys and no message at all (a scan of a deep queue would pull the whole store into
 * memory through LevelDB's mapped tables); queues page their messages in with load().
 */
const MSG = 'm\x00';
const COUNT = 'c\x00';
const SEQ = 's\x00';
const PRODUCER = 'p\x00';
const DURABLE = 'd\x00';
const MARK = 'w\x00';
const destPrefix = (dest: string): string => `${MSG}${dest}\x00`;
const seqKey = (dest: string, seq: number): string => destPrefix(dest) + seq.toString(16).padStart(16, '0');
/**
 * Compact the message range after this many deletes have been written, and when the store falls idle after at
 * least COMPACT_WHEN_IDLE of them: LevelDB keeps deleted data on disk until it compacts, so without this the
 * directory of a drained queue would not shrink back.
 */
const COMPACT_AFTER_DELETES = 200_000;
const COMPACT_WHEN_IDLE = 10_000;

type Op = { type: 'put'; key: string; value: Uint8Array } | { type: 'del'; key: string };
/** A message put is encoded only when its batch is written: one cancelled by an early ack never is. */
type Pending = Op | { type: 'msg'; key: string; msg: BrokerMessage } | null;

const packr = new Packr({ useRecords: false, structuredClone: false });

/**
 * Fault injection for tests: `write` is asked before each batch is handed to LevelDB and `reopen` before each
 * attempt to reopen it; an error returned fails that step as a full or broken disk would.
 */
export interface WriteFaults {
  write(batch: number): Error | undefined;
  reopen?(attempt: number): Error | undefined;
}

export interface LevelStoreOptions {
  faults?: WriteFaults;
}

/** Wait between attempts to reopen a store after a failed write: doubling from 100 ms up to this. */
const MAX_REOPEN_DELAY_MS = 2000;

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
    home: m.home,
    path: m.path,
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
  private ops: Pending[] = [];
  /** Puts of the batch being gathered, by key: an ack that arrives before the write cancels both. */
  private pendingPuts = new Map<string, number>();
  private callbacks: StoreCallback[] = [];
  private needsSync = false;
  /** Producer sequences written by the batch being gathered, coalesced to one put per producer. */
  private producerSeqs = new Map<string, number>();
  private writing = false;
  private scheduled = false;
  private closed = false;
  private closing: Promise<void> | null = null;
  private idle: (() => void) | null = null;
  private deletes = 0;
  private compacting = false;
  private compactAgain = false;
  private compaction: Promise<void> | null = null;
  /** Messages stored per destination, as written; and the changes the gathered batch makes to them. */
  private readonly counts = new Map<string, number>();
  /** Messages the gathered batch adds and removes per destination (kept apart: a failed batch's removals are retried, its additions are not). */
  private added = new Map<string, number>();
  private removed = new Map<string, number>();
  /** Dispatch watermarks the gathered batch raises. */
  private marks = new Map<string, number>();
  private maxSeq = 0;
  private maxSeqWritten = 0;
  bytesWritten = 0;
  failure: Error | null = null;
  private failedAt = 0;
  private recovering: Promise<void> | null = null;
  private listener: StoreListener | null = null;
  private batches = 0;
  private readonly faults: WriteFaults | undefined;

  constructor(
    readonly directory: string,
    opts: LevelStoreOptions = {},
  ) {
    this.faults = opts.faults;
    // Few open tables: LevelDB maps the tables it holds open, and mapped pages count as the broker's memory.
    this.db = new Level<string, Uint8Array>(directory, { keyEncoding: 'utf8', valueEncoding: 'view', maxOpenFiles: 64 });
  }

  async open(): Promise<RecoveredState> {
    await mkdir(this.directory, { recursive: true });
    try {
      await this.db.open();
    } catch (err) {
      // LevelDB's LOCK is held by another process (or another open in this one): the store is another node's.
      // A shared-store standby waits on exactly this code, and only this one.
      if ((err as { cause?: { code?: unknown } }).cause?.code === 'LEVEL_LOCKED') {
        throw new FerryError('FERRY_STORE_LOCKED', `LevelDB store at ${this.directory} is locked by another broker`, { cause: err });
      }
      throw new FerryError('FERRY_STORE', `cannot open LevelDB store at ${this.directory}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    const destinations = new Map<string, StoredDestination>();
    for await (const [key, value] of this.db.iterator({ gt: COUNT, lt: COUNT + '\xff' })) {
      const count = packr.unpack(value) as number;
      const dest = key.slice(COUNT.length);
      this.counts.set(dest, count);
      if (count > 0) destinations.set(dest, { count });
    }
    const seq = await this.db.get(SEQ);
    this.maxSeq = seq === undefined ? 0 : (packr.unpack(seq) as number);
    this.maxSeqWritten = this.maxSeq;
    const producers = new Map<string, number>();
    for await (const [key, value] of this.db.iterator({ gt: PRODUCER, lt: PRODUCER + '\xff' })) {
      producers.set(key.slice(PRODUCER.length), packr.unpack(value) as number);
      // The audit's sequences are not store sequences; nothing to fold into maxSeq.
    }
    const durables: DurableRecord[] = [];
    for await (const [, value] of this.db.iterator({ gt: DURABLE, lt: DURABLE + '\xff' })) {
      durables.push(packr.unpack(value) as DurableRecord);
    }
    const marks = new Map<string, number>();
    for await (const [key, value] of this.db.iterator({ gt: MARK, lt: MARK + '\xff' })) {
      marks.set(key.slice(MARK.length), packr.unpack(value) as number);
    }
    return { destinations, durables, producers, nextSeq: this.maxSeq + 1, marks };
  }

  watch(listener: StoreListener): void {
    this.listener = listener;
  }

  load(dest: string, afterSeq: number, limit: number): Promise<BrokerMessage[]> {
    return loadPage(this.db, seqKey(dest, afterSeq), destPrefix(dest) + '\xff', limit);
  }

  async removeRange(dest: string, afterSeq: number, upToSeq: number): Promise<number> {
    // Queued writes first, so that nothing stored for dest escapes the scan.
    await this.barrierAsync(false);
    let n = 0;
    const keys = this.db.keys({ gt: seqKey(dest, afterSeq), lte: seqKey(dest, upToSeq) });
    try {
      for (;;) {
        const batch = await keys.nextv(10_000);
        if (batch.length === 0) break;
        for (const key of batch) this.ops.push({ type: 'del', key });
        this.removed.set(dest, (this.removed.get(dest) ?? 0) + batch.length);
        n += batch.length;
        this.schedule();
      }
    } finally {
      await keys.close();
    }
    // Answered once it is on disk: a purge reported done must not come back after a restart.
    await this.barrierAsync(true);
    return n;
  }

  /** @throws FerryError FERRY_STORE when the store is failed or the write fails */
  private barrierAsync(sync: boolean): Promise<void> {
    return new Promise<void>((resolve, reject) => this.barrier((err) => (err ? reject(err) : resolve()), sync));
  }

  putDurable(rec: DurableRecord, cb: StoreCallback): void {
    if (this.closed) {
      cb(new FerryError('FERRY_STORE', 'store is closed'));
      return;
    }
    this.ops.push({ type: 'put', key: `${DURABLE}${rec.clientId}\x00${rec.name}`, value: packr.pack(rec) });
    if (this.failure !== null) {
      // Kept for when the store is back; the caller hears now that it is not durable yet.
      const f = this.failure;
      queueMicrotask(() => cb(f));
      return;
    }
    this.callbacks.push(cb);
    this.needsSync = true;
    this.schedule();
  }

  removeDurable(clientId: string, name: string): void {
    if (this.closed) return;
    this.ops.push({ type: 'del', key: `${DURABLE}${clientId}\x00${name}` });
    this.schedule();
  }

  add(msg: BrokerMessage, cb: StoreCallback): void {
    if (this.closed) {
      cb(new FerryError('FERRY_STORE', 'store is closed'));
      return;
    }
    if (this.failure !== null) {
      const f = this.failure;
      queueMicrotask(() => cb(f));
      return;
    }
    const home = homeOf(msg);
    const key = seqKey(home, msg.seq);
    this.pendingPuts.set(key, this.ops.length);
    this.ops.push({ type: 'msg', key, msg });
    this.added.set(home, (this.added.get(home) ?? 0) + 1);
    if (msg.seq > this.maxSeq) this.maxSeq = msg.seq;
    if (msg.pid !== undefined && msg.pseq !== undefined) this.producerSeqs.set(msg.pid, msg.pseq);
    this.callbacks.push(cb);
    this.needsSync = true;
    this.schedule();
  }

  remove(seq: number, dest: string): void {
    if (this.closed) return;
    const key = seqKey(dest, seq);
    const put = this.pendingPuts.get(key);
    if (put !== undefined) {
      // Consumed before it reached the disk: neither the put nor the delete needs writing. The sender's
      // receipt still waits for this batch.
      this.ops[put] = null;
      this.pendingPuts.delete(key);
      this.added.set(dest, (this.added.get(dest) ?? 0) - 1);
      return;
    }
    this.ops.push({ type: 'del', key });
    this.removed.set(dest, (this.removed.get(dest) ?? 0) + 1);
    this.deletes++;
    this.schedule();
  }

  mark(dest: string, seq: number): void {
    if (this.closed) return;
    if (seq > (this.marks.get(dest) ?? 0)) this.marks.set(dest, seq);
  }

  reclaim(): void {
    if (this.deletes > 0 && this.failure === null && !this.closed) this.compactSoon();
  }

  /** Compact the message range in the background (LevelDB leaves deleted data on disk until it compacts). */
  private compactSoon(): void {
    this.deletes = 0;
    if (this.compacting) {
      // Deletes keep coming faster than LevelDB compacts: go again once this pass is done.
      this.compactAgain = true;
      return;
    }
    this.compacting = true;
    this.compaction = (this.db as unknown as { compactRange(start: string, end: string): Promise<void> })
      .compactRange(MSG, MSG + '\xff')
      .catch(() => {})
      .finally(() => {
        this.compacting = false;
        this.compaction = null;
        if (this.compactAgain && !this.closed) {
          this.compactAgain = false;
          this.compactSoon();
        }
      });
  }

  forgetProducer(pid: string): void {
    if (this.closed) return;
    this.producerSeqs.delete(pid);
    this.ops.push({ type: 'del', key: PRODUCER + pid });
    this.schedule();
  }

  barrier(cb: StoreCallback, sync = false): void {
    if (this.failure !== null) {
      const f = this.failure;
      queueMicrotask(() => cb(f));
      return;
    }
    if (!this.writing && this.ops.length === 0 && this.marks.size === 0) {
      queueMicrotask(cb);
      return;
    }
    this.callbacks.push(cb);
    if (sync) this.needsSync = true;
    this.schedule();
  }

  private schedule(): void {
    if (this.writing || this.scheduled || this.failure !== null) return;
    this.scheduled = true;
    // One macrotask of slack lets every send of the current socket reads join the batch.
    setImmediate(() => {
      this.scheduled = false;
      void this.writeBatch();
    });
  }

  private async writeBatch(): Promise<void> {
    if (this.writing) return;
    if (this.failure !== null || (this.ops.length === 0 && this.callbacks.length === 0)) {
      this.idle?.();
      return;
    }
    this.writing = true;
    const pending = this.ops;
    const ops: Op[] = [];
    for (const o of pending) {
      if (o === null) continue;
      ops.push(o.type === 'msg' ? { type: 'put', key: o.key, value: encodeMessage(o.msg) } : o);
    }
    const callbacks = this.callbacks;
    const sync = this.needsSync;
    for (const [pid, seq] of this.producerSeqs) ops.push({ type: 'put', key: PRODUCER + pid, value: packr.pack(seq) });
    for (const [dest, seq] of this.marks) ops.push({ type: 'put', key: MARK + dest, value: packr.pack(seq) });
    const added = this.added;
    const removed = this.removed;
    /** Counts as they will be once this batch is written. */
    const counts = new Map<string, number>();
    for (const dest of new Set([...added.keys(), ...removed.keys()])) {
      const delta = (added.get(dest) ?? 0) - (removed.get(dest) ?? 0);
      if (delta === 0) continue;
      const n = Math.max(0, (this.counts.get(dest) ?? 0) + delta);
      counts.set(dest, n);
      ops.push(n === 0 ? { type: 'del', key: COUNT + dest } : { type: 'put', key: COUNT + dest, value: packr.pack(n) });
    }
    const maxSeqBefore = this.maxSeqWritten;
    if (this.maxSeq > this.maxSeqWritten) {
      this.maxSeqWritten = this.maxSeq;
      ops.push({ type: 'put', key: SEQ, value: packr.pack(this.maxSeq) });
    }
    this.ops = [];
    this.pendingPuts = new Map();
    this.callbacks = [];
    this.needsSync = false;
    this.producerSeqs = new Map();
    this.marks = new Map();
    this.added = new Map();
    this.removed = new Map();
    let error: Error | undefined;
    try {
      const fault = this.faults?.write(++this.batches);
      if (fault !== undefined) throw fault;
      if (ops.length > 0) await this.write(ops, sync);
      for (const [dest, n] of counts) {
        if (n === 0) this.counts.delete(dest);
        else this.counts.set(dest, n);
      }
    } catch (err) {
      error = new FerryError('FERRY_STORE', `store write failed: ${(err as Error).message}`, { cause: err });
      this.maxSeqWritten = maxSeqBefore;
      this.keepRemovals(pending, removed);
      this.fail(error);
    }
    this.writing = false;
    for (const cb of callbacks) cb(error);
    if (this.failure !== null) {
      this.idle?.();
    } else if (this.ops.length > 0 || this.callbacks.length > 0) {
      if (this.deletes >= COMPACT_AFTER_DELETES) this.compactSoon();
      void this.writeBatch();
    } else {
      if (this.deletes >= COMPACT_WHEN_IDLE && !this.closed && this.idle === null) this.compactSoon();
      this.idle?.();
    }
  }

  /**
   * A failed batch: its messages are not stored (their senders hear so), but its removals (acks, purges, durable
   * records) still must happen, so they go back in front of what was queued since, for after the reopen.
   */
  private keepRemovals(pending: Pending[], removed: Map<string, number>): void {
    const kept: Pending[] = [];
    for (const o of pending) if (o !== null && o.type !== 'msg') kept.push(o);
    if (kept.length > 0) {
      this.ops = kept.concat(this.ops);
      const shifted = new Map<string, number>();
      for (const [key, i] of this.pendingPuts) shifted.set(key, i + kept.length);
      this.pendingPuts = shifted;
    }
    for (const [dest, n] of removed) this.removed.set(dest, (this.removed.get(dest) ?? 0) + n);
  }

  /**
   * The store cannot be trusted to write again as it is: LevelDB makes a failed sync or a failed background
   * compaction sticky (every later write fails with the same error), and a failed log append leaves a torn
   * record that later records would be written after. Reopening replays the log up to the last good record and
   * starts a new one; until then nothing is written, new messages are refused, removals wait.
   */
  private fail(err: Error): void {
    if (this.failure !== null) return;
    this.failure = err;
    this.failedAt = Date.now();
    this.listener?.failed(err, 0);
    this.recovering = this.reopen();
  }

  private async reopen(): Promise<void> {
    let attempt = 0;
    let delay = 100;
    while (!this.closed) {
      try {
        await this.compaction;
        await this.db.close();
        if (this.closed) return;
        const fault = this.faults?.reopen?.(attempt + 1);
        if (fault !== undefined) throw fault;
        await this.db.open();
        break;
      } catch (err) {
        if ((err as { cause?: { code?: unknown } }).cause?.code === 'LEVEL_LOCKED') {
          // A standby took the store while it was closed: it is master now. Stay failed, write nothing.
          this.recovering = null;
          this.listener?.lost(new FerryError('FERRY_LOCK_LOST', `store ${this.directory} was taken by another broker while it reopened after a failed write`, { cause: err }));
          return;
        }
        attempt++;
        this.listener?.failed(new FerryError('FERRY_STORE', `store reopen failed: ${(err as Error).message}`, { cause: err }), attempt);
        await new Promise<void>((resolve) => setTimeout(resolve, delay).unref());
        delay = Math.min(delay * 2, MAX_REOPEN_DELAY_MS);
      }
    }
    this.recovering = null;
    if (this.closed) return;
    this.failure = null;
    this.listener?.recovered(Date.now() - this.failedAt);
    if (this.ops.length > 0 || this.callbacks.length > 0) void this.writeBatch();
  }

  /**
   * Write one batch. abstract-level's public batch() copies and validates every operation on the main thread
   * (half the broker's CPU at 30k persistent msg/s); its implementation hook `_batch` takes operations already in
   * the binding's form — our keys are strings and values bytes, always valid — for half the cost.
   */
  private write(ops: Op[], sync: boolean): Promise<void> {
    const db = this.db as unknown as { _batch?: (ops: object[], opts: { sync: boolean }) => Promise<void> };
    let bytes = 0;
    for (let i = 0; i < ops.length; i++) {
      const o = ops[i]!;
      bytes += o.key.length + (o.type === 'put' ? o.value.byteLength : 0);
    }
    this.bytesWritten += bytes;
    if (typeof db._batch !== 'function') return this.db.batch(ops, { sync });
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

  close(): Promise<void> {
    if (this.closing) return this.closing;
    this.closing = (async () => {
      if (this.failure === null && (this.writing || this.ops.length > 0 || this.scheduled)) {
        await new Promise<void>((resolve) => {
          this.idle = resolve;
          if (!this.writing && !this.scheduled) void this.writeBatch();
        });
      }
      this.closed = true;
      await this.recovering;
      await this.compaction;
      await this.db.close();
    })();
    return this.closing;
  }
}
