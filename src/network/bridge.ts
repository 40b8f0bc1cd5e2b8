import type { Broker } from '../broker/broker.js';
import { networkAccept } from '../broker/network-filter.js';
import type { ConsumerAdvisory } from '../broker/advisory.js';
import type { BrokerMessage } from '../model/message.js';
import type { Session } from '../broker/session.js';
import type { DeliverySink, Subscription } from '../broker/subscription.js';
import { type Connection, type ConnectionStatus, connect } from '../client/connection.js';
import { ConnectionClosedError, SecurityError } from '../errors.js';
import { SYSTEM_PRINCIPAL } from '../broker/hooks.js';
import type { TlsClientOptions } from '../transport/tls.js';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../log.js';
import type { SendCmd } from '../protocol/commands.js';
import { DuplexPulls } from './duplex.js';
import { type DestinationFilter, matchesAny } from './filter.js';

/** ActiveMQ lowers a network consumer's priority so local consumers win while they have credit. */
export const NETWORK_CONSUMER_PRIORITY = -5;
/**
 * A peer away longer than this gets its unanswered forwards taken back: they go to another route (the slave that
 * took over, local consumers) flagged redelivered, instead of waiting for a broker that may never return. A
 * shorter blip keeps them, and the resend after the reconnect is deduplicated by the peer.
 */
export const RELEASE_IN_FLIGHT_AFTER_MS = 1000;
const ADVISORY_TOPIC = 'topic://ActiveMQ.Advisory.Consumer.>';

export interface BridgeOptions {
  /** The network connector's name, for logs. */
  name: string;
  /** The peer connection's URL: a `failover:(…)` URL with the connector's back-off. */
  url: string;
  /** The peer as the configuration names it, for logs: `tcp://127.0.0.1:61617`, or the master/slave list. */
  peer: string;
  /** @default 1 */
  networkTTL: number;
  /** @default true */
  decreaseNetworkConsumerPriority: boolean;
  /** Credit of each network consumer. @default 1000 */
  prefetchSize: number;
  excluded: readonly DestinationFilter[];
  /** Empty: every destination. */
  dynamicallyIncluded: readonly DestinationFilter[];
  /** Forwarded whether or not the peer has consumers. */
  staticallyIncluded: readonly DestinationFilter[];
  /**
   * One connection both ways: the bridge also subscribes on the peer, as a network consumer, to what this broker's
   * consumers want, and republishes it here. Configure it on one side only. @default false
   */
  duplex: boolean;
  /** Credentials for the peer's authentication (the connector's userName/password). @default none */
  user?: string | undefined;
  password?: string | undefined;
  /** ssl:// peers: this broker's certificate and trusted CAs (its `<sslContext>`). */
  tls?: TlsClientOptions | undefined;
}

/** A peer that refused the bridge's credentials is asked again this long after (its users may change meanwhile). */
export const RETRY_AFTER_REFUSAL_MS = 5000;

/** One destination the peer wants: the remote consumers behind it and the local network consumer serving them. */
interface Demand {
  dest: string;
  /** Remote consumer id -> the demand's path (nearest broker last). */
  remote: Map<string, readonly string[]>;
  static: boolean;
  sid: number;
  sub: Subscription | null;
  sink: DemandSink;
  /** Forwards waiting for the peer's answer. */
  inflight: number;
  /** Tags of forwards the peer has answered, acked here together at the end of this turn of the event loop. */
  acks: number[];
  /** No more remote consumers: stop taking messages, close once the in-flight ones are settled. */
  closing: boolean;
}

/** What the bridge shows (dstat, console, logs). */
export interface BridgeState {
  name: string;
  url: string;
  up: boolean;
  remoteBroker: string | null;
  forwarded: number;
  demand: { dest: string; consumers: number; inflight: number }[];
}

/**
 * A network bridge to one peer (ActiveMQ's DemandForwardingBridge): it watches the peer's consumers through its
 * consumer advisories and, for each destination with remote demand, consumes here with a network consumer (lower
 * priority than local ones, conduit: one per destination) whose messages it sends to the peer. A message is acked
 * here only once the peer has it (stored, when persistent), so nothing is lost across a bridge; the peer
 * connection is a failover connection, so a resend after a reconnect keeps its producer id and sequence and the
 * peer's duplicate audit stores it once.
 *
 * Loops: messages carry the brokers they passed through; a message is never sent to a broker on its path (except
 * a queue message this broker has no local consumer for: ActiveMQ's replayWhenNoConsumers, on here, hop-capped)
 * nor beyond networkTTL hops; demand whose path holds this broker or is longer than networkTTL is ignored.
 */
