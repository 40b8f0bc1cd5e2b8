import type { BrokerMessage } from '../broker/message.js';
import type { MessageStore, RecoveredState, StoreCallback } from './store.js';

/** A store that keeps nothing across restarts: for `persistent="false"` brokers and unit tests. */
export class MemoryStore implements MessageStore {
  readonly kind = 'memory';
  private readonly messages = new Map<number, BrokerMessage>();
  private readonly producers = new Map<string, number>();
  private nextSeq = 1;

  async open(): Promise<RecoveredState> {
    const messages = [...this.messages.values()].sort((a, b) => a.seq - b.seq);
    return { messages, producers: new Map(this.producers), nextSeq: this.nextSeq };
  }

  async close(): Promise<void> {}

  add(msg: BrokerMessage, cb: StoreCallback): void {
    this.messages.set(msg.seq, msg);
    if (msg.seq >= this.nextSeq) this.nextSeq = msg.seq + 1;
    if (msg.pid !== undefined && msg.pseq !== undefined) this.producers.set(msg.pid, msg.pseq);
    queueMicrotask(cb);
  }

  remove(seq: number): void {
    this.messages.delete(seq);
  }

  forgetProducer(pid: string): void {
    this.producers.delete(pid);
  }

  barrier(cb: StoreCallback): void {
    queueMicrotask(cb);
  }
}
