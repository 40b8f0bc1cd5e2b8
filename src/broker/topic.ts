import type { BrokerMessage } from './message.js';
import { DestinationCounters, Queue, type QueueContext } from './queue.js';
import type { Subscription } from './subscription.js';

/**
 * A topic: every current subscriber gets its own copy. Each subscription has a private, unstored queue that
 * buffers what its prefetch window cannot take yet.
 */
export class Topic {
  private readonly subs = new Map<Subscription, Queue>();
  readonly counters = new DestinationCounters();

  constructor(
    readonly canonical: string,
    private readonly ctx: QueueContext,
  ) {}

  get consumerCount(): number {
    return this.subs.size;
  }

  /** Messages buffered for subscribers, summed. */
  get size(): number {
    let n = 0;
    for (const q of this.subs.values()) n += q.size;
    return n;
  }

  get inflight(): number {
    let n = 0;
    for (const q of this.subs.values()) n += q.inflight;
    return n;
  }

  get memoryBytes(): number {
    let n = 0;
    for (const q of this.subs.values()) n += q.memoryBytes;
    return n;
  }

  addConsumer(sub: Subscription): void {
    const q = new SubscriberQueue(this.canonical, this.ctx, this);
    this.subs.set(sub, q);
    q.addConsumer(sub);
  }

  /** A subscription went away: its buffer (and what it held) goes with it. */
  detach(sub: Subscription): void {
    this.subs.delete(sub);
  }

  publish(msg: BrokerMessage): void {
    this.counters.enqueued++;
    for (const q of this.subs.values()) {
      // A copy per subscriber: delivery state is per copy; the body bytes are shared.
      q.enqueue({ ...msg, seq: 0 });
    }
    this.counters.dequeued += this.subs.size;
  }
}

/** A topic subscription's private buffer; tells the topic when its one consumer leaves. */
class SubscriberQueue extends Queue {
  constructor(
    canonical: string,
    ctx: QueueContext,
    private readonly topic: Topic,
  ) {
    super(canonical, ctx);
  }

  override removeConsumer(sub: Subscription): void {
    super.removeConsumer(sub);
    this.topic.detach(sub);
  }
}
