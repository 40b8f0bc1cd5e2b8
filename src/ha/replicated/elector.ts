/*
 * One node of a replicated LevelDB group: joins the ZooKeeper group, follows the elected master as a replica,
 * and when there is none takes part in the election. Among the nodes that are electing — at least a quorum
 * (replicas/2+1) of them — the one whose store has the most recent log position (epoch first, then position;
 * the oldest member on a tie) claims mastership with a compare-and-set on the group znode. Only then does it open
 * its store as master; the node service opens the client connectors once a quorum holds the log.
 *
 * Never two masters: a master stops (the node halts) as soon as its ZooKeeper session is disconnected or expired,
 * or the group names another master; a write needs a quorum of acknowledgements, and a replica only acknowledges
 * the master it follows, so a deposed master can no longer answer a persistent send anyway.
 */
import { randomBytes } from 'node:crypto';
import { FerryError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { readState } from './log-window.js';
import { Replica } from './replica.js';
import type { ReplicatedStore, SyncMode } from './replicated-store.js';
import { type ReplicaStatus, ReplicationServer } from './replication-server.js';
import { comparePositions } from './wire.js';
import { type GroupView, type MemberData, ZkGroup } from './zk-group.js';

/** How often the group is re-read besides ZooKeeper's watches (a watch can fire between read and re-arm). */
const POLL_MS = 250;

export interface ElectorOptions {
  brokerName: string;
  directory: string;
  replicas: number;
  bind: { host: string; port: number };
  hostname: string;
  zkAddress: string;
  zkPath: string;
  zkSessionTimeoutMs: number;
  sync: SyncMode;
  logger: Logger;
}

export type ReplicationRole = 'starting' | 'electing' | 'replica' | 'master' | 'stopped';

export class Elector {
  readonly id = randomBytes(6).toString('hex');
  readonly quorum: number;
  private readonly log: Logger;
  private readonly zk: ZkGroup;
  private readonly server: ReplicationServer;
  private replica: Replica | null = null;
  private _role: ReplicationRole = 'starting';
  private following: string | null = null;
  private masterName: string | null = null;
  private epoch = 0;
  private published = '';
  private announced = '';
  private wake: (() => void) | null = null;
  private stopped = false;
  /** Called once when this node must stop serving (deposed master, lost session). */
  onLost: (err: FerryError) => void = () => {};

  constructor(private readonly opts: ElectorOptions) {
    this.quorum = Math.floor(opts.replicas / 2) + 1;
    this.log = opts.logger.child({ module: 'elector' });
    this.zk = new ZkGroup({ zkAddress: opts.zkAddress, zkPath: opts.zkPath, sessionTimeoutMs: opts.zkSessionTimeoutMs, logger: opts.logger });
    this.server = new ReplicationServer(opts.bind, opts.logger);
    this.zk.onChange = () => this.wake?.();
    this.zk.onLost = (why) => this.lose(`${why}: ${this._role === 'master' ? 'another node may be elected master' : 'left the replication group'}`);
  }

  get role(): ReplicationRole {
    return this._role;
  }

  get address(): string {
    return `${this.opts.hostname}:${this.server.port}`;
  }

  /** What the console and INFO show: role, master, epoch, session and each replica's lag. */
  status(): { role: ReplicationRole; master: string | null; epoch: number; zkSession: string; quorum: number; replicas: ReplicaStatus[] } {
    return { role: this._role, master: this.masterName, epoch: this.epoch, zkSession: this.zk.sessionId, quorum: this.quorum, replicas: this.server.status() };
  }

  /**
   * Join the group and wait to be elected (following the master meanwhile). `open` opens the broker on `store`
   * once this node won; resolves once a quorum holds the log, so the node may serve clients.
   * @throws FERRY_BROKER_STOPPING when `signal` aborts first
   */
  async run(store: ReplicatedStore, open: () => Promise<void>, signal: AbortSignal): Promise<void> {
    const state = await readState(this.opts.directory);
    await this.server.listen();
    this.replica = new Replica({ id: this.id, broker: this.opts.brokerName, directory: this.opts.directory, sync: this.opts.sync, logger: this.opts.logger }, state);
    this.replica.onDisconnect = () => {
      this.following = null;
      this.wake?.();
    };
    await this.zk.connect(signal);
    this._role = 'electing';
    await this.zk.join(this.member());
    this.log.info({ id: this.id, position: state, quorum: this.quorum, replication: this.address },
      'joined replication group %s as %s: store at position %d (epoch %d%s); quorum %d of %d',
      this.opts.zkPath, this.id, state.pos, state.epoch, state.exact ? '' : ', after a crash', this.quorum, this.opts.replicas);
    let epoch: number | null = null;
    while (epoch === null) {
      if (signal.aborted || this.stopped) throw new FerryError('FERRY_BROKER_STOPPING', 'waiting to be elected: stopped');
      try {
        epoch = await this.step(await this.zk.view());
      } catch (err) {
        // A znode that vanished mid-read, a claim that raced: look again. A lost session halts the node instead.
        this.log.warn({ err }, 'reading the replication group failed: %s', (err as Error).message);
      }
      if (epoch === null) await this.pause(signal);
    }
    await this.promote(epoch, store, open, signal);
  }

  private member(): MemberData {
    const p = this.replica!.position;
    const state = this._role === 'master' || this._role === 'replica' ? this._role : 'electing';
    return { id: this.id, broker: this.opts.brokerName, state, epoch: this._role === 'master' ? this.epoch : p.epoch, pos: p.pos, address: this.address };
  }

  private async publish(): Promise<void> {
    const m = this.member();
    const key = JSON.stringify(m);
    if (key === this.published) return;
    await this.zk.publish(m);
    this.published = key;
  }

  /** One look at the group: follow its master, or run for election. The epoch won, or null. */
  private async step(view: GroupView): Promise<number | null> {
    const m = view.master;
    if (m !== null && m.id !== this.id && view.members.some((x) => x.id === m.id)) {
      const key = `${m.id}@${m.epoch}`;
      if (this.following !== key) {
        await this.replica!.unfollow();
        this.following = key;
        this.masterName = m.broker;
        this.epoch = m.epoch;
        this._role = 'replica';
        // Logged once per master: a connection refused while it is still opening its store is retried quietly.
        if (this.announced !== key) this.log.info({ master: m.broker, epoch: m.epoch, address: m.address, role: 'replica' }, 'replica of %s (epoch %d) at %s', m.broker, m.epoch, m.address);
        this.announced = key;
        await this.replica!.follow(m.address);
      }
      await this.publish();
      return null;
    }
    // No master alive: stop following whoever it was, then publish our final position and elect.
    if (this.following !== null || this._role === 'replica') {
      this.log.info({ master: this.masterName }, 'master %s left the group: electing', this.masterName ?? '?');
      await this.replica!.unfollow();
      this.following = null;
      this._role = 'electing';
    }
    await this.publish();
    const electing = view.members.filter((x) => x.state === 'electing');
    if (electing.length < this.quorum) return null;
    const best = electing.reduce((a, b) => (comparePositions(b, a) > 0 ? b : a));
    if (best.id !== this.id) return null;
    const epoch = await this.zk.claim({ id: this.id, broker: this.opts.brokerName, address: this.address }, view.version);
    if (epoch === null) this.log.info('another node claimed mastership first');
    return epoch;
  }

  private async promote(epoch: number, store: ReplicatedStore, open: () => Promise<void>, signal: AbortSignal): Promise<void> {
    const replica = this.replica!;
    await replica.close();
    const at = replica.position;
    this.epoch = epoch;
    this.masterName = this.opts.brokerName;
    store.lead(epoch, replica.window, this.server);
    await open();
    this.server.lead(store);
    this._role = 'master';
    await this.publish();
    this.log.info({ epoch, position: at, role: 'master' }, 'elected master (epoch %d) at position %d; waiting for %d replica(s) to hold the log', epoch, at.pos, this.quorum - 1);
    void this.watch();
    await Promise.race([
      this.server.whenQuorum(),
      new Promise<never>((_, reject) => {
        const f = (): void => reject(new FerryError('FERRY_BROKER_STOPPING', 'waiting for a quorum: stopped'));
        if (signal.aborted) f();
        else signal.addEventListener('abort', f, { once: true });
      }),
    ]);
    this.log.info({ epoch }, 'quorum of %d holds the log: serving', this.quorum);
  }

  /** The master keeps reading the group: another master named there deposes it. */
  private async watch(): Promise<void> {
    while (!this.stopped && this._role === 'master') {
      try {
        const view = await this.zk.view();
        if (view.master?.id !== this.id) return this.lose(`the group names another master (${view.master?.broker ?? 'none'})`);
      } catch (err) {
        if (!this.stopped) return this.lose(`cannot read the group: ${(err as Error).message}`);
      }
      await this.pause();
    }
  }

  private pause(signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(t);
        this.wake = null;
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const t = setTimeout(done, POLL_MS);
      this.wake = done;
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  private lose(why: string): void {
    if (this.stopped) return;
    const was = this._role;
    this.stopped = true;
    this.onLost(new FerryError('FERRY_NOT_MASTER', `${was === 'master' ? 'master' : 'replica'} ${this.opts.brokerName}: ${why}`));
  }

  /** Leave the group and close what this node opened (the broker, holding the store, is stopped before). */
  async stop(): Promise<void> {
    this.stopped = true;
    this._role = 'stopped';
    this.wake?.();
    await this.server.close().catch(() => {});
    await this.replica?.close().catch(() => {});
    this.zk.close();
  }
}
