import { randomBytes } from 'node:crypto';
import { FerryError } from '../errors.js';
import type { Logger } from '../log.js';
import type { AckMode, BodyType, DestinationStats, Headers } from '../protocol/commands.js';
import type { MessageStore } from '../store/store.js';
import { parseDestination } from './destination.js';
import { type BrokerMessage, DEFAULT_PRIORITY } from './message.js';
import { Queue, type QueueContext } from './queue.js';
import { Session } from './session.js';
import type { DeliverySink } from './subscription.js';
import { Topic } from './topic.js';

/** ActiveMQ's dead-letter queue. */
export const DLQ = 'queue://ActiveMQ.DLQ';
/** @default 6, as ActiveMQ's RedeliveryPolicy. */
export const DEFAULT_MAXIMUM_REDELIVERIES = 6;
/** Producers whose last sequence the duplicate audit remembers (ActiveMQ: 64 producers per connection). */
export const DEFAULT_AUDIT_PRODUCERS = 65_536;

export interface BrokerOptions {
  name: string;
  store: MessageStore;
  logger: Logger;
  /** @default 6 */
  maximumRedeliveries?: number;
  /** @default 65536 */
  auditProducers?: number;
}

/** A message as a protocol hands it to the broker. */
export interface SendInput {
  dest: string;
  body: Uint8Array;
  bt: BodyType;
  persistent: boolean;
  pid?: string;
  seq?: number;
  headers?: Headers;
  priority?: number;
  ttl?: number;
  correlationId?: string;
  replyTo?: string;
}

export interface SubscribeInput {
  sid: number;
  dest: string;
  ack: AckMode;
  prefetch: number;
}

/**
 * The broker core: destinations, sessions, the store and the duplicate audit. It knows no wire protocol:
 * transports turn frames into calls on a {@link Session}.
 */
export class Broker {
  readonly name: string;
  readonly id = randomBytes(6).toString('hex');
  readonly store: MessageStore;
  private readonly log: Logger;
  private readonly queues = new Map<string, Queue>();
  private readonly topics = new Map<string, Topic>();
  private readonly sessions = new Set<Session>();
  /** Highest sequence seen per producer id, least recently used first. */
  private readonly audit = new Map<string, number>();
  private readonly auditProducers: number;
  private readonly ctx: QueueContext;
  private nextSeq = 1;
  private nextMessageId = 1;
  private started = false;
  /** Sends recognised as duplicates and dropped. */
  duplicates = 0;

  constructor(opts: BrokerOptions) {
    this.name = opts.name;
    this.store = opts.store;
    this.log = opts.logger.child({ module: 'broker' });
    this.auditProducers = opts.auditProducers ?? DEFAULT_AUDIT_PRODUCERS;
    this.ctx = {
      store: opts.store,
      maximumRedeliveries: opts.maximumRedeliveries ?? DEFAULT_MAXIMUM_REDELIVERIES,
      deadLetter: (msg, reason) => this.deadLetter(msg, reason),
    };
  }

  /** Open the store and put every stored message back on its queue. */
  async start(): Promise<{ recovered: number }> {
    if (this.started) return { recovered: 0 };
    const state = await this.store.open();
    this.nextSeq = state.nextSeq;
    for (const [pid, seq] of state.producers) this.audit.set(pid, seq);
    for (const m of state.messages) this.queue(m.dest).restore(m);
    this.started = true;
    return { recovered: state.messages.length };
  }