export class NetworkBridge {
  private conn: Connection | null = null;
  private session: Session | null = null;
  private readonly demand = new Map<string, Demand>();
  private nextSid = 1;
  private up = false;
  private remoteName: string | null = null;
  /** Remote consumer ids not yet seen again since a reconnect; dropped at the snapshot's `sync`. */
  private stale: Set<string> | null = null;
  private forwarded = 0;
  private readonly abort = new AbortController();
  private redial: (() => void) | null = null;
  private releaseTimer: NodeJS.Timeout | null = null;
  /** duplex: what this broker's consumers pull from the peer over the same connection. */
  private pulls: DuplexPulls | null = null;
  /** Called when the peer goes away (a static connector then hurries its other bridges). */
  onPeerLost: (() => void) | null = null;
  private stopped = false;
  private readonly log: Logger;
  /** The path of a message produced here, shared by all of them. */
  private readonly ownPath: string[];
  /** Demands with answered forwards not acked yet, and whether their ack is scheduled. */
  private readonly answered = new Set<Demand>();
  private ackScheduled = false;
  private readonly ackAnsweredFn = (): void => this.ackAnswered();

  constructor(
    private readonly broker: Broker,
    private readonly opts: BridgeOptions,
    logger: Logger,
  ) {
    this.log = logger.child({ module: 'bridge', bridge: opts.name, peer: opts.peer });
    this.ownPath = [broker.name];
  }

  /** Start dialling the peer; resolves at once (a peer that is down is retried with back-off). */
  start(): void {
    // The local side acts as the broker itself (ActiveMQ's system context): no authorization asked here.
    this.session = this.broker.createSession({ clientId: `bridge:${this.opts.name}`, remote: this.opts.peer, protocol: 'bridge', sink: NO_SINK }, SYSTEM_PRINCIPAL);
    if (this.opts.duplex) this.pulls = new DuplexPulls(this.broker, this.session, this.opts, this.log, () => this.remoteName);
    for (const f of this.opts.staticallyIncluded) if (!isWildcardFilter(f)) this.want(f.dest, null, []);
    this.log.info('network bridge %s to %s starting', this.opts.name, this.opts.peer);
    void this.run();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.abort.abort();
    if (this.releaseTimer !== null) clearTimeout(this.releaseTimer);
    this.pulls?.stop();
    this.session?.close();
    this.demand.clear();
    const c = this.conn;
    this.conn = null;
    if (c !== null) await c.close().catch(() => {});
  }

  private scheduleRelease(): void {
    if (this.releaseTimer !== null) return;
    this.releaseTimer = setTimeout(() => {
      this.releaseTimer = null;
      if (this.up || this.stopped || this.conn === null) return;
      const n = this.conn.abandonSends(`peer ${this.remoteName ?? this.opts.peer} gone`);
      if (n > 0) this.log.warn({ messages: n }, 'network bridge %s: %d unanswered forwards given back for another route', this.opts.name, n);
    }, RELEASE_IN_FLIGHT_AFTER_MS);
    this.releaseTimer.unref();
  }

  /** Dial the peer now if the bridge is waiting out a back-off. */
  redialNow(): void {
    if (!this.up) this.redial?.();
  }

  state(): BridgeState {
    return {
      name: this.opts.name,
      url: this.opts.peer,
      up: this.up,
      remoteBroker: this.remoteName,
      forwarded: this.forwarded,
      demand: [...this.demand.values()].map((d) => ({ dest: d.dest, consumers: d.remote.size, inflight: d.inflight })),
    };
  }

  private async run(): Promise<void> {
    let conn: Connection;
    for (;;) {
      try {
        conn = await connect(this.opts.url, {
          clientId: `bridge:${this.broker.name}:${this.opts.name}`,
          signal: this.abort.signal,
          onDialer: (redial) => (this.redial = redial),
          onStatus: (s) => this.onStatus(s),
          ...(this.opts.user !== undefined ? { user: this.opts.user, password: this.opts.password ?? '' } : {}),
          ...(this.opts.tls !== undefined ? { tls: this.opts.tls } : {}),
        });
        break;
      } catch (err) {
        if (this.stopped) return;
        if (!(err instanceof SecurityError)) {
          this.log.error({ err }, 'network bridge %s gave up: %s', this.opts.name, (err as Error).message);
          return;
        }
        this.log.error(
          { err: err.message, user: this.opts.user },
          'network bridge %s refused by %s: %s (set userName/password on the networkConnector); retrying in %d ms',
          this.opts.name, this.opts.peer, err.message, RETRY_AFTER_REFUSAL_MS,
        );
        await sleep(RETRY_AFTER_REFUSAL_MS, undefined, { signal: this.abort.signal }).catch(() => {});
        if (this.stopped) return;
      }
    }
    if (this.stopped) return void conn.close();
    this.conn = conn;
    if (!this.connected(conn)) return;
    try {
      const sub = await conn.subscribe(ADVISORY_TOPIC, { prefetch: 10_000 });
      for await (const m of sub) this.onAdvisory(m.body as ConsumerAdvisory);
    } catch (err) {
      if (!this.stopped) this.log.error({ err }, 'network bridge %s: advisory subscription failed', this.opts.name);
    }
  }

