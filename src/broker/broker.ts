import { randomBytes } from 'node:crypto';
import { FerryError } from '../errors.js';
import type { Logger } from '../log.js';
import { type AckMode, BodyType, type BrokerInfo, type DestinationStats, type Headers } from '../protocol/commands.js';
import { VERSION } from '../version.js';
import type { PolicyEntry } from '../model/policy.js';
import type { MessageStore } from '../store/store.js';
import { isWildcard, parseConsumerDestination, parseDestination } from '../model/destination.js';
import { BrokerEvents, type ConnectionInfo, type ConsumerInfo } from './events.js';
import { ConsumerAdvisories, isAdvisory } from './advisory.js';
import { networkAccept } from './network-filter.js';
import { selectorFilter } from './filters.js';
import { type BrokerMessage, DEFAULT_PRIORITY, homeOf, type SendInput } from '../model/message.js';
import { now as clockNow } from './clock.js';

export type { SendInput } from '../model/message.js';
import { DEFAULT_PAGE_BYTES, DEFAULT_PAGE_MESSAGES, Queue, type QueueContext } from './queue.js';
import { type BrokerHooks, Hooks, type Principal } from './hooks.js';
import { Session, type SessionHost, type SessionOptions } from './session.js';
import type { DeliverySink, Subscription } from './subscription.js';
import { DLQ, Policies } from './policies.js';
import { DEFAULT_STORE_CHECK_MS, DEFAULT_STORE_LIMIT_BYTES, StoreUsage } from './store-usage.js';
import { SubscriberQueue, Topic, type TopicSubscriber } from './topic.js';
import { TopicRegistry } from './topics.js';

export { DLQ } from './policies.js';
/** @default 6, as ActiveMQ's RedeliveryPolicy. */
export const DEFAULT_MAXIMUM_REDELIVERIES = 6;
/** Producers whose last sequence the duplicate audit remembers (ActiveMQ: 64 producers per connection). */
export const DEFAULT_AUDIT_PRODUCERS = 65_536;
/** Memory for messages held in memory, all destinations together (ActiveMQ's systemUsage memoryUsage). */
export const DEFAULT_MEMORY_LIMIT_BYTES = 128 * 1024 * 1024;
const DURABLE_PREFIX = 'durable://';
/** ActiveMQ sweeps every 30 s; a second costs little here and keeps dstat honest. */
export const DEFAULT_EXPIRE_MESSAGES_PERIOD_MS = 1000;

export interface BrokerOptions {
  name: string;
  store: MessageStore;
  logger: Logger;
  /** @default 6 */
  maximumRedeliveries?: number;
  /** @default 65536 */
  auditProducers?: number;
  /** @default 128 MiB */
  memoryLimitBytes?: number;
  /** A send held by flow control fails after this many ms; -1 waits. @default -1 */
  sendFailIfNoSpaceAfterTimeoutMs?: number;
  /** Per-destination settings (`<destinationPolicy>`), first match wins. */
  policies?: readonly PolicyEntry[];
  /** How often waiting messages are checked for expiry, ms. @default 1000 */
  expireMessagesPeriodMs?: number;
  /** @default 5000 */
  pageMessages?: number;
  /** @default 16 MiB */
  pageBytes?: number;
  /** The node's master/slave role for INFO. @default standalone */
  describe?: () => Pick<BrokerInfo, 'role' | 'directory' | 'epoch' | 'masterSince' | 'replication'>;
  /** Security hooks (authenticate, authorize); default: everything allowed. See {@link Broker.setHooks}. */
  hooks?: BrokerHooks;
  /** `<storeUsage limit>`: past it persistent sends are refused with FERRY_STORE_FULL. @default 100 GiB */
  storeLimitBytes?: number;
  /** How often the store's disk usage and free space are measured, ms. @default 1000 */
  storeCheckMs?: number;
  /** The store was taken by another node while it reopened after a failed write: the node must stop serving. */
  onStoreLost?: (err: FerryError) => void;
}

/** What makes a subscription a network bridge's consumer (in-process only: no wire protocol sets it). */
export interface NetworkConsumerInput {
  /** The remote demand's broker path, as its broker advertised it. */
  path: readonly string[];
  /** Loop prevention: which messages may be forwarded over this bridge. */
  accept: (m: BrokerMessage) => boolean;
}

export interface SubscribeInput {
  sid: number;
  dest: string;
  ack: AckMode;
  prefetch: number;
  selector?: string | undefined;
  /** Durable subscription name (topics only); needs a client id. */
  durable?: string | undefined;
  /** ActiveMQ's consumer.priority (also `queue://Q?consumer.priority=N` on the destination). @default 0 */
  priority?: number | undefined;
  network?: NetworkConsumerInput | undefined;
  /**
   * The same from the wire: a duplex bridge of broker `peer` subscribing here for its consumers (PROTOCOL.md §8).
   * Nothing that came through `peer` is delivered, nor anything beyond `ttl` hops.
   */
  remoteNetwork?: { peer: string; path: readonly string[]; ttl: number } | undefined;
  /** In-process users (a bridge): deliveries of this subscription go here rather than to the session's sink. */
  sink?: DeliverySink | undefined;
}

