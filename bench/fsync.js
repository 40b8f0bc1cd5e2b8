#!/usr/bin/env node
// What one durable write costs on this disk: a LevelDB synced batch (what LevelStore did for every group commit)
// against fdatasync on a preallocated append-only file (what ActiveMQ's KahaDB journal does), and against
// fdatasync on a file that grows with each write (what LevelDB's log is underneath). Single writer (one record per
// sync, the next write starts when the previous one is durable) and batched (B records per sync).
//   node bench/fsync.js [--count N] [--size B] [--batch B1,B2,...] [--dir DIR] [--json]
// The data dir defaults to a temp dir on the same file system as os.tmpdir(); pass --dir to measure another disk.
import { closeSync, fdatasync, fsync, mkdtempSync, openSync, rmSync, write, writeSync } from 'node:fs';
import { tmpdir, cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { ClassicLevel } from 'classic-level';

const pWrite = promisify(write);
const pDatasync = promisify(fdatasync);
const pFsync = promisify(fsync);

function parseArgs(argv) {
  const o = { count: 2000, size: 1024, batch: [1, 10, 100, 1000], dir: null, json: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--json') o.json = true;
    else if (a === '--dir') o.dir = argv[++i];
    else if (a === '--batch') o.batch = argv[++i].split(',').map(Number);
    else if (a === '--count' || a === '--size') o[a.slice(2)] = Number(argv[++i]);
    else throw new Error(`unknown option ${a}`);
  }
  return o;
}

const opts = parseArgs(process.argv.slice(2));
const base = mkdtempSync(join(opts.dir ?? tmpdir(), 'ferrymq-fsync-'));
process.on('exit', () => rmSync(base, { recursive: true, force: true }));

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))];
function summary(name, batch, records, lat, ms) {
  lat.sort((a, b) => a - b);
  return { name, batch, records, syncs: lat.length, recordsPerSec: records / (ms / 1000), syncsPerSec: lat.length / (ms / 1000),
    p50Ms: pct(lat, 50), p99Ms: pct(lat, 99) };
}

/** N syncs of `batch` records each; `one(buf)` writes and syncs one batch. */
async function timed(name, batch, one) {
  const syncs = Math.max(20, Math.ceil(opts.count / batch));
  const buf = Buffer.alloc(opts.size * batch, 0x61);
  for (let i = 0; i < 5; i++) await one(buf); // warm-up
  const lat = [];
  const t0 = performance.now();
  for (let i = 0; i < syncs; i++) {
    const t = performance.now();
    await one(buf);
    lat.push(performance.now() - t);
  }
  return summary(name, batch, syncs * batch, lat, performance.now() - t0);
}

/**
 * LevelDB through the `_batch` hook LevelStore uses (the public batch() adds validation on the main thread), with
 * and without `sync`: the difference is what the sync itself costs, the rest is LevelDB's own work per record.
 */
async function level(batch, sync) {
  const db = new ClassicLevel(join(base, `level-${batch}-${sync}`), { keyEncoding: 'utf8', valueEncoding: 'view' });
  await db.open();
  let seq = 0;
  const value = new Uint8Array(opts.size).fill(0x61);
  const r = await timed(`LevelDB batch, sync: ${sync}`, batch, () => {
    const ops = [];
    for (let i = 0; i < batch; i++) {
      ops.push({ type: 'put', key: `m\x00q\x00${(seq++).toString(16).padStart(16, '0')}`, value, keyEncoding: 'utf8', valueEncoding: 'view' });
    }
    return db._batch(ops, { sync });
  });
  await db.close();
  return r;
}

/** A file filled with zeros and fsync'd first: its blocks are allocated and written, so an overwrite needs no metadata. */
function preallocated(path, bytes) {
  const fd = openSync(path, 'w+');
  const chunk = Buffer.alloc(1 << 20);
  for (let off = 0; off < bytes; off += chunk.length) writeSync(fd, chunk, 0, Math.min(chunk.length, bytes - off), off);
  return fd;
}

async function journal(batch, mode) {
  const bytes = opts.size * batch * (Math.max(20, Math.ceil(opts.count / batch)) + 10);
  const path = join(base, `journal-${mode}-${batch}`);
  let fd;
  if (mode === 'append') fd = openSync(path, 'w');
  else {
    fd = preallocated(path, bytes);
    await pFsync(fd);
  }
  let pos = 0;
  const sync = mode === 'fsync' ? pFsync : pDatasync;
  const name = { prealloc: 'preallocated file, fdatasync', fsync: 'preallocated file, fsync', append: 'growing file, fdatasync' }[mode];
  const r = await timed(name, batch, async (buf) => {
    await pWrite(fd, buf, 0, buf.length, pos);
    pos += buf.length;
    await sync(fd);
  });
  closeSync(fd);
  return r;
}

const rows = [];
for (const b of opts.batch) {
  rows.push(await level(b, true));
  rows.push(await level(b, false));
  rows.push(await journal(b, 'prealloc'));
  rows.push(await journal(b, 'fsync'));
  rows.push(await journal(b, 'append'));
}
const f = (n, d = 0) => n.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
console.log(`${cpus().length} cores, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}; ${opts.size} B records; dir ${base}\n`);
console.log('| write | records per sync | syncs/s | records/s | p50 ms | p99 ms |\n|---|---|---|---|---|---|');
for (const r of rows) console.log(`| ${r.name} | ${r.batch} | ${f(r.syncsPerSec)} | ${f(r.recordsPerSec)} | ${f(r.p50Ms, 3)} | ${f(r.p99Ms, 3)} |`);
if (opts.json) console.log(JSON.stringify({ cores: cpus().length, loadavg: loadavg(), opts, rows }));
