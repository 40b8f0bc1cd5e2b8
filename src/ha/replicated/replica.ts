/*
 * A replica: follows the master over one replication connection and applies its log to a LevelStore of its own,
 * through the store interface, in log order. It acknowledges each entry once it holds it as `sync` asks
 * (quorum_disk: after an fsync'd barrier). It keeps the entries it received in its log window, so that, elected
 * master, it can bring the other replicas up to date from memory.
 */
import { rm } from 'node:fs/promises';
import { connect } from 'node:net';
import type { Logger } from '../../log.js';
import { LevelStore } from '../../store/level-store.js';
import { LogWindow, writeState } from './log-window.js';
import type { SyncMode } from './replicated-store.js';
import { Link, type MasterFrame, type Position, type ReplicaFrame, type StoreOp } from './wire.js';

export interface ReplicaOptions {
  id: string;
  broker: string;
  directory: string;
  sync: SyncMode;
  logger: Logger;
}

export class Replica {
  private store: LevelStore | null = null;
  private link: Link<MasterFrame, ReplicaFrame> | null = null;
  /** Frames are applied one at a time: a snapshot reopens the store in between. */
  private chain: Promise<void> = Promise.resolve();
  private readonly log: Logger;
  /** Applied: handed to the store (what the master is told on reconnect, and what an election compares). */
  private _position: Position;
  /** Written by the store: all that replication.json may claim after a crash. */
  private durable: Position;
  private _exact: boolean;
  private stateChain: Promise<void> = Promise.resolve();
  private saveQueued: Promise<void> | null = null;
  window: LogWindow;
  private stateTimer: NodeJS.Timeout | null = null;
  private producers: [string, number][] | undefined;
  /** Called when the connection to the master ends (the node reads ZooKeeper again). */
  onDisconnect: (err?: Error) => void = () => {};

  constructor(
    private readonly opts: ReplicaOptions,
    start: Position & { exact: boolean },
  ) {
    this.log = opts.logger.child({ module: 'replica' });
    this._position = { epoch: start.epoch, pos: start.pos };
    this.durable = { ...this._position };
    this._exact = start.exact;
    this.window = new LogWindow(start);
  }

  /** Where its store stands, and whether exactly (false after a crash, until a snapshot). */
  get position(): Position & { exact: boolean } {
    return { ...this._position, exact: this._exact };
  }

  /** Open its store (once) and follow the master at `address` (host:port). */
  async follow(address: string): Promise<void> {
    if (this.store === null) {
      this.store = new LevelStore(this.opts.directory);
      await this.store.open();
      this.stateTimer = setInterval(() => {
        if (this.store !== null) void this.saveState();
      }, 500);
      this.stateTimer.unref();
    }
    const i = address.lastIndexOf(':');
    const socket = connect({ host: address.slice(0, i), port: Number(address.slice(i + 1)) });
    const link = new Link<MasterFrame, ReplicaFrame>(socket, (f) => {
      this.chain = this.chain.then(() => this.apply(f)).catch((err: unknown) => {
        this.log.error({ err }, 'applying the replication log failed: %s', (err as Error).message);
        link.close(err as Error);
      });
    });
    this.link = link;
    link.onClose = (err) => {
      if (this.link === link) this.link = null;
      this.onDisconnect(err);
    };
    socket.once('connect', () => {
      const p = this.position;
      link.send({ t: 'hello', id: this.opts.id, broker: this.opts.broker, epoch: p.epoch, pos: p.pos, exact: p.exact });
    });
  }

