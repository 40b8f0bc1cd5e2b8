import { FerryError } from '../errors.js';
import type { MessageStore } from '../store/store.js';
import { Deque } from '../model/deque.js';
import { type BrokerMessage, homeOf, messageSize, orderOf } from '../model/message.js';
import type { Subscription, SubscriptionSource } from './subscription.js';

const PRIORITIES = 10;
/** Messages a queue keeps in memory before new persistent ones stay on disk only (ActiveMQ's maxPageSize, scaled). */
export const DEFAULT_PAGE_MESSAGES = 5000;
/** Bytes of message bodies a queue keeps in memory before paging. */
export const DEFAULT_PAGE_BYTES = 16 * 1024 * 1024;
/**
 * Memory (as {@link messageSize} counts it, messages in flight included) a queue with no policy `memoryLimit` holds
 * before non-persistent sends to it wait (producer flow control). A producer faster than its consumers gains nothing
 * from a deeper backlog in memory (they take messages no faster), while the broker's footprint grows with it: a
 * message that waits outlives V8's young generation and, with the socket chunk its body is a view of, is freed only
 * by a full collection. Four prefetch windows of 1 KiB messages; a policy `memoryLimit` replaces it.
 */
export const DEFAULT_QUEUE_MEMORY_BYTES = 4 * 1024 * 1024;
/** With selector consumers, how many waiting messages one dispatch pass looks at, at most. */
const MAX_SELECTOR_SCAN = 10_000;

/** What a queue needs from the broker around it. */
export interface QueueContext {
  store: MessageStore;
  /** Take a message that cannot be delivered (expired, poison) out of its queue. */
  deadLetter(msg: BrokerMessage, reason: string): void;
  /** The highest store sequence handed out so far. */
  lastSeq(): number;
  /** Memory held by a queue changed by `delta` bytes (producer flow control watches the total). */
  memoryChanged(delta: number): void;
  /** The broker's memory limit is reached: persistent messages stay on disk instead of blocking producers. */
  memoryFull(): boolean;
  pageMessages: number;
  pageBytes: number;
  onError(err: unknown, what: string): void;
  /** A message's time to live ran out while it waited here. */
  expired?(msg: BrokerMessage): void;
}

/** A destination's own settings, from the first `<policyEntry>` that matches it (or the broker's defaults). */
export interface QueueSettings {
  /** Redeliveries allowed after the first delivery before a NACKed message is dead-lettered; -1: never. */
  maximumRedeliveries: number;
  /** Wait before a NACKed message is delivered again, ms. */
  redeliveryDelayMs: number;
  /** Memory this destination may hold; past it persistent messages stay on disk and non-persistent producers wait. */
  memoryLimitBytes: number;
}

/** Counters of one destination, as dstat shows them. */
export class DestinationCounters {
  enqueued = 0;
  dequeued = 0;
  expired = 0;
  producers = 0;
  /** Messages network bridges sent on to other brokers. */
  forwarded = 0;
}

/**
 * A queue: competing consumers, highest priority first, FIFO within a priority, round-robin over the consumers
 * that have prefetch credit (and whose selector accepts the message).
 *
 * Deeper than memory: once `pageMessages` or `pageBytes` are held, new persistent messages stay on disk only and
 * are paged in, in store order, as consumers drain the queue. Also used, unstored and with one consumer, as a
 * topic subscription's buffer, and, stored, as a durable subscription's backlog.
 */
export class Queue implements SubscriptionSource {
  private readonly buckets: Deque<BrokerMessage>[] = [];
  private pending = 0;
  private readonly consumers: Subscription[] = [];
  private rr = 0;
  private dispatching = false;
  /** Persistent messages on disk and not in memory. */
  private stored = 0;
  /** Highest store sequence that is (or was) in memory: paging resumes above it. */
  private cursor = 0;
  private loading = false;
  private deleted = false;
  /** At least the messages in memory with an expiry time (the sweep skips a queue at 0, and recounts). */
  private expiring = 0;
  /** Deliveries in flight to consumers (not acked yet). */
  inflight = 0;
  memoryBytes = 0;
  readonly counters = new DestinationCounters();

