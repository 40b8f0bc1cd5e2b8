import { BrokerError } from '../errors.js';
import type { SendCmd } from '../protocol/commands.js';
import type { Connection, SendOptions } from './connection.js';
import type { Body, Message } from './message.js';

/** Times a commit is replayed on a new connection before the error reaches the application. */
const MAX_REPLAYS = 5;

/**
 * A transaction (JMS transacted session): sends become visible and acks take effect together at
 * {@link commit}; {@link abort} drops the sends and redelivers what was acked.
 *
 * Failover: the broker aborts a transaction with the connection that carried it. A transaction that only sends is
 * replayed on the new connection (BEGIN, the same sends, COMMIT): its sends carry a producer id of their own and
 * their sequence, so when the lost COMMIT had in fact been applied the broker's duplicate audit drops the replay.
 * A transaction that acked messages cannot be replayed (the deliveries are gone with the connection): commit
 * rejects with FERRY_TRANSACTION_ROLLED_BACK, or FERRY_TRANSACTION_IN_DOUBT when the COMMIT itself was in flight.
 */
export class Transaction {
  private done = false;
  /** The broker's id of the transaction: a new one on each replay. */
  private txId: string;
  private epoch = -1;
  private readonly pid: string;
  private seq = 0;
  private readonly sends: SendCmd[] = [];
  private readonly acked: Message[] = [];

  /** @internal */
  constructor(
    private readonly conn: Connection,
    readonly id: string,
  ) {
    this.txId = id;
    this.pid = `${id}-P`;
  }

  /** @internal BEGIN on the current connection. */
  async open(): Promise<void> {
    this.epoch = this.conn.currentEpoch;
    await this.conn.txRequest({ t: 'BEGIN', tx: this.txId });
  }

  /** Send within the transaction; resolves once the broker holds it for commit. */
  async send(destination: string, body: Body, options: SendOptions = {}): Promise<void> {
    this.check();
    const cmd = this.conn.txCommand(this.pid, ++this.seq, destination, body, options);
    this.sends.push(cmd);
    if (this.epoch !== this.conn.currentEpoch) return; // replayed at commit
    await this.conn.txSend(cmd, this.txId).catch((err: unknown) => {
      if (this.epoch === this.conn.currentEpoch) throw err; // a failover in between: replayed at commit
    });
  }

  /** Acknowledge a message within the transaction (from a subscription in `client` or `individual` mode). */
  ack(m: Message): void {
    this.check();
    this.acked.push(m);
    if (this.epoch === this.conn.currentEpoch) this.conn.txAck(this.txId, m);
  }

  /** Make every send visible and every ack final; resolves once the sends are on disk. */
  async commit(): Promise<void> {
    this.check();
    this.done = true;
    for (let attempt = 0; ; attempt++) {
      if (this.epoch !== this.conn.currentEpoch) await this.replay('rolled back by a failover before COMMIT');
      const sentOn = this.conn.currentEpoch;
      try {
        await this.conn.txRequest({ t: 'COMMIT', tx: this.txId });
        for (const m of this.acked) this.conn.noteAcked(m);
        return;
      } catch (err) {
        const failedOver = this.conn.currentEpoch !== sentOn || (err as { code?: string }).code === 'FERRY_UNKNOWN_TRANSACTION';
        if (!failedOver || attempt >= MAX_REPLAYS) throw err;
        if (this.acked.length > 0) {
          throw new BrokerError(
            'FERRY_TRANSACTION_IN_DOUBT',
            `transaction ${this.id}: the connection failed while COMMIT was in flight; the broker may or may not have applied it, and its acks cannot be replayed`,
            { cause: err },
          );
        }
        this.epoch = -1; // replay on the next pass
      }
    }
  }

  /** Drop the sends; the acked messages are delivered again. */
  async abort(): Promise<void> {
    this.check();
    this.done = true;
    // After a failover the broker has already aborted it.
    if (this.epoch === this.conn.currentEpoch) await this.conn.txRequest({ t: 'ABORT', tx: this.txId });
    else this.giveBack();
  }

  /**
   * Rolled back by a failover: what it acked on an older connection comes again by itself (the broker dropped that
   * connection's deliveries), but what it acked on the current one was never acked to the broker (the broker does not
   * know this transaction), and stays held for this consumer until it is given back.
   */
  private giveBack(): void {
    for (const m of this.acked) if (m.epoch === this.conn.currentEpoch) m.nack();
  }

  /** Begin again on the current connection and send everything again, with the same producer id and sequences. */
  private async replay(why: string): Promise<void> {
    if (this.acked.length > 0) {
      this.giveBack();
      throw new BrokerError('FERRY_TRANSACTION_ROLLED_BACK', `transaction ${this.id} was ${why}; its acked messages will be redelivered`);
    }
    this.txId = this.conn.nextTransactionId();
    await this.open();
    await Promise.all(this.sends.map((cmd) => this.conn.txSend(cmd, this.txId)));
  }

  private check(): void {
    if (this.done) throw new Error(`transaction ${this.id} is already committed or aborted`);
  }
}