  /** A (re)connection: check who answered, then forward again. @returns false when the bridge must not run. */
  private connected(conn: Connection): boolean {
    const remote = conn.brokerName;
    if (remote === this.broker.name) {
      this.log.error(
        'network connector %s reaches broker %s, which is this broker (or one with the same brokerName): bridge stopped',
        this.opts.name,
        remote,
      );
      void this.stop();
      return false;
    }
    if (this.remoteName !== null && this.remoteName !== remote) this.log.info({ was: this.remoteName, now: remote }, 'peer is now broker %s', remote);
    this.remoteName = remote;
    this.up = true;
    this.log.info({ remoteBroker: remote, url: conn.connectedUrl }, 'network bridge %s up: %s -> %s at %s', this.opts.name, this.broker.name, remote, conn.connectedUrl);
    for (const d of this.demand.values()) d.sub?.source.dispatch();
    this.pulls?.connected(conn);
    return true;
  }

  private onStatus(s: ConnectionStatus): void {
    if (this.stopped) return;
    switch (s.type) {
      case 'interrupted':
        if (this.up) this.log.warn({ err: s.error.message }, 'network bridge %s down: lost %s; reconnecting', this.opts.name, s.url);
        if (this.up) this.onPeerLost?.();
        this.up = false;
        this.scheduleRelease();
        // What the peer wanted before may have gone with it: whatever its snapshot does not repeat is dropped.
        this.stale = new Set();
        for (const d of this.demand.values()) for (const id of d.remote.keys()) this.stale.add(id);
        return;
      case 'resumed':
        if (this.conn !== null) this.connected(this.conn);
        return;
      case 'reconnecting':
        this.log.debug({ attempt: s.attempt, delayMs: s.delayMs }, 'network bridge redialling');
        return;
      case 'failed':
        this.log.error({ err: s.error.message }, 'network bridge %s failed', this.opts.name);
        this.up = false;
        return;
      default:
        return;
    }
  }

  private onAdvisory(a: ConsumerAdvisory): void {
    if (a === null || typeof a !== 'object') return;
    if (a.op === 'sync') {
      const stale = this.stale;
      this.stale = null;
      if (stale !== null) for (const id of stale) this.unwant(id);
      return;
    }
    if (a.op === 'remove') return this.unwant(a.id);
    if (a.op !== 'add') return;
    this.stale?.delete(a.id);
    const path = Array.isArray(a.path) ? a.path : [];
    // Loops and reach: never demand that came through us, nor from further than networkTTL.
    if (path.includes(this.broker.name) || path.length > this.opts.networkTTL) return;
    if (!this.permitted(a.dest)) return;
    this.want(a.dest, a.id, path);
  }

  private permitted(dest: string): boolean {
    if (dest.startsWith('temp-queue://')) return false;
    if (matchesAny(this.opts.excluded, dest)) return false;
    if (matchesAny(this.opts.staticallyIncluded, dest)) return true;
    return this.opts.dynamicallyIncluded.length === 0 || matchesAny(this.opts.dynamicallyIncluded, dest);
  }

  /** Remote consumer `id` (null: a statically included destination) wants `dest`. */
  private want(dest: string, id: string | null, path: readonly string[]): void {
    let d = this.demand.get(dest);
    if (d !== undefined && d.sub !== null) {
      if (id !== null) d.remote.set(id, path);
      if (d.closing) {
        d.closing = false;
        d.sub.source.dispatch();
      }
      return;
    }
    d = {
      dest,
      remote: new Map(),
      static: id === null,
      sid: this.nextSid++,
      sub: null,
      sink: null as unknown as DemandSink,
      inflight: 0,
      acks: [],
      closing: false,
    };
    if (id !== null) d.remote.set(id, path);
    d.sink = new DemandSink(this, d);
    this.demand.set(dest, d);
    const hops = Math.max(1, path.length);
    const priority = NETWORK_CONSUMER_PRIORITY - (this.opts.decreaseNetworkConsumerPriority ? hops - 1 : 0);
    const demand = d;
    // Answered at once (this session only consumes, so flow control never holds it), before the first delivery.
    this.session!.subscribe(
      {
        sid: d.sid,
        dest,
        ack: 'individual',
        prefetch: this.opts.prefetchSize,
        priority,
        network: {
          path,
          accept: networkAccept(dest, () => this.remoteName, this.opts.networkTTL, () => this.broker.localConsumers(dest)),
        },
        sink: d.sink,
      },
      (err, sub) => {
        if (err !== null) {
          this.demand.delete(dest);
          this.log.warn({ err, dest }, 'cannot forward %s: %s', dest, err.message);
          return;
        }
        demand.sub = sub;
        this.log.info({ dest, priority, path }, 'demand for %s from %s: forwarding', dest, this.remoteName ?? this.opts.peer);
      },
    );
  }