  /**
   * Dispatch watermark, on disk: a persistent message above it is not handed to a consumer until the watermark
   * covering it is synced, so after a crash every stored message that may have been delivered is at or below the
   * stored watermark, and comes back flagged redelivered (ActiveMQ's persistJMSRedelivered, at the cost of a few
   * bytes per batch instead of a write per dispatch).
   */
  private mark = 0;
  /** The watermark found at open: messages paged in at or below it are flagged redelivered. */
  private recoveredMark = 0;
  private marking = false;
  /** Highest store sequence the queue has been told about (enqueued or recovered): paging in stops there. */
  private known = 0;

  /** NACKed messages waiting out their redelivery delay, and the timers that bring them back. */
  private delayed = 0;
  private readonly delayTimers = new Set<NodeJS.Timeout>();

  constructor(
    readonly canonical: string,
    protected readonly ctx: QueueContext,
    readonly settings: QueueSettings,
  ) {
    for (let i = 0; i < PRIORITIES; i++) this.buckets.push(new Deque<BrokerMessage>());
  }

  /** True when this queue holds as much memory as its policy (or {@link DEFAULT_QUEUE_MEMORY_BYTES}) allows. */
  get full(): boolean {
    const limit = this.settings.memoryLimitBytes;
    return this.memoryBytes >= (limit === Number.POSITIVE_INFINITY ? DEFAULT_QUEUE_MEMORY_BYTES : limit);
  }

  /** Messages waiting for a consumer, in memory and on disk (not counting those in flight). */
  get size(): number {
    return this.pending + this.stored + this.delayed;
  }

  /** Messages waiting on disk only. */
  get paged(): number {
    return this.stored;
  }

  get consumerCount(): number {
    return this.consumers.length;
  }

  /** Consumers that are not network bridges'. */
  get localConsumerCount(): number {
    let n = 0;
    for (const c of this.consumers) if (c.info === null || !c.info.network) n++;
    return n;
  }

  /**
   * A new persistent message would be dispatched as soon as it is stored: the broker then writes the watermark
   * with it (a stale answer costs only a second small synced write before dispatch, or a redelivered flag after a
   * crash on a message never delivered).
   */
  get dispatchesAtOnce(): boolean {
    return this.consumers.length > 0 && this.stored === 0 && this.pending < this.ctx.pageMessages;
  }

  /** The watermark up to `seq` is on disk. */
  marked(seq: number): void {
    if (seq > this.mark) this.mark = seq;
  }

  enqueue(msg: BrokerMessage): void {
    if (this.deleted) return;
    this.counters.enqueued++;
    if (msg.seq > this.known) this.known = msg.seq;
    if (
      msg.seq > 0 &&
      (this.stored > 0 ||
        this.pending >= this.ctx.pageMessages ||
        this.memoryBytes >= Math.min(this.ctx.pageBytes, this.settings.memoryLimitBytes) ||
        this.ctx.memoryFull())
    ) {
      // Paging: the store has it; it comes into memory when the queue drains down to it.
      this.stored++;
      return;
    }
    this.hold(msg);
    if (this.consumers.length > 0) this.dispatch();
  }

  /** A stored backlog found at open: page it in from the start. */
  recover(count: number, mark: number): void {
    this.stored += count;
    this.known = Math.max(this.known, this.ctx.lastSeq());
    this.mark = Math.max(this.mark, mark);
    this.recoveredMark = Math.max(this.recoveredMark, mark);
    // Counted as enqueued, so that dstat's Enqueue # − Dequeue # is the queue size after a restart too.
    this.counters.enqueued += count;
    this.pageIn();
  }

  addConsumer(sub: Subscription): void {
    sub.source = this;
    // Highest priority first, arrival order within a priority: nextConsumer walks the groups in this order.
    let i = this.consumers.length;
    while (i > 0 && this.consumers[i - 1]!.priority < sub.priority) i--;
    this.consumers.splice(i, 0, sub);
    sub.attached();
    this.dispatch();
  }

