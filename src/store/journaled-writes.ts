import { FerryError } from '../errors.js';
import { Journal, JOURNAL_SEGMENT_BYTES } from './journal.js';
import { CHECKPOINT, decodeOps, encodeOps, MSG, type Op, packr } from './level-codec.js';

/**
 * Journaled batches are written to LevelDB once this many bytes wait, or DEFAULT_APPLY_DELAY_MS after the first of them:
 * a message acked within that time is written neither as a put nor as a delete (ActiveMQ's KahaDB does the same
 * with its index). The bound is what the journal holds in memory besides the messages themselves.
 */
const APPLY_BYTES = 16 * 1024 * 1024;
export const DEFAULT_APPLY_DELAY_MS = 500;
/**
 * Most journaled bytes that may wait for LevelDB: past it an append waits for the LevelDB write under way. A producer
 * faster than LevelDB (a million messages queued with no consumer) otherwise grew the broker by what LevelDB lagged
 * (600 MiB RSS) and the replay after a crash with it: the journal holds every record until LevelDB has it.
 */
export const MAX_BEHIND_BYTES = 2 * APPLY_BYTES;
/** Operations per LevelDB write when journaled batches are written behind. */
const APPLY_SLICE = 2000;
/** Operations per LevelDB batch while a journal is replayed. */
const REPLAY_CHUNK = 10_000;

/** What JournaledWrites needs of the LevelDB store behind it. */
export interface LevelTarget {
  get(key: string): Promise<Uint8Array | undefined>;
  /** Write a batch; synced with `sync`. */
  write(ops: Op[], sync: boolean): Promise<void>;
  /** A LevelDB write failed: the store reopens (and then opens the journal again, which replays it). */
  failed(err: Error): void;
  /** Journaled batches were written to LevelDB, `msgDeletes` deletes of messages among them, `lo` to `hi` their keys. */
  applied(msgDeletes: number, lo: string, hi: string): void;
}

/**
 * LevelStore's durable write path: each batch is appended to the journal (fdatasync'd when it must be durable) and
 * written to LevelDB later, unsynced, in bigger batches. A message put whose delete is journaled before the put
 * reached LevelDB is written to LevelDB neither way.
 *
 * Crash safety: LevelDB holds a checkpoint (the lsn of the last journal record written to it) written with
 * `sync: true`, which makes every LevelDB write before it durable too; on open, the journal's records after the
 * checkpoint are written to LevelDB again (puts and deletes of whole keys: writing one twice changes nothing).
 * Before a checkpoint the journal is synced: a put left out of LevelDB because its delete is journaled needs that
 * delete to be on disk once the checkpoint passes the put.
 */
export class JournaledWrites {
  private journal: Journal | null = null;
  /** Journaled batches not yet written to LevelDB, oldest first, and their size. */
  private behind: { lsn: number; ops: (Op | null)[]; hi: string }[] = [];
  private behindBytes = 0;
  /** Message puts among them, by key. */
  private unapplied = new Map<string, { ops: (Op | null)[]; i: number }>();
  /**
   * The last write among them of each other key (counts, the sequence, producer audits, watermarks): every batch
   * rewrites those, and only the last of each needs to reach LevelDB (written in order, it wins anyway). At 10,000
   * msg/s in batches of ten, they were most of what LevelDB was given.
   */
  private latest = new Map<string, { ops: (Op | null)[]; i: number }>();
  private applying: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private applied = 0;
  private applyingBytes = 0;

  /** Journaled bytes not yet written to LevelDB. */
  get pendingBytes(): number {
    return this.behindBytes + this.applyingBytes;
  }

  constructor(
    private readonly dir: string,
    private readonly db: LevelTarget,
    private readonly applyDelayMs = DEFAULT_APPLY_DELAY_MS,
    private readonly maxBehindBytes = MAX_BEHIND_BYTES,
  ) {}

  /** Nothing journaled waits for LevelDB. */
  get idle(): boolean {
    return this.behind.length === 0 && this.applying === null;
  }

  /** The last record appended: after a failure, what a reopen replays up to (a failed append left nothing). */
  get lastLsn(): number {
    return this.journal?.lastLsn ?? 0;
  }

  /** Replay what LevelDB lacks (records after its checkpoint, up to `upTo`) and get ready to append. */
  async open(upTo?: number): Promise<void> {
    const cp = await this.db.get(CHECKPOINT);
    const after = cp === undefined ? 0 : (packr.unpack(cp) as number);
    const journal = new Journal(this.dir);
    let chunk: Op[] = [];
    let replayed = 0;
    const last = await journal.open(
      after,
      async (_lsn, payload) => {
        for (const o of decodeOps(payload)) chunk.push(o);
        replayed++;
        if (chunk.length >= REPLAY_CHUNK) {
          await this.db.write(chunk, false);
          chunk = [];
        }
      },
      upTo,
    );
    this.journal = journal;
    this.applied = last;
    if (replayed > 0) {
      chunk.push({ type: 'put', key: CHECKPOINT, value: packr.pack(last) });
      await this.db.write(chunk, true);
      journal.release(last);
    }
  }

