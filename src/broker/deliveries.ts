import type { BrokerMessage } from '../model/message.js';

/**
 * A subscription's unacknowledged deliveries by tag. Tags are handed out one after another, so the deliveries live
 * in a ring indexed by `tag - base`: adding, finding and removing one costs an array access, and acking "up to a
 * tag" walks the ring from its start (a Map per subscription paid a hash insert and delete per message, and
 * rehashed as the deletions piled up).
 *
 * Acks may leave holes (individual and client modes, NACKs); the ring's start moves past holes at its head. A
 * delivery kept unacked while later ones are acked would stretch the ring without bound, so once it spans more
 * than `maxSpan` tags its oldest deliveries move aside into a Map of stragglers (in tag order, since they move in
 * tag order) and the ring's start moves on.
 */
export class Deliveries {
  private ring: (BrokerMessage | undefined)[] = new Array<BrokerMessage | undefined>(16);
  /** Ring index of tag `base`. */
  private head = 0;
  /** The tag at the ring's start; tags [base, base + span) are covered by the ring. */
  private base = 0;
  private span = 0;
  /** Deliveries moved out of the ring, older than `base`, in tag order. */
  private stragglers: Map<number, BrokerMessage> | null = null;
  /** Outstanding deliveries. */
  size = 0;

  constructor(private readonly maxSpan: number) {}

  /** Add delivery `tag`, which must be above every tag added before. */
  add(tag: number, msg: BrokerMessage): void {
    if (this.span === 0) {
      this.base = tag;
      this.head = 0;
    } else {
      // A gap (tags skipped): the slots between stay empty.
      while (this.base + this.span < tag) this.push(undefined);
    }
    this.push(msg);
    this.size++;
    if (this.span > this.maxSpan) this.setAsideOldest();
  }

  has(tag: number): boolean {
    return this.get(tag) !== undefined;
  }

  get(tag: number): BrokerMessage | undefined {
    const i = tag - this.base;
    if (i >= 0 && i < this.span) return this.ring[(this.head + i) & (this.ring.length - 1)];
    return this.stragglers?.get(tag);
  }

  /** Remove delivery `tag`; undefined when it is not outstanding. */
  delete(tag: number): BrokerMessage | undefined {
    const i = tag - this.base;
    if (i >= 0 && i < this.span) {
      const at = (this.head + i) & (this.ring.length - 1);
      const m = this.ring[at];
      if (m === undefined) return undefined;
      this.ring[at] = undefined;
      this.size--;
      this.trim();
      return m;
    }
    const s = this.stragglers;
    if (s === null) return undefined;
    const m = s.get(tag);
    if (m !== undefined) {
      s.delete(tag);
      this.size--;
      if (s.size === 0) this.stragglers = null;
    }
    return m;
  }

  /** Remove every delivery up to and including `tag`, in tag order. */
  takeUpTo(tag: number): BrokerMessage[] {
    const out: BrokerMessage[] = [];
    const s = this.stragglers;
    if (s !== null) {
      for (const [t, m] of s) {
        if (t > tag) break;
        out.push(m);
        s.delete(t);
      }
      if (s.size === 0) this.stragglers = null;
    }
    const mask = this.ring.length - 1;
    while (this.span > 0 && this.base <= tag) {
      const m = this.ring[this.head];
      if (m !== undefined) {
        out.push(m);
        this.ring[this.head] = undefined;
      }
      this.head = (this.head + 1) & mask;
      this.base++;
      this.span--;
    }
    this.size -= out.length;
    this.trim();
    return out;
  }

  /** Remove and return every delivery, in tag order. */
  clear(): BrokerMessage[] {
    const out: BrokerMessage[] = this.stragglers === null ? [] : [...this.stragglers.values()];
    const mask = this.ring.length - 1;
    for (let i = 0; i < this.span; i++) {
      const m = this.ring[(this.head + i) & mask];
      if (m !== undefined) out.push(m);
    }
    this.ring = new Array<BrokerMessage | undefined>(16);
    this.head = 0;
    this.span = 0;
    this.stragglers = null;
    this.size = 0;
    return out;
  }

  private push(m: BrokerMessage | undefined): void {
    if (this.span === this.ring.length) this.grow();
    this.ring[(this.head + this.span) & (this.ring.length - 1)] = m;
    this.span++;
  }

  /** Move the ring's start past empty slots (acked deliveries at its head). */
  private trim(): void {
    const mask = this.ring.length - 1;
    while (this.span > 0 && this.ring[this.head] === undefined) {
      this.head = (this.head + 1) & mask;
      this.base++;
      this.span--;
    }
  }

  /** The ring spans too many tags: its oldest deliveries go to the stragglers until it spans half as many. */
  private setAsideOldest(): void {
    const s = (this.stragglers ??= new Map());
    const mask = this.ring.length - 1;
    while (this.span > this.maxSpan / 2) {
      const m = this.ring[this.head];
      if (m !== undefined) {
        s.set(this.base, m);
        this.ring[this.head] = undefined;
      }
      this.head = (this.head + 1) & mask;
      this.base++;
      this.span--;
    }
    this.trim();
  }

  /** Double the ring (a power of two, so an index wraps with a mask). */
  private grow(): void {
    const old = this.ring;
    const mask = old.length - 1;
    const next = new Array<BrokerMessage | undefined>(old.length * 2);
    for (let i = 0; i < this.span; i++) next[i] = old[(this.head + i) & mask];
    this.ring = next;
    this.head = 0;
  }
}