  /** Close every session (their unacked messages stay stored) and the store. */
  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    for (const s of [...this.sessions]) s.close();
    await this.store.close();
  }

  /** A session for one connection (or bridge). */
  createSession(info: { clientId?: string; remote?: string }, sink: DeliverySink): Session {
    if (!this.started) throw new FerryError('FERRY_BROKER_STOPPING', 'broker is not running');
    const s = new Session(this, info.clientId ?? null, info.remote ?? null, sink, () => this.sessions.delete(s));
    this.sessions.add(s);
    return s;
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  queue(canonical: string): Queue {
    let q = this.queues.get(canonical);
    if (q === undefined) {
      q = new Queue(canonical, this.ctx);
      this.queues.set(canonical, q);
    }
    return q;
  }

  topic(canonical: string): Topic {
    let t = this.topics.get(canonical);
    if (t === undefined) {
      t = new Topic(canonical, this.ctx);
      this.topics.set(canonical, t);
    }
    return t;
  }

  /** The queue or topic named, created on first use (ActiveMQ's auto-creation). */
  destination(raw: string): Queue | Topic {
    const d = parseDestination(raw);
    return d.kind === 'queue' ? this.queue(d.canonical) : this.topic(d.canonical);
  }

  /**
   * Route one message. `cb` fires once the broker has it (on disk, for a persistent message to a queue).
   * A (pid, seq) the audit has seen is acknowledged again, not stored twice.
   */
  send(input: SendInput, dest: Queue | Topic, cb: (err?: Error) => void): void {
    const { pid, seq } = input;
    if (pid !== undefined && seq !== undefined) {
      const last = this.audit.get(pid);
      if (last !== undefined && seq <= last) {
        this.duplicates++;
        this.log.debug({ pid, seq }, 'duplicate send dropped');
        // The first copy may still be on its way to disk: answer once it is there.
        this.store.barrier(cb);
        return;
      }
      this.rememberProducer(pid, seq);
    }
    const now = Date.now();
    const ttl = input.ttl ?? 0;
    const msg: BrokerMessage = {
      seq: 0,
      id: pid !== undefined && seq !== undefined ? `${pid}:${seq}` : `ID:${this.id}:${this.nextMessageId++}`,
      dest: dest.canonical,
      body: input.body,
      bt: input.bt,
      persistent: input.persistent,
      priority: input.priority ?? DEFAULT_PRIORITY,
      timestamp: now,
      expires: ttl > 0 ? now + ttl : 0,
      deliveryCount: 0,
    };
    if (input.headers !== undefined) msg.headers = input.headers;
    if (input.correlationId !== undefined) msg.correlationId = input.correlationId;
    if (input.replyTo !== undefined) msg.replyTo = input.replyTo;
    if (pid !== undefined && seq !== undefined) {
      msg.pid = pid;
      msg.pseq = seq;
    }
    if (dest instanceof Topic) {
      dest.publish(msg);
      cb();
      return;
    }
    if (msg.persistent) {
      msg.seq = this.nextSeq++;
      // Store and dispatch concurrently (ActiveMQ's concurrentStoreAndDispatchQueues): an ack that overtakes the
      // write only queues a delete behind the put in the same or a later batch.
      this.store.add(msg, cb);
      dest.enqueue(msg);
    } else {
      dest.enqueue(msg);
      cb();
    }
  }

  subscribe(input: SubscribeInput, sub: import('./subscription.js').Subscription): void {
    const d = this.destination(input.dest);
    d.addConsumer(sub);
  }

  stats(): DestinationStats[] {
    const out: DestinationStats[] = [];
    for (const [name, q] of this.queues) {
      out.push({
        name,
        kind: 'queue',
        queueSize: q.size + q.inflight,
        inflight: q.inflight,
        producerCount: q.counters.producers,
        consumerCount: q.consumerCount,
        enqueueCount: q.counters.enqueued,
        dequeueCount: q.counters.dequeued,
        memoryBytes: q.memoryBytes,
      });
    }
    for (const [name, t] of this.topics) {
      out.push({
        name,
        kind: 'topic',
        queueSize: t.size + t.inflight,
        inflight: t.inflight,
        producerCount: t.counters.producers,
        consumerCount: t.consumerCount,
        enqueueCount: t.counters.enqueued,
        dequeueCount: t.counters.dequeued,
        memoryBytes: t.memoryBytes,
      });
    }
    return out.sort((a, b) => a.name.localeCompare(b.name));
  }

  private rememberProducer(pid: string, seq: number): void {
    // Delete-then-set keeps the Map in least-recently-used order.
    this.audit.delete(pid);
    this.audit.set(pid, seq);
    if (this.audit.size > this.auditProducers) {
      const oldest = this.audit.keys().next().value as string;
      this.audit.delete(oldest);
      this.store.forgetProducer(oldest);
    }
  }

  private deadLetter(msg: BrokerMessage, reason: string): void {
    if (msg.seq > 0) this.store.remove(msg.seq, msg.dest);
    if (msg.dest === DLQ) {
      this.log.warn({ id: msg.id, reason }, 'message dropped from the dead-letter queue');
      return;
    }
    const headers = { ...msg.headers, originalDestination: msg.dest, dlqDeliveryFailureCause: reason };
    const dead: BrokerMessage = { ...msg, seq: 0, dest: DLQ, headers, expires: 0, deliveryCount: 0 };
    delete dead.pid;
    delete dead.pseq;
    this.log.info({ id: msg.id, from: msg.dest, reason }, 'message moved to the dead-letter queue');
    const dlq = this.queue(DLQ);
    if (dead.persistent) {
      dead.seq = this.nextSeq++;
      this.store.add(dead, (err) => {
        if (err) this.log.error({ err, id: dead.id }, 'dead-letter write failed');
      });
    }
    dlq.enqueue(dead);
  }
}