  private unwant(id: string): void {
    for (const d of this.demand.values()) {
      if (!d.remote.delete(id) || d.remote.size > 0 || d.static) continue;
      this.log.info({ dest: d.dest }, 'no more demand for %s from %s', d.dest, this.remoteName ?? this.opts.peer);
      d.closing = true;
      this.closeIfSettled(d);
    }
  }

  private closeIfSettled(d: Demand): void {
    if (!d.closing || d.inflight > 0 || d.acks.length > 0 || d.sub === null || this.stopped) return;
    this.session!.unsubscribe(d.sid);
    this.demand.delete(d.dest);
  }

  /** @internal a network consumer's delivery: send it on, ack here once the peer has it. */
  forward(d: Demand, msg: BrokerMessage, tag: number): void {
    const conn = this.conn;
    if (conn === null || this.stopped) return; // the session is closing: it gives the message back
    d.inflight++;
    // One object per message; optional fields only when set (nothing on the wire for what is absent).
    const cmd: SendCmd = {
      t: 'SEND',
      dest: msg.dest,
      body: msg.body,
      bt: msg.bt,
      persistent: msg.persistent,
      priority: msg.priority,
      mid: msg.id,
      ts: msg.timestamp,
      path: msg.path === undefined ? this.ownPath : [...msg.path, this.broker.name],
    };
    if (msg.deliveryCount > 1) cmd.rd = true;
    if (msg.expires !== 0) cmd.exp = msg.expires;
    if (msg.headers !== undefined) cmd.headers = msg.headers;
    if (msg.correlationId !== undefined) cmd.correlationId = msg.correlationId;
    if (msg.replyTo !== undefined) cmd.replyTo = msg.replyTo;
    conn.forward(cmd, (err) => this.settled(d, tag, err));
  }

  private settled(d: Demand, tag: number, err: Error | null): void {
    d.inflight--;
    if (this.stopped || d.sub === null || d.sub.closed) return;
    if (err === null) {
      // The peer has it (stored, when persistent): acked here, so it leaves this broker's store. The peer's answers
      // come in bursts (one per batch it stored): acked together, they make one call to the queue and one dispatch
      // instead of one each per message. The ack still follows the answer, so a crash in between redelivers (the
      // message comes back flagged redelivered) and loses nothing.
      d.acks.push(tag);
      this.answered.add(d);
      if (!this.ackScheduled) {
        this.ackScheduled = true;
        // After this turn's I/O: every answer read from the socket meanwhile joins the same ack.
        setImmediate(this.ackAnsweredFn);
      }
      return;
    }
    if (err instanceof ConnectionClosedError) {
      // Given back (the peer is gone): not the message's fault, so it does not count towards the DLQ.
      this.session!.release(d.sid, tag);
    } else {
      this.log.warn({ err: err.message, dest: d.dest }, 'peer refused a forwarded message; it will be redelivered');
      this.session!.nack(d.sid, tag, false);
    }
    this.closeIfSettled(d);
  }

  /** Ack every forward answered since the last call: per demand, one ack of all their tags. */
  private ackAnswered(): void {
    this.ackScheduled = false;
    // Taken out first: an ack frees credit, the dispatch it starts forwards more, and a forward answered at once
    // (non-persistent) lands in the set again, for the next turn.
    const demands = [...this.answered];
    this.answered.clear();
    for (const d of demands) {
      const tags = d.acks;
      d.acks = [];
      if (this.stopped || d.sub === null || d.sub.closed) continue;
      this.forwarded += tags.length;
      this.broker.countForwarded(d.dest, tags.length);
      this.session!.ackEach(d.sid, tags);
      this.closeIfSettled(d);
    }
  }

  /** @internal deliveries pause while the peer is away or the demand is going. */
  blocked(d: Demand): boolean {
    return !this.up || d.closing;
  }
}

/** Deliveries of one demand's network consumer. */
class DemandSink implements DeliverySink {
  constructor(
    private readonly bridge: NetworkBridge,
    private readonly d: Demand,
  ) {}

  get congested(): boolean {
    return this.bridge.blocked(this.d);
  }

  deliver(_sub: Subscription, msg: BrokerMessage, tag: number): void {
    this.bridge.forward(this.d, msg, tag);
  }
}

const NO_SINK: DeliverySink = {
  deliver() {
    throw new Error('network bridge session: delivery without a demand sink');
  },
};

function isWildcardFilter(f: DestinationFilter): boolean {
  return /(^|\.)[*>](\.|$)/.test(f.dest.slice(f.dest.indexOf('://') + 3));
}
