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
  /**
   * Dispatch watermark per destination: no message above it was ever handed to a consumer. After a crash the
   * stored messages at or below it may have been delivered, so they come back flagged redelivered.
   */
  marks: Map<string, number>;
}

/** What a store tells its broker about its health. */
export interface StoreListener {
  /**
   * A write failed and the store is unwritable until it has reopened: `attempt` 0 for the write that failed
   * (once per burst), then 1, 2, … for each reopen attempt that failed too.
   */
  failed(err: Error, attempt: number): void;
  /** Writable again after a failure; what was queued meanwhile (acks, purges) is being written. */
  recovered(downMs: number): void;
  /**
   * The store could not be reopened because another node holds it now (shared-store master/slave: reopening
   * releases LevelDB's LOCK for a moment, and a standby may take it). Nothing more is written; the node must stop.
   */
  lost(err: Error): void;
}

export type StoreCallback = (err?: Error) => void;

/**
 * Persistence behind an interface: the broker core sees only this. Implementations: LevelStore (LevelDB behind an
 * fdatasync'd journal, group commit), MemoryStore (non-persistent brokers and tests). Both pass test/unit/store-conformance.
 *
 * Writes are grouped: every `add` queued while a batch is being written goes into the next batch, which is
 * written (and synced) as one. Callbacks fire in the order the operations were queued.
 *
 * A failed write fails every callback of its batch; the messages it carried are not stored (the broker neither
 * enqueues nor dispatches them). Its removals are kept and written again once the store has recovered.
 */
export interface MessageStore {
  readonly kind: string;
  /** The directory it writes to, for disk space accounting; undefined for a store that keeps nothing. */
  readonly directory?: string;
  /** Bytes handed to the disk so far (keys and values): a cheap running estimate of growth between checks. */
  readonly bytesWritten: number;
  /** Bytes accepted and on their way to the disk the store measures (LevelStore: journaled, not yet in LevelDB). */
  readonly bytesPending?: number;
  /**
   * Non-null while the store cannot write (a write failed; it is reopening). New persistent messages are refused
   * meanwhile; removals queue up and are written once it recovers.
   */
  readonly failure: Error | null;
  /**
   * Give removed messages' disk space back now if anything was removed since the last time (LevelDB keeps deleted
   * data until it compacts): the broker asks while the store is full.
   */
  reclaim?(): void;
  /** Where failures and recovery are reported (the broker logs them). */
  watch(listener: StoreListener): void;
  open(): Promise<RecoveredState>;
  /** Write what is queued, then close. Idempotent. */
  close(): Promise<void>;
  /**
   * Store a persistent message; `cb` once it is durable. A message's producer id and sequence are recorded in
   * the same batch, so a duplicate is recognised after a restart.
   */
  add(msg: BrokerMessage, cb: StoreCallback): void;
  /**
   * Raise `dest`'s dispatch watermark to `seq`, written with the next batch (and synced with it when that batch
   * holds a put; a `barrier(cb, true)` forces it).
   */
  mark(dest: string, seq: number): void;
  /** Forget a message (acked, purged, expired). Not synced on its own: losing it in a crash means a redelivery. */
  remove(seq: number, dest: string): void;
  /** Up to `limit` stored messages of `dest` with a sequence above `afterSeq`, in sequence order. */
  load(dest: string, afterSeq: number, limit: number): Promise<BrokerMessage[]>;
  /**
   * The same messages as {@link load}, handed to `onChunk` a part at a time as they are read, until it returns
   * false: a queue dispatches the start of a page while the rest is read. Optional (a queue calls `load` without it).
   */
  loadChunks?(dest: string, afterSeq: number, limit: number, onChunk: (msgs: BrokerMessage[]) => boolean): Promise<void>;
  /**
   * Remove the stored messages of `dest` with sequences in (afterSeq, upToSeq] (purge, delete); resolves once
   * the removal is written and synced. @returns how many. @throws FerryError FERRY_STORE when the write fails
   */
  removeRange(dest: string, afterSeq: number, upToSeq: number): Promise<number>;
  /** Record (or replace) a durable subscription; `cb` once durable. */
  putDurable(rec: DurableRecord, cb: StoreCallback): void;
  /** Forget a durable subscription record (its messages are removed by the caller). */
  removeDurable(clientId: string, name: string): void;
  /** Record a producer's highest sequence without a message (non-persistent sends need no durability). */
  forgetProducer(pid: string): void;
  /**
   * `cb` once everything queued before this call is written; with `sync`, written and synced even when only
   * deletes were queued (a transaction's acks must survive a crash once COMMIT is answered). `cb` gets the
   * store's failure when a write fails or the store is unwritable.
   */
  barrier(cb: StoreCallback, sync?: boolean): void;
}
