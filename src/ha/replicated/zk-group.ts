/*
 * The replicated store's ZooKeeper group (ActiveMQ's ZooKeeperGroup under zkPath): one EPHEMERAL_SEQUENTIAL znode
 * per node, holding what the node publishes (its state and log position), and the group znode's own data naming
 * the elected master. The member znodes vanish with their session, so a node killed in any way leaves the group
 * once ZooKeeper expires its session (zkSessionTimeout). The master record is claimed with a versioned setData
 * (compare-and-set), so two nodes can never both win the same election, and its znode version is the epoch.
 */
import { createRequire } from 'node:module';
import type zookeeper from 'node-zookeeper-client';
import { FerryError } from '../../errors.js';
import type { Logger } from '../../log.js';

/** What a member publishes in its znode. */
export interface MemberData {
  /** Random per process. */
  id: string;
  broker: string;
  /** 'electing': not following anyone, its position final until an election ends. */
  state: 'electing' | 'replica' | 'master';
  /** Position of its store: epoch of the last entry, then the entry's position. */
  epoch: number;
  pos: number;
  /** Its replication listener, `host:port`. */
  address: string;
}

/** The group znode's data: who was elected, in which epoch (the znode's version once written). */
export interface MasterRecord {
  id: string;
  broker: string;
  address: string;
  epoch: number;
}

export interface GroupView {
  /** Members in znode order (oldest first). */
  members: (MemberData & { znode: string })[];
  master: MasterRecord | null;
  /** The group znode's version: the expected version of the next claim. */
  version: number;
}

export interface ZkGroupOptions {
  zkAddress: string;
  zkPath: string;
  sessionTimeoutMs: number;
  logger: Logger;
}

type ZkError = Error | zookeeper.Exception;

/**
 * The ZooKeeper client library, loaded by the first group that needs it: with its dependencies it is a fifth of the
 * broker's code and costs every launch ~15 ms, and only `<replicatedLevelDB>` nodes use it.
 */
let zkLib: typeof zookeeper | null = null;
function zk(): typeof zookeeper {
  return (zkLib ??= createRequire(import.meta.url)('node-zookeeper-client') as typeof zookeeper);
}

const codeOf = (err: unknown): number | undefined => (err as { code?: number }).code;

function call<T>(fn: (cb: (err: ZkError | null, v: T) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => fn((err, v) => (err ? reject(err) : resolve(v))));
}

export class ZkGroup {
  private readonly client: zookeeper.Client;
  private readonly log: Logger;
  private znode: string | null = null;
  private closed = false;
  private readonly armed = new Set<string>();
  /** Called once when the session is gone (expired, or the connection lost): the node must stop acting on it. */
  onLost: (why: string) => void = () => {};
  /** Called after any change ZooKeeper notifies (children or data); the caller re-reads the view. */
  onChange: () => void = () => {};

  constructor(private readonly opts: ZkGroupOptions) {
    this.log = opts.logger.child({ module: 'zk' });
    this.client = zk().createClient(opts.zkAddress, { sessionTimeout: opts.sessionTimeoutMs, spinDelay: 100, retries: 0 });
  }

  get sessionTimeoutMs(): number {
    return this.client.getSessionTimeout();
  }

  get sessionId(): string {
    return this.client.getSessionId().toString('hex');
  }

