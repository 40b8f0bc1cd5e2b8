import { type BrokerMessage, homeOf } from '../model/message.js';
import type { DurableRecord, MessageStore, RecoveredState, StoreCallback, StoredDestination } from './store.js';

/** A store that keeps nothing across restarts: for `persistent="false"` brokers and unit tests. */
export class MemoryStore implements MessageStore {
  readonly kind = 'memory';
  readonly bytesWritten = 0;
  readonly failure: Error | null = null;
  private readonly marks = new Map<string, number>();
  private readonly messages = new Map<number, BrokerMessage>();
  private readonly producers = new Map<string, number>();
  private readonly durables = new Map<string, DurableRecord>();
  private nextSeq = 1;

  async open(): Promise<RecoveredState> {
    const destinations = new Map<string, StoredDestination>();
    for (const m of this.messages.values()) {
      const d = destinations.get(homeOf(m)) ?? { count: 0 };
      d.count++;
      destinations.set(homeOf(m), d);
    }
    return { destinations, durables: [...this.durables.values()], producers: new Map(this.producers), nextSeq: this.nextSeq, marks: new Map(this.marks) };
  }

  watch(): void {}

  mark(dest: string, seq: number): void {
    if (seq > (this.marks.get(dest) ?? 0)) this.marks.set(dest, seq);
  }

  async close(): Promise<void> {}

  add(msg: BrokerMessage, cb: StoreCallback): void {
    this.messages.set(msg.seq, { ...msg });
    if (msg.seq >= this.nextSeq) this.nextSeq = msg.seq + 1;
    if (msg.pid !== undefined && msg.pseq !== undefined) this.producers.set(msg.pid, msg.pseq);
    queueMicrotask(cb);
  }

  remove(seq: number): void {
    this.messages.delete(seq);
  }

  async load(dest: string, afterSeq: number, limit: number): Promise<BrokerMessage[]> {
    const out: BrokerMessage[] = [];
    for (const m of [...this.messages.values()].sort((a, b) => a.seq - b.seq)) {
      if (homeOf(m) === dest && m.seq > afterSeq) out.push({ ...m, deliveryCount: m.deliveryCount });
      if (out.length >= limit) break;
    }
    return out;
  }

  async removeRange(dest: string, afterSeq: number, upToSeq: number): Promise<number> {
    let n = 0;
    for (const [seq, m] of this.messages) {
      if (homeOf(m) === dest && seq > afterSeq && seq <= upToSeq) {
        this.messages.delete(seq);
        n++;
      }
    }
    return n;
  }

  putDurable(rec: DurableRecord, cb: StoreCallback): void {
    this.durables.set(`${rec.clientId}\x00${rec.name}`, rec);
    queueMicrotask(cb);
  }

  removeDurable(clientId: string, name: string): void {
    this.durables.delete(`${clientId}\x00${name}`);
  }

  forgetProducer(pid: string): void {
    this.producers.delete(pid);
  }

  barrier(cb: StoreCallback): void {
    queueMicrotask(cb);
  }
}
