import { FerryError } from '../errors.js';
import type { Broker, SendInput, SubscribeInput } from './broker.js';
import type { Queue } from './queue.js';
import { type DeliverySink, Subscription } from './subscription.js';
import type { Topic } from './topic.js';

/**
 * One client's (or bridge's) view of the broker, independent of the wire protocol that carries it. Closing it
 * gives every unacknowledged delivery back to its queue, marked redelivered.
 */
export class Session {
  private readonly subs = new Map<number, Subscription>();
  /** Destinations this session has sent to: the "Producer #" column. */
  private readonly producing = new Set<Queue | Topic>();
  closed = false;

  constructor(
    private readonly broker: Broker,
    readonly clientId: string | null,
    readonly remote: string | null,
    private readonly sink: DeliverySink,
    private readonly onClose: () => void,
  ) {}

  get subscriptionCount(): number {
    return this.subs.size;
  }

  /** @throws FerryError FERRY_INVALID_DESTINATION */
  send(input: SendInput, cb: (err?: Error) => void): void {
    const d = this.broker.destination(input.dest);
    if (!this.producing.has(d)) {
      this.producing.add(d);
      d.counters.producers++;
    }
    this.broker.send(input, d, cb);
  }

  /** @throws FerryError FERRY_DUPLICATE_SUBSCRIPTION, FERRY_INVALID_DESTINATION */
  subscribe(input: SubscribeInput): Subscription {
    if (this.subs.has(input.sid)) {
      throw new FerryError('FERRY_DUPLICATE_SUBSCRIPTION', `subscription id ${input.sid} is already in use on this connection`);
    }
    const sub = new Subscription(input.sid, input.dest, input.ack, input.prefetch, this.sink);
    this.broker.subscribe(input, sub);
    this.subs.set(input.sid, sub);
    return sub;
  }

  /** @throws FerryError FERRY_UNKNOWN_SUBSCRIPTION */
  unsubscribe(sid: number): void {
    this.sub(sid).close();
    this.subs.delete(sid);
  }

  /**
   * @throws FerryError FERRY_UNKNOWN_SUBSCRIPTION; FERRY_INVALID_COMMAND when a single (not cumulative) ack names
   * a delivery that is not outstanding.
   */
  ack(sid: number, tag: number, upto: boolean): void {
    if (!this.sub(sid).ack(tag, upto) && !upto) {
      throw new FerryError('FERRY_INVALID_COMMAND', `ACK of delivery ${tag} on subscription ${sid}: no such delivery outstanding`);
    }
  }

  /** @throws FerryError FERRY_UNKNOWN_SUBSCRIPTION, FERRY_INVALID_COMMAND */
  nack(sid: number, tag: number, upto: boolean): void {
    if (!this.sub(sid).nack(tag, upto) && !upto) {
      throw new FerryError('FERRY_INVALID_COMMAND', `NACK of delivery ${tag} on subscription ${sid}: no such delivery outstanding`);
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const sub of this.subs.values()) sub.close();
    this.subs.clear();
    for (const d of this.producing) d.counters.producers--;
    this.producing.clear();
    this.onClose();
  }

  private sub(sid: number): Subscription {
    const s = this.subs.get(sid);
    if (s === undefined) throw new FerryError('FERRY_UNKNOWN_SUBSCRIPTION', `no subscription ${sid} on this connection`);
    return s;
  }
}