  private async apply(f: MasterFrame): Promise<void> {
    const store = this.store!;
    switch (f.t) {
      case 'welcome':
        if (f.mode === 'snapshot') await this.wipe();
        return;
      case 'snap':
        for (const m of f.msgs) this.store!.add(m, this.failed);
        return;
      case 'snap-end': {
        for (const d of f.durables) this.store!.putDurable(d, this.failed);
        for (const [dest, seq] of f.marks) this.store!.mark(dest, seq);
        this.producers = f.producers;
        await new Promise<void>((resolve, reject) => this.store!.barrier((err) => (err ? reject(err) : resolve()), true));
        this._position = { epoch: f.e, pos: f.p };
        this.durable = { ...this._position };
        this._exact = true;
        this.window = new LogWindow({ epoch: f.e, pos: f.p, exact: true });
        await this.saveState();
        this.log.info({ pos: f.p }, 'snapshot installed at position %d', f.p);
        this.ack(f.p);
        return;
      }
      case 'ops': {
        for (const op of f.ops) this.applyOp(store, op);
        const last = f.p + f.ops.length - 1;
        this.window.append(f.e, f.p, f.ops);
        this._position = { epoch: f.e, pos: last };
        const held = { epoch: f.e, pos: last };
        if (this.opts.sync === 'quorum_disk') {
          // Acknowledged once on disk and claimed in replication.json, so that after a crash of every node this
          // one never claims less than a write it helped answer.
          store.barrier((err) => {
            if (err) return this.failed(err);
            this.durable = held;
            void this.saveState().then(() => this.ack(last));
          }, true);
        } else {
          this.ack(last);
          store.barrier((err) => (err ? this.failed(err) : (this.durable = held)));
        }
        return;
      }
    }
  }

  private applyOp(store: LevelStore, op: StoreOp): void {
    switch (op[0]) {
      case 'a':
        op[1].persistent = true;
        return store.add(op[1], this.failed);
      case 'm':
        return store.mark(op[1], op[2]);
      case 'r':
        return store.remove(op[1], op[2]);
      case 'R':
        void store.removeRange(op[1], op[2], op[3]).catch(this.failed);
        return;
      case 'd':
        return store.putDurable(op[1], this.failed);
      case 'D':
        return store.removeDurable(op[1], op[2]);
      case 'f':
        return store.forgetProducer(op[1]);
    }
  }

  private readonly failed = (err?: Error): void => {
    if (!err) return;
    // The replica's copy is no longer the master's: drop the link; it comes back with a snapshot.
    this._exact = false;
    this.log.error({ err }, 'replica store write failed: %s', err.message);
    this.link?.close(err);
  };

  private ack(pos: number): void {
    this.link?.send({ t: 'ack', pos });
  }

  /** A snapshot replaces the store whole. */
  private async wipe(): Promise<void> {
    this._exact = false;
    await this.saveState();
    await this.store!.close();
    await rm(this.opts.directory, { recursive: true, force: true });
    this.store = new LevelStore(this.opts.directory);
    await this.store.open();
  }

  /**
   * Record the durable position (inexact). Writes go one after another; calls made before a queued write starts
   * share it, as it reads the position when it starts.
   */
  private saveState(): Promise<void> {
    if (this.saveQueued !== null) return this.saveQueued;
    const p = this.stateChain.then(() => {
      this.saveQueued = null;
      return writeState(this.opts.directory, { ...this.durable, exact: false, ...(this.producers ? { producers: this.producers } : {}) }).catch(() => {});
    });
    this.saveQueued = p;
    this.stateChain = p;
    return p;
  }

  /** Stop following (the master is gone): the connection closes; what was received is applied. */
  async unfollow(): Promise<void> {
    this.link?.close();
    this.link = null;
    await this.chain;
  }

  /** Stop and close the store (promotion, or the node stops). The state file is exact if every write made it. */
  async close(): Promise<void> {
    await this.unfollow();
    if (this.stateTimer) clearInterval(this.stateTimer);
    this.stateTimer = null;
    if (this.store === null) return;
    const store = this.store;
    await store.close();
    await this.stateChain;
    // Everything applied is written now: exact, unless this copy is known to be off.
    const exact = this._exact && store.failure === null;
    await writeState(this.opts.directory, { ...this._position, exact, ...(this.producers ? { producers: this.producers } : {}) }).catch(() => {});
    this.store = null;
  }
}
