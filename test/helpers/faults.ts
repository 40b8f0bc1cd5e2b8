import type { WriteFaults } from '../../src/store/level-store.js';

/** The error LevelDB reports for a full disk, as classic-level hands it over. */
export function enospc(): Error {
  return Object.assign(new Error('IO error: /data/000005.log: No space left on device'), { code: 'LEVEL_IO_ERROR' });
}

/**
 * Fails writes the way a full disk does: batch number `from` (1-based) and the `count - 1` after it fail;
 * `sticky` makes every write fail from `from` on until the store reopens (LevelDB's background error), and the
 * first `reopenFailures` reopen attempts fail as well.
 */
export class FailWrites implements WriteFaults {
  writes = 0;
  failed = 0;
  reopens = 0;
  private stuck = false;

  constructor(private readonly opts: { from: number; count?: number; sticky?: boolean; reopenFailures?: number; lockedOnReopen?: boolean }) {}

  /** Fail again from the next write on (for tests that go through more than one failure); and the next `reopenFailures` reopens. */
  failNext(reopenFailures = 0): void {
    this.opts.from = this.writes + 1;
    this.opts.reopenFailures = this.reopens + reopenFailures;
  }

  write(n: number): Error | undefined {
    this.writes = n;
    const { from, count = 1, sticky = false } = this.opts;
    if (this.stuck || (n >= from && n < from + count)) {
      this.failed++;
      if (sticky) this.stuck = true;
      return enospc();
    }
    return undefined;
  }

  reopen(): Error | undefined {
    this.reopens++;
    // As classic-level reports an open that finds LevelDB's LOCK held by another process.
    if (this.opts.lockedOnReopen) return Object.assign(new Error('Database failed to open'), { cause: { code: 'LEVEL_LOCKED' } });
    if (this.reopens <= (this.opts.reopenFailures ?? 0)) return enospc();
    this.stuck = false;
    return undefined;
  }
}
