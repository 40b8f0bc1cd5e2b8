/*
 * The master's store: a LevelStore (used only through the MessageStore interface) wrapped so that every call is
 * also an entry of the replication log, streamed to the replicas, and a write is answered only once a quorum
 * holds it (ActiveMQ's replicated LevelDB `sync`): quorum_mem, the master's fsync plus quorum-1 replicas that
 * received it; quorum_disk, the same with the replicas' fsync; local_disk, the master's fsync alone.
 */
import { FerryError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { type BrokerMessage, homeOf } from '../../model/message.js';
import { LevelStore } from '../../store/level-store.js';
import type { DurableRecord, MessageStore, RecoveredState, StoreCallback, StoreListener } from '../../store/store.js';
import { LogWindow, readState, writeState } from './log-window.js';
import { type Position, type StoreOp, wireMessage } from './wire.js';

export type SyncMode = 'quorum_mem' | 'quorum_disk' | 'local_disk';

/** Where the master's log entries go: the replication server, which sends them to every replica in step. */
export interface EntrySink {
  entry(epoch: number, first: number, ops: StoreOp[]): void;
}

/** The master's store contents as a snapshot reads them: what is not messages, tracked since open. */
export interface SnapshotSource {
  position: Position;
  destinations: string[];
  durables: DurableRecord[];
  producers: [string, number][];
  marks: [string, number][];
  load(dest: string, afterSeq: number, limit: number): Promise<BrokerMessage[]>;
}

interface Waiter {
  pos: number;
  cb: StoreCallback;
}

export class ReplicatedStore implements MessageStore {
  readonly kind = 'levelDB';
  /** Created by open(): a LevelDB opens itself once constructed, and a replica holds this directory until promoted. */
  private _inner: LevelStore | null = null;
  private listener: StoreListener | null = null;
  /** Null until this node is master: calls before that are a bug (the broker starts only on the master). */
  private epoch = 0;
  private next = 1;
  private window: LogWindow | null = null;
  private sink: EntrySink | null = null;
  private batch: StoreOp[] = [];
  private flushScheduled = false;
  /** Highest position a quorum holds (for local_disk: every position written locally). */
  private committed = 0;
  /** Highest position the replicas' quorum acknowledged; committed also waits for replication.json to say so. */
  private quorumAcked = 0;
  /** Highest position whose local write completed (LevelStore answers in order): what replication.json may claim. */
  private written = 0;
  /** Position replication.json records, and a write of it in flight (coalesced). */
  private saved = 0;
  private saving: Promise<void> | null = null;
  private saveAgain = false;
  private waiters: Waiter[] = [];
  /** Caught-up replicas right now; a write is refused while 1 + this < quorum. */
  private live = 0;
  /** While a snapshot is read, calls wait here so the snapshot is exactly the store at one position. */
  private paused: (() => void)[] | null = null;
  // Tracked for snapshots: everything of the store but its messages.
  private readonly destinations = new Set<string>();
  private readonly durables = new Map<string, DurableRecord>();
  private readonly producers = new Map<string, number>();
  private readonly marks = new Map<string, number>();
  private stateTimer: NodeJS.Timeout | null = null;
  private closed = false;

  private readonly sync: SyncMode;

  constructor(
    readonly directory: string,
    sync: SyncMode,
    readonly quorum: number,
    private readonly log: Logger,
  ) {
    // A group of one is its own quorum: its disk is all there is to wait for.
    this.sync = quorum <= 1 ? 'local_disk' : sync;
  }

  private get inner(): LevelStore {
    if (this._inner === null) throw new FerryError('FERRY_INTERNAL', 'replicated store used before open');
    return this._inner;
  }

  get bytesWritten(): number {
    return this._inner?.bytesWritten ?? 0;
  }

  get failure(): Error | null {
    return this._inner?.failure ?? null;
  }

  /** The last position of the log (what the master has written). */
  get position(): Position {
    return { epoch: this.epoch, pos: this.next - 1 };
  }

  get logWindow(): LogWindow | null {
    return this.window;
  }

  reclaim(): void {
    this._inner?.reclaim();
  }

  watch(listener: StoreListener): void {
    this.listener = listener;
    this._inner?.watch(listener);
  }

  /**
   * Become master at `epoch`, continuing the log after `window.last`, whose entries it keeps for catch-ups. Must be
   * called before open().
   */
  lead(epoch: number, window: LogWindow, sink: EntrySink): void {
    this.epoch = epoch;
    this.window = window;
    this.next = window.last.pos + 1;
    this.committed = window.last.pos;
    this.quorumAcked = this.written = this.saved = window.last.pos;
    this.sink = sink;
  }

  async open(): Promise<RecoveredState> {
    const state = await readState(this.directory);
    this._inner = new LevelStore(this.directory);
    if (this.listener) this._inner.watch(this.listener);
    const rec = await this._inner.open();
    // Producer sequences that came with a snapshot: the store records them only with a message.
    for (const [pid, seq] of state.producers ?? []) if ((rec.producers.get(pid) ?? -1) < seq) rec.producers.set(pid, seq);
    for (const d of rec.destinations.keys()) this.destinations.add(d);
    for (const d of rec.durables) this.durables.set(`${d.clientId}\x00${d.name}`, d);
    for (const [p, s] of rec.producers) this.producers.set(p, s);
    for (const [d, s] of rec.marks) this.marks.set(d, s);
    // From here on the store may run ahead of the file: a crash leaves it marked inexact.
    await writeState(this.directory, { epoch: this.epoch, pos: this.written, exact: false });
    // Between answered writes (acks, marks), the claim follows what was written, never what is only queued.
    this.stateTimer = setInterval(() => {
      if (!this.closed && this.written > this.saved) this.persist();
    }, 1000);
    this.stateTimer.unref();
    return rec;
  }

  /** Replicas caught up and streaming, as the replication server counts them. */
  setLive(n: number): void {
    const had = this.hasQuorum;
    this.live = n;
    const has = this.hasQuorum;
    if (had && !has) this.log.warn({ live: n, quorum: this.quorum }, 'lost the quorum: %d of %d nodes hold the log; persistent sends are refused', 1 + n, this.quorum);
    if (!had && has && this.next > 1) this.log.info({ live: n, quorum: this.quorum }, 'quorum back: %d nodes hold the log', 1 + n);
  }

  /** local_disk asks nothing of the replicas: the master's own disk is enough, with or without them. */
  get hasQuorum(): boolean {
    return this.sync === 'local_disk' || 1 + this.live >= this.quorum;
  }

  /** The highest position that `quorum - 1` replicas acknowledged (from the server's per-replica acks). */
  acknowledged(pos: number): void {
    if (this.sync === 'local_disk' || pos <= this.quorumAcked) return;
    this.quorumAcked = pos;
    this.advance();
  }

  /**
   * A write is answered only once replication.json claims it too: after a crash of every node, the election goes
   * by these claims, and a node holding an answered write must not claim less than it (nor more than it wrote).
   */
  private advance(): void {
    if (this.closed) return;
    const target = Math.min(this.quorumAcked, this.written);
    if (target <= this.committed) return;
    if (this.saved >= target) {
      this.committed = target;
      this.release();
      return;
    }
    this.persist();
  }

  private release(): void {
    let i = 0;
    while (i < this.waiters.length && this.waiters[i]!.pos <= this.committed) i++;
    if (i === 0) return;
    for (const w of this.waiters.splice(0, i)) w.cb();
  }

  private noQuorum(what: string): FerryError {
    return new FerryError('FERRY_NO_QUORUM', `${what} refused: only ${1 + this.live} of the ${this.quorum} nodes needed hold the replicated log`);
  }

  /** Append an op to the batch being gathered; its position. */
  private append(op: StoreOp): number {
    this.batch.push(op);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      // Same slack as LevelStore's group commit: every call of this macrotask goes in one entry.
      setImmediate(() => this.flush());
    }
    return this.next++;
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.batch.length === 0) return;
    const ops = this.batch;
    this.batch = [];
    const first = this.next - ops.length;
    this.window?.append(this.epoch, first, ops);
    this.sink?.entry(this.epoch, first, ops);
  }

  /** Once the local write is done (`err` from the inner store) and a quorum holds position `pos`. */
  private whenHeld(pos: number, cb: StoreCallback): StoreCallback {
    return (err) => {
      if (err) return cb(err);
      if (pos > this.written) this.written = pos;
      if (this.sync === 'local_disk' || pos <= this.committed) return cb();
      this.waiters.push({ pos, cb });
      this.advance();
    };
  }

  private gate(run: () => void): void {
    if (this.paused) this.paused.push(run);
    else run();
  }

  add(msg: BrokerMessage, cb: StoreCallback): void {
    if (!this.hasQuorum) {
      const err = this.noQuorum(`persistent send to ${msg.dest}`);
      queueMicrotask(() => cb(err));
      return;
    }
    this.gate(() => {
      const home = homeOf(msg);
      this.destinations.add(home);
      if (msg.pid !== undefined && msg.pseq !== undefined) this.producers.set(msg.pid, msg.pseq);
      const pos = this.append(['a', wireMessage(msg)]);
      this.inner.add(msg, this.whenHeld(pos, cb));
    });
  }

  mark(dest: string, seq: number): void {
    this.gate(() => {
      if (seq > (this.marks.get(dest) ?? 0)) this.marks.set(dest, seq);
      this.append(['m', dest, seq]);
      this.inner.mark(dest, seq);
    });
  }

  remove(seq: number, dest: string): void {
    this.gate(() => {
      this.append(['r', seq, dest]);
      this.inner.remove(seq, dest);
    });
  }

  load(dest: string, afterSeq: number, limit: number): Promise<BrokerMessage[]> {
    return this.inner.load(dest, afterSeq, limit);
  }

  removeRange(dest: string, afterSeq: number, upToSeq: number): Promise<number> {
    return new Promise<number>((resolve, reject) =>
      this.gate(() => {
        const pos = this.append(['R', dest, afterSeq, upToSeq]);
        this.inner.removeRange(dest, afterSeq, upToSeq).then(
          (n) => this.whenHeld(pos, (err) => (err ? reject(err) : resolve(n)))(),
          reject,
        );
      }),
    );
  }

  putDurable(rec: DurableRecord, cb: StoreCallback): void {
    this.gate(() => {
      this.durables.set(`${rec.clientId}\x00${rec.name}`, rec);
      const pos = this.append(['d', rec]);
      this.inner.putDurable(rec, this.whenHeld(pos, cb));
    });
  }

  removeDurable(clientId: string, name: string): void {
    this.gate(() => {
      this.durables.delete(`${clientId}\x00${name}`);
      this.append(['D', clientId, name]);
      this.inner.removeDurable(clientId, name);
    });
  }

  forgetProducer(pid: string): void {
    this.gate(() => {
      this.producers.delete(pid);
      this.append(['f', pid]);
      this.inner.forgetProducer(pid);
    });
  }

  barrier(cb: StoreCallback, sync?: boolean): void {
    // Everything before it held by a quorum, too: a duplicate send is answered only once its first copy is.
    this.gate(() => this.inner.barrier(this.whenHeld(this.next - 1, cb), sync));
  }

  /**
   * Read a snapshot: calls wait meanwhile, so it is the store at exactly one position; `read` gets the source
   * and must finish loading before it resolves. Calls queued meanwhile then run in order.
   */
  async snapshot(read: (src: SnapshotSource) => Promise<void>): Promise<void> {
    while (this.paused) await new Promise<void>((resolve) => this.paused!.push(resolve));
    this.paused = [];
    try {
      this.flush();
      await new Promise<void>((resolve, reject) => this.inner.barrier((err) => (err ? reject(err) : resolve())));
      await read({
        position: this.position,
        destinations: [...this.destinations],
        durables: [...this.durables.values()],
        producers: [...this.producers],
        marks: [...this.marks],
        load: (dest, after, limit) => this.inner.load(dest, after, limit),
      });
    } finally {
      const queued = this.paused;
      this.paused = null;
      for (const run of queued) run();
    }
  }

  /**
   * Record `written` in replication.json (inexact: the store may hold more by the time it is read). One write at a
   * time, so the file never goes back; a call during a write makes one more write after it. Then answer what it
   * allows.
   */
  private persist(): void {
    if (this.saving !== null) {
      this.saveAgain = true;
      return;
    }
    const pos = this.written;
    this.saving = writeState(this.directory, { epoch: this.epoch, pos, exact: false }).then(
      () => {
        this.saving = null;
        if (pos > this.saved) this.saved = pos;
        if (this.saveAgain && !this.closed) {
          this.saveAgain = false;
          this.persist();
        }
        this.advance();
      },
      (err: unknown) => {
        // Not retried at once (a full disk would spin): the periodic save tries again.
        this.saving = null;
        this.saveAgain = false;
        this.log.error({ err }, 'cannot record the replication position: %s', (err as Error).message);
      },
    );
  }


  async close(): Promise<void> {
    if (this.closed) return;
    this.flush();
    if (this.stateTimer) clearInterval(this.stateTimer);
    this.stateTimer = null;
    const err = new FerryError('FERRY_BROKER_STOPPING', 'the store closed before a quorum held the write');
    for (const w of this.waiters.splice(0)) w.cb(err);
    this.closed = true;
    if (this._inner === null) return;
    await this.inner.close();
    await this.saving;
    // Exact only if every write made it: a failed store keeps the inexact mark.
    if (this.inner.failure === null) await writeState(this.directory, { ...this.position, exact: true }).catch(() => {});
  }
}
