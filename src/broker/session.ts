import { FerryError } from '../errors.js';
import type { Broker, SendInput, SubscribeInput } from './broker.js';
import type { Queue } from './queue.js';
import { type DeliverySink, Subscription } from './subscription.js';
import type { Topic } from './topic.js';

/** Work a transaction holds until COMMIT. */
interface Transaction {
  sends: { input: SendInput; dest: Queue | Topic }[];
  acks: { sid: number; tag: number; upto: boolean }[];
}

/** Subscriptions one session may hold: a runaway client must not exhaust the broker. */
const MAX_SUBSCRIPTIONS = 10_000;
/** Transactions one session may have open at once. */
const MAX_TRANSACTIONS = 64;
/** Sends one transaction may hold (they sit in memory until COMMIT). */
const MAX_TRANSACTION_SENDS = 100_000;

/**
 * One client's (or bridge's) view of the broker, independent of the wire protocol that carries it. Closing it
 * gives every unacknowledged delivery back to its queue, marked redelivered, aborts its open transactions and
 * deletes its temporary queues.
 */
export class Session {
  private readonly subs = new Map<number, Subscription>();
  /** Destinations this session has sent to: the "Producer #" column. */
  private readonly producing = new Set<Queue | Topic>();
  private readonly txs = new Map<string, Transaction>();
  /** Temporary queues this session created. */
  readonly temporaries = new Set<string>();
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

  /** @throws FerryError FERRY_INVALID_DESTINATION, FERRY_UNKNOWN_TRANSACTION */
  send(input: SendInput, cb: (err?: Error) => void, tx?: string): void {
    const d = this.broker.destination(input.dest);
    if (!this.producing.has(d)) {
      this.producing.add(d);
      d.counters.producers++;
    }
    if (tx !== undefined) {
      const t = this.tx(tx);
      if (t.sends.length >= MAX_TRANSACTION_SENDS) {
        throw new FerryError('FERRY_RESOURCE_EXHAUSTED', `transaction ${tx} holds ${MAX_TRANSACTION_SENDS} sends already; commit it`);
      }
      t.sends.push({ input, dest: d });
      cb();
      return;
    }
    this.broker.send(input, d, cb);
  }

  /** @throws FerryError FERRY_DUPLICATE_SUBSCRIPTION, FERRY_INVALID_DESTINATION, FERRY_INVALID_SELECTOR, ... */
  subscribe(input: SubscribeInput, accepted?: () => void): Subscription {
    if (this.subs.has(input.sid)) {
      throw new FerryError('FERRY_DUPLICATE_SUBSCRIPTION', `subscription id ${input.sid} is already in use on this connection`);
    }
    if (this.subs.size >= MAX_SUBSCRIPTIONS) {
      throw new FerryError('FERRY_RESOURCE_EXHAUSTED', `${MAX_SUBSCRIPTIONS} subscriptions are open on this connection already`);
    }
    const sub = new Subscription(input.sid, input.dest, input.ack, input.prefetch, input.sink ?? this.sink);
    // Deliveries may start inside broker.subscribe: `accepted` runs first, once every check has passed.
    sub.onAttach = accepted ?? null;
    this.broker.subscribe(this, input, sub);
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
  ack(sid: number, tag: number, upto: boolean, tx?: string): void {
    const sub = this.sub(sid);
    if (tx !== undefined) {
      // Held until COMMIT; ABORT gives the deliveries back for redelivery.
      if (!sub.has(tag)) throw new FerryError('FERRY_INVALID_COMMAND', `ACK of delivery ${tag} on subscription ${sid}: no such delivery outstanding`);
      this.tx(tx).acks.push({ sid, tag, upto });
      return;
    }
    if (!sub.ack(tag, upto) && !upto) {
      throw new FerryError('FERRY_INVALID_COMMAND', `ACK of delivery ${tag} on subscription ${sid}: no such delivery outstanding`);
    }
  }

  /** @throws FerryError FERRY_UNKNOWN_SUBSCRIPTION, FERRY_INVALID_COMMAND */
  nack(sid: number, tag: number, upto: boolean): void {
    if (!this.sub(sid).nack(tag, upto) && !upto) {
      throw new FerryError('FERRY_INVALID_COMMAND', `NACK of delivery ${tag} on subscription ${sid}: no such delivery outstanding`);
    }
  }

  /** In-process users (a network bridge): give a delivery back uncounted (see Subscription.release). */
  release(sid: number, tag: number): void {
    this.sub(sid).release(tag);
  }

  /** @throws FerryError FERRY_INVALID_COMMAND when the id is in use, FERRY_RESOURCE_EXHAUSTED past the limit */
  begin(tx: string): void {
    if (this.txs.has(tx)) throw new FerryError('FERRY_INVALID_COMMAND', `transaction ${tx} is already open`);
    if (this.txs.size >= MAX_TRANSACTIONS) {
      throw new FerryError('FERRY_RESOURCE_EXHAUSTED', `${MAX_TRANSACTIONS} transactions are open on this connection already`);
    }
    this.txs.set(tx, { sends: [], acks: [] });
  }

  /**
   * Apply a transaction: its sends are routed together (their writes join one store batch) and its acks take
   * effect. `cb` once every persistent send is on disk.
   */
  commit(tx: string, cb: (err?: Error) => void): void {
    const t = this.tx(tx);
    // Refused before anything takes effect: a COMMIT answered with an error must not have applied half of it.
    if (t.sends.length > 0 || t.acks.length > 0) this.broker.assertWritable(`COMMIT of ${tx}`);
    this.txs.delete(tx);
    let waiting = 1;
    let failed: Error | undefined;
    const one = (err?: Error): void => {
      if (err) failed = err;
      if (--waiting === 0) cb(failed);
    };
    for (const { input, dest } of t.sends) {
      waiting++;
      this.broker.send(input, dest, one);
    }
    for (const a of t.acks) this.subs.get(a.sid)?.ack(a.tag, a.upto);
    // The acks' deletes must be on disk before COMMIT is answered, or a crash would redeliver committed work.
    if (t.acks.length > 0) {
      waiting++;
      this.broker.store.barrier(one, true);
    }
    one();
  }

  /** Drop a transaction's sends; its acked deliveries go back for redelivery (counting towards the DLQ). */
  abort(tx: string): void {
    const t = this.tx(tx);
    this.txs.delete(tx);
    this.rollback(t);
  }

  /** The connection can take deliveries again (its socket drained): let every subscription's source dispatch. */
  resumeDelivery(): void {
    for (const sub of this.subs.values()) sub.source.dispatch();
  }

  /** @internal a temporary queue this session owns: deleted when it closes. */
  ownTemporary(name: string): void {
    this.temporaries.add(name);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.txs.values()) this.rollback(t);
    this.txs.clear();
    for (const sub of this.subs.values()) sub.close();
    this.subs.clear();
    for (const d of this.producing) d.counters.producers--;
    this.producing.clear();
    this.onClose();
  }

  private rollback(t: Transaction): void {
    for (const a of t.acks) this.subs.get(a.sid)?.nack(a.tag, a.upto);
  }

  private tx(id: string): Transaction {
    const t = this.txs.get(id);
    if (t === undefined) throw new FerryError('FERRY_UNKNOWN_TRANSACTION', `no open transaction ${id}`);
    return t;
  }

  private sub(sid: number): Subscription {
    const s = this.subs.get(sid);
    if (s === undefined) throw new FerryError('FERRY_UNKNOWN_SUBSCRIPTION', `no subscription ${sid} on this connection`);
    return s;
  }
}
