import type { BrokerMessage } from '../model/message.js';

/** One destination's stored backlog, as found at open. */
export interface StoredDestination {
  /** Messages stored for it. */
  count: number;
}

/** A durable topic subscription's record. */
export interface DurableRecord {
  clientId: string;
  name: string;
  /** The topic (or wildcard) it subscribes to. */
  topic: string;
  selector?: string;
}

/**
 * What a store holds after open. Messages are not loaded: a queue pages its backlog in with {@link MessageStore.load},
 * so a restart with millions of stored messages is quick and memory stays bounded.
 */
export interface RecoveredState {
  destinations: Map<string, StoredDestination>;
  durables: DurableRecord[];
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
   * Store a persistent message; `cb` once it is durable. A message's producer id and sequence are recorded in
   * the same batch, so a duplicate is recognised after a restart.
   */
  add(msg: BrokerMessage, cb: StoreCallback): void;
  /** Forget a message (acked, purged, expired). Not synced on its own: losing it in a crash means a redelivery. */
  remove(seq: number, dest: string): void;
  /** Up to `limit` stored messages of `dest` with a sequence above `afterSeq`, in sequence order. */
  load(dest: string, afterSeq: number, limit: number): Promise<BrokerMessage[]>;
  /** Remove the stored messages of `dest` with sequences in (afterSeq, upToSeq] (purge, delete). @returns how many. */
  removeRange(dest: string, afterSeq: number, upToSeq: number): Promise<number>;
  /** Record (or replace) a durable subscription; `cb` once durable. */
  putDurable(rec: DurableRecord, cb: StoreCallback): void;
  /** Forget a durable subscription record (its messages are removed by the caller). */
  removeDurable(clientId: string, name: string): void;
  /** Record a producer's highest sequence without a message (non-persistent sends need no durability). */
  forgetProducer(pid: string): void;
  /**
   * `cb` once everything queued before this call is written; with `sync`, written and synced even when only
   * deletes were queued (a transaction's acks must survive a crash once COMMIT is answered).
   */
  barrier(cb: StoreCallback, sync?: boolean): void;
}
