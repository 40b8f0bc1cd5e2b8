/**
 * `<replicatedLevelDB>`: ActiveMQ 5.9–5.16's replicated LevelDB store, read in its own vocabulary. Three (or any
 * odd number of) nodes join one ZooKeeper group; the elected master serves clients and streams its store writes
 * to the others, and a persistent send is answered once a quorum (replicas/2+1, the master included) holds it.
 */
import { parseEndpointUri } from '../transport/uri.js';
import { Attrs, type Ctx, type XNode, children } from './xml.js';

/** When a write counts as held by a node (ActiveMQ's `sync`, the values ferrymq implements). */
export type ReplicationSync = 'quorum_mem' | 'quorum_disk' | 'local_disk';
export const REPLICATION_SYNC_VALUES: readonly ReplicationSync[] = ['quorum_mem', 'quorum_disk', 'local_disk'];

/** @default 3 */
export const DEFAULT_REPLICAS = 3;
/** Where the replication listener binds: loopback, a free port (ActiveMQ: tcp://0.0.0.0:61619). */
export const DEFAULT_REPLICATION_BIND = 'tcp://127.0.0.1:0';
export const DEFAULT_ZK_ADDRESS = '127.0.0.1:2181';
export const DEFAULT_ZK_PATH = '/ferrymq/leveldb-stores';
/**
 * ZooKeeper session timeout, ms (ActiveMQ's zkSessionTimeout, "2s"): a master that dies is noticed, and a new one
 * elected, once its session expires. @default 2000
 */
export const DEFAULT_ZK_SESSION_TIMEOUT_MS = 2000;

export interface ReplicatedStoreConfig {
  /** Nodes in the group, the master included; the quorum is replicas/2+1. @default 3 */
  replicas: number;
  /** Replication listener (host and port; port 0 picks a free one). @default tcp://127.0.0.1:0 */
  bind: { host: string; port: number };
  /** ZooKeeper connect string, `host:port[,host:port…]`. @default 127.0.0.1:2181 */
  zkAddress: string;
  /** The group's znode. @default /ferrymq/leveldb-stores */
  zkPath: string;
  /** @default 2000 */
  zkSessionTimeoutMs: number;
  /** The host replicas dial to reach this node's replication listener. @default the bind host (127.0.0.1 for 0.0.0.0) */
  hostname: string;
  /** @default quorum_mem (ActiveMQ's default) */
  sync: ReplicationSync;
}

/** `2s`, `2000ms`, `2000`: ActiveMQ writes durations with a unit; a bare number is ms. */
function parseDurationMs(v: string): number | undefined {
  const m = /^\s*(\d{1,9})\s*(ms|s)?\s*$/.exec(v);
  if (!m) return undefined;
  return Number(m[1]) * (m[2] === 's' ? 1000 : 1);
}

const ZK_ADDRESS = /^[A-Za-z0-9_.:[\]-]+:\d{1,5}(,[A-Za-z0-9_.:[\]-]+:\d{1,5})*$/;

/**
 * Read one `<replicatedLevelDB>` element: its directory (returned) and its replication settings.
 * @throws ConfigError naming the file, element, attribute and value
 */
export function readReplicatedLevelDB(ctx: Ctx, path: string, n: XNode): { directory: string | undefined; replication: ReplicatedStoreConfig } {
  const a = new Attrs(ctx, path, n, ['directory', 'replicas', 'bind', 'zkAddress', 'zkPath', 'zkSessionTimeout', 'hostname', 'sync']);
  const directory = a.dir('directory');
  const replicas = a.int('replicas', DEFAULT_REPLICAS, 1, 15);
  const bindRaw = a.nonEmpty('bind') ?? DEFAULT_REPLICATION_BIND;
  let bind: { host: string; port: number };
  try {
    const e = parseEndpointUri(bindRaw);
    if (e.scheme !== 'tcp') throw new Error('expected tcp://host:port');
    bind = { host: e.host, port: e.port };
  } catch (err) {
    return ctx.failAttr(path, 'bind', bindRaw, `${(err as Error).message}; expected e.g. tcp://127.0.0.1:0`);
  }
  const zkAddress = a.nonEmpty('zkAddress') ?? DEFAULT_ZK_ADDRESS;
  if (!ZK_ADDRESS.test(zkAddress)) ctx.failAttr(path, 'zkAddress', zkAddress, 'expected host:port[,host:port…], e.g. 127.0.0.1:2181');
  const zkPath = a.nonEmpty('zkPath') ?? DEFAULT_ZK_PATH;
  if (!/^(\/[A-Za-z0-9_.-]+)+$/.test(zkPath)) ctx.failAttr(path, 'zkPath', zkPath, 'expected an absolute znode path such as /ferrymq/leveldb-stores');
  const timeoutRaw = a.nonEmpty('zkSessionTimeout');
  let zkSessionTimeoutMs = DEFAULT_ZK_SESSION_TIMEOUT_MS;
  if (timeoutRaw !== undefined) {
    const ms = parseDurationMs(timeoutRaw);
    // ZooKeeper clamps sessions to 2..20 ticks of its server; below a second a busy machine expires healthy nodes.
    if (ms === undefined || ms < 1000 || ms > 600_000) ctx.failAttr(path, 'zkSessionTimeout', timeoutRaw, 'must be a duration of 1s..600s, e.g. "2s" or "2000"');
    zkSessionTimeoutMs = ms;
  }
  const syncRaw = a.nonEmpty('sync') ?? 'quorum_mem';
  const sync = syncRaw.toLowerCase() as ReplicationSync;
  if (!REPLICATION_SYNC_VALUES.includes(sync)) {
    ctx.failAttr(path, 'sync', syncRaw, `must be one of ${REPLICATION_SYNC_VALUES.join(', ')}`);
  }
  const hostname = a.nonEmpty('hostname') ?? (bind.host === '0.0.0.0' || bind.host === '::' ? '127.0.0.1' : bind.host);
  if (!/^[A-Za-z0-9_.:-]+$/.test(hostname)) ctx.failAttr(path, 'hostname', hostname, 'not a host name or IP');
  for (const [cn] of children(n)) ctx.warn(`${path}<${cn}> is not supported by ferrymq; ignored`);
  return { directory, replication: { replicas, bind, zkAddress, zkPath, zkSessionTimeoutMs, hostname, sync } };
}
