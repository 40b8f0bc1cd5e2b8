import type { Broker, ConnectionView, DurableView } from '../broker/broker.js';
import type { BridgeState } from '../network/bridge.js';
import type { DestinationStats } from '../protocol/commands.js';
import { VERSION } from '../version.js';
import type { RateHistory } from './rates.js';
import { describeRole, type NodeRole, type RoleProvider } from './role.js';

/** What the console reads from its node: all of it is asked for on each request, never copied at start. */
export interface ConsoleSources {
  broker: Broker;
  /** The store's kind and directory, as configured. */
  store: { kind: string; directory: string };
  role: RoleProvider;
  connectors(): { name: string; url: string; connections: number }[];
  networkConnectors(): { name: string; uri: string; bridges: BridgeState[] }[];
}

export interface BrokerView {
  name: string;
  version: string;
  uptimeSeconds: number;
  role: NodeRole;
  roleText: string;
  /** False on a slave waiting for the lock, and while the node starts or stops. */
  running: boolean;
  connectors: { name: string; url: string; connections: number }[];
  memory: { usedBytes: number; limitBytes: number; percent: number };
  store: { kind: string; directory: string; bytes: number | null };
  process: { rssBytes: number; heapUsedBytes: number };
  counts: { queues: number; topics: number; connections: number; durableSubscribers: number; bridges: number; bridgesUp: number };
  duplicatesDropped: number;
}

export interface DestinationRow {
  /** The name without its prefix, as it appears in the API's paths. */
  name: string;
  /** `queue://NAME` or `topic://NAME`. */
  dest: string;
  pending: number;
  inflight: number;
  consumers: number;
  producers: number;
  enqueued: number;
  dequeued: number;
  forwarded: number;
  memoryBytes: number;
  /** Messages per second over the last second. */
  rateIn: number;
  rateOut: number;
}

/** Builds the JSON the pages and the API show. */
export class Views {
  constructor(
    private readonly src: ConsoleSources,
    private readonly rates: RateHistory,
    private readonly startedAtMs: number,
    /** Bytes under the store directory, measured now and then (null until the first measurement). */
    private readonly storeBytes: () => number | null,
  ) {}

  broker(stats: readonly DestinationStats[] = this.src.broker.stats()): BrokerView {
    const b = this.src.broker;
    const role = this.src.role.role();
    const nets = this.src.networkConnectors();
    const bridges = nets.flatMap((n) => n.bridges);
    const mem = process.memoryUsage();
    const running = b.running;
    return {
      name: b.name,
      version: VERSION,
      uptimeSeconds: Math.round((Date.now() - this.startedAtMs) / 1000),
      role,
      roleText: describeRole(role),
      running,
      connectors: this.src.connectors(),
      memory: { usedBytes: b.memoryUsage, limitBytes: b.memoryLimit, percent: Math.round((b.memoryUsage / b.memoryLimit) * 1000) / 10 },
      store: { ...this.src.store, bytes: this.storeBytes() },
      process: { rssBytes: mem.rss, heapUsedBytes: mem.heapUsed },
      counts: {
        queues: stats.filter(isQueue).length,
        topics: stats.filter((s) => s.kind === 'topic').length,
        connections: running ? b.sessionCount : 0,
        durableSubscribers: running ? b.durableSubscriptions().length : 0,
        bridges: bridges.length,
        bridgesUp: bridges.filter((x) => x.up).length,
      },
      duplicatesDropped: b.duplicates,
    };
  }

  queues(stats: readonly DestinationStats[] = this.src.broker.stats()): DestinationRow[] {
    return stats.filter(isQueue).map((s) => this.row(s));
  }

  topics(stats: readonly DestinationStats[] = this.src.broker.stats()): DestinationRow[] {
    return stats.filter((s) => s.kind === 'topic').map((s) => this.row(s));
  }

  durables(): DurableView[] {
    return this.src.broker.durableSubscriptions();
  }

  connections(): ConnectionView[] {
    return this.src.broker.connections();
  }

  network(): { name: string; uri: string; bridges: BridgeState[] }[] {
    return this.src.networkConnectors();
  }

  private row(s: DestinationStats): DestinationRow {
    const r = this.rates.latest.get(s.name);
    return {
      name: s.name.slice(s.name.indexOf('://') + 3),
      dest: s.name,
      pending: s.queueSize,
      inflight: s.inflight,
      consumers: s.consumerCount,
      producers: s.producerCount,
      enqueued: s.enqueueCount,
      dequeued: s.dequeueCount,
      forwarded: s.forwardCount ?? 0,
      memoryBytes: s.memoryBytes,
      rateIn: r?.in ?? 0,
      rateOut: r?.out ?? 0,
    };
  }
}

/** Ordinary queues: durable subscriptions' queues show on the topics page, temporary queues nowhere. */
function isQueue(s: DestinationStats): boolean {
  return s.kind === 'queue' && s.name.startsWith('queue://');
}