/** A session as the console lists it. */
export interface ConnectionView {
  id: string;
  clientId: string | null;
  remote: string | null;
  subscriptions: { dest: string; durable: string | undefined; prefetch: number; inflight: number }[];
  /** Deliveries not yet acknowledged, all subscriptions together. */
  inflight: number;
}

/** A durable subscription as the console lists it. */
export interface DurableView {
  clientId: string;
  name: string;
  topic: string;
  selector: string | null;
  active: boolean;
  pending: number;
  /** The queue holding its messages (`durable://client:name`). */
  queue: string;
}

interface Durable {
  clientId: string;
  name: string;
  topic: string;
  selector?: string;
  subscriber: TopicSubscriber;
}

/**
 * The broker core: destinations, sessions, the store and the duplicate audit. It knows no wire protocol:
 * transports turn frames into calls on a {@link Session}.
 */
export class Broker implements SessionHost {
  readonly name: string;
  readonly id = randomBytes(6).toString('hex');
  readonly store: MessageStore;
  readonly log: Logger;
  /** Connections, consumers and destinations coming and going (what bridges and the console watch). */
  readonly events: BrokerEvents;
  /** Ids shared by consumers and connections in events. */
  private nextConsumerId = 1;
  private readonly connectionInfo = new Map<Session, ConnectionInfo>();
  private readonly advisories: ConsumerAdvisories;
  /** The installed security hooks; sessions ask them (see hooks.ts). */
  readonly hooks: Hooks;
  private readonly queues = new Map<string, Queue>();
  private readonly topics: TopicRegistry;
  private readonly durables = new Map<string, Durable>();
  /** The topic of each durable subscription's queue, by the queue's name. */
  private readonly durableTopics = new Map<string, string>();
  private readonly tempOwners = new Map<string, Session>();
  private readonly sessions = new Set<Session>();
  /** Highest sequence seen per producer id, oldest first. */
  private readonly audit = new Map<string, number>();
  private readonly auditProducers: number;
  private readonly ctx: QueueContext;
  private readonly policies: Policies;
  private nextSeq = 1;
  private nextMessageId = 1;
  /** Arrival order; starts above every stored sequence, which stands in for the order of recovered messages. */
  private nextOrd = 1;
  private started = false;
  private starting: Promise<{ recovered: number }> | null = null;
  private stopRequested = false;
  private startedAt = 0;
  private readonly describe: BrokerOptions['describe'];
  /** Bytes of messages held in memory, all queues together. */
  memoryUsage = 0;
  readonly memoryLimit: number;
  readonly sendFailIfNoSpaceAfterTimeoutMs: number;
  private memoryWaiters: (() => void)[] = [];
  private wakeScheduled = false;
  /** Queues messages have been dead-lettered to: what dies there is dropped, not dead-lettered again. */
  private readonly deadLetterQueues = new Set<string>([DLQ]);
  /** Sends recognised as duplicates and dropped. */
  duplicates = 0;
  private sweepTimer: NodeJS.Timeout | null = null;
  private readonly expireMessagesPeriodMs: number;
  readonly storeUsage: StoreUsage;
  /** Persistent sends refused while the store was failed, since it failed (reported when it recovers). */
  private refusedWhileFailed = 0;
  private lastFailureLog = 0;

  constructor(opts: BrokerOptions) {
    this.name = opts.name;
    this.describe = opts.describe;
    this.store = opts.store;
    this.log = opts.logger.child({ module: 'broker' });
    this.events = new BrokerEvents((err, event) => this.log.error({ err, event }, 'broker event listener failed'));
    this.advisories = new ConsumerAdvisories(this.name, this.id, this.events, (topic, body) =>
      this.send({ dest: topic, body, bt: BodyType.Value, persistent: false }, this.topic(topic), () => {}),
    );
    this.hooks = new Hooks(this.log);
    if (opts.hooks !== undefined) this.hooks.set(opts.hooks);
    this.auditProducers = opts.auditProducers ?? DEFAULT_AUDIT_PRODUCERS;
    this.memoryLimit = opts.memoryLimitBytes ?? DEFAULT_MEMORY_LIMIT_BYTES;
    this.sendFailIfNoSpaceAfterTimeoutMs = opts.sendFailIfNoSpaceAfterTimeoutMs ?? -1;
    this.expireMessagesPeriodMs = opts.expireMessagesPeriodMs ?? DEFAULT_EXPIRE_MESSAGES_PERIOD_MS;
    this.policies = new Policies(
      opts.policies ?? [],
      {
        maximumRedeliveries: opts.maximumRedeliveries ?? DEFAULT_MAXIMUM_REDELIVERIES,
        redeliveryDelayMs: 0,
        memoryLimitBytes: Number.POSITIVE_INFINITY,
      },
      (canonical) => this.durableTopics.get(canonical),
    );
    this.topics = new TopicRegistry((canonical) => this.policies.settingsFor(canonical).memoryLimitBytes);
    this.ctx = {
      store: opts.store,
      deadLetter: (msg, reason) => this.deadLetter(msg, reason),
      lastSeq: () => this.nextSeq - 1,
      memoryChanged: (delta) => this.memoryChanged(delta),
      memoryFull: () => this.memoryFull,
      pageMessages: opts.pageMessages ?? DEFAULT_PAGE_MESSAGES,
      pageBytes: opts.pageBytes ?? DEFAULT_PAGE_BYTES,
      onError: (err, what) => this.log.error({ err }, 'store error while %s', what),
      expired: (msg) => this.events.emit('messageExpired', { id: msg.id, dest: msg.dest }),
    };
    this.storeUsage = new StoreUsage(
      opts.store,
      opts.storeLimitBytes ?? DEFAULT_STORE_LIMIT_BYTES,
      opts.storeCheckMs ?? DEFAULT_STORE_CHECK_MS,
      this.log,
    );
    opts.store.watch({
      failed: (err, attempt) => this.storeFailed(err, attempt),
      recovered: (downMs) => this.storeRecovered(downMs),
      lost: (err) => {
        if (opts.onStoreLost) opts.onStoreLost(err as FerryError);
        else this.log.error({ err }, '%s; persistent sends stay refused', err.message);
      },
    });
  }