  /**
   * Journal one batch (`msgPuts`: where its message puts are); resolves once it is written, and with `sync`
   * once it is on disk. @throws the journal's write error: the batch is then not stored
   */
  async append(ops: Op[], msgPuts: number[], sync: boolean): Promise<void> {
    const journal = this.journal!;
    if (ops.length === 0) {
      // A synced barrier after batches of deletes only (a transaction's acks): those must be on disk now.
      if (sync) await journal.sync();
      return;
    }
    // Back-pressure: LevelDB is the slower writer, and what it lags is held here.
    while (this.pendingBytes >= this.maxBehindBytes) {
      if (this.applying === null) void this.applyAll();
      await this.applying;
    }
    const record = encodeOps(ops);
    const lsn = await journal.append(record, sync);
    const kept: (Op | null)[] = ops;
    /** The highest message key in the batch: a page read skips batches below the page (a drain's acks). */
    let hi = '';
    for (let i = 0; i < ops.length; i++) {
      const o = ops[i]!;
      if (!o.key.startsWith(MSG)) {
        const prev = this.latest.get(o.key);
        if (prev !== undefined) prev.ops[prev.i] = null;
        this.latest.set(o.key, { ops: kept, i });
        continue;
      }
      if (o.key > hi) hi = o.key;
      if (o.type !== 'del') continue;
      const put = this.unapplied.get(o.key);
      if (put === undefined) continue;
      put.ops[put.i] = null;
      kept[i] = null;
      this.unapplied.delete(o.key);
    }
    for (const i of msgPuts) this.unapplied.set(ops[i]!.key, { ops: kept, i });
    this.behind.push({ lsn, ops: kept, hi });
    this.behindBytes += record.length;
    if (this.behindBytes >= APPLY_BYTES) void this.applyAll();
    else if (this.timer === null) {
      this.timer = setTimeout(() => void this.applyAll(), this.applyDelayMs);
      this.timer.unref();
    }
  }

  get isOpen(): boolean {
    return this.journal !== null;
  }

  /** Settles when a LevelDB write of journaled batches under way is done; null when none is. */
  get applyInFlight(): Promise<void> | null {
    return this.applying;
  }

  /**
   * What is journaled and not yet written to LevelDB with keys in (gt, lt): up to `limit` puts in key order, as
   * [key, value] (values are views into their journal records), and the keys deleted (their puts are in LevelDB:
   * a put and its delete both journaled cancel out). Together with a LevelDB read started after it, this sees
   * every message journaled so far, provided no LevelDB write of journaled batches is under way (its operations
   * are then in neither place: wait for {@link applyInFlight} first, and call this in the same turn).
   */
  notYetApplied(gt: string, lt: string, limit: number): { puts: [string, Uint8Array][]; deleted: Set<string> } {
    const puts: [string, Uint8Array][] = [];
    const deleted = new Set<string>();
    let sorted = true;
    for (const b of this.behind) {
      if (b.hi <= gt) continue;
      for (const o of b.ops) {
        if (o === null || o.key <= gt || o.key >= lt) continue;
        if (o.type === 'del') {
          deleted.add(o.key);
          continue;
        }
        if (puts.length > 0 && o.key < puts[puts.length - 1]![0]) sorted = false;
        puts.push([o.key, o.value]);
      }
    }
    // Messages are usually queued for the store in sequence order; sorted only when they were not.
    if (!sorted) puts.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    return { puts: puts.length > limit ? puts.slice(0, limit) : puts, deleted };
  }

  /** Write everything journaled so far to LevelDB. A failure is the store's to handle (LevelTarget.failed). */
  async applyAll(): Promise<void> {
    while (this.applying !== null) await this.applying;
    if (this.behind.length === 0) return;
    this.applying = this.apply().finally(() => (this.applying = null));
    await this.applying;
  }

  private async apply(): Promise<void> {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    const batches = this.behind;
    this.behind = [];
    this.applyingBytes = this.behindBytes;
    this.behindBytes = 0;
    // Written from here on: a later write of the same key goes after them, it does not replace them.
    this.latest.clear();
    const ops: Op[] = [];
    let msgDeletes = 0;
    let lo = '';
    let hi = '';
    for (const b of batches) {
      for (const o of b.ops) {
        if (o === null) continue;
        ops.push(o);
        if (o.type === 'put') this.unapplied.delete(o.key);
        else if (o.key.startsWith(MSG)) {
          if (msgDeletes++ === 0 || o.key < lo) lo = o.key;
          if (o.key > hi) hi = o.key;
        }
      }
    }
    const lsn = batches[batches.length - 1]!.lsn;
    try {
      // In slices: LevelDB's batch is built on the main thread, and 16 MiB of it at once would stall every client.
      for (let i = 0; i < ops.length; i += APPLY_SLICE) await this.db.write(ops.slice(i, i + APPLY_SLICE), false);
      this.applied = lsn;
      if (this.journal!.releasable(lsn)) await this.checkpoint(lsn);
      // Less than a file's worth since the last time: the spares kept for full speed are not needed.
      if (this.applyingBytes < JOURNAL_SEGMENT_BYTES) this.journal!.trimSpares();
      this.db.applied(msgDeletes, lo, hi);
    } catch (err) {
      this.db.failed(new FerryError('FERRY_STORE', `store write failed: ${(err as Error).message}`, { cause: err }));
    } finally {
      this.applyingBytes = 0;
    }
  }

  private async checkpoint(lsn: number): Promise<void> {
    await this.journal!.sync();
    await this.db.write([{ type: 'put', key: CHECKPOINT, value: packr.pack(lsn) }], true);
    this.journal!.release(lsn);
  }

  /** Close the journal; with `flush`, after writing LevelDB up to date and checkpointing it (nothing to replay). */
  async close(flush: boolean): Promise<void> {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    if (flush) {
      await this.applyAll();
      if (this.applied > 0) await this.checkpoint(this.applied).catch(() => {});
    } else {
      await this.applying;
    }
    this.behind = [];
    this.behindBytes = 0;
    this.unapplied.clear();
    this.latest.clear();
    await this.journal?.close();
    this.journal = null;
  }
}
