import { MSG } from './level-codec.js';

/**
 * Compact the message range after this many deletes have been written, and when the store falls idle after at
 * least COMPACT_WHEN_IDLE of them: LevelDB keeps deleted data on disk until it compacts, so without this the
 * directory of a drained queue would not shrink back.
 */
const COMPACT_AFTER_DELETES = 200_000;
const COMPACT_WHEN_IDLE = 10_000;

/** Background compaction of LevelDB's message range, one pass at a time. */
export class Compactor {
  /** Deletes written since the last pass. */
  deletes = 0;
  private compacting = false;
  private again = false;
  /** The pass running, if any (a reopen or close waits for it). */
  running: Promise<void> | null = null;

  constructor(
    private readonly db: { compactRange(start: string, end: string): Promise<void> },
    private readonly stopped: () => boolean,
  ) {}

  /** After a batch: compact when enough deletes piled up (`idle`: the store has nothing more to write). */
  afterBatch(idle: boolean): void {
    if (this.deletes >= (idle ? COMPACT_WHEN_IDLE : COMPACT_AFTER_DELETES)) this.soon();
  }

  /** Compact now if anything was deleted since the last pass. */
  reclaim(): void {
    if (this.deletes > 0) this.soon();
  }

  private soon(): void {
    this.deletes = 0;
    if (this.compacting) {
      // Deletes keep coming faster than LevelDB compacts: go again once this pass is done.
      this.again = true;
      return;
    }
    this.compacting = true;
    this.running = this.db
      .compactRange(MSG, MSG + '\xff')
      .catch(() => {})
      .finally(() => {
        this.compacting = false;
        this.running = null;
        if (this.again && !this.stopped()) {
          this.again = false;
          this.soon();
        }
      });
  }
}
