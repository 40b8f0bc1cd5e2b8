import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Level } from 'level';
import { type BrokerMessage, homeOf } from '../model/message.js';
import { FerryError } from '../errors.js';
import { JournaledWrites } from './journaled-writes.js';
import { Compactor } from './level-compactor.js';
import { bytesOf, COUNT, destPrefix, DURABLE, MARK, type Op, packr, PRODUCER, readState, SEQ, seqKey, UNENCODED, writeRaw } from './level-codec.js';
import { encodeStoredMessage } from './message-codec.js';
import { readPage } from './level-pages.js';
import { readWithJournal } from './journal-pages.js';
import type { DurableRecord, MessageStore, RecoveredState, StoreCallback, StoreListener } from './store.js';

/** A message put is encoded only when its batch is written: one cancelled by an early ack never is. */
type Pending = Op | { type: 'msg'; key: string; msg: BrokerMessage } | null;

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
  /**
   * Make writes durable in an fdatasync'd journal and write LevelDB behind it unsynced (true), or sync LevelDB
   * itself on every batch (false: the write path before the journal, kept for comparison in bench/).
   * @default true
   */
  journal?: boolean;
  /** How long journaled batches may wait before they are written to LevelDB (tests crash in between). */
  journalApplyDelayMs?: number;
}


/** Wait between attempts to reopen a store after a failed write: doubling from 100 ms up to this. */
const MAX_REOPEN_DELAY_MS = 2000;

