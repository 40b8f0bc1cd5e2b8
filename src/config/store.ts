/**
 * The store's elements in ActiveMQ's vocabulary: `<persistenceAdapter>` (kahaDB and levelDB both mean ferrymq's
 * LevelDB store), its master/slave locker, and `<systemUsage>` (producer flow control).
 */
import { readReplicatedLevelDB, type ReplicatedStoreConfig } from './replicated.js';
import { Attrs, type Ctx, children, parseSize, type XNode } from './xml.js';

/** Producer flow control (ActiveMQ's `<systemUsage>`). */
export interface SystemUsageConfig {
  /** Message bytes held in memory, all destinations together, before producers are held. @default 128 MiB */
  memoryLimitBytes: number;
  /** A held send fails after this many ms; -1 waits for as long as it takes. @default -1 */
  sendFailIfNoSpaceAfterTimeoutMs: number;
  /**
   * `<storeUsage limit>`: bytes the store may take on disk before persistent sends are refused with
   * FERRY_STORE_FULL (free space on the file system is watched too). @default 100 GiB, as ActiveMQ
   */
  storeLimitBytes: number;
}

/**
 * Shared-store master/slave: the first node to open the store holds its lock and serves; others wait
 * (ActiveMQ's SharedFileLocker and LockableServiceSupport attributes).
 */
export interface LockerConfig {
  /** A waiting node retries the lock this often, ms (ActiveMQ: 10000). @default 200 */
  lockAcquireSleepIntervalMs: number;
  /** A master checks it still holds the lock this often, ms; 0 never (ActiveMQ's default). @default 1000 */
  lockKeepAlivePeriodMs: number;
}


/**
 * `<memoryUsage><memoryUsage limit="64 mb"/></memoryUsage>` and `<storeUsage>` alike: the `limit` of each inner
 * element named `name`, at least 1 mb; `set` gets each one found.
 */
function readLimits(ctx: Ctx, path: string, nodes: XNode[], name: string, example: string, set: (bytes: number) => void): void {
  for (const outer of nodes) {
    for (const [n3, l3] of children(outer)) {
      const p3 = `${path}<${n3}>`;
      if (n3 !== name) {
        ctx.warn(`${p3} is not a known element; ignored`);
        continue;
      }
      for (const leaf of l3) {
        const la = new Attrs(ctx, p3, leaf, ['limit']);
        const raw = la.str('limit');
        if (raw === undefined) continue;
        const bytes = parseSize(raw);
        if (bytes === undefined || bytes < 1024 * 1024) {
          ctx.failAttr(p3, 'limit', raw, `must be a size of at least 1 mb, e.g. "${example}"`);
        }
        set(bytes);
      }
    }
  }
}

/**
 * `<systemUsage><systemUsage sendFailIfNoSpaceAfterTimeout="ms"><memoryUsage><memoryUsage limit="64 mb"/>…`:
 * the memory producers may fill before flow control holds their sends.
 */
export function readSystemUsage(ctx: Ctx, path: string, node: XNode, usage: SystemUsageConfig): void {
  for (const [n1, l1] of children(node)) {
    const p1 = `${path}<${n1}>`;
    if (n1 !== 'systemUsage') {
      ctx.warn(`${p1} is not a known element; ignored`);
      continue;
    }
    for (const su of l1) {
      const a = new Attrs(ctx, p1, su, ['sendFailIfNoSpaceAfterTimeout', 'sendFailIfNoSpace']);
      const timeout = a.int('sendFailIfNoSpaceAfterTimeout', -1, 0, 2147483647);
      if (timeout >= 0) usage.sendFailIfNoSpaceAfterTimeoutMs = timeout;
      if (a.bool('sendFailIfNoSpace', false)) usage.sendFailIfNoSpaceAfterTimeoutMs = 0;
      for (const [n2, l2] of children(su)) {
        const p2 = `${p1}<${n2}>`;
        if (n2 === 'storeUsage') {
          readLimits(ctx, p2, l2, 'storeUsage', '10 gb', (bytes) => (usage.storeLimitBytes = bytes));
          continue;
        }
        if (n2 !== 'memoryUsage') {
          ctx.warn(`${p2} is ignored: ferrymq bounds memory only (the store pages to disk)`);
          continue;
        }
        readLimits(ctx, p2, l2, 'memoryUsage', '64 mb', (bytes) => (usage.memoryLimitBytes = bytes));
      }
    }
  }
}


/**
 * `<locker>` inside a store element: ActiveMQ's `<shared-file-locker lockAcquireSleepInterval="…"/>` (Spring's
 * spelling; `<sharedFileLocker>` is accepted too). ferrymq's lock is LevelDB's own LOCK file either way.
 */
function readLocker(ctx: Ctx, path: string, node: XNode, locker: LockerConfig): void {
  for (const [name, list] of children(node)) {
    const p = `${path}<${name}>`;
    if (name !== 'shared-file-locker' && name !== 'sharedFileLocker') {
      ctx.warn(`${p} is not supported by ferrymq; ignored (the lock is the store's own file lock)`);
      continue;
    }
    for (const n of list) {
      const a = new Attrs(ctx, p, n, ['lockAcquireSleepInterval']);
      locker.lockAcquireSleepIntervalMs = a.int('lockAcquireSleepInterval', locker.lockAcquireSleepIntervalMs, 10, 3_600_000);
    }
  }
}

/**
 * `<persistenceAdapter>`'s one store element: its directory, and with `<replicatedLevelDB>` the replication
 * settings (null for the shared-store kinds).
 */
export function readStore(
  ctx: Ctx,
  path: string,
  node: XNode,
  locker: LockerConfig,
): { dir: string | undefined; replication: ReplicatedStoreConfig | null } {
  let dir: string | undefined;
  let replication: ReplicatedStoreConfig | null = null;
  let found = 0;
  for (const [name, list] of children(node)) {
    if (name === 'replicatedLevelDB') {
      for (const n of list) {
        if (++found > 1) ctx.fail(`${path}<${name}>`, 'only one store may be configured');
        ({ directory: dir, replication } = readReplicatedLevelDB(ctx, `${path}<${name}>`, n));
      }
      continue;
    }
    if (name !== 'levelDB' && name !== 'kahaDB') {
      ctx.warn(`${path}<${name}> is not supported by ferrymq; ignored (the store is levelDB)`);
      continue;
    }
    for (const n of list) {
      if (++found > 1) ctx.fail(`${path}<${name}>`, 'only one store may be configured');
      // kahaDB is accepted as a synonym: the tutorial uses it and ferrymq has one store format.
      const a = new Attrs(ctx, `${path}<${name}>`, n, ['directory', 'lockKeepAlivePeriod', 'lockAcquireSleepInterval']);
      const d = a.dir('directory');
      locker.lockKeepAlivePeriodMs = a.int('lockKeepAlivePeriod', locker.lockKeepAlivePeriodMs, 0, 3_600_000);
      locker.lockAcquireSleepIntervalMs = a.int('lockAcquireSleepInterval', locker.lockAcquireSleepIntervalMs, 10, 3_600_000);
      for (const [cn, cl] of children(n)) {
        if (cn === 'locker') for (const l of cl) readLocker(ctx, `${path}<${name}><locker>`, l, locker);
        else ctx.warn(`${path}<${name}><${cn}> is not supported by ferrymq; ignored`);
      }
      dir = d;
    }
  }
  return { dir, replication };
}

