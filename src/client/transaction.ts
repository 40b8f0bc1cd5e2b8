import type { Connection, SendOptions } from './connection.js';
import type { Body, Message } from './message.js';

/**
 * A transaction (JMS transacted session): sends become visible and acks take effect together at
 * {@link commit}; {@link abort} drops the sends and redelivers what was acked.
 */
export class Transaction {
  private done = false;

  /** @internal */
  constructor(
    private readonly conn: Connection,
    readonly id: string,
    private readonly epoch: number,
  ) {}

  /** Send within the transaction; resolves once the broker holds it for commit. */
  send(destination: string, body: Body, options: SendOptions = {}): Promise<void> {
    this.check();
    return this.conn.txSend(this.id, this.epoch, destination, body, options);
  }

  /** Acknowledge a message within the transaction (from a subscription in `client` or `individual` mode). */
  ack(m: Message): void {
    this.check();
    this.conn.txAck(this.id, this.epoch, m);
  }

  /** Make every send visible and every ack final; resolves once persistent sends are on disk. */
  async commit(): Promise<void> {
    this.check();
    this.done = true;
    await this.conn.txRequest({ t: 'COMMIT', tx: this.id }, this.epoch);
  }

  /** Drop the sends; the acked messages are delivered again. */
  async abort(): Promise<void> {
    this.check();
    this.done = true;
    await this.conn.txRequest({ t: 'ABORT', tx: this.id }, this.epoch);
  }

  private check(): void {
    if (this.done) throw new Error(`transaction ${this.id} is already committed or aborted`);
  }
}
