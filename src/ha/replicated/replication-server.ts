/*
 * The replication listener. Every node opens it at start (its address goes into ZooKeeper), but only the master
 * accepts replicas on it: each replica says where its store stands, catches up from the master's in-memory log
 * window when that proves its store is a prefix of the master's log, or else takes a full snapshot, and from then
 * on receives every entry as the master writes it. Its acknowledgements decide when a write is held by a quorum.
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { Logger } from '../../log.js';
import type { EntrySink, ReplicatedStore, SnapshotSource } from './replicated-store.js';
import { Link, type MasterFrame, type ReplicaFrame, type StoreOp } from './wire.js';

/** Messages per snapshot frame. */
const SNAPSHOT_CHUNK = 500;

interface Replica {
  id: string;
  broker: string;
  link: Link<ReplicaFrame, MasterFrame>;
  /** 'sync': catching up (not counted); 'live': holds the log up to where it was sent. */
  state: 'sync' | 'live';
  /** Highest position it acknowledged. */
  acked: number;
  /** It counts once it has acknowledged this position (the end of its catch-up). */
  syncedAt: number;
  /** Entries written while its snapshot was read go to it only after the snapshot. */
  streaming: boolean;
}

export interface ReplicaStatus {
  broker: string;
  state: 'sync' | 'live';
  acked: number;
  lag: number;
}

export class ReplicationServer implements EntrySink {
  private readonly server: Server;
  private readonly log: Logger;
  private store: ReplicatedStore | null = null;
  private readonly replicas = new Set<Replica>();
  private quorumWaiters: (() => void)[] = [];
  private _port = 0;

  constructor(
    private readonly bind: { host: string; port: number },
    logger: Logger,
  ) {
    this.log = logger.child({ module: 'replication' });
    this.server = createServer((socket) => this.accept(socket));
  }

  get port(): number {
    return this._port;
  }

  listen(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ host: this.bind.host, port: this.bind.port }, () => {
        this.server.off('error', reject);
        const a = this.server.address();
        this._port = typeof a === 'object' && a !== null ? a.port : 0;
        resolve();
      });
    });
  }

  /** Start serving replicas: this node is master of `store`. */
  lead(store: ReplicatedStore): void {
    this.store = store;
  }

  status(): ReplicaStatus[] {
    const at = this.store?.position.pos ?? 0;
    return [...this.replicas].map((r) => ({ broker: r.broker, state: r.state, acked: r.acked, lag: at - r.acked }));
  }

  /** Resolves once a quorum (this node and quorum-1 live replicas) holds the log. */
  whenQuorum(): Promise<void> {
    if (this.store?.hasQuorum) return Promise.resolve();
    return new Promise<void>((resolve) => this.quorumWaiters.push(resolve));
  }

  private accept(socket: Socket): void {
    if (this.store === null) {
      // Not master (yet, or any more): a replica retries and reads ZooKeeper again.
      socket.destroy();
      return;
    }
    let replica: Replica | null = null;
    const link = new Link<ReplicaFrame, MasterFrame>(socket, (f) => {
      if (f.t === 'hello' && replica === null) replica = this.hello(link, f);
      else if (f.t === 'ack' && replica !== null) this.ack(replica, f.pos);
    });
    link.onClose = (err) => {
      if (replica === null) return;
      this.replicas.delete(replica);
      this.log.warn({ replica: replica.broker, err: err?.message }, 'replica %s disconnected', replica.broker);
      this.recount();
    };
  }

  private hello(link: Link<ReplicaFrame, MasterFrame>, f: Extract<ReplicaFrame, { t: 'hello' }>): Replica {
    const store = this.store!;
    for (const r of this.replicas) if (r.id === f.id) r.link.close();
    const entries = f.exact ? store.logWindow?.after({ epoch: f.epoch, pos: f.pos }) ?? null : null;
    // A replica that gets a snapshot holds nothing of this log until it has acknowledged the snapshot.
    const r: Replica = { id: f.id, broker: f.broker, link, state: 'sync', acked: entries !== null ? f.pos : 0, syncedAt: 0, streaming: false };
    this.replicas.add(r);
    if (entries !== null) {
      link.send({ t: 'welcome', epoch: store.position.epoch, mode: 'log' });
      for (const e of entries) link.send({ t: 'ops', e: e.epoch, p: e.first, ops: e.ops });
      r.syncedAt = store.position.pos;
      r.streaming = true;
      this.log.info({ replica: f.broker, from: f.pos, to: r.syncedAt }, 'replica %s catching up from the log: positions %d..%d', f.broker, f.pos + 1, r.syncedAt);
      this.ack(r, f.pos);
    } else {
      this.log.info({ replica: f.broker, at: f.pos, exact: f.exact }, 'replica %s at position %d%s: sending a snapshot', f.broker, f.pos, f.exact ? '' : ' (inexact)');
      void store
        .snapshot((src) => this.sendSnapshot(r, src))
        .catch((err: unknown) => {
          this.log.error({ err, replica: f.broker }, 'snapshot for replica %s failed', f.broker);
          link.close();
        });
    }
    return r;
  }

  private async sendSnapshot(r: Replica, src: SnapshotSource): Promise<void> {
    r.link.send({ t: 'welcome', epoch: src.position.epoch, mode: 'snapshot' });
    let n = 0;
    for (const dest of src.destinations) {
      let after = 0;
      for (;;) {
        const msgs = await src.load(dest, after, SNAPSHOT_CHUNK);
        if (msgs.length === 0) break;
        after = msgs[msgs.length - 1]!.seq;
        n += msgs.length;
        r.link.send({ t: 'snap', msgs });
      }
    }
    r.link.send({ t: 'snap-end', e: src.position.epoch, p: src.position.pos, durables: src.durables, producers: src.producers, marks: src.marks });
    r.syncedAt = src.position.pos;
    r.streaming = true;
    this.log.info({ replica: r.broker, messages: n, pos: src.position.pos }, 'snapshot of %d messages sent to replica %s (position %d)', n, r.broker, src.position.pos);
  }

  entry(epoch: number, first: number, ops: StoreOp[]): void {
    let frame: MasterFrame | null = null;
    for (const r of this.replicas) {
      if (!r.streaming) continue;
      frame ??= { t: 'ops', e: epoch, p: first, ops };
      r.link.send(frame);
    }
  }

  private ack(r: Replica, pos: number): void {
    if (pos > r.acked) r.acked = pos;
    if (r.state === 'sync' && r.streaming && r.acked >= r.syncedAt) {
      r.state = 'live';
      this.log.info({ replica: r.broker, pos: r.acked }, 'replica %s caught up at position %d', r.broker, r.acked);
      this.recount();
    }
    if (r.state === 'live') this.commit();
  }

  /** The (quorum-1)th highest acknowledgement among live replicas: what a quorum holds. */
  private commit(): void {
    const store = this.store;
    if (store === null || store.quorum <= 1) return;
    const acks = [...this.replicas].filter((r) => r.state === 'live').map((r) => r.acked).sort((a, b) => b - a);
    const held = acks[store.quorum - 2];
    if (held !== undefined) store.acknowledged(held);
  }

  private recount(): void {
    const store = this.store;
    if (store === null) return;
    store.setLive([...this.replicas].filter((r) => r.state === 'live').length);
    if (store.hasQuorum) for (const w of this.quorumWaiters.splice(0)) w();
    this.commit();
  }

  async close(): Promise<void> {
    for (const r of this.replicas) r.link.close();
    this.replicas.clear();
    this.store = null;
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
