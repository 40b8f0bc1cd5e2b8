import { FerryError } from '../errors.js';
import type { BrokerInfo, DestinationStats } from '../protocol/commands.js';
import type { Broker, SendInput, SubscribeInput } from './broker.js';
import { isWildcard, parseConsumerDestination, parseDestination } from '../model/destination.js';
import { DEFAULT_MAX_HELD, FlowControl, type FlowListener } from './flow-control.js';
import type { AuthorizeAction, Principal } from './hooks.js';
import type { BrokerMessage } from '../model/message.js';
import type { Queue } from './queue.js';
import { type DeliverySink, Subscription } from './subscription.js';
import type { Topic } from './topic.js';

export type { FlowListener } from './flow-control.js';

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
/** Destinations a session remembers being allowed to send to; past it the memory starts afresh. */
const MAX_SENDABLE = 1024;

/** An operation's answer: no error once it took effect (for a persistent send: once it is on disk). */
export type Done = (err?: Error) => void;

/** Who opens a session, and where its deliveries and flow-control signals go. */
export interface SessionOptions {
  clientId?: string | undefined;
  /** Credentials for the broker's authenticate hook. */
  user?: string | undefined;
  password?: string | undefined;
  /** Peer address, for logs and hooks; absent for an in-process user. */
  remote?: string | undefined;
  /** `native`, `stomp`, or an in-process user's name (`bridge`, `console`). @default 'in-process' */
  protocol?: string | undefined;
  sink: DeliverySink;
  flow?: FlowListener | undefined;
  /** Operations held by flow control before `pauseReading` (STOMP: 1, it cannot tell its client it is blocked). @default 1000 */
  maxHeld?: number | undefined;
}

/**
 * What a protocol adapter (or any other session user) sees of the broker: its identity, and sessions. A transport
 * needs nothing else.
 */
export interface SessionHost {
  readonly name: string;
  readonly id: string;
  /**
   * Authenticate (the broker's authenticate hook) and open a session. `done` runs synchronously when no hook or a
   * synchronous one is installed. Errors: FERRY_AUTHENTICATION_FAILED, FERRY_BROKER_STOPPING.
   */
  openSession(opts: SessionOptions, done: (err: FerryError | null, session: Session | null) => void): void;
}

/**
 * One client's (or bridge's, or console's) view of the broker, independent of the wire protocol that carries it: the
 * one API every protocol adapter and in-process user calls.
 *
 * Ordering: `send`, `begin`, `commit`, `abort`, `subscribe` and `disconnect` keep their order behind a send held by
 * producer flow control (they answer through their callback, possibly later); `ack`, `nack`, `unsubscribe` and the
 * admin reads act at once and throw FerryError. Closing gives every unacknowledged delivery back to its queue,
 * marked redelivered, aborts open transactions and deletes the session's temporary queues.
 */
export class Session {
  private readonly subs = new Map<number, Subscription>();
  /** Destinations this session has sent to: the "Producer #" column. */
  private readonly producing = new Set<Queue | Topic>();
  private readonly txs = new Map<string, Transaction>();
  private readonly flow: FlowControl;
  private readonly sink: DeliverySink;
  /** The last send callback wrapped by {@link finisher}, and its wrapper. */
  private lastCb: Done | null = null;
  private lastFinisher: Done | null = null;
  /** Temporary queues this session created. */
  readonly temporaries = new Set<string>();
  /** With an authorize hook: destinations (as the client names them) it allowed this session to send to. */
  private sendable: Set<string> | null = null;
  /** The hooks' generation `sendable` was filled under. */
  private sendableGeneration = 0;
  readonly clientId: string | null;
  readonly remote: string | null;
  readonly protocol: string;
  closed = false;

  constructor(
    private readonly broker: Broker,
    readonly principal: Principal,
    opts: SessionOptions,
    private readonly onClose: () => void,
  ) {
    this.clientId = opts.clientId ?? null;
    this.remote = opts.remote ?? null;
    this.protocol = opts.protocol ?? 'in-process';
    this.sink = opts.sink;
    this.flow = new FlowControl(broker, opts.flow ?? {}, opts.maxHeld ?? DEFAULT_MAX_HELD, (input, cb) => this.sendNow(input, cb, undefined));
  }

  get subscriptionCount(): number {
    return this.subs.size;
  }

  /** Its subscriptions, for the console's connection list. */
  subscriptions(): IterableIterator<Subscription> {
    return this.subs.values();
  }

