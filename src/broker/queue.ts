import type { MessageStore } from '../store/store.js';
import { Deque } from './deque.js';
import { type BrokerMessage, messageSize } from './message.js';
import type { Subscription, SubscriptionSource } from './subscription.js';

const PRIORITIES = 10;

/** What a queue needs from the broker around it. */
export interface QueueContext {
  store: MessageStore;
  /** Redeliveries allowed after the first delivery before a NACKed message goes to the dead-letter queue; -1: never. */
  maximumRedeliveries: number;
  /** Take a message that cannot be delivered (expired, poison) out of its queue. */
  deadLetter(msg: BrokerMessage, reason: string): void;
}

/** Counters of one destination, as dstat shows them. */
export class DestinationCounters {
  enqueued = 0;
  dequeued = 0;
  expired = 0;
  producers = 0;
}

/**
 * A queue: competing consumers, highest priority first, FIFO within a priority, round-robin over the consumers
 * that have prefetch credit. Also used, unstored and with one consumer, as a topic subscription's buffer.
 */
export class Queue implements SubscriptionSource {
  private readonly buckets: Deque<BrokerMessage>[] = [];
  private pending = 0;
  private readonly consumers: Subscription[] = [];
  private rr = 0;
  private dispatching = false;
  /** Deliveries in flight to consumers (not acked yet). */
  inflight = 0;
  memoryBytes = 0;
  readonly counters = new DestinationCounters();

  constructor(
    readonly canonical: string,
    private readonly ctx: QueueContext,
  ) {
    for (let i = 0; i < PRIORITIES; i++) this.buckets.push(new Deque<BrokerMessage>());
  }

  /** Messages waiting for a consumer (not counting those in flight). */
  get size(): number {
    return this.pending;
  }

  get consumerCount(): number {
    return this.consumers.length;
  }

  enqueue(msg: BrokerMessage): void {
    this.buckets[msg.priority]!.push(msg);
    this.pending++;
    this.memoryBytes += messageSize(msg);
    this.counters.enqueued++;
    if (this.consumers.length > 0) this.dispatch();
  }

  /** Put recovered messages back without counting them as new enqueues. */
  restore(msg: BrokerMessage): void {
    this.buckets[msg.priority]!.push(msg);
    this.pending++;
    this.memoryBytes += messageSize(msg);
  }

  addConsumer(sub: Subscription): void {
    sub.source = this;
    this.consumers.push(sub);
    this.dispatch();
  }

  removeConsumer(sub: Subscription): void {
    const i = this.consumers.indexOf(sub);
    if (i >= 0) this.consumers.splice(i, 1);
    if (this.rr >= this.consumers.length) this.rr = 0;
  }

  acked(msgs: BrokerMessage[]): void {
    for (const m of msgs) {
      if (m.seq > 0) this.ctx.store.remove(m.seq, m.dest);
      this.memoryBytes -= messageSize(m);
    }
    this.inflight -= msgs.length;
    this.counters.dequeued += msgs.length;
  }

  requeue(msgs: BrokerMessage[], nacked: boolean): void {
    this.inflight -= msgs.length;
    // Back to the front, in their original order, so a redelivery keeps the queue's order.
    for (let i = msgs.length - 1; i >= 0; i--) {
      const m = msgs[i]!;
      if (nacked && this.ctx.maximumRedeliveries >= 0 && m.deliveryCount > this.ctx.maximumRedeliveries) {
        this.memoryBytes -= messageSize(m);
        this.counters.dequeued++;
        this.ctx.deadLetter(m, `delivered ${m.deliveryCount} times, maximumRedeliveries=${this.ctx.maximumRedeliveries}`);
        continue;
      }
      this.buckets[m.priority]!.unshift(m);
      this.pending++;
    }
    this.dispatch();
  }

  dispatch(): void {
    if (this.dispatching || this.pending === 0 || this.consumers.length === 0) return;
    this.dispatching = true;
    try {
      const now = Date.now();
      while (this.pending > 0) {
        const sub = this.nextConsumer();
        if (sub === undefined) break;
        const msg = this.take()!;
        if (msg.expires !== 0 && msg.expires <= now) {
          this.expire(msg);
          continue;
        }
        this.inflight++;
        sub.deliver(msg);
      }
    } finally {
      this.dispatching = false;
    }
  }

  /** A non-destructive look at up to `max` waiting messages, in dispatch order. */
  browse(max: number): BrokerMessage[] {
    const out: BrokerMessage[] = [];
    for (let p = PRIORITIES - 1; p >= 0 && out.length < max; p--) {
      for (const m of this.buckets[p]!) {
        if (out.length >= max) break;
        out.push(m);
      }
    }
    return out;
  }

  /** Drop every waiting message (not those in flight). @returns how many. */
  purge(): number {
    let n = 0;
    for (const bucket of this.buckets) {
      for (const m of bucket.clear()) {
        if (m.seq > 0) this.ctx.store.remove(m.seq, m.dest);
        this.memoryBytes -= messageSize(m);
        n++;
      }
    }
    this.pending = 0;
    this.counters.dequeued += n;
    return n;
  }

  /** Close every consumer and give back what they held; used when the destination is removed. */
  closeConsumers(): Subscription[] {
    const subs = [...this.consumers];
    for (const s of subs) s.close();
    return subs;
  }

  private take(): BrokerMessage | undefined {
    for (let p = PRIORITIES - 1; p >= 0; p--) {
      const b = this.buckets[p]!;
      if (b.length > 0) {
        this.pending--;
        return b.shift();
      }
    }
    return undefined;
  }

  private nextConsumer(): Subscription | undefined {
    const n = this.consumers.length;
    for (let i = 0; i < n; i++) {
      const idx = (this.rr + i) % n;
      const sub = this.consumers[idx]!;
      if (sub.credit > 0) {
        this.rr = (idx + 1) % n;
        return sub;
      }
    }
    return undefined;
  }

  private expire(msg: BrokerMessage): void {
    this.memoryBytes -= messageSize(msg);
    this.counters.expired++;
    this.counters.dequeued++;
    if (msg.persistent) this.ctx.deadLetter(msg, 'expired');
    else if (msg.seq > 0) this.ctx.store.remove(msg.seq, msg.dest);
  }
}
