import { readdir, stat, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../log.js';
import type { MessageStore } from '../store/store.js';

/** ActiveMQ's default `<storeUsage limit>`: 100 gb. */
export const DEFAULT_STORE_LIMIT_BYTES = 100 * 1024 ** 3;
/** How often the store's directory and its file system are measured, ms. */
export const DEFAULT_STORE_CHECK_MS = 1000;
/**
 * Free space kept on the data directory's file system: LevelDB needs room to turn its 4 MiB log into a table and
 * to compact (it writes new tables before deleting old ones), and a delete needs room too. 5 % of the file system,
 * at least 8 MiB, at most 1 GiB.
 */
export function reserveFor(fsBytes: number): number {
  return Math.min(1024 ** 3, Math.max(8 * 1024 ** 2, Math.floor(fsBytes * 0.05)));
}

/** LevelDB's table files: written once, then only read until compaction deletes them. */
const TABLE = /^(\d+)\.(ldb|sst)$/;

/**
 * Bytes in a directory's files (what `used` counts), with LevelDB's tables measured until their size settles and
 * then remembered: a store of a million 1 KiB messages has ~600 of them, and a stat of each every second took 6 % of
 * a draining broker's time and queued in the thread pool its LevelDB reads run on. A table's size is remembered once
 * two measurements in a row with a newer table present agree (a compaction's output may still grow while a memtable
 * flush writes a newer table, but not across a second without changing size); everything else is measured every time.
 */
export class DirectorySize {
  /** Table name -> size once settled; and the sizes of the tables seen behind a newer one at the last measurement. */
  private readonly settled = new Map<string, number>();
  private last = new Map<string, number>();
  /** stat calls so far. */
  stats = 0;

  constructor(private readonly dir: string) {}

  async measure(): Promise<number> {
    const names = await readdir(this.dir);
    let newest = -1;
    for (const name of names) {
      const m = TABLE.exec(name);
      if (m !== null) newest = Math.max(newest, Number(m[1]));
    }
    /** Tables measured, not the newest: settled if the next measurement agrees. */
    const older = new Map<string, number>();
    let used = 0;
    for (const name of names) {
      const known = this.settled.get(name);
      if (known !== undefined) {
        used += known;
        continue;
      }
      let size: number;
      try {
        this.stats++;
        size = (await stat(join(this.dir, name))).size;
      } catch {
        continue; // LevelDB deleted it while we looked (a compacted table, an old log)
      }
      used += size;
      const m = TABLE.exec(name);
      if (m === null || Number(m[1]) === newest) continue;
      if (this.last.get(name) === size) this.settled.set(name, size);
      else older.set(name, size);
    }
    // Tables compacted away are forgotten.
    if (this.settled.size > 0) {
      const present = new Set(names);
      for (const name of this.settled.keys()) if (!present.has(name)) this.settled.delete(name);
    }
    this.last = older;
    return used;
  }
}

/**
 * Watches the disk the store writes to (ActiveMQ's `<storeUsage>`, plus the file system's free space, which
 * ActiveMQ only checks at startup): past the limit, or with less free space than the reserve, the broker refuses
 * persistent messages with FERRY_STORE_FULL before LevelDB ever sees ENOSPC. Between measurements the store's own
 * count of bytes written keeps the estimate current, so a burst cannot overrun it by a second's worth of writes.
 */
export class StoreUsage {
  private used = 0;
  private free = Number.POSITIVE_INFINITY;
  private reserve = 0;
  /** store.bytesWritten at the last measurement. */
  private writtenAt = 0;
  private timer: NodeJS.Timeout | null = null;
  private checking = false;
  private wasFull = false;
  private size: DirectorySize | null = null;

  constructor(
    private readonly store: MessageStore,
    readonly limitBytes: number,
    private readonly checkMs: number,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    if (this.store.directory === undefined || this.timer !== null) return;
    await this.check();
    this.timer = setInterval(() => void this.check(), this.checkMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /** True while persistent messages must be refused. Cheap: called for every persistent send. */
  get full(): boolean {
    if (this.store.directory === undefined) return false;
    const grown = this.store.bytesWritten - this.writtenAt + (this.store.bytesPending ?? 0);
    return this.used + grown >= this.limitBytes || this.free - grown <= this.reserve;
  }

  /** Why it is full, for the error a refused producer gets. */
  describe(): string {
    const grown = this.store.bytesWritten - this.writtenAt + (this.store.bytesPending ?? 0);
    const mib = (n: number): string => `${(n / 1024 ** 2).toFixed(1)} MiB`;
    return this.used + grown >= this.limitBytes
      ? `store usage ${mib(this.used + grown)} reached its limit of ${mib(this.limitBytes)} (<storeUsage limit>)`
      : `${mib(Math.max(0, this.free - grown))} free on the data directory's file system, below the ${mib(this.reserve)} kept free`;
  }

  /** Measure the directory and its file system now. */
  async check(): Promise<void> {
    const dir = this.store.directory;
    if (dir === undefined || this.checking) return;
    this.checking = true;
    try {
      const written = this.store.bytesWritten;
      this.size ??= new DirectorySize(dir);
      const used = await this.size.measure();
      const fs = await statfs(dir);
      this.used = used;
      this.free = fs.bavail * fs.bsize;
      this.reserve = reserveFor(fs.blocks * fs.bsize);
      this.writtenAt = written;
    } catch (err) {
      this.log.debug({ err }, 'store usage not measured');
    } finally {
      this.checking = false;
    }
    if (this.wasFull && this.full) this.store.reclaim?.();
    if (this.wasFull && !this.full) {
      this.wasFull = false;
      this.log.info({ used: this.used, free: this.free, limit: this.limitBytes }, 'store has room again: persistent sends accepted');
    }
  }

  /** A persistent send was refused: the first of a burst is logged. @returns why, for the producer's error */
  refused(): string {
    const why = this.describe();
    if (!this.wasFull) {
      this.wasFull = true;
      this.log.warn({ used: this.used, free: this.free, limit: this.limitBytes }, 'store full, persistent sends refused: %s', why);
    }
    return why;
  }
}
