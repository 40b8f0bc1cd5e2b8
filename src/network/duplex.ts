import type { Broker } from '../broker/broker.js';
import type { ConsumerInfo } from '../broker/events.js';
import type { Session } from '../broker/session.js';
import type { Connection } from '../client/connection.js';
import type { Message } from '../client/message.js';
import type { Subscription } from '../client/subscription.js';
import type { Logger } from '../log.js';
import type { BridgeOptions } from './bridge.js';
import { NETWORK_CONSUMER_PRIORITY } from './bridge.js';
import { matchesAny } from './filter.js';

/** One destination this broker's consumers want from the peer. */
interface Pull {
  consumers: Set<string>;
  sub: Subscription | null;
}

/**
 * The return direction of a duplex bridge, over the bridge's own connection: for every destination this broker's
 * consumers want (seen through its consumer events), a network subscription on the peer — priority −5, and the
 * peer delivers nothing that came through this broker — whose messages are republished here, keeping their id,
 * timestamp, expiry and path, and acked on the peer once this broker has them (stored, when persistent). A resend
 * after a reconnect of a message already acked is dropped by the failover connection itself.
 */
export class DuplexPulls {
  private readonly pulls = new Map<string, Pull>();
  private conn: Connection | null = null;
  private readonly off: (() => void)[] = [];
  private stopped = false;

  constructor(
    private readonly broker: Broker,
    private readonly session: Session,
    private readonly opts: BridgeOptions,
    private readonly log: Logger,
    private readonly peer: () => string | null,
  ) {
    this.off.push(broker.events.on('consumerAdded', (c) => this.added(c)));
    this.off.push(broker.events.on('consumerRemoved', (c) => this.removed(c)));
    for (const c of broker.consumers()) this.added(c);
  }

  /** The bridge (re)connected: subscriptions made before survive a reconnect by themselves; open the missing ones. */
  connected(conn: Connection): void {
    this.conn = conn;
    for (const [dest, p] of this.pulls) if (p.sub === null) this.open(dest, p);
  }

  stop(): void {
    this.stopped = true;
    for (const f of this.off) f();
    for (const p of this.pulls.values()) void p.sub?.close().catch(() => {});
    this.pulls.clear();
  }

  private added(c: ConsumerInfo): void {
    // Local consumers, and network consumers whose demand may travel one more hop; never demand from the peer.
    const peer = this.peer();
    if (c.network && (c.path.length + 1 > this.opts.networkTTL || (peer !== null && c.path.includes(peer)))) return;
    if (c.dest.startsWith('temp-queue://') || matchesAny(this.opts.excluded, c.dest)) return;
    if (this.opts.dynamicallyIncluded.length > 0 && !matchesAny(this.opts.dynamicallyIncluded, c.dest)) return;
    let p = this.pulls.get(c.dest);
    if (p === undefined) {
      p = { consumers: new Set(), sub: null };
      this.pulls.set(c.dest, p);
    }
    p.consumers.add(c.id);
    if (p.sub === null && this.conn !== null) this.open(c.dest, p);
  }

  private removed(c: ConsumerInfo): void {
    const p = this.pulls.get(c.dest);
    if (p === undefined || !p.consumers.delete(c.id) || p.consumers.size > 0) return;
    this.pulls.delete(c.dest);
    if (p.sub !== null) {
      this.log.info({ dest: c.dest }, 'duplex: no more local demand for %s; pulling stops', c.dest);
      void p.sub.close().catch(() => {});
    }
  }

  private open(dest: string, p: Pull): void {
    const conn = this.conn!;
    p.sub = null;
    const opening = conn.subscribe(dest, {
      ack: 'individual',
      prefetch: this.opts.prefetchSize,
      priority: NETWORK_CONSUMER_PRIORITY,
      network: { peer: this.broker.name, path: [], ttl: this.opts.networkTTL },
    });
    // A placeholder, so a second consumer does not open a second subscription while this one is on its way.
    p.sub = {} as Subscription;
    opening.then(
      (sub) => {
        if (this.stopped || this.pulls.get(dest) !== p) return void sub.close().catch(() => {});
        p.sub = sub;
        this.log.info({ dest }, 'duplex: pulling %s from %s for local consumers', dest, this.peer() ?? this.opts.peer);
        void this.pump(sub);
      },
      (err: Error) => {
        p.sub = null;
        this.log.warn({ err: err.message, dest }, 'duplex: cannot pull %s from the peer', dest);
      },
    );
  }

  private async pump(sub: Subscription): Promise<void> {
    try {
      for await (const m of sub) this.republish(m);
    } catch (err) {
      if (!this.stopped) this.log.warn({ err: (err as Error).message }, 'duplex: pull subscription ended');
    }
  }

  private republish(m: Message): void {
    const from = this.peer();
    const path = m.path === undefined ? [] : [...m.path];
    if (from !== null) path.push(from);
    this.session.send(
      {
        dest: m.destination,
        body: m.bytes,
        bt: m.bodyType,
        persistent: m.persistent,
        priority: m.priority,
        headers: Object.keys(m.headers).length > 0 ? m.headers : undefined,
        correlationId: m.correlationId,
        replyTo: m.replyTo,
        id: m.id,
        timestamp: m.timestamp,
        expires: m.expires,
        path,
      },
      (err) => {
        if (err) {
          this.log.warn({ err: err.message, dest: m.destination }, 'duplex: a pulled message was refused here; the peer redelivers it');
          m.nack();
        } else {
          this.broker.countForwarded(m.destination);
          m.ack();
        }
      },
    );
  }
}