  /**
   * One error line per burst of failures (the write that failed, with LevelDB's cause, e.g. "No space left on
   * device"); failed reopen attempts are repeated at most every 30 s.
   */
  private storeFailed(err: Error, attempt: number): void {
    const now = Date.now();
    if (attempt === 0) {
      this.refusedWhileFailed = 0;
      this.lastFailureLog = now;
      this.log.error({ err }, '%s; reopening the store, persistent sends are refused until it is back', err.message);
    } else if (attempt === 1 || now - this.lastFailureLog >= 30_000) {
      this.lastFailureLog = now;
      this.log.error({ err, attempt }, '%s (attempt %d); still retrying', err.message, attempt);
    }
  }

  private storeRecovered(downMs: number): void {
    this.log.info({ downMs, refused: this.refusedWhileFailed }, 'store writable again after %d ms (%d persistent sends refused meanwhile)', downMs, this.refusedWhileFailed);
    // Page-ins and dispatch watermarks that failed meanwhile go again.
    for (const q of this.queues.values()) q.dispatch();
  }

  /**
   * Open the store, restore durable subscriptions, and let every queue page its stored backlog in. A failed
   * start (a locked store) leaves the broker as it was, so it may be called again; a stop() that arrives while
   * the store is opening wins: the store is closed again and start rejects with FERRY_BROKER_STOPPING.
   */
  start(): Promise<{ recovered: number }> {
    if (this.started) return Promise.resolve({ recovered: 0 });
    if (this.stopRequested) return Promise.reject(new FerryError('FERRY_BROKER_STOPPING', 'broker is stopping'));
    this.starting ??= this.open().finally(() => (this.starting = null));
    return this.starting;
  }

  private async open(): Promise<{ recovered: number }> {
    const state = await this.store.open();
    if (this.stopRequested) {
      await this.store.close();
      throw new FerryError('FERRY_BROKER_STOPPING', 'broker stopped while its store was opening');
    }
    this.nextSeq = state.nextSeq;
    this.nextOrd = state.nextSeq;
    for (const [pid, seq] of state.producers) this.audit.set(pid, seq);
    for (const rec of state.durables) this.durableFor(rec.clientId, rec.name, rec.topic, rec.selector);
    let recovered = 0;
    for (const [dest, d] of state.destinations) {
      recovered += d.count;
      this.queue(dest).recover(d.count, state.marks.get(dest) ?? 0);
    }
    await this.storeUsage.start();
    this.sweepTimer = setInterval(() => this.sweepExpired(), this.expireMessagesPeriodMs);
    this.sweepTimer.unref();
    this.started = true;
    this.startedAt = Date.now();
    return { recovered };
  }

  /** Close every session (their unacked messages stay stored) and the store. */
  async stop(): Promise<void> {
    this.stopRequested = true;
    // A start in flight finishes (LevelDB's open cannot be interrupted) and then sees the stop.
    if (this.starting) await this.starting.catch(() => {});
    if (!this.started) return;
    this.started = false;
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = null;
    this.storeUsage.stop();
    for (const s of [...this.sessions]) s.close();
    for (const w of this.memoryWaiters.splice(0)) w();
    await this.store.close();
  }

  /**
   * Install security hooks: `authenticate` (credentials of CONNECT, either protocol, or of {@link connect}) and
   * `authorize` (send, subscribe and the admin actions, per destination). A key given as undefined removes that hook.
   */
  setHooks(hooks: BrokerHooks): void {
    this.hooks.set(hooks);
  }