/**
 * LevelDB store with group commit: operations queued while a batch is being written go into the next batch.
 * A batch is durable once it is in the journal (journal.ts), fdatasync'd when it holds any put (a put must survive
 * power loss before its receipt); batches of deletes alone are not synced. LevelDB is written behind the journal
 * without syncing, and the journal is replayed into it on open: LevelDB stays the store, the journal makes its
 * writes durable cheaply (bench/fsync.js: a synced LevelDB batch of 1000 messages took 7 ms, the journal's 0.9 ms).
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
  private readonly compactor: Compactor;
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

  /** Journaled bytes not yet in LevelDB: the disk-usage check counts them, as they are on their way there. */
  get bytesPending(): number {
    return this.journal?.pendingBytes ?? 0;
  }
  failure: Error | null = null;
  private failedAt = 0;
  private recovering: Promise<void> | null = null;
  private listener: StoreListener | null = null;
  private batches = 0;
  private readonly faults: WriteFaults | undefined;
  /** The journal in front of LevelDB; null with `journal: false`. */
  private readonly journal: JournaledWrites | null;
  /** What a reopen replays the journal up to: the last record appended before the failure. */
  private journalUpTo = 0;
  /** Settles when the batch being written is done (a reopen waits for it before it reads the journal). */
  private batchDone: Promise<void> = Promise.resolve();

  constructor(
    readonly directory: string,
    opts: LevelStoreOptions = {},
  ) {
    this.faults = opts.faults;
    this.journal =
      opts.journal === false
        ? null
        : new JournaledWrites(
            join(directory, 'journal'),
            {
              get: (key) => this.db.get(key),
              write: (ops, sync) => this.write(ops, sync),
              failed: (err) => this.fail(err),
              // Compaction follows the deletes into LevelDB, not their arrival in the journal (most never get
              // there: cancelled with their put, and a compaction of nothing still flushes and syncs a table).
              applied: (msgDeletes, lo, hi) => {
                this.compactor.deleted(msgDeletes, lo, hi);
                if (!this.closed) this.compactor.afterBatch(!this.writing && this.ops.length === 0);
              },
            },
            opts.journalApplyDelayMs,
          );
    // Few open tables: LevelDB maps the tables it holds open, and mapped pages count as the broker's memory.
    this.db = new Level<string, Uint8Array>(directory, { keyEncoding: 'utf8', valueEncoding: 'view', maxOpenFiles: 64 });
    this.compactor = new Compactor(this.db as unknown as { compactRange(start: string, end: string): Promise<void> }, () => this.closed);
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
    await this.journal?.open();
    const state = await readState(this.db);
    for (const [dest, n] of state.counts) this.counts.set(dest, n);
    this.maxSeq = state.nextSeq - 1;
    this.maxSeqWritten = this.maxSeq;
    return { destinations: state.destinations, durables: state.durables, producers: state.producers, nextSeq: state.nextSeq, marks: state.marks };
  }

  watch(listener: StoreListener): void {
    this.listener = listener;
  }

  async load(dest: string, afterSeq: number, limit: number): Promise<BrokerMessage[]> {
    const out: BrokerMessage[] = [];
    await this.loadChunks(dest, afterSeq, limit, (msgs) => {
      for (const m of msgs) out.push(m);
      return true;
    });
    return out;
  }

  async loadChunks(dest: string, afterSeq: number, limit: number, onChunk: (msgs: BrokerMessage[]) => boolean): Promise<void> {
    // Everything whose callback fired is readable: in LevelDB, journaled (read from memory, journal-pages.ts), or
    // replayed into LevelDB by a reopen.
    await this.recovering;
    const [gt, lt] = [seqKey(dest, afterSeq), destPrefix(dest) + '\xff'];
    if (this.journal === null) await readPage(this.db, gt, lt, limit, onChunk);
    else await readWithJournal(this.db, this.journal, gt, lt, limit, onChunk);
  }

  async removeRange(dest: string, afterSeq: number, upToSeq: number): Promise<number> {
    // Queued writes first, and into LevelDB, so that nothing stored for dest escapes the scan.
    await this.barrierAsync(false);
    if (this.journal !== null && !this.journal.idle) await this.journal.applyAll();
    await this.recovering;
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
    if (this.journal === null) this.compactor.deleted(1, key, key);
    this.schedule();
  }

  mark(dest: string, seq: number): void {
    if (this.closed) return;
    if (seq > (this.marks.get(dest) ?? 0)) this.marks.set(dest, seq);
  }

  reclaim(): void {
    if (this.failure !== null || this.closed) return;
    // Deletes still behind the journal first: compacting without them rewrites what they are about to remove.
    if (this.journal !== null) void this.journal.applyAll().then(() => this.compactor.reclaim());
    else this.compactor.reclaim();
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
    if (!this.writing && this.ops.length === 0 && this.marks.size === 0 && (this.journal?.idle ?? true)) {
      queueMicrotask(cb);
      return;
    }
    // Journaled is enough: what reads LevelDB (load, removeRange) writes it up to date first (a barrier that did
    // so held every batch behind a LevelDB write of up to 16 MiB: each watermark a queue raised stalled producers).
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
      if (this.failure !== null) this.refuseQueued(this.failure);
      this.idle?.();
      return;
    }
    this.writing = true;
    let batchDone!: () => void;
    this.batchDone = new Promise<void>((resolve) => (batchDone = resolve));
    const pending = this.ops;
    const ops: Op[] = [];
    /** Where the message puts are in `ops`. */
    const msgPuts: number[] = [];
    for (const o of pending) {
      if (o === null) continue;
      if (o.type === 'msg') msgPuts.push(ops.length);
      // With a journal, encoded into the journal record (encodeOps).
      if (o.type !== 'msg') ops.push(o);
      else if (this.journal !== null) ops.push({ type: 'put', key: o.key, value: UNENCODED, msg: o.msg });
      else ops.push({ type: 'put', key: o.key, value: encodeStoredMessage(o.msg) });
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
      // Failed later, as a real write does: never before the callbacks of the batch before it.
      if (fault !== undefined) await Promise.reject(fault);
      if (this.journal !== null) await this.journal.append(ops, msgPuts, sync);
      else if (ops.length > 0) await this.write(ops, sync);
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
    batchDone();
    // The next batch goes first, as far as its flush (the journal's fdatasync runs on the thread pool): this one's
    // callbacks (receipts, dispatch: CPU work for up to a window of messages) then run while the disk flushes.
    if (this.failure === null) this.writeNext();
    for (const cb of callbacks) cb(error);
    if (this.failure !== null) {
      this.refuseQueued(this.failure);
      this.idle?.();
    } else if (!this.writing && !this.writeNext()) {
      if (this.journal === null && !this.closed && this.idle === null) this.compactor.afterBatch(true);
      this.idle?.();
    }
  }

  /** Write what is queued, if anything. */
  private writeNext(): boolean {
    if (this.ops.length === 0 && this.callbacks.length === 0) return false;
    if (this.journal === null) this.compactor.afterBatch(false);
    void this.writeBatch();
    return true;
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
   * The store failed with writes queued behind the batch being written: their messages are refused now, as new
   * ones are, rather than held until it recovers (a write of LevelDB behind the journal that fails on a full disk
   * would hold them as long as the disk stays full); removals stay queued, a waiting barrier hears the failure.
   */
  private refuseQueued(err: Error): void {
    const callbacks = this.callbacks;
    this.ops = this.ops.filter((o) => o !== null && o.type !== 'msg');
    this.callbacks = [];
    this.pendingPuts = new Map();
    this.added = new Map();
    this.producerSeqs = new Map();
    this.needsSync = false;
    this.maxSeq = this.maxSeqWritten;
    for (const cb of callbacks) cb(err);
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
    if (this.journal !== null) {
      // The journal is read again from LevelDB's checkpoint: up to the last record appended, not a failed one.
      await this.batchDone;
      this.journalUpTo = this.journal.lastLsn;
      await this.journal.close(false);
    }
    while (!this.closed) {
      try {
        await this.compactor.running;
        await this.db.close();
        if (this.closed) return;
        const fault = this.faults?.reopen?.(attempt + 1);
        if (fault !== undefined) throw fault;
        await this.db.open();
        await this.journal?.open(this.journalUpTo);
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

  private write(ops: Op[], sync: boolean): Promise<void> {
    this.bytesWritten += bytesOf(ops);
    return writeRaw(this.db, ops, sync);
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
      // LevelDB brought up to date and checkpointed: the next open has no journal to replay.
      await this.journal?.close(this.failure === null);
      this.closed = true;
      await this.recovering;
      await this.compactor.running;
      await this.db.close();
    })();
    return this.closing;
  }
}
