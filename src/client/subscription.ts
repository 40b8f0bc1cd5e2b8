import { Deque } from '../model/deque.js';

import type { AckMode, MessageCmd } from '../protocol/commands.js';
import { type AckTarget, Message } from './message.js';

/** Ids of acknowledged messages remembered per subscription, to drop their redeliveries after a failover. */
const ACKED_MEMORY = 16_384;

/** What a subscription needs from its connection. */
export interface SubscriptionOwner {
  /** Send an ACK or NACK now, if the delivery's connection epoch is still the current one. */
  sendAck(sid: number, tag: number, epoch: number, kind: 'ACK' | 'NACK', upto: boolean): void;
  unsubscribe(sub: Subscription): Promise<void>;
}

export interface SubscribeOptions {
  /** @default 'auto' */
  ack?: AckMode;
  /** Deliveries the broker may have in flight to this subscription. @default 1000 */
  prefetch?: number;
  /** JMS message selector (SQL-92 subset over headers), e.g. `color = 'red' AND weight > 10`. */
  selector?: string;
  /** Durable subscription name (topics only; needs `clientId` on connect): messages wait while you are away. */
  durable?: string;
  /** ActiveMQ's consumer.priority: on a queue, higher-priority consumers with credit are served first. @default 0 */
  priority?: number;
  /** @internal a duplex network bridge's subscription (PROTOCOL.md §8). */
  network?: { peer: string; path: string[]; ttl: number };
}

/**
 * A subscription: an async iterable of messages. In `auto` mode a message counts as acknowledged once the
 * application asks for the next one (or leaves the loop); acks are batched, one per event-loop turn.
 */
export class Subscription implements AsyncIterable<Message>, AckTarget {
  private readonly buffer = new Deque<Message>();
  private waiter: ((m: Message | null) => void) | null = null;
  private waiterTimer: NodeJS.Timeout | null = null;
  private lastHanded: Message | null = null;
  private autoAckTag = 0;
  private autoAckEpoch = 0;
  private autoAckScheduled = false;
  /** Auto acks gathered since the last ACK sent, and how many make an ACK go at once. */
  private autoAckCount = 0;
  private readonly ackBatch: number;
  private readonly acked = new Set<string>();
  closed = false;
  /** Redeliveries of already-acknowledged messages dropped here. */
  droppedDuplicates = 0;

  constructor(
    readonly sid: number,
    readonly destination: string,
    readonly ackMode: AckMode,
    readonly prefetch: number,
    private readonly owner: SubscriptionOwner,
    readonly selector?: string,
    readonly durable?: string,
    private readonly dedupe = true,
    /** Extra SUBSCRIBE fields, sent again on every reconnect. */
    readonly extra: Pick<SubscribeOptions, 'priority' | 'network'> = {},
  ) {
    this.ackBatch = Math.max(1, Math.floor(prefetch / 4));
  }

  /** @internal a MESSAGE frame for this subscription. */
  push(cmd: MessageCmd, epoch: number): void {
    if (this.closed) return;
    if (this.acked.size > 0 && this.acked.has(cmd.id)) {
      // Acked before a failover (or a broker crash that lost the ack), delivered again after it: ack it again,
      // never show it twice.
      this.droppedDuplicates++;
      this.owner.sendAck(this.sid, cmd.tag, epoch, 'ACK', false);
      return;
    }
    const m = new Message(cmd, epoch, this);
    const w = this.waiter;
    if (w !== null) {
      this.waiter = null;
      if (this.waiterTimer) clearTimeout(this.waiterTimer);
      this.hand(m);
      w(m);
    } else this.buffer.push(m);
  }

  /** @internal acknowledge, now, everything the application has taken in auto mode. */
  flushAcks(): void {
    this.autoAckPrevious();
    this.flushAutoAck();
  }

  /** @internal the connection was lost: undelivered messages will come again from the broker. */
  interrupted(): void {
    this.buffer.clear();
    this.flushAutoAck();
  }

  /** @internal */
  end(): void {
    this.closed = true;
    this.buffer.clear();
    const w = this.waiter;
    this.waiter = null;
    if (this.waiterTimer) clearTimeout(this.waiterTimer);
    w?.(null);
  }

  /**
   * The next message, or null when `timeoutMs` passes first or the subscription closes.
   * In `auto` mode, asking for the next message acknowledges the previous one.
   */
  receive(timeoutMs?: number): Promise<Message | null> {
    this.autoAckPrevious();
    const m = this.buffer.shift();
    if (m !== undefined) {
      this.hand(m);
      return Promise.resolve(m);
    }
    if (this.closed) return Promise.resolve(null);
    if (this.waiter !== null) return Promise.reject(new Error('receive() is already waiting on this subscription'));
    return new Promise((resolve) => {
      this.waiter = resolve;
      if (timeoutMs !== undefined && timeoutMs >= 0) {
        this.waiterTimer = setTimeout(() => {
          this.waiter = null;
          resolve(null);
        }, timeoutMs);
      }
    });
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Message> {
    try {
      for (;;) {
        const m = await this.receive();
        if (m === null) return;
        yield m;
      }
    } finally {
      this.autoAckPrevious();
    }
  }

  /** Stop the subscription; unacknowledged messages go back to the broker for redelivery. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.flushAcks();
    await this.owner.unsubscribe(this);
  }

  ackMessage(m: Message): void {
    if (this.ackMode === 'auto') return;
    this.remember(m.id);
    this.owner.sendAck(this.sid, m.tag, m.epoch, 'ACK', this.ackMode === 'client');
  }

  nackMessage(m: Message): void {
    if (this.ackMode === 'auto' && this.lastHanded === m) this.lastHanded = null;
    this.owner.sendAck(this.sid, m.tag, m.epoch, 'NACK', false);
  }

  private hand(m: Message): void {
    if (this.ackMode === 'auto') this.lastHanded = m;
  }

  private autoAckPrevious(): void {
    const m = this.lastHanded;
    if (m === null) return;
    this.lastHanded = null;
    this.remember(m.id);
    if (m.epoch !== this.autoAckEpoch) this.flushAutoAck();
    this.autoAckTag = m.tag;
    this.autoAckEpoch = m.epoch;
    // Return credit before the prefetch window runs dry (ActiveMQ acks at half of it), so the broker keeps the
    // pipe full while this side works through what it has.
    if (++this.autoAckCount >= this.ackBatch) {
      this.flushAutoAck();
      return;
    }
    if (!this.autoAckScheduled) {
      this.autoAckScheduled = true;
      setImmediate(() => this.flushAutoAck());
    }
  }

  private flushAutoAck(): void {
    this.autoAckScheduled = false;
    this.autoAckCount = 0;
    if (this.autoAckTag === 0) return;
    const tag = this.autoAckTag;
    this.autoAckTag = 0;
    this.owner.sendAck(this.sid, tag, this.autoAckEpoch, 'ACK', true);
  }

  /** @internal a transaction that acked message `id` committed. */
  noteAcked(id: string): void {
    this.remember(id);
  }

  private remember(id: string): void {
    // Only a connection that can fail over sees a message again after acking it.
    if (!this.dedupe) return;
    this.acked.add(id);
    if (this.acked.size > ACKED_MEMORY) this.acked.delete(this.acked.values().next().value as string);
  }
}

