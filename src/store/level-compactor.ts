import { MSG } from './level-codec.js';

/**
 * Compact after this many deletes have been written, and when the store falls idle after at least
 * COMPACT_WHEN_IDLE of them: LevelDB keeps deleted data on disk until it compacts, so without this the directory
 * of a drained queue would not shrink back.
 */
const COMPACT_AFTER_DELETES = 200_000;
const COMPACT_WHEN_IDLE = 10_000;

/** Message keys end with the sequence as 16 hex digits, after their destination's prefix. */
const SEQ_DIGITS = 16;

/**
 * Background compaction of the message keys deleted since the last pass, one pass at a time. A pass covers the
 * range between the lowest and highest key deleted: a queue drained in order deletes a run of keys, and compacting
 * that run drops them and the tombstones, while a pass over the whole message range (as before) rewrote every
 * message still stored, again every 10,000 deletes of a draining queue (bench/deep.js: 8 of the broker's 23 µs of
 * CPU per drained message, in LevelDB's compaction thread).
 */
export class Compactor {
  /** Deletes written since the last pass, and the lowest and highest key among them. */
  deletes = 0;
  private lo: string | null = null;
  private hi: string | null = null;
  private compacting = false;
  private again = false;
  /** The pass running, if any (a reopen or close waits for it). */
  running: Promise<void> | null = null;

  constructor(
    private readonly db: { compactRange(start: string, end: string): Promise<void> },
    private readonly stopped: () => boolean,
  ) {}

  /** `n` message deletes were written, `lo` and `hi` the lowest and highest of their keys. */
  deleted(n: number, lo: string, hi: string): void {
    if (n <= 0) return;
    this.deletes += n;
    if (this.lo === null || lo < this.lo) this.lo = lo;
    if (this.hi === null || hi > this.hi) this.hi = hi;
  }

  /** After a batch: compact when enough deletes piled up (`idle`: the store has nothing more to write). */
  afterBatch(idle: boolean): void {
    if (this.deletes >= (idle ? COMPACT_WHEN_IDLE : COMPACT_AFTER_DELETES)) this.soon();
  }

  /** Compact now if anything was deleted since the last pass. */
  reclaim(): void {
    if (this.deletes > 0) this.soon();
  }

  /** The range a pass covers: the deleted keys', or every message key when they span destinations. */
  static range(lo: string | null, hi: string | null): [string, string] {
    if (lo === null || hi === null || lo.length !== hi.length || lo.slice(0, -SEQ_DIGITS) !== hi.slice(0, -SEQ_DIGITS)) {
      // Destination names compare differently as JS strings and as LevelDB's UTF-8 bytes; within one destination
      // the keys differ only in their hex digits.
      return [MSG, MSG + '\xff'];
    }
    return [lo, hi];
  }

  private soon(): void {
    if (this.compacting) {
      // Deletes keep coming faster than LevelDB compacts: go again once this pass is done (over what they add).
      this.again = true;
      return;
    }
    const [start, end] = Compactor.range(this.lo, this.hi);
    this.deletes = 0;
    this.lo = null;
    this.hi = null;
    this.compacting = true;
    this.running = this.db
      .compactRange(start, end)
      .catch(() => {})
      .finally(() => {
        this.compacting = false;
        this.running = null;
        if (this.again && !this.stopped()) {
          this.again = false;
          if (this.deletes > 0) this.soon();
        }
      });
  }
}
