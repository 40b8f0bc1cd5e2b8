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

/** What a publish needs from the broker: a store sequence for each durable copy, stored. */
export interface PublishContext {
  storeCopy(copy: BrokerMessage, q: Queue, done: (err?: Error) => void): void;
  dropCopy(copy: BrokerMessage): void;
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
   * Fan a message out to `targets` (this topic's subscribers plus matching wildcard ones). A persistent message
   * with durable subscribers is stored for each of them first, and handed to every subscriber only once all its
   * copies are on disk: `done` with an error means nobody got it.
   */
  publish(msg: BrokerMessage, targets: Iterable<TopicSubscriber>, ctx: PublishContext, done: (err?: Error) => void): void {
    this.counters.enqueued++;
    const copies: { s: TopicSubscriber; copy: BrokerMessage }[] = [];
    let stored = false;
    for (const s of targets) {
      if (s.filter !== null && !s.filter(msg)) continue;
      // A copy per subscriber: delivery state is per copy; the body bytes are shared.
      const copy: BrokerMessage = { ...msg, seq: 0 };
      if (s.durable) copy.home = s.queue.canonical;
      if (s.durable && msg.persistent) stored = true;
      copies.push({ s, copy });
    }
    const deliver = (): void => {
      this.counters.dequeued += copies.length;
      for (const { s, copy } of copies) s.queue.enqueue(copy);
    };
    if (!stored) {
      deliver();
      done();
      return;
    }
    let waiting = 1;
    let failed: Error | undefined;
    const written: BrokerMessage[] = [];
    const one = (): void => {
      if (--waiting > 0) return;
      if (failed === undefined) deliver();
      else for (const copy of written) ctx.dropCopy(copy);
      done(failed);
    };
    for (const { s, copy } of copies) {
      if (!s.durable) continue;
      waiting++;
      ctx.storeCopy(copy, s.queue, (err) => {
        if (err) failed = err;
        else written.push(copy);
        one();
      });
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
