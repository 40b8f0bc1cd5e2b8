import type { BrokerMessage } from '../broker/message.js';

/** What a store holds after open: the messages (in store-sequence order) and the producer audit. */
export interface RecoveredState {
  messages: BrokerMessage[];
  /** Highest sequence stored per producer id. */
  producers: Map<string, number>;
  /** One more than the highest store sequence ever used. */
  nextSeq: number;
}

export type StoreCallback = (err?: Error) => void;

/**
 * Persistence behind an interface: the broker core sees only this. Implementations: LevelStore (LevelDB, fsync'd
 * group commit), MemoryStore (non-persistent brokers and tests). Both pass test/unit/store-conformance.
 *
 * Writes are grouped: every `add` queued while a batch is being written goes into the next batch, which is
 * written (and synced) as one. Callbacks fire in the order the operations were queued.
 */
export interface MessageStore {
  readonly kind: string;
  open(): Promise<RecoveredState>;
  /** Write what is queued, then close. Idempotent. */
  close(): Promise<void>;
  /**
   * Store a persistent message; `cb` once it is durable. `audit` records the producer's sequence in the same
   * batch, so a duplicate is recognised after a restart.
   */
  add(msg: BrokerMessage, cb: StoreCallback): void;
  /** Forget a message (acked, purged, expired). Not synced on its own: losing it in a crash means a redelivery. */
  remove(seq: number, dest: string): void;
  /** Record a producer's highest sequence without a message (non-persistent sends need no durability). */
  forgetProducer(pid: string): void;
  /** `cb` once everything queued before this call is durable. */
  barrier(cb: StoreCallback): void;
}
