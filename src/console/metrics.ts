import type { Counter, Gauge, Registry } from 'prom-client';
import type { Views } from './views.js';

type PromClient = typeof import('prom-client');

interface Metrics {
  registry: Registry;
  update(): void;
}

/**
 * `/metrics` in Prometheus text format. prom-client takes about a quarter of a second to load, so it is loaded on
 * the first scrape rather than at broker start. Values are read from the broker when scraped; counters are set to
 * the broker's own totals (they restart from zero with the broker, as Prometheus expects of a counter).
 */
export class PrometheusMetrics {
  private metrics: Promise<Metrics> | null = null;

  constructor(private readonly views: Views) {}

  /** The exposition text and its content type. */
  async scrape(): Promise<{ contentType: string; text: string }> {
    this.metrics ??= import('prom-client').then((p) => this.build(p));
    const m = await this.metrics;
    m.update();
    return { contentType: m.registry.contentType, text: await m.registry.metrics() };
  }

  private build(p: PromClient): Metrics {
    const registry = new p.Registry();
    p.collectDefaultMetrics({ register: registry, prefix: 'ferrymq_' });
    const dl = ['destination', 'kind'] as const;
    const g = (name: string, help: string, labelNames: readonly string[] = []): Gauge => new p.Gauge({ name, help, labelNames, registers: [registry] });
    const c = (name: string, help: string, labelNames: readonly string[] = []): Counter => new p.Counter({ name, help, labelNames, registers: [registry] });
    const pending = g('ferrymq_destination_pending_messages', 'Messages waiting or in flight (dstat Queue Size)', dl);
    const inflight = g('ferrymq_destination_inflight_messages', 'Messages delivered and not yet acknowledged', dl);
    const consumers = g('ferrymq_destination_consumers', 'Consumers (Consumer #)', dl);
    const producers = g('ferrymq_destination_producers', 'Producers (Producer #)', dl);
    const memory = g('ferrymq_destination_memory_bytes', 'Bytes of messages held in memory', dl);
    const enqueued = c('ferrymq_destination_enqueued_messages_total', 'Messages received (Enqueue #)', dl);
    const dequeued = c('ferrymq_destination_dequeued_messages_total', 'Messages acknowledged, purged or expired (Dequeue #)', dl);
    const forwarded = c('ferrymq_destination_forwarded_messages_total', 'Messages forwarded over network bridges (Forward #)', dl);
    const connections = g('ferrymq_connections', 'Open connections, bridges included');
    const connectorConns = g('ferrymq_connector_connections', 'Open connections per transport connector', ['connector']);
    const durables = g('ferrymq_durable_subscribers', 'Durable topic subscriptions', ['state']);
    const bridgeUp = g('ferrymq_bridge_up', '1 while a network bridge is connected to its peer', ['connector', 'bridge', 'remote_broker']);
    const bridgeFwd = c('ferrymq_bridge_forwarded_messages_total', 'Messages a network bridge forwarded', ['connector', 'bridge']);
    const bridgeDemand = g('ferrymq_bridge_demand_destinations', 'Destinations a bridge forwards because the peer has consumers', ['connector', 'bridge']);
    const storeBytes = g('ferrymq_store_bytes', 'Bytes under the store directory (measured every few seconds)');
    const memUsed = g('ferrymq_memory_used_bytes', 'Bytes of messages held in memory, all destinations');
    const memLimit = g('ferrymq_memory_limit_bytes', 'systemUsage memory limit');
    const role = g('ferrymq_role', '1 for the role this node has now', ['role']);
    const up = g('ferrymq_broker_running', '1 while the broker serves (0 on a slave waiting for the lock)');
    const update = (): void => {
      for (const m of [pending, inflight, consumers, producers, memory, enqueued, dequeued, forwarded, connectorConns, durables, bridgeUp, bridgeFwd, bridgeDemand, role]) m.reset();
      const b = this.views.broker();
      const rows = [...this.views.queues(), ...this.views.topics()];
      for (const r of rows) {
        const l = { destination: r.name, kind: r.dest.startsWith('topic://') ? 'topic' : 'queue' };
        pending.set(l, r.pending);
        inflight.set(l, r.inflight);
        consumers.set(l, r.consumers);
        producers.set(l, r.producers);
        memory.set(l, r.memoryBytes);
        enqueued.inc(l, r.enqueued);
        dequeued.inc(l, r.dequeued);
        forwarded.inc(l, r.forwarded);
      }
      connections.set(b.counts.connections);
      for (const cn of b.connectors) connectorConns.set({ connector: cn.name }, cn.connections);
      const ds = b.running ? this.views.durables() : [];
      durables.set({ state: 'active' }, ds.filter((d) => d.active).length);
      durables.set({ state: 'offline' }, ds.filter((d) => !d.active).length);
      for (const n of this.views.network()) {
        for (const br of n.bridges) {
          bridgeUp.set({ connector: n.name, bridge: br.name, remote_broker: br.remoteBroker ?? '' }, br.up ? 1 : 0);
          bridgeFwd.inc({ connector: n.name, bridge: br.name }, br.forwarded);
          bridgeDemand.set({ connector: n.name, bridge: br.name }, br.demand.length);
        }
      }
      if (b.store.bytes !== null) storeBytes.set(b.store.bytes);
      memUsed.set(b.memory.usedBytes);
      memLimit.set(b.memory.limitBytes);
      role.set({ role: b.role.kind }, 1);
      up.set(b.running ? 1 : 0);
    };
    return { registry, update };
  }
}
