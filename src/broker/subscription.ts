import type { AckMode } from '../protocol/commands.js';
import type { ConsumerInfo } from './events.js';
import type { BrokerMessage } from '../model/message.js';
import { Deliveries } from './deliveries.js';

/** Where a subscription's deliveries go: a protocol connection (native, STOMP) or a network bridge. */
export interface DeliverySink {
  deliver(sub: Subscription, msg: BrokerMessage, tag: number): void;
  /**
   * True while the connection cannot take more (its socket's send buffer is full): dispatch to it pauses, whatever
   * the prefetch, and resumes when the sink calls {@link Session.resumeDelivery}.
   */
  readonly congested?: boolean;
}

/** The message source a subscription consumes from (a queue, or a topic subscription's own queue). */
export interface SubscriptionSource {
  /** Messages acknowledged: forget them for good. */
  acked(msgs: BrokerMessage[]): void;
  /** Messages given back (NACK, consumer gone): deliver them again. */
  requeue(msgs: BrokerMessage[], nacked: boolean): void;
  /** Credit became free: try to dispatch. */
  dispatch(): void;
  removeConsumer(sub: Subscription): void;
}

/**
 * One consumer: a connection's subscription to a destination. Holds up to `prefetch` unacknowledged deliveries;
 * each delivery gets a tag, increasing per subscription, that ACK and NACK name.
 */
export class Subscription {
  /** Unacknowledged deliveries by tag, in delivery order. */
  readonly unacked: Deliveries;
  private nextTag = 1;
  closed = false;
  source!: SubscriptionSource;
  /** Called once, when the subscription is attached to its source and before its first delivery. */
  onAttach: (() => void) | null = null;
  /**
   * Which messages it takes: the compiled selector, a network consumer's loop filter, or both; null for every
   * message.
   */
  filter: ((m: BrokerMessage) => boolean) | null = null;
  /** ActiveMQ's consumer.priority: a queue dispatches to the highest priority with credit. @default 0 */
  priority = 0;
  /** What the broker's consumer events say of it; set when it is attached. */
  info: ConsumerInfo | null = null;
  /** Called once, after it has left its source (the broker announces it gone). */
  onClosed: (() => void) | null = null;

  constructor(
    readonly sid: number,
    readonly dest: string,
    readonly ackMode: AckMode,
    readonly prefetch: number,
    readonly sink: DeliverySink,
  ) {
    // A delivery kept while four windows' worth of later ones are acked is set aside (see Deliveries).
    this.unacked = new Deliveries(Math.max(1024, 4 * prefetch));
  }

  /** True when `tag` names an outstanding delivery. */
  has(tag: number): boolean {
    return this.unacked.has(tag);
  }

  /** Deliveries it may take now: prefetch room, unless its connection is congested. */
  get credit(): number {
    return this.sink.congested === true ? 0 : this.prefetch - this.unacked.size;
  }

  /** @internal the source calls this from addConsumer, before dispatching to it. */
  attached(): void {
    const f = this.onAttach;
    this.onAttach = null;
    f?.();
  }

  deliver(msg: BrokerMessage): void {
    msg.deliveryCount++;
    const tag = this.nextTag++;
    this.unacked.add(tag, msg);
    this.sink.deliver(this, msg, tag);
  }

  /**
   * Acknowledge one delivery, or every delivery up to `tag` (client mode, batched auto acks).
   * @returns false when `tag` names no outstanding delivery (already acked, or never sent).
   */
  ack(tag: number, upto: boolean): boolean {
    const done = this.take(tag, upto);
    if (done.length === 0) return false;
    this.source.acked(done);
    this.source.dispatch();
    return true;
  }

  /**
   * Acknowledge several deliveries, each by its own tag (a network bridge's forwards the peer has answered during
   * one turn of the event loop): one call to the source and one dispatch for all of them. Tags that name no
   * outstanding delivery are skipped. @returns how many were acknowledged.
   */
  ackEach(tags: readonly number[]): number {
    const done: BrokerMessage[] = [];
    for (const tag of tags) {
      const m = this.unacked.delete(tag);
      if (m !== undefined) done.push(m);
    }
    if (done.length === 0) return 0;
    this.source.acked(done);
    this.source.dispatch();
    return done.length;
  }

  /** Give one delivery back for redelivery. @returns false when the tag names no outstanding delivery. */
  nack(tag: number, upto: boolean): boolean {
    const done = this.take(tag, upto);
    if (done.length === 0) return false;
    this.source.requeue(done, true);
    return true;
  }

  /**
   * Give one delivery back without counting it against the message (its consumer could not pass it on: a network
   * bridge whose peer went away). It is delivered again, flagged redelivered. @returns false for an unknown tag.
   */
  release(tag: number): boolean {
    const done = this.take(tag, false);
    if (done.length === 0) return false;
    this.source.requeue(done, false);
    return true;
  }

  /** Stop: every unacked delivery goes back to the source for redelivery. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.source.removeConsumer(this);
    if (this.unacked.size > 0) this.source.requeue(this.unacked.clear(), false);
    const f = this.onClosed;
    this.onClosed = null;
    f?.();
  }

  private take(tag: number, upto: boolean): BrokerMessage[] {
    if (upto) return this.unacked.takeUpTo(tag);
    const m = this.unacked.delete(tag);
    return m === undefined ? [] : [m];
  }
}
