import { mkdir, open, readdir, readFile, rename, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { writeSync } from 'node:fs';
import { crc32 } from 'node:zlib';

/**
 * Size of one journal file (KahaDB's are 32 MiB; the journal holds the file being written and READY_SPARES spares
 * at rest, so three times this is what it takes from a small disk). Each is filled with zeros before it is first
 * written (as KahaDB's can be) when there is time: an overwrite of blocks that are allocated and written needs no
 * file-system metadata, so fdatasync flushes the data alone (bench/fsync.js measures the difference on this disk).
 */
export const JOURNAL_SEGMENT_BYTES = 4 * 1024 * 1024;
/** Bytes in front of every record: magic, payload length, log sequence number (float64), CRC-32. */
export const JOURNAL_HEADER_BYTES = 20;
const MAGIC = 0x464a5231; // "FJR1"
const SUFFIX = '.jnl';
const ZEROS = Buffer.alloc(1024 * 1024);
/**
 * Released files kept for reuse (more are deleted; READY_SPARES once the load is light, see trimSpares): enough
 * for what is journaled between two checkpoints at full speed (~16 MiB). An overwrite of a file's own blocks needs no zeroing and no
 * metadata, so a rotation to a reused file costs nothing (a new one is 4 MiB of zeros written and fsync'd, which
 * competes with the journal's own fdatasync for the disk). Files are ordered by the log sequence numbers in them,
 * not by name, so a reused file keeps its name.
 */
const MAX_SPARES = 6;
/**
 * Spares kept ready (zeroed ahead, and kept when the load is light): a fresh journal needs three or four files
 * before its first checkpoint releases one, and a rotation that finds none ready waits for 4 MiB of zeros to be
 * written and synced (85–340 ms on a loaded disk, while every send waits: enough for a queue at 10,000 msg/s to
 * start paging).
 */
export const READY_SPARES = 2;

interface Segment {
  id: number;
  fh: FileHandle;
  /** Highest log sequence number written to it (0: none yet). */
  lastLsn: number;
}

/** A file ready to be written over from its start: zeroed, or released with records LevelDB holds durably. */
interface Spare {
  id: number;
  fh: FileHandle | null;
}

const segName = (id: number): string => id.toString(16).padStart(8, '0') + SUFFIX;

/**
 * An append-only write-ahead journal in fixed-size files: LevelStore's durable write path. A record is the encoded
 * operations of one group-commit batch; it is durable once `append(…, true)` resolves (one fdatasync). LevelDB is
 * written behind it without syncing, and records up to the lsn LevelDB holds durably are released: their files
 * are written over with new records.
 *
 * Records carry consecutive log sequence numbers and a CRC: reading a file stops at the first record that is torn,
 * stale (left from the file's earlier use: its lsn is lower) or out of sequence, so a crash at any point leaves a
 * readable prefix in each file, and the files are chained by the lsn their first record carries.
 */
export class Journal {
  /** Files with records not yet released, oldest first; the last one is written to. */
  private segments: Segment[] = [];
  /** Files ready to be written, and the one being zeroed. */
  private spares: Spare[] = [];
  private preparing: Promise<void> | null = null;
  private closed = false;
  private offset = 0;
  private nextId = 0;
  private releasing: Promise<void> = Promise.resolve();
  /** Highest lsn appended. */
  lastLsn = 0;
  /**
   * The file being written holds records written since its last sync (batches of deletes): a rotation syncs it
   * first. Usually the last record was synced, and a rotation then costs no flush. True at open: what an earlier
   * run (or this one, before a failed write) left in the file may not be on disk.
   */
  private unsynced = true;

  constructor(
    readonly dir: string,
    private readonly segmentBytes = JOURNAL_SEGMENT_BYTES,
  ) {}

  /**
   * Read every record after `after` (up to `upTo` when given: what follows was a failed write), in order, into
   * `apply`; then get ready to append after the last of them. @returns the lsn of the last record read
   */
  async open(after: number, apply: (lsn: number, payload: Buffer) => Promise<void>, upTo = Infinity): Promise<number> {
    await mkdir(this.dir, { recursive: true });
    const names = (await readdir(this.dir)).sort();
    for (const n of names) if (n.endsWith('.tmp')) await unlink(join(this.dir, n)).catch(() => {});
    const ids = names.filter((n) => n.endsWith(SUFFIX)).map((n) => parseInt(n, 16)).filter((id) => Number.isFinite(id));
    this.nextId = ids.length > 0 ? Math.max(...ids) + 1 : 0;
    // Each file's run of consecutive records from its start. A released file's records all have lsns at or below
    // `after` (a file is released only once a checkpoint passed all of them); written over, it starts with higher
    // ones. The chain from `after` goes from the file holding the next lsn to the file holding the one after its
    // last, whatever their names.
    const files: ({ id: number; buf: Buffer } & Run)[] = [];
    for (const id of ids) {
      const buf = await readFile(join(this.dir, segName(id)));
      files.push({ id, buf, ...readRun(buf, upTo) });
    }
    let expected = after + 1;
    const chained = new Set<number>();
    let head: (typeof files)[number] | undefined;
    for (;;) {
      const f = files.find((x) => !chained.has(x.id) && x.records.length > 0 && x.first <= expected && x.last >= expected);
      if (f === undefined) break;
      for (const r of f.records) {
        if (r.lsn < expected) continue;
        await apply(r.lsn, f.buf.subarray(r.start, r.end));
        expected = r.lsn + 1;
      }
      chained.add(f.id);
      this.segments.push({ id: f.id, fh: await open(join(this.dir, segName(f.id)), 'r+'), lastLsn: f.last });
      head = f;
    }
    for (const f of files) {
      if (chained.has(f.id)) continue;
      if (this.spares.length < MAX_SPARES) this.spares.push({ id: f.id, fh: null });
      else await unlink(join(this.dir, segName(f.id))).catch(() => {});
    }
    this.lastLsn = expected - 1;
    // Without a file to go on with, the first append takes a spare (one is zeroed meanwhile when there is none:
    // start-up does not wait).
    if (head !== undefined) this.offset = head.end;
    this.prepareSpare();
    return this.lastLsn;
  }

  /**
   * Append one record: `record` holds JOURNAL_HEADER_BYTES of room and then the payload. Resolves once it is
   * written, and with `sync` once it is on disk. A failed append leaves the journal as it was: the next one is
   * written in its place, with its lsn. @returns the record's lsn
   */
  async append(record: Buffer, sync: boolean): Promise<number> {
    if (this.segments.length === 0 || (this.offset > 0 && this.offset + record.length > this.segmentBytes)) await this.rotate();
    const seg = this.segments[this.segments.length - 1]!;
    const lsn = this.lastLsn + 1;
    record.writeUInt32LE(MAGIC, 0);
    record.writeUInt32LE(record.length - JOURNAL_HEADER_BYTES, 4);
    record.writeDoubleLE(lsn, 8);
    record.writeUInt32LE(crc32(record.subarray(JOURNAL_HEADER_BYTES), crc32(record.subarray(4, 16))), 16);
    // Into the page cache at once (a fraction of a ms for a batch of 1000 messages): on a busy machine each trip
    // through the thread pool waits for a core, and the fdatasync is one such trip already.
    writeSync(seg.fh.fd, record, 0, record.length, this.offset);
    if (sync) {
      await seg.fh.datasync();
      // Appends come one at a time: this sync covered every write to the file before it.
      this.unsynced = false;
    } else this.unsynced = true;
    this.offset += record.length;
    this.lastLsn = lsn;
    seg.lastLsn = lsn;
    return lsn;
  }

  /** Everything appended so far is on disk once this resolves (a checkpoint needs it: see LevelStore.apply). */
  async sync(): Promise<void> {
    await this.segments[this.segments.length - 1]?.fh.datasync();
  }

  /** True when some file holds only records up to `lsn`: a checkpoint at `lsn` would free it. */
  releasable(lsn: number): boolean {
    return this.segments.length > 1 && this.segments[0]!.lastLsn <= lsn;
  }

  /** Records up to `lsn` are in LevelDB durably: the files holding only such records are written over next. */
  release(lsn: number): void {
    while (this.segments.length > 1 && this.segments[0]!.lastLsn <= lsn) {
      const seg = this.segments.shift()!;
      if (this.spares.length < MAX_SPARES) {
        // Written over as it is: its records have lower lsns than anything to come, so reading stops at them.
        this.spares.push({ id: seg.id, fh: seg.fh });
        continue;
      }
      this.releasing = this.releasing.then(async () => {
        await seg.fh.close().catch(() => {});
        await unlink(join(this.dir, segName(seg.id))).catch(() => {});
      });
    }
  }

  /** Delete spares beyond READY_SPARES (the load is light: the journal's disk usage goes back to a few files). */
  trimSpares(): void {
    while (this.spares.length > READY_SPARES) {
      const spare = this.spares.pop()!;
      this.releasing = this.releasing.then(async () => {
        await spare.fh?.close().catch(() => {});
        await unlink(join(this.dir, segName(spare.id))).catch(() => {});
      });
    }
  }

  /** Start writing the next file: a spare when one is ready, else a new file that grows as it is written. */
  private async rotate(): Promise<void> {
    const prev = this.segments[this.segments.length - 1];
    // Records in the file left behind must be on disk before any in the next one: a record synced there would
    // otherwise be read back after a crash past a gap (and unsynced batches of deletes must be on disk before a
    // checkpoint passes them).
    if (prev !== undefined && this.unsynced) await prev.fh.datasync();
    this.unsynced = false;
    // No spare ready: a new file that grows as it is written rather than a wait for one being zeroed. Its
    // fdatasyncs also commit its new size (bench/fsync.js: 0.55 against 0.34 ms for 100 records), but zeroing
    // 4 MiB took 340–740 ms on a loaded disk, while every send waited.
    const spare = this.spares.shift();
    const id = spare?.id ?? this.nextId++;
    const fh = spare?.fh ?? (await open(join(this.dir, segName(id)), spare !== undefined ? 'r+' : 'w+'));
    // A new name on disk before a record synced under it is answered (fdatasync does not sync the directory).
    if (spare === undefined) await syncDir(this.dir);
    this.segments.push({ id, fh, lastLsn: this.lastLsn });
    this.offset = 0;
    // Fewer than READY_SPARES left (LevelDB has not caught up with the files behind this one): zero new ones.
    this.prepareSpare();
  }

  /** Zero new files in the background up to READY_SPARES, so that rotating to one costs nothing on the write path. */
  private prepareSpare(): void {
    if (this.spares.length >= READY_SPARES || this.preparing !== null || this.closed) return;
    const tmp = join(this.dir, 'spare.tmp');
    this.preparing = (async () => {
      const fh = await open(tmp, 'w');
      try {
        for (let off = 0; off < this.segmentBytes; off += ZEROS.length) {
          await fh.write(ZEROS, 0, Math.min(ZEROS.length, this.segmentBytes - off), off);
        }
        await fh.sync();
      } finally {
        await fh.close();
      }
      const id = this.nextId++;
      await rename(tmp, join(this.dir, segName(id)));
      // The new name on disk before records are written under it: a crash would otherwise leave them in a
      // `.tmp` file, which open() deletes.
      await syncDir(this.dir);
      this.spares.push({ id, fh: null });
      return true;
    })()
      // No room for a spare (a nearly full disk): the next file grows as it is written instead.
      .catch(() => unlink(tmp).then(() => false, () => false))
      .then((made) => {
        this.preparing = null;
        if (made) this.prepareSpare();
      });
  }

  async close(): Promise<void> {
    this.closed = true;
    while (this.preparing !== null) await this.preparing;
    await this.releasing;
    for (const seg of this.segments) await seg.fh.close().catch(() => {});
    for (const s of this.spares) await s.fh?.close().catch(() => {});
    this.segments = [];
    this.spares = [];
  }
}

/** fsync a directory: a rename or a new name in it becomes durable. */
async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

interface Run {
  records: { lsn: number; start: number; end: number }[];
  /** lsn of the first and last record (0 without records); offset after the last. */
  first: number;
  last: number;
  end: number;
}

/** The run of well-formed, consecutive records at the start of a file, up to lsn `upTo`. */
function readRun(buf: Buffer, upTo: number): Run {
  const records: Run['records'] = [];
  let off = 0;
  while (off + JOURNAL_HEADER_BYTES <= buf.length) {
    if (buf.readUInt32LE(off) !== MAGIC) break;
    const len = buf.readUInt32LE(off + 4);
    const lsn = buf.readDoubleLE(off + 8);
    const end = off + JOURNAL_HEADER_BYTES + len;
    if (end > buf.length || lsn > upTo) break;
    if (records.length > 0 && lsn !== records[records.length - 1]!.lsn + 1) break;
    if (crc32(buf.subarray(off + JOURNAL_HEADER_BYTES, end), crc32(buf.subarray(off + 4, off + 16))) !== buf.readUInt32LE(off + 16)) break;
    records.push({ lsn, start: off + JOURNAL_HEADER_BYTES, end });
    off = end;
  }
  return { records, first: records[0]?.lsn ?? 0, last: records[records.length - 1]?.lsn ?? 0, end: off };
}