  /** True while producer flow control holds this session's operations. */
  get holding(): boolean {
    return this.flow.holding;
  }

  /** True while flow control asks the peer's reads to stay paused: the peer's silence is then not its fault. */
  get readingPaused(): boolean {
    return this.flow.readingPaused;
  }

  /**
   * Send a message (in transaction `tx`: held until COMMIT). `cb` once the broker has it (on disk, if persistent
   * to a queue or durable subscriber), or with FERRY_INVALID_DESTINATION, FERRY_UNKNOWN_TRANSACTION,
   * FERRY_NOT_AUTHORIZED, FERRY_RESOURCE_EXHAUSTED (sendFailIfNoSpaceAfterTimeout). Producer flow control may hold it.
   */
  send(input: SendInput, cb: Done, tx?: string): void {
    if (tx === undefined) {
      if (this.flow.mustWait(input.dest, input.persistent)) {
        this.flow.holdSend(input, cb);
        return;
      }
    } else if (this.flow.holding) {
      this.flow.defer(() => this.sendNow(input, cb, tx), cb);
      return;
    }
    this.sendNow(input, cb, tx);
  }

  /**
   * Attach a consumer. `cb(null, sub)` runs once every check has passed and before the first delivery; errors:
   * FERRY_DUPLICATE_SUBSCRIPTION, FERRY_INVALID_DESTINATION, FERRY_INVALID_SELECTOR, FERRY_DURABLE_IN_USE,
   * FERRY_NOT_AUTHORIZED, FERRY_RESOURCE_EXHAUSTED.
   */
  subscribe(input: SubscribeInput, cb: (err: Error | null, sub: Subscription | null) => void): void {
    if (this.flow.holding) this.flow.defer(() => this.subscribeNow(input, cb), (err) => cb(err ?? null, null));
    else this.subscribeNow(input, cb);
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

  /**
   * In-process users (a network bridge): acknowledge several deliveries of one subscription at once, each by its
   * tag; tags no longer outstanding are skipped. @throws FerryError FERRY_UNKNOWN_SUBSCRIPTION
   */
  ackEach(sid: number, tags: readonly number[]): number {
    return this.sub(sid).ackEach(tags);
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

  /** Open transaction `tx`. Errors: FERRY_INVALID_COMMAND when the id is in use, FERRY_RESOURCE_EXHAUSTED past the limit. */
  begin(tx: string, cb: Done): void {
    this.ordered(() => {
      if (this.txs.has(tx)) return cb(new FerryError('FERRY_INVALID_COMMAND', `transaction ${tx} is already open`));
      if (this.txs.size >= MAX_TRANSACTIONS) {
        return cb(new FerryError('FERRY_RESOURCE_EXHAUSTED', `${MAX_TRANSACTIONS} transactions are open on this connection already`));
      }
      this.txs.set(tx, { sends: [], acks: [] });
      cb();
    }, cb);
  }

  /**
   * Apply a transaction: its sends are routed together (their writes join one store batch) and its acks take
   * effect. `cb` once every persistent send is on disk and the acks' deletes are synced.
   */
  commit(tx: string, cb: Done): void {
    this.ordered(() => this.commitNow(tx, cb), cb);
  }

  /** Drop a transaction's sends; its acked deliveries go back for redelivery (counting towards the DLQ). */
  abort(tx: string, cb: Done): void {
    this.ordered(() => {
      const t = this.txs.get(tx);
      if (t === undefined) return cb(unknownTx(tx));
      this.txs.delete(tx);
      this.rollback(t);
      cb();
    }, cb);
  }

  /**
   * The DISCONNECT barrier: `cb` once every earlier operation of this session has been answered and the store has
   * written everything queued before (so the peer may take the answer as "all done"). The caller closes afterwards.
   */
  disconnect(cb: Done): void {
    this.ordered(() => this.flow.whenIdle(() => this.broker.store.barrier(cb)), cb);
  }

  /**
   * Run `fn` in order behind whatever flow control holds (now, if nothing). For an adapter whose protocol orders
   * every frame behind a held send (STOMP): `fn` then calls the usual Session methods.
   */
  inOrder(fn: () => void): void {
    if (this.flow.holding) this.flow.defer(fn);
    else fn();
  }

  /** Remove this client id's durable subscription `name` and its stored backlog. */
  unsubscribeDurable(name: string, cb: Done): void {
    if (this.clientId === null) return cb(new FerryError('FERRY_INVALID_COMMAND', 'removing a durable subscription needs a clientId on CONNECT'));
    if (this.broker.hooks.guarded) {
      const d = this.broker.durableSubscriptions().find((x) => x.clientId === this.clientId && x.name === name);
      try {
        if (d !== undefined) this.allow('unsubscribe', d.topic);
      } catch (err) {
        return cb(err as Error);
      }
    }
    this.flow.started();
    this.broker.unsubscribeDurable(this.clientId, name).then(
      () => this.finished(cb),
      (err: Error) => this.finished(cb, err),
    );
  }

  /** Per-destination counters. @throws FerryError FERRY_NOT_AUTHORIZED */
  /** The broker's name, version, role (INFO). */
  info(): BrokerInfo {
    return this.broker.info();
  }

  stats(): DestinationStats[] {
    this.broker.hooks.authorize(this.principal, 'stats', null);
    return this.broker.stats();
  }

  /**
   * Waiting messages of a queue, in dispatch order, not consumed; [] for a queue that does not exist (an admin
   * read never creates what it looks at). @throws FerryError FERRY_INVALID_DESTINATION, FERRY_NOT_AUTHORIZED
   */
  browse(dest: string, max: number): BrokerMessage[] {
    this.allow('browse', dest);
    const d = this.broker.findDestination(dest);
    if (d === undefined) return [];
    if (!('browse' in d)) throw new FerryError('FERRY_INVALID_DESTINATION', `BROWSE needs a queue, got ${dest}`);
    return d.browse(max);
  }

  /** Drop every waiting message of a queue (memory and disk). @returns how many */
  async purge(dest: string): Promise<number> {
    this.allow('purge', dest);
    const d = this.broker.findDestination(dest);
    if (d === undefined) return 0;
    if (!('purge' in d)) throw new FerryError('FERRY_INVALID_DESTINATION', `PURGE needs a queue, got ${dest}`);
    return d.purge();
  }

  /** Remove a queue and its messages, or a topic without subscribers. @returns messages dropped */
  async deleteDestination(dest: string): Promise<number> {
    this.allow('delete', dest);
    return this.broker.deleteDestination(dest);
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
    this.flow.close();
    for (const t of this.txs.values()) this.rollback(t);
    this.txs.clear();
    for (const sub of this.subs.values()) sub.close();
    this.subs.clear();
    for (const d of this.producing) d.counters.producers--;
    this.producing.clear();
    this.onClose();
  }

  private sendNow(input: SendInput, cb: Done, tx: string | undefined): void {
    if (this.closed) return cb(closedError());
    let d: Queue | Topic;
    try {
      d = this.broker.hooks.guarded ? this.guardedDestination(input.dest) : this.broker.destination(input.dest);
    } catch (err) {
      return cb(err as Error);
    }
    if (!this.producing.has(d)) {
      this.producing.add(d);
      d.counters.producers++;
    }
    if (tx !== undefined) {
      const t = this.txs.get(tx);
      if (t === undefined) return cb(unknownTx(tx));
      if (t.sends.length >= MAX_TRANSACTION_SENDS) {
        return cb(new FerryError('FERRY_RESOURCE_EXHAUSTED', `transaction ${tx} holds ${MAX_TRANSACTION_SENDS} sends already; commit it`));
      }
      t.sends.push({ input, dest: d });
      return cb();
    }
    this.flow.started();
    this.broker.send(input, d, this.finisher(cb));
  }

  /**
   * `cb` behind the flow-control count. A protocol adapter passes one shared callback for sends that want no
   * receipt: its wrapper is made once, not once per message.
   */
  private finisher(cb: Done): Done {
    if (cb === this.lastCb) return this.lastFinisher!;
    const f: Done = (err) => this.finished(cb, err);
    this.lastCb = cb;
    this.lastFinisher = f;
    return f;
  }

  /**
   * The destination of a send, with the authorize hook asked: `send`, and `create` when it does not exist yet. The
   * answer is remembered per destination, so a producer's sends cost the hook once (a destination deleted since is
   * asked about again). @throws FerryError FERRY_NOT_AUTHORIZED, FERRY_INVALID_DESTINATION
   */
  private guardedDestination(raw: string): Queue | Topic {
    const existing = this.broker.findDestination(raw);
    if (this.sendableGeneration !== this.broker.hooks.generation) {
      this.sendable = null;
      this.sendableGeneration = this.broker.hooks.generation;
    }
    if (existing !== undefined && this.sendable?.has(raw) === true) return existing;
    const parsed = parseDestination(raw);
    if (parsed.kind === 'topic' && isWildcard(parsed.name)) return this.broker.destination(raw); // refuses it: not a hook's question
    const canonical = parsed.canonical;
    this.broker.hooks.authorize(this.principal, 'send', canonical);
    if (existing === undefined) this.broker.hooks.authorize(this.principal, 'create', canonical);
    const d = existing ?? this.broker.destination(raw);
    this.sendable ??= new Set();
    if (this.sendable.size >= MAX_SENDABLE) this.sendable.clear();
    this.sendable.add(raw);
    return d;
  }

  private finished(cb: Done, err?: Error): void {
    this.flow.finished();
    cb(err);
  }

  private subscribeNow(input: SubscribeInput, cb: (err: Error | null, sub: Subscription | null) => void): void {
    if (this.closed) return cb(closedError(), null);
    // Answered from onAttach (every source attaches synchronously), so the answer precedes the first delivery.
    let answered = false;
    let sub: Subscription;
    try {
      if (this.subs.has(input.sid)) {
        throw new FerryError('FERRY_DUPLICATE_SUBSCRIPTION', `subscription id ${input.sid} is already in use on this connection`);
      }
      if (this.subs.size >= MAX_SUBSCRIPTIONS) {
        throw new FerryError('FERRY_RESOURCE_EXHAUSTED', `${MAX_SUBSCRIPTIONS} subscriptions are open on this connection already`);
      }
      if (this.broker.hooks.guarded) {
        const dest = parseConsumerDestination(input.dest).dest;
        this.allow('subscribe', dest);
        // Subscribing to a destination that does not exist creates it (not so a wildcard, which names none).
        if (!isWildcard(parseDestination(dest).name) && this.broker.findDestination(dest) === undefined) this.allow('create', dest);
      }
      sub = new Subscription(input.sid, input.dest, input.ack, input.prefetch, input.sink ?? this.sink);
      // Deliveries may start inside broker.subscribe: the answer goes first, once every check has passed.
      sub.onAttach = () => {
        answered = true;
        this.subs.set(input.sid, sub);
        cb(null, sub);
      };
      this.broker.subscribe(this, input, sub);
    } catch (err) {
      if (answered) throw err;
      return cb(err as Error, null);
    }
  }

  private commitNow(tx: string, cb: Done): void {
    const t = this.txs.get(tx);
    if (t === undefined) return cb(unknownTx(tx));
    // Refused before anything takes effect: a COMMIT answered with an error must not have applied half of it.
    if (t.sends.length > 0 || t.acks.length > 0) {
      try {
        this.broker.assertWritable(`COMMIT of ${tx}`);
      } catch (err) {
        return cb(err as Error); // the transaction stays open: the client may retry the COMMIT or ABORT it
      }
    }
    this.txs.delete(tx);
    this.flow.started();
    let waiting = 1;
    let failed: Error | undefined;
    const one = (err?: Error): void => {
      if (err) failed = err;
      if (--waiting === 0) this.finished(cb, failed);
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

  /** Run an ordered operation now, or behind what flow control holds; `fail` answers it if the session closes first. */
  private ordered(fn: () => void, fail: Done): void {
    if (this.flow.holding) this.flow.defer(fn, fail);
    else fn();
  }

  /** @throws FerryError FERRY_NOT_AUTHORIZED, FERRY_INVALID_DESTINATION */
  private allow(action: AuthorizeAction, dest: string): void {
    if (!this.broker.hooks.guarded) return;
    this.broker.hooks.authorize(this.principal, action, parseDestination(dest).canonical);
  }

  private rollback(t: Transaction): void {
    for (const a of t.acks) this.subs.get(a.sid)?.nack(a.tag, a.upto);
  }

  private tx(id: string): Transaction {
    const t = this.txs.get(id);
    if (t === undefined) throw unknownTx(id);
    return t;
  }

  private sub(sid: number): Subscription {
    const s = this.subs.get(sid);
    if (s === undefined) throw new FerryError('FERRY_UNKNOWN_SUBSCRIPTION', `no subscription ${sid} on this connection`);
    return s;
  }
}

function unknownTx(id: string): FerryError {
  return new FerryError('FERRY_UNKNOWN_TRANSACTION', `no open transaction ${id}`);
}

function closedError(): FerryError {
  return new FerryError('FERRY_CONNECTION_CLOSED', 'session closed');
}