  removeConsumer(sub: Subscription): void {
    const i = this.consumers.indexOf(sub);
    if (i >= 0) this.consumers.splice(i, 1);
    if (this.rr >= this.consumers.length) this.rr = 0;
    // What the one who left held back may now suit another (a network consumer's replay of stuck messages).
    if (this.pending > 0 && this.consumers.length > 0) queueMicrotask(() => this.dispatch());
  }

  acked(msgs: BrokerMessage[]): void {
    let bytes = 0;
    for (const m of msgs) {
      if (m.seq > 0) this.ctx.store.remove(m.seq, homeOf(m));
      bytes += messageSize(m);
    }
    this.release(bytes);
    this.inflight -= msgs.length;
    this.counters.dequeued += msgs.length;
  }

  requeue(msgs: BrokerMessage[], nacked: boolean): void {
    this.inflight -= msgs.length;
    const max = this.settings.maximumRedeliveries;
    // An abandoned delivery (its consumer left without acking) counts as a NACK does, so a message that kills
    // every consumer it reaches still ends on the DLQ (ActiveMQ counts it too).
    const back: BrokerMessage[] = [];
    for (const m of msgs) {
      if (max >= 0 && m.deliveryCount > max) {
        this.release(messageSize(m));
        this.counters.dequeued++;
        this.ctx.deadLetter(m, `delivered ${m.deliveryCount} times, maximumRedeliveries=${max}`);
      } else back.push(m);
    }
    if (nacked) {
      const delay = this.settings.redeliveryDelayMs;
      if (delay > 0 && back.length > 0) {
        // Held aside for the redelivery delay (counted in the queue's size), then back at the front.
        this.delayed += back.length;
        const held = back;
        const timer = setTimeout(() => {
          this.delayTimers.delete(timer);
          this.delayed -= held.length;
          if (!this.deleted) this.putBack(held);
        }, delay);
        timer.unref();
        this.delayTimers.add(timer);
        return;
      }
    }
    this.putBack(back);
  }

  /** A message taken out for the dead-letter queue whose copy could not be stored: it stays here. */
  restore(msg: BrokerMessage): void {
    if (this.deleted) return;
    this.counters.dequeued--;
    this.hold(msg);
    this.dispatch();
  }

  /** Messages given back go to the front, in their original order, so a redelivery keeps the queue's order. */
  private putBack(msgs: BrokerMessage[]): void {
    // Deliveries come back in tag order; a redelivered one has a later tag than messages that arrived after it.
    if (msgs.length > 1) msgs.sort((a, b) => orderOf(a) - orderOf(b));
    for (let i = msgs.length - 1; i >= 0; i--) {
      const m = msgs[i]!;
      this.buckets[m.priority]!.unshift(m);
      this.pending++;
      if (m.expires !== 0) this.expiring++;
    }
    this.dispatch();
  }

  dispatch(): void {
    if (this.dispatching || this.consumers.length === 0) return;
    this.dispatching = true;
    try {
      if (this.pending > 0) this.dispatchAll();
    } finally {
      this.dispatching = false;
    }
    this.pageIn();
  }

  /** A non-destructive look at up to `max` waiting messages in memory, in dispatch order. */
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

  /**
   * Drop every waiting message, in memory and on disk (not those in flight); resolves once that is synced.
   * @returns how many. @throws FerryError FERRY_STORE when the store cannot write (then nothing is dropped) or the
   * write fails (then the removal is written once the store has recovered, but is not confirmed)
   */
  async purge(): Promise<number> {
    const f = this.ctx.store.failure;
    if (f !== null) throw new FerryError('FERRY_STORE', `purge of ${this.canonical} refused: ${f.message}; the store is reopening`);
    let n = 0;
    let removes = 0;
    let bytes = 0;
    for (const bucket of this.buckets) {
      for (const m of bucket.clear()) {
        if (m.seq > 0) {
          this.ctx.store.remove(m.seq, homeOf(m));
          removes++;
        }
        bytes += messageSize(m);
        n++;
      }
    }
    this.pending = 0;
    this.release(bytes);
    this.counters.dequeued += n;
    try {
      if (this.stored > 0) {
        const upTo = this.ctx.lastSeq();
        const removed = await this.ctx.store.removeRange(this.canonical, this.cursor, upTo);
        this.stored = Math.max(0, this.stored - removed);
        this.cursor = Math.max(this.cursor, upTo);
        this.counters.dequeued += removed;
        n += removed;
      } else if (removes > 0) {
        await new Promise<void>((resolve, reject) => this.ctx.store.barrier((err) => (err ? reject(err) : resolve()), true));
      }
    } catch (err) {
      throw new FerryError('FERRY_STORE', `purge of ${this.canonical} not confirmed: ${(err as Error).message}`, { cause: err });
    }
    return n;
  }

