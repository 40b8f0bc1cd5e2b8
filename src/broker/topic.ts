import type { BrokerMessage } from '../model/message.js';
import { DestinationCounters, Queue, type QueueContext, type QueueSettings } from './queue.js';
import type { Subscription } from './subscription.js';

/**
 * One subscriber of a topic: its buffer (a private unstored queue, or a durable subscription's stored queue) and
 * its selector. A wildcard subscriber is registered on every topic its pattern matches.
 */
export interface TopicSubscriber {
  queue: Queue;
  filter: ((m: BrokerMessage) => boolean) | null;
  /** Durable: persistent messages are stored for it, and it outlives its consumer. */
  durable: boolean;
}

/** What a publish needs from the broker: a store sequence for each durable copy. */
export interface PublishContext {
  storeCopy(copy: BrokerMessage, done: (err?: Error) => void): void;
}

/** A topic: every current subscriber gets its own copy of each message. */
export class Topic {
  readonly subscribers = new Set<TopicSubscriber>();
  readonly counters = new DestinationCounters();

  constructor(
    readonly canonical: string,
    /** From the destination's policy: past it, non-persistent producers to this topic wait. */
    readonly memoryLimitBytes: number,
  ) {}

  /** True when the subscribers' buffers hold as much memory as the policy allows. */
  get full(): boolean {
    return this.memoryBytes >= this.memoryLimitBytes;
  }

  get consumerCount(): number {
    let n = 0;
    for (const s of this.subscribers) n += s.queue.consumerCount;
    return n;
  }

  /** Messages buffered for subscribers, summed. */
  get size(): number {
    let n = 0;
    for (const s of this.subscribers) n += s.queue.size;
    return n;
  }

  get inflight(): number {
    let n = 0;
    for (const s of this.subscribers) n += s.queue.inflight;
    return n;
  }

  get memoryBytes(): number {
    let n = 0;
    for (const s of this.subscribers) n += s.queue.memoryBytes;
    return n;
  }

  /**
   * Fan a message out to `targets` (this topic's subscribers plus matching wildcard ones). `done` fires once every
   * durable copy of a persistent message is stored.
   */
  publish(msg: BrokerMessage, targets: Iterable<TopicSubscriber>, ctx: PublishContext, done: (err?: Error) => void): void {
    this.counters.enqueued++;
    let waiting = 1;
    let failed: Error | undefined;
    const one = (err?: Error): void => {
      if (err) failed = err;
      if (--waiting === 0) done(failed);
    };
    for (const s of targets) {
      if (s.filter !== null && !s.filter(msg)) continue;
      // A copy per subscriber: delivery state is per copy; the body bytes are shared.
      const copy: BrokerMessage = { ...msg, seq: 0 };
      this.counters.dequeued++;
      if (s.durable) copy.home = s.queue.canonical;
      if (s.durable && msg.persistent) {
        waiting++;
        ctx.storeCopy(copy, one);
      }
      s.queue.enqueue(copy);
    }
    one();
  }
}

/** A non-durable topic subscription's private buffer; it goes away with its one consumer. */
export class SubscriberQueue extends Queue {
  constructor(
    canonical: string,
    ctx: QueueContext,
    settings: QueueSettings,
    private readonly onEmpty: () => void,
  ) {
    super(canonical, ctx, settings);
  }

  override removeConsumer(sub: Subscription): void {
    super.removeConsumer(sub);
    this.onEmpty();
  }
}
