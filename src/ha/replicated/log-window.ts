/*
 * What a node knows of its replication log: the recent entries kept in memory (a replica that fell a little behind
 * catches up from them), and `<dir>/replication.json` on disk: the position of its store, and whether that
 * position is exact. It is written (temp + rename) after acknowledged batches and at a clean close; after a crash
 * the store may hold a little more than the file says, so the position is then only a lower bound and the node
 * takes a full snapshot from the master before it counts as a replica again.
 */
import { access, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Position, StoreOp } from './wire.js';

export const STATE_FILE = 'replication.json';
/** Entries kept for catching up, by their approximate size. @default 64 MiB */
export const DEFAULT_LOG_WINDOW_BYTES = 64 * 1024 * 1024;

export interface StoreState extends Position {
  /** True only when written by a clean close: the store holds exactly what `pos` says. */
  exact: boolean;
  /** Producers' highest sequences taken from a snapshot (the store interface can record them only with a message). */
  producers?: [string, number][];
}

export async function readState(directory: string): Promise<StoreState> {
  try {
    const s = JSON.parse(await readFile(join(directory, STATE_FILE), 'utf8')) as Partial<StoreState>;
    if (typeof s.epoch === 'number' && typeof s.pos === 'number') return { epoch: s.epoch, pos: s.pos, exact: s.exact === true, ...(s.producers ? { producers: s.producers } : {}) };
  } catch {
    // Missing (a new store) or torn: an empty store's position, exact only when the store is new.
  }
  const isNew = await access(join(directory, 'CURRENT')).then(() => false, () => true);
  return { epoch: 0, pos: 0, exact: isNew };
}

let writes = 0;

/** Whole or not at all (temp file + rename); each write its own temp file, as writes may overlap. */
export async function writeState(directory: string, s: StoreState): Promise<void> {
  const file = join(directory, STATE_FILE);
  const tmp = `${file}.${process.pid}.${++writes}.tmp`;
  await writeFile(tmp, JSON.stringify(s));
  await rename(tmp, file);
}

interface Entry {
  epoch: number;
  /** Position of ops[0]. */
  first: number;
  ops: StoreOp[];
  bytes: number;
}

function sizeOf(ops: StoreOp[]): number {
  let n = 0;
  for (const op of ops) n += op[0] === 'a' ? op[1].body.byteLength + 200 : 64;
  return n;
}

/** The recent log, in memory, bounded by bytes. */
export class LogWindow {
  private readonly entries: Entry[] = [];
  private bytes = 0;
  /**
   * Where the window starts: the store's position before its first entry, and whether the store was exactly there
   * (a replica that stands exactly at `base` can catch up from the window too).
   */
  private base: Position & { exact: boolean };

  constructor(base: Position & { exact: boolean }, private readonly maxBytes = DEFAULT_LOG_WINDOW_BYTES) {
    this.base = base;
  }

  /** The last position written. */
  get last(): Position {
    const e = this.entries[this.entries.length - 1];
    return e ? { epoch: e.epoch, pos: e.first + e.ops.length - 1 } : { epoch: this.base.epoch, pos: this.base.pos };
  }

  append(epoch: number, first: number, ops: StoreOp[]): void {
    const bytes = sizeOf(ops);
    this.entries.push({ epoch, first, ops, bytes });
    this.bytes += bytes;
    while (this.bytes > this.maxBytes && this.entries.length > 1) {
      const e = this.entries.shift()!;
      this.bytes -= e.bytes;
      this.base = { epoch: e.epoch, pos: e.first + e.ops.length - 1, exact: true };
    }
  }

  /**
   * The entries after `from`, when the window proves that a store standing at `from` holds a prefix of this log
   * (same epoch at that position); null when it cannot, and the replica needs a snapshot.
   */
  after(from: Position): { epoch: number; first: number; ops: StoreOp[] }[] | null {
    const last = this.last;
    if (from.pos > last.pos) return null;
    if (from.pos === this.base.pos) return this.base.exact && from.epoch === this.base.epoch ? this.slice(from.pos) : null;
    if (from.pos < this.base.pos) return null;
    const e = this.entries.find((x) => from.pos >= x.first && from.pos < x.first + x.ops.length);
    if (!e || e.epoch !== from.epoch) return null;
    return this.slice(from.pos);
  }

  private slice(pos: number): { epoch: number; first: number; ops: StoreOp[] }[] {
    const out: { epoch: number; first: number; ops: StoreOp[] }[] = [];
    for (const e of this.entries) {
      const end = e.first + e.ops.length - 1;
      if (end <= pos) continue;
      const skip = Math.max(0, pos + 1 - e.first);
      out.push({ epoch: e.epoch, first: e.first + skip, ops: skip > 0 ? e.ops.slice(skip) : e.ops });
    }
    return out;
  }
}