  /** Authenticate, then open a session (what protocol adapters call). See {@link SessionHost.openSession}. */
  openSession(opts: SessionOptions, done: (err: FerryError | null, session: Session | null) => void): void {
    const credentials = {
      user: opts.user,
      password: opts.password,
      clientId: opts.clientId ?? null,
      remote: opts.remote ?? null,
      protocol: opts.protocol ?? 'in-process',
    };
    this.hooks.authenticate(credentials, (err, principal) => {
      if (err !== null) return done(err, null);
      let s: Session;
      try {
        s = this.createSession(opts, principal!);
      } catch (e) {
        return done(e as FerryError, null);
      }
      done(null, s);
    });
  }

  /** {@link openSession} for an in-process user (a bridge, the console): the same authentication and flow control. */
  connect(opts: SessionOptions): Promise<Session> {
    return new Promise((resolve, reject) => this.openSession(opts, (err, s) => (err !== null ? reject(err) : resolve(s!))));
  }

  /** A session acting as `principal`, without asking the authenticate hook (it has been, or the caller is trusted). */
  createSession(opts: SessionOptions, principal: Principal = { user: opts.user ?? null }): Session {
    if (!this.started) throw new FerryError('FERRY_BROKER_STOPPING', 'broker is not running');
    const s = new Session(this, principal, opts, () => this.sessionClosed(s));
    this.sessions.add(s);
    if (this.events.has('connectionOpened') || this.events.has('connectionClosed')) {
      const conn = { id: `${this.name}:${this.nextConsumerId++}`, clientId: s.clientId, remote: s.remote };
      this.connectionInfo.set(s, conn);
      this.events.emit('connectionOpened', conn);
    }
    return s;
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  /** True between start() and stop(): a slave waiting for the lock has a broker that is not running. */
  get running(): boolean {
    return this.started;
  }

  /** Every open session (connections and bridges) for the console: ids as in the connection events. */
  connections(): ConnectionView[] {
    let i = 0;
    return [...this.sessions].map((s) => {
      const info = this.connectionInfo.get(s);
      const subs = [...s.subscriptions()].map((sub) => ({ dest: sub.info?.dest ?? sub.dest, durable: sub.info?.durable, prefetch: sub.prefetch, inflight: sub.unacked.size }));
      return {
        id: info?.id ?? `${this.name}:session-${++i}`,
        clientId: s.clientId,
        remote: s.remote,
        subscriptions: subs,
        inflight: subs.reduce((n, x) => n + x.inflight, 0),
      };
    });
  }

  /** Durable topic subscriptions, active (a consumer attached) or offline, with what waits for them. */
  durableSubscriptions(): DurableView[] {
    return [...this.durables.values()].map((d) => ({
      clientId: d.clientId,
      name: d.name,
      topic: d.topic,
      selector: d.selector ?? null,
      active: d.subscriber.queue.consumerCount > 0,
      pending: d.subscriber.queue.size + d.subscriber.queue.inflight,
      queue: d.subscriber.queue.canonical,
    }));
  }

  /** The queue named (canonical), created on first use (ActiveMQ's auto-creation). */
  queue(canonical: string): Queue {
    let q = this.queues.get(canonical);
    if (q === undefined) {
      q = new Queue(canonical, this.ctx, this.policies.settingsFor(canonical));
      this.queues.set(canonical, q);
      if (this.events.has('destinationAdded')) this.events.emit('destinationAdded', { dest: canonical });
    }
    return q;
  }

  topic(canonical: string): Topic {
    return this.topics.get(canonical);
  }

  /**
   * The destination a producer names, created on first use; a temporary queue must exist already.
   * @throws FerryError FERRY_INVALID_DESTINATION
   */
  destination(raw: string): Queue | Topic {
    const d = parseDestination(raw);
    if (d.kind === 'topic') {
      if (isWildcard(d.name)) throw new FerryError('FERRY_INVALID_DESTINATION', `cannot send to a wildcard: ${raw}`);
      return this.topic(d.canonical);
    }
    if (d.temporary && !this.queues.has(d.canonical)) {
      throw new FerryError('FERRY_INVALID_DESTINATION', `temporary queue ${raw} does not exist (its connection has closed)`);
    }
    return this.queue(d.canonical);
  }

  /** An existing destination, or undefined (admin commands must not create what they look at). */
  findDestination(raw: string): Queue | Topic | undefined {
    const d = parseDestination(raw);
    return d.kind === 'queue' ? this.queues.get(d.canonical) : this.topics.find(d.canonical);
  }

  /** Remove a queue and everything in it, or a topic with no subscribers. @returns messages dropped. */
  async deleteDestination(raw: string): Promise<number> {
    const d = parseDestination(raw);
    if (d.kind === 'queue') {
      this.assertWritable(`delete of ${raw}`);
      const q = this.queues.get(d.canonical);
      if (q === undefined) return 0;
      this.queues.delete(d.canonical);
      this.tempOwners.delete(d.canonical);
      const n = await q.delete();
      this.events.emit('destinationRemoved', { dest: d.canonical });
      return n;
    }
    const t = this.topics.find(d.canonical);
    if (t === undefined) return 0;
    if (t.consumerCount > 0) throw new FerryError('FERRY_INVALID_DESTINATION', `topic ${raw} has active subscribers`);
    this.topics.delete(d.canonical);
    this.events.emit('destinationRemoved', { dest: d.canonical });
    return 0;
  }

  /**
   * Route one message. `cb` fires once the broker has it (on disk, for a persistent message to a queue or to
   * a durable subscriber). A (pid, seq) the audit has seen is acknowledged again, not stored twice.
   */
  send(input: SendInput, dest: Queue | Topic, cb: (err?: Error) => void): void {
    const { pid, seq } = input;
    if (input.persistent && this.storeUsage.full && (!(dest instanceof Topic) || hasDurable(dest))) {
      cb(new FerryError('FERRY_STORE_FULL', `persistent send to ${dest.canonical} refused: ${this.storeUsage.refused()}`));
      return;
    }
    if (input.persistent && this.store.failure !== null) {
      this.refusedWhileFailed++;
      cb(new FerryError('FERRY_STORE', `persistent send to ${dest.canonical} refused: ${this.store.failure.message}; the store is reopening`));
      return;
    }
    let prior: number | undefined;
    if (pid !== undefined && seq !== undefined) {
      const last = this.audit.get(pid);
      prior = last;
      if (last !== undefined && seq <= last) {
        this.duplicates++;
        this.log.debug({ pid, seq }, 'duplicate send dropped');
        // The first copy may still be on its way to disk: answer once it is there.
        this.store.barrier(cb);
        return;
      }
      this.rememberProducer(pid, seq);
    }
    const now = clockNow();
    const ttl = input.ttl ?? 0;
    const audited = pid !== undefined && seq !== undefined;
    // Every field in one literal, absent ones undefined: one object shape for every message (no shape transitions,
    // no out-of-object property store), so the code that reads messages stays monomorphic.
    const msg: BrokerMessage = {
      seq: 0,
      id: input.id ?? (audited ? `${pid}:${seq}` : `ID:${this.id}:${this.nextMessageId++}`),
      dest: dest.canonical,
      body: input.body,
      bt: input.bt,
      persistent: input.persistent,
      priority: input.priority ?? DEFAULT_PRIORITY,
      timestamp: input.timestamp ?? now,
      expires: input.expires ?? (ttl > 0 ? now + ttl : 0),
      headers: input.headers,
      correlationId: input.correlationId,
      replyTo: input.replyTo,
      deliveryCount: input.redelivered === true ? 1 : 0,
      ord: this.nextOrd++,
      home: undefined,
      pid: audited ? pid : undefined,
      pseq: audited ? seq : undefined,
      pidId: audited && input.id === undefined,
      path: input.path !== undefined && input.path.length > 0 ? input.path : undefined,
    };
    if (dest instanceof Topic) {
      dest.publish(msg, dest.subscribers, this, (err) => {
        if (err) this.sendFailed(msg, prior);
        cb(err);
      });
      return;
    }
    if (msg.persistent) {
      msg.seq = this.nextSeq++;
      this.storeThenEnqueue(dest, msg, cb, prior);
    } else {
      dest.enqueue(msg);
      cb();
    }
  }

  /**
   * Store a persistent message, then enqueue it: it is dispatched only once it is on disk, so a send answered with
   * an error was never delivered to anyone (ActiveMQ's concurrentStoreAndDispatch cannot promise that). When the
   * queue will dispatch it at once, its dispatch watermark goes into the same batch (see Queue.dispatch).
   */
  private storeThenEnqueue(q: Queue, msg: BrokerMessage, cb: (err?: Error) => void, prior?: number): void {
    const marked = q.dispatchesAtOnce;
    this.store.add(msg, (err) => {
      if (err) {
        this.sendFailed(msg, prior);
        cb(err);
        return;
      }
      if (marked) q.marked(msg.seq);
      q.enqueue(msg);
      cb();
    });
    if (marked) this.store.mark(q.canonical, msg.seq);
  }

  /**
   * A send that was not stored: a retry of the same producer sequence must not be taken for a duplicate, so the
   * audit goes back to what it was before this send (`prior`) unless it has moved below since (failures of a burst
   * come back in order: the first one restores the value before the burst).
   */
  private sendFailed(msg: BrokerMessage, prior: number | undefined): void {
    if (msg.pid === undefined || msg.pseq === undefined) return;
    const last = this.audit.get(msg.pid);
    if (last === undefined || last < msg.pseq) return;
    if (prior === undefined) this.audit.delete(msg.pid);
    else this.audit.set(msg.pid, prior);
  }

  /** Store a durable subscriber's copy of a persistent message (Topic.publish calls back here). */
  storeCopy(copy: BrokerMessage, q: Queue, done: (err?: Error) => void): void {
    copy.seq = this.nextSeq++;
    const marked = q.dispatchesAtOnce;
    this.store.add(copy, (err) => {
      if (!err && marked) q.marked(copy.seq);
      done(err);
    });
    if (marked) this.store.mark(q.canonical, copy.seq);
  }

  /** Remove a stored copy whose siblings failed to store (Topic.publish: all copies or none). */
  dropCopy(copy: BrokerMessage): void {
    this.store.remove(copy.seq, homeOf(copy));
  }

  /** @throws FerryError FERRY_STORE while the store cannot write (checked before an operation changes anything) */
  assertWritable(what: string): void {
    const f = this.store.failure;
    if (f !== null) throw new FerryError('FERRY_STORE', `${what} refused: ${f.message}; the store is reopening`);
  }

  /**
   * Attach a consumer. For a durable subscription the client id and name find (or create) its stored queue.
   * @throws FerryError FERRY_INVALID_DESTINATION, FERRY_INVALID_SELECTOR, FERRY_DURABLE_IN_USE
   */
  subscribe(session: Session, input: SubscribeInput, sub: Subscription): void {
    const { dest, priority } = parseConsumerDestination(input.dest);
    const d = parseDestination(dest);
    const rn = input.remoteNetwork;
    if (rn !== undefined && input.network === undefined) {
      const canonical = d.canonical;
      input = {
        ...input,
        network: { path: rn.path, accept: networkAccept(canonical, () => rn.peer, rn.ttl, () => this.localConsumers(canonical)) },
      };
    }
    // typeof, not !== undefined: the wire lets nil stand for an absent optional field (found by the fuzz test).
    const selector = typeof input.selector === 'string' && input.selector.trim() !== '' ? this.compile(input.selector) : null;
    const net = input.network;
    const filter = net === undefined ? selector : selector === null ? net.accept : (m: BrokerMessage) => net.accept(m) && selector(m);
    sub.priority = input.priority ?? priority ?? 0;
    this.announce(session, input, sub, d.canonical);
    this.attach(session, input, sub, d, filter);
  }

  /** Consumer events for `sub`: added now (once it is attached, the emit runs first among its attach work), removed when it closes. */
  private announce(session: Session, input: SubscribeInput, sub: Subscription, canonical: string): void {
    const info: ConsumerInfo = {
      id: `${this.name}:${this.nextConsumerId++}`,
      dest: canonical,
      selector: input.selector,
      priority: sub.priority,
      network: input.network !== undefined,
      path: input.network?.path ?? [],
      clientId: session.clientId,
      durable: input.durable,
    };
    sub.info = info;
    const attached = sub.onAttach;
    sub.onAttach = () => {
      attached?.();
      this.events.emit('consumerAdded', info);
    };
    sub.onClosed = () => this.events.emit('consumerRemoved', info);
  }

  private attach(
    session: Session,
    input: SubscribeInput,
    sub: Subscription,
    d: ReturnType<typeof parseDestination>,
    filter: ((m: BrokerMessage) => boolean) | null,
  ): void {
    if (input.durable !== undefined) {
      if (d.kind !== 'topic') throw new FerryError('FERRY_INVALID_DESTINATION', `a durable subscription needs a topic, got ${input.dest}`);
      if (session.clientId === null) throw new FerryError('FERRY_INVALID_COMMAND', 'a durable subscription needs a clientId on CONNECT');
      const durable = this.durableFor(session.clientId, input.durable, d.canonical, input.selector);
      if (durable.subscriber.queue.consumerCount > 0) {
        throw new FerryError('FERRY_DURABLE_IN_USE', `durable subscription ${input.durable} of client ${session.clientId} is already active`);
      }
      if (input.network !== undefined) sub.filter = input.network.accept;
      durable.subscriber.queue.addConsumer(sub);
      return;
    }
    if (d.kind === 'queue') {
      if (d.temporary) {
        const owner = this.tempOwners.get(d.canonical);
        if (owner === undefined) {
          this.tempOwners.set(d.canonical, session);
          session.ownTemporary(d.canonical);
        } else if (owner !== session) {
          throw new FerryError('FERRY_INVALID_DESTINATION', `temporary queue ${input.dest} belongs to another connection`);
        }
      }
      sub.filter = filter;
      this.queue(d.canonical).addConsumer(sub);
      return;
    }
    // A non-durable topic subscription: a private buffer, registered on every topic it matches.
    const subscriber: TopicSubscriber = { queue: null as unknown as Queue, filter, durable: false };
    subscriber.queue = new SubscriberQueue(d.canonical, this.ctx, this.policies.settingsFor(d.canonical), () =>
      this.topics.detach(subscriber),
    );
    this.topics.attach(subscriber, d.canonical);
    subscriber.queue.addConsumer(sub);
    if (isAdvisory(d.name)) {
      // A bridge (or any client) watching consumers: first who is there now, then the changes.
      this.advisories.listeners++;
      sub.onClosed = chain(sub.onClosed, () => this.advisories.listeners--);
      this.advisories.replay(subscriber.queue, d.name);
    }
  }

  /** Remove a durable subscription and its stored backlog. @throws FerryError when it is active or unknown */
  async unsubscribeDurable(clientId: string, name: string): Promise<void> {
    const key = `${clientId}\x00${name}`;
    const d = this.durables.get(key);
    if (d === undefined) throw new FerryError('FERRY_UNKNOWN_SUBSCRIPTION', `no durable subscription ${name} for client ${clientId}`);
    if (d.subscriber.queue.consumerCount > 0) {
      throw new FerryError('FERRY_DURABLE_IN_USE', `durable subscription ${name} of client ${clientId} is active`);
    }
    this.assertWritable(`removing durable subscription ${name}`);
    this.durables.delete(key);
    this.durableTopics.delete(d.subscriber.queue.canonical);
    this.topics.detach(d.subscriber);
    this.queues.delete(d.subscriber.queue.canonical);
    this.store.removeDurable(clientId, name);
    await d.subscriber.queue.delete();
    // Answered once the record's removal is synced: an unsubscribe reported done must not come back after a restart.
    await new Promise<void>((resolve, reject) =>
      this.store.barrier((err) => (err ? reject(new FerryError('FERRY_STORE', `removing durable subscription ${name} not confirmed: ${err.message}`, { cause: err })) : resolve()), true),
    );
  }

  /** Every consumer (advisory and temporary-queue consumers left out), as the consumer events describe them. */
  consumers(): ConsumerInfo[] {
    return this.advisories.consumers();
  }

  /** Consumers of a queue that are not network bridges' (a bridge sends a stuck message back only when there are none). */
  localConsumers(canonical: string): number {
    return this.queues.get(canonical)?.localConsumerCount ?? 0;
  }

  /** A network bridge handed `n` messages of `dest` to its peer (dstat's Forward #). */
  countForwarded(dest: string, n = 1): void {
    const d = dest.startsWith('topic://') ? this.topics.find(dest) : this.queues.get(dest);
    if (d !== undefined) d.counters.forwarded += n;
  }

  /** Who this broker is (INFO). */
  info(): BrokerInfo {
    return {
      name: this.name,
      id: this.id,
      version: VERSION,
      uptimeMs: this.startedAt === 0 ? 0 : Date.now() - this.startedAt,
      connections: this.sessions.size,
      ...(this.describe ? this.describe() : { role: 'standalone' }),
    };
  }

  stats(): DestinationStats[] {
    const out: DestinationStats[] = [];
    const row = (name: string, kind: 'queue' | 'topic', d: Queue | Topic): DestinationStats => ({
      name,
      kind,
      queueSize: d.size + d.inflight,
      inflight: d.inflight,
      producerCount: d.counters.producers,
      consumerCount: d.consumerCount,
      enqueueCount: d.counters.enqueued,
      dequeueCount: d.counters.dequeued,
      forwardCount: d.counters.forwarded,
      memoryBytes: d.memoryBytes,
    });
    for (const [name, q] of this.queues) out.push(row(name, 'queue', q));
    for (const [name, t] of this.topics) out.push(row(name, 'topic', t));
    return out.sort((a, b) => a.name.localeCompare(b.name));
  }

  /**
   * True when a non-persistent send to `dest` must wait: the broker's memory limit is reached, or the
   * destination's own (policy memoryLimit; a queue without one: DEFAULT_QUEUE_MEMORY_BYTES).
   */
  isFull(dest: string): boolean {
    if (this.memoryFull) return true;
    let d: Queue | Topic | undefined;
    try {
      d = this.findDestination(dest);
    } catch {
      return false; // an invalid name fails later, with its own error
    }
    return d !== undefined && d.full;
  }

  /**
   * Producer flow control: must a send to `dest` wait for memory? A persistent message to a queue never does (it
   * pages to disk); anything else does while the broker or the destination is full — a topic's copies for its
   * non-durable subscribers live in memory whatever their persistence.
   */
  mustHold(dest: string, persistent: boolean): boolean {
    if (persistent) {
      try {
        if (parseDestination(dest).kind === 'queue') return false;
      } catch {
        return false; // an invalid name fails later, with its own error
      }
    }
    return this.isFull(dest);
  }

  /** True while held messages exceed the memory limit: producers must wait (producer flow control). */
  get memoryFull(): boolean {
    return this.memoryUsage >= this.memoryLimit;
  }

  /**
   * `fn` once memory has been freed (a held connection then checks its own destination again and waits anew if
   * it is still full).
   */
  whenMemoryAvailable(fn: () => void): void {
    this.memoryWaiters.push(fn);
  }

  private sweepExpired(): void {
    const now = Date.now();
    let n = 0;
    for (const q of this.queues.values()) n += q.sweepExpired(now);
    for (const [, t] of this.topics) for (const s of t.subscribers) if (!s.durable) n += s.queue.sweepExpired(now);
    if (n > 0) this.log.debug({ expired: n }, 'expired messages swept');
  }

  private memoryChanged(delta: number): void {
    this.memoryUsage += delta;
    if (delta < 0 && this.memoryWaiters.length > 0 && !this.memoryFull && !this.wakeScheduled) {
      // Coalesced: a burst of acks wakes the held producers once.
      this.wakeScheduled = true;
      setImmediate(() => {
        this.wakeScheduled = false;
        if (this.memoryFull) return;
        const ws = this.memoryWaiters.splice(0);
        for (const w of ws) w();
      });
    }
  }

  private compile(selector: string): (m: BrokerMessage) => boolean {
    try {
      return selectorFilter(selector);
    } catch (err) {
      throw new FerryError('FERRY_INVALID_SELECTOR', (err as Error).message, { cause: err });
    }
  }

  private durableFor(clientId: string, name: string, topic: string, selector: string | undefined): Durable {
    const key = `${clientId}\x00${name}`;
    const existing = this.durables.get(key);
    if (existing !== undefined && existing.topic === topic && existing.selector === selector) return existing;
    if (existing !== undefined) {
      // Same name, different topic or selector: JMS says the old subscription is replaced.
      this.topics.detach(existing.subscriber);
      this.queues.delete(existing.subscriber.queue.canonical);
      existing.subscriber.queue.delete().catch((err: unknown) => this.log.error({ err }, 'replaced durable subscription not removed from the store'));
    }
    const canonical = `${DURABLE_PREFIX}${clientId}:${name}`;
    // Before the queue exists: its settings come from the topic's policy.
    this.durableTopics.set(canonical, topic);
    const filter = selector !== undefined && selector.trim() !== '' ? this.compile(selector) : null;
    const subscriber: TopicSubscriber = { queue: this.queue(canonical), filter, durable: true };
    const d: Durable = { clientId, name, topic, subscriber };
    if (selector !== undefined) d.selector = selector;
    this.durables.set(key, d);
    this.topics.attach(subscriber, topic);
    if (existing === undefined || existing.topic !== topic || existing.selector !== selector) {
      const rec = { clientId, name, topic, ...(selector !== undefined ? { selector } : {}) };
      this.store.putDurable(rec, (err) => {
        if (err) this.log.error({ err, clientId, name }, 'durable subscription record not stored');
      });
    }
    return d;
  }

  private sessionClosed(s: Session): void {
    this.sessions.delete(s);
    const conn = this.connectionInfo.get(s);
    if (conn !== undefined) {
      this.connectionInfo.delete(s);
      this.events.emit('connectionClosed', conn);
    }
    for (const name of s.temporaries) {
      if (this.tempOwners.get(name) !== s) continue;
      this.tempOwners.delete(name);
      const q = this.queues.get(name);
      this.queues.delete(name);
      if (q) q.delete().catch((err: unknown) => this.log.error({ err, queue: name }, 'temporary queue not removed from the store'));
    }
  }

  private rememberProducer(pid: string, seq: number): void {
    // Insertion order, not recency: reordering the Map on every send costs more than it is worth; a producer
    // evicted while active is re-admitted by its next send.
    const had = this.audit.size;
    this.audit.set(pid, seq);
    if (this.audit.size > had && this.audit.size > this.auditProducers) {
      const oldest = this.audit.keys().next().value as string;
      this.audit.delete(oldest);
      this.store.forgetProducer(oldest);
    }
  }

  private deadLetter(msg: BrokerMessage, reason: string): void {
    const target = this.policies.deadLetterQueueFor(msg.dest);
    // A message that dies on a dead-letter queue is dropped, never dead-lettered again.
    if (msg.dest === target || msg.dest === DLQ || this.deadLetterQueues.has(msg.dest)) {
      if (msg.seq > 0) this.store.remove(msg.seq, homeOf(msg));
      this.log.warn({ id: msg.id, dest: msg.dest, reason }, 'message dropped from a dead-letter queue');
      return;
    }
    const headers = { ...msg.headers, originalDestination: msg.dest, dlqDeliveryFailureCause: reason };
    const dead: BrokerMessage = { ...msg, seq: 0, dest: target, headers, expires: 0, deliveryCount: 0 };
    delete dead.pid;
    delete dead.pseq;
    delete dead.home;
    this.log.info({ id: msg.id, from: msg.dest, to: target, reason }, 'message moved to the dead-letter queue');
    this.events.emit('messageDeadLettered', { id: msg.id, from: msg.dest, to: target, reason });
    this.deadLetterQueues.add(target);
    const dlq = this.queue(target);
    if (!dead.persistent) {
      if (msg.seq > 0) this.store.remove(msg.seq, homeOf(msg));
      dlq.enqueue(dead);
      return;
    }
    // The copy first: the original leaves its queue on disk only once the copy is there. Should the write fail,
    // the original goes back to its queue (an expired one is swept again, a poison one redelivered once more).
    dead.seq = this.nextSeq++;
    this.storeThenEnqueue(dlq, dead, (err) => {
      if (err) {
        this.log.debug({ err, id: msg.id }, 'dead-letter write failed; message kept on its queue');
        this.queues.get(homeOf(msg))?.restore(msg);
        return;
      }
      if (msg.seq > 0) this.store.remove(msg.seq, homeOf(msg));
    });
  }
}

function chain(a: (() => void) | null, b: () => void): () => void {
  return a === null ? b : () => {
    a();
    b();
  };
}

function hasDurable(t: Topic): boolean {
  for (const s of t.subscribers) if (s.durable) return true;
  return false;
}