  /** Connect (waiting as long as it takes, until `signal` aborts) and make sure zkPath exists. */
  async connect(signal: AbortSignal): Promise<void> {
    let lastState = '';
    this.client.on('state', (s: zookeeper.State) => {
      const name = s.name;
      if (name === lastState) return;
      lastState = name;
      if (this.closed || this.znode === null) return;
      // A disconnected master cannot know whether its session still lives: it stops rather than risk a second master.
      if (name === 'DISCONNECTED' || name === 'EXPIRED' || name === 'AUTH_FAILED') this.onLost(`ZooKeeper session ${name.toLowerCase()}`);
    });
    // ZooKeeper down: the client retries quietly, so say once what the node is waiting for.
    const slow = setTimeout(() => this.log.warn({ zkAddress: this.opts.zkAddress }, 'still connecting to ZooKeeper at %s', this.opts.zkAddress), 5000);
    slow.unref();
    await new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        clearTimeout(slow);
        this.client.close();
        reject(new FerryError('FERRY_BROKER_STOPPING', `connecting to ZooKeeper at ${this.opts.zkAddress}: stopped`));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.client.once('connected', () => {
        clearTimeout(slow);
        signal.removeEventListener('abort', onAbort);
        resolve();
      });
      this.client.connect();
    });
    await call<string>((cb) => this.client.mkdirp(this.opts.zkPath, cb));
    this.log.info({ zkAddress: this.opts.zkAddress, zkPath: this.opts.zkPath, sessionTimeoutMs: this.sessionTimeoutMs, session: this.sessionId },
      'ZooKeeper session %s at %s (timeout %d ms)', this.sessionId, this.opts.zkAddress, this.sessionTimeoutMs);
  }

  /** Join the group: our ephemeral sequential znode, with `data`. */
  async join(data: MemberData): Promise<void> {
    this.znode = await call<string>((cb) =>
      this.client.create(`${this.opts.zkPath}/node-`, Buffer.from(JSON.stringify(data)), zk().CreateMode.EPHEMERAL_SEQUENTIAL, cb),
    );
  }

  async publish(data: MemberData): Promise<void> {
    if (this.znode === null) throw new FerryError('FERRY_INTERNAL', 'publish before join');
    await call((cb) => this.client.setData(this.znode!, Buffer.from(JSON.stringify(data)), -1, cb));
  }

  /**
   * A watcher for `key` (a path, and what is watched on it) if none is armed yet: ZooKeeper keeps one until it
   * fires, and the client adds a listener per registration, so re-arming on every read would pile them up.
   */
  private watcher(key: string): ((e: zookeeper.Event) => void) | undefined {
    if (this.armed.has(key)) return undefined;
    this.armed.add(key);
    return () => {
      this.armed.delete(key);
      if (!this.closed) this.onChange();
    };
  }

  private getData(path: string): Promise<[Buffer | undefined, zookeeper.Stat]> {
    return new Promise((resolve, reject) => {
      const cb = (err: Error | zookeeper.Exception | null, data: Buffer, stat: zookeeper.Stat): void => (err ? reject(err) : resolve([data, stat]));
      const w = this.watcher(`data:${path}`);
      if (w) this.client.getData(path, w, cb);
      else this.client.getData(path, cb);
    });
  }

  /** Read every member and the master record, leaving watches that call onChange. */
  async view(): Promise<GroupView> {
    const [groupData, groupStat] = await this.getData(this.opts.zkPath);
    const children = await new Promise<string[]>((resolve, reject) => {
      const cb = (err: Error | zookeeper.Exception | null, ch: string[]): void => (err ? reject(err) : resolve(ch));
      const w = this.watcher(`children:${this.opts.zkPath}`);
      if (w) this.client.getChildren(this.opts.zkPath, w, cb);
      else this.client.getChildren(this.opts.zkPath, cb);
    });
    const members: GroupView['members'] = [];
    for (const child of children.filter((c) => c.startsWith('node-')).sort()) {
      try {
        const [data] = await this.getData(`${this.opts.zkPath}/${child}`);
        members.push({ ...(JSON.parse(data?.toString('utf8') ?? '{}') as MemberData), znode: child });
      } catch (err) {
        // Gone between the listing and the read: its session ended; the watch on the children says so again.
        if (codeOf(err) !== zk().Exception.NO_NODE) throw err;
      }
    }
    let master: MasterRecord | null = null;
    if (groupData && groupData.length > 0) {
      try {
        master = JSON.parse(groupData.toString('utf8')) as MasterRecord;
      } catch {
        master = null;
      }
    }
    return { members, master, version: groupStat.version };
  }

  /**
   * Claim mastership: write the master record if the group znode is still at `version`.
   * @returns the new epoch (the znode's new version), or null when another node claimed first
   */
  async claim(rec: Omit<MasterRecord, 'epoch'>, version: number): Promise<number | null> {
    const data = { ...rec, epoch: version + 1 };
    try {
      const stat = await call<zookeeper.Stat>((cb) => this.client.setData(this.opts.zkPath, Buffer.from(JSON.stringify(data)), version, cb));
      return stat.version;
    } catch (err) {
      if (codeOf(err) === zk().Exception.BAD_VERSION) return null;
      throw err;
    }
  }

  /** Leave: closing the session removes our znode at once (no wait for expiry). Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.client.close();
  }
}