  /**
   * Expire waiting messages whose time has come, so that a queue nobody consumes does not keep them (ActiveMQ's
   * expireMessagesPeriod). Messages on disk are expired when they are paged in.
   */
  sweepExpired(now: number): number {
    if (this.expiring === 0) return 0;
    let n = 0;
    let left = 0;
    for (const bucket of this.buckets) {
      if (bucket.length === 0) continue;
      const keep = new Deque<BrokerMessage>();
      let m: BrokerMessage | undefined;
      while ((m = bucket.shift()) !== undefined) {
        if (m.expires !== 0 && m.expires <= now) {
          this.pending--;
          this.expire(m);
          n++;
        } else {
          if (m.expires !== 0) left++;
          keep.push(m);
        }
      }
      for (const k of keep) bucket.push(k);
    }
    this.expiring = left;
    return n;
  }

  /** Remove the queue: consumers closed, every message dropped. */
  async delete(): Promise<number> {
    for (const t of this.delayTimers) clearTimeout(t);
    this.delayTimers.clear();
    this.delayed = 0;
    const subs = [...this.consumers];
    for (const s of subs) s.close();
    const n = await this.purge();
    this.deleted = true;
    return n;
  }

  private hold(msg: BrokerMessage): void {
    this.buckets[msg.priority]!.push(msg);
    this.pending++;
    if (msg.expires !== 0) this.expiring++;
    if (msg.seq > this.cursor) this.cursor = msg.seq;
    const size = messageSize(msg);
    this.memoryBytes += size;
    this.ctx.memoryChanged(size);
  }

  private release(bytes: number): void {
    this.memoryBytes -= bytes;
    this.ctx.memoryChanged(-bytes);
  }

  /**
   * Messages in order to the consumers that take them. When the message at the head is one no consumer with credit
   * accepts (selectors, a network consumer's loop filter), the rest of the queue is scanned message by message.
   */
  private dispatchAll(): void {
    const now = Date.now();
    while (this.pending > 0) {
      const msg = this.peek()!;
      if (msg.expires !== 0 && msg.expires <= now) {
        this.take();
        this.expire(msg);
        continue;
      }
      const sub = this.nextConsumer(msg);
      if (sub === undefined) {
        if (this.consumers.some((c) => c.filter !== null && c.credit > 0)) this.dispatchSelective();
        return;
      }
      if (msg.seq > this.mark) {
        this.raiseMark();
        return;
      }
      this.take();
      this.inflight++;
      sub.deliver(msg);
    }
  }

  /** Write (and sync) a watermark covering every message in memory, then dispatch again. */
  private raiseMark(): void {
    if (this.marking) return;
    this.marking = true;
    const target = this.cursor;
    this.ctx.store.mark(this.canonical, target);
    this.ctx.store.barrier((err) => {
      this.marking = false;
      // On a failure, dispatch resumes when the store has recovered (the broker dispatches every queue then).
      if (err) return;
      this.marked(target);
      this.dispatch();
    }, true);
  }

  /** With selector consumers: each message goes to the next consumer with credit that accepts it. */
  private dispatchSelective(): void {
    const now = Date.now();
    let scanned = 0;
    let unmarked = false;
    for (let p = PRIORITIES - 1; p >= 0; p--) {
      const bucket = this.buckets[p]!;
      const keep = new Deque<BrokerMessage>();
      let m: BrokerMessage | undefined;
      while ((m = bucket.shift()) !== undefined) {
        if (scanned++ >= MAX_SELECTOR_SCAN || !this.consumers.some((c) => c.credit > 0)) {
          keep.push(m);
          continue;
        }
        if (m.expires !== 0 && m.expires <= now) {
          this.pending--;
          this.expire(m);
          continue;
        }
        if (m.seq > this.mark) {
          unmarked = true;
          keep.push(m);
          continue;
        }
        const sub = this.nextConsumer(m);
        if (sub === undefined) {
          keep.push(m);
          continue;
        }
        this.pending--;
        this.inflight++;
        sub.deliver(m);
      }
      for (const k of keep) bucket.push(k);
    }
    if (unmarked) this.raiseMark();
  }

  /** Page stored messages in once there is room for a fifth of a page, each part dispatched as it is read. */
  private pageIn(): void {
    if (this.loading || this.deleted || this.stored === 0 || this.pending > this.ctx.pageMessages * 0.8) return;
    this.loading = true;
    const limit = this.ctx.pageMessages - this.pending;
    const store = this.ctx.store;
    // Everything queued for the store before now must be readable before we look.
    store.barrier((err) => {
      if (err) {
        // The store is reopening after a failed write (logged once there): the broker dispatches every queue
        // again when it is back, and this page-in with it.
        this.loading = false;
        return;
      }
      let read = 0;
      let taken = 0;
      let unknown = false;
      const take = (msgs: BrokerMessage[]): boolean => {
        if (this.deleted) return false;
        read += msgs.length;
        const before = taken;
        for (const m of msgs) {
          // Written, but its store callback (which enqueues it) has not run yet: it arrives that way.
          if ((unknown = m.seq > this.known)) break;
          if (m.seq <= this.cursor) continue;
          // Stored before the crash at or below the watermark: it may have been delivered then.
          if (m.seq <= this.recoveredMark && m.deliveryCount < 1) m.deliveryCount = 1;
          this.stored--;
          this.hold(m);
          taken++;
        }
        // The watermark for these now, while what came before them is dispatched: raised when dispatch reached
        // them, its synced write left the consumers waiting on every page of a deep queue.
        if (taken > before && this.consumers.length > 0) {
          if (this.cursor > this.mark) this.raiseMark();
          this.dispatch();
        }
        return !unknown;
      };
      const loaded = store.loadChunks
        ? store.loadChunks(this.canonical, this.cursor, limit, take)
        : store.load(this.canonical, this.cursor, limit).then((msgs) => void take(msgs));
      loaded.then(
        () => {
          this.loading = false;
          if (this.deleted || (unknown && taken === 0)) return;
          // A count that disagrees with the disk (removed behind our back) must not make us spin.
          if (read === 0) this.stored = 0;
          if (this.stored < 0) this.stored = 0;
          this.dispatch();
        },
        (err: unknown) => {
          this.loading = false;
          if (this.ctx.store.failure === null) this.ctx.onError(err, `paging in ${this.canonical}`);
        },
      );
    });
  }

  private peek(): BrokerMessage | undefined {
    for (let p = PRIORITIES - 1; p >= 0; p--) {
      const b = this.buckets[p]!;
      if (b.length > 0) return b.peek();
    }
    return undefined;
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

  /**
   * The consumer for `msg`: among those with credit whose filter accepts it, the highest priority wins (ActiveMQ's
   * consumer.priority; network consumers sit below local ones), round-robin among equals.
   */
  private nextConsumer(msg: BrokerMessage): Subscription | undefined {
    const cs = this.consumers;
    const n = cs.length;
    for (let start = 0; start < n; ) {
      const p = cs[start]!.priority;
      let end = start + 1;
      while (end < n && cs[end]!.priority === p) end++;
      const size = end - start;
      for (let i = 0; i < size; i++) {
        const k = (this.rr + i) % size;
        const sub = cs[start + k]!;
        if (sub.credit > 0 && (sub.filter === null || sub.filter(msg))) {
          this.rr = k + 1;
          return sub;
        }
      }
      start = end;
    }
    return undefined;
  }

  private expire(msg: BrokerMessage): void {
    this.release(messageSize(msg));
    this.counters.expired++;
    this.counters.dequeued++;
    this.ctx.expired?.(msg);
    if (msg.persistent) this.ctx.deadLetter(msg, 'expired');
    else if (msg.seq > 0) this.ctx.store.remove(msg.seq, homeOf(msg));
  }
}
