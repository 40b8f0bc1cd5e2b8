import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { ClassicLevel } from 'classic-level';
import { Journal } from '../../src/store/journal.js';
import { LevelStore } from '../../src/store/level-store.js';
import { JournaledWrites } from '../../src/store/journaled-writes.js';
import type { Op } from '../../src/store/level-codec.js';

function tmp(t: Tap.Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'ferrymq-journal-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Start the child, wait for its "ready", SIGKILL it; rejects with what it printed if it does not get there. */
function killWhenReady(dir: string, n: number): Promise<void> {
  return killWhen('journal-crash-child.js', [dir, String(n)], (line) => line === 'ready', '"ready"').then(() => {});
}

/**
 * Start a crash child (test/helpers/`script`), SIGKILL it at the first line `when` accepts; resolves with the last
 * line it printed before it died, rejects if it does not get there within 30 s.
 */
function killWhen(script: string, args: string[], when: (line: string) => boolean, what: string): Promise<string> {
  const path = fileURLToPath(new URL(`../helpers/${script}`, import.meta.url));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let ready = false;
    let last = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`crash child ${script} did not print ${what} within 30 s`));
    }, 30_000);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      // Lines read after the kill was sent were printed before the child died: the last one counts.
      last = line;
      if (ready || !when(line)) return;
      ready = true;
      child.kill('SIGKILL');
    });
    // 'close' comes after the child's output is read to its end.
    child.once('close', () => {
      clearTimeout(timer);
      if (ready) resolve(last);
      else reject(new Error(`crash child ${script} exited before it printed ${what}`));
    });
  });
}

t.test('SIGKILL between the journal write and the LevelDB write: the journal is replayed on open', async (t) => {
  const dir = join(tmp(t), 'db');
  const N = 2000;
  await killWhenReady(dir, N);

  // LevelDB alone: nothing of what the child was told is stored.
  const raw = new ClassicLevel<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' });
  const before = await raw.keys({ gt: 'm\x00', lt: 'm\x00\xff' }).all();
  await raw.close();
  t.equal(before.length, 0, 'LevelDB itself never got the messages (the child died before writing them there)');

  let s = new LevelStore(dir);
  const st = await s.open();
  const seqs = (await s.load('queue://a', 0, 10_000)).map((m) => m.seq);
  const want = Array.from({ length: N / 2 + 1 }, (_, i) => N / 2 + 1 + i);
  t.same(seqs, want, 'every acknowledged message is back, the removed half is not');
  t.equal(st.destinations.get('queue://a')?.count, N / 2 + 1, 'the queue count agrees with the messages');
  t.equal(st.nextSeq, N + 2, 'the sequence continues after the last message');
  t.equal(st.producers.get('P'), N + 1, 'the producer audit is back');
  await s.close();

  // Replayed once: a second open finds the same in LevelDB, with nothing left to replay.
  s = new LevelStore(dir);
  const again = await s.open();
  t.equal(again.destinations.get('queue://a')?.count, N / 2 + 1);
  t.equal((await s.load('queue://a', 0, 10_000)).length, N / 2 + 1);
  await s.close();
});

t.test('journal: records come back in order across reused files; a torn record ends the journal', async (t) => {
  const dir = tmp(t);
  const rec = (i: number): Buffer => {
    const b = Buffer.alloc(20 + 1000, i % 251);
    b.writeUInt32LE(i, 20);
    return b;
  };
  let j = new Journal(dir, 4096);
  await j.open(0, async () => {});
  for (let i = 1; i <= 100; i++) t.equal(await j.append(rec(i), i % 10 === 0), i);
  j.release(50);
  for (let i = 101; i <= 200; i++) await j.append(rec(i), false);
  await j.sync();
  await j.close();
  // 38 files hold records 51..200 (4 a file, and the file 50 is in); two more are the spares kept ready.
  t.ok(readdirSync(dir).length <= 40, `released files were reused or deleted (${readdirSync(dir).length} files for 200 records of 4 per file)`);

  const seen: number[] = [];
  j = new Journal(dir, 4096);
  const last = await j.open(50, async (lsn, payload) => {
    if (payload.readUInt32LE(0) !== lsn || payload[10] !== lsn % 251) throw new Error(`record ${lsn} has the wrong payload`);
    seen.push(lsn);
  });
  t.equal(last, 200);
  t.same(seen, Array.from({ length: 150 }, (_, i) => 51 + i), 'records 51..200, once each, in order');
  // A crash mid-append: the next record is half written.
  const torn = rec(201);
  await j.append(torn, true);
  await j.close();
  const files = readdirSync(dir).filter((f) => f.endsWith('.jnl')).sort();
  const { openSync, writeSync, closeSync, statSync } = await import('node:fs');
  // The newest file holding record 201: overwrite its payload's tail with junk, as a torn write leaves it.
  let hit = false;
  for (const f of files.reverse()) {
    const j2 = new Journal(join(dir, 'probe'), 4096);
    void j2;
    const path = join(dir, f);
    const fd = openSync(path, 'r+');
    const buf = Buffer.alloc(statSync(path).size);
    (await import('node:fs')).readSync(fd, buf, 0, buf.length, 0);
    const at = buf.indexOf(Buffer.from([201, 0, 0, 0, 201 % 251]));
    if (at >= 0) {
      writeSync(fd, Buffer.alloc(100, 0xee), 0, 100, at + 500);
      hit = true;
    }
    closeSync(fd);
    if (hit) break;
  }
  t.ok(hit, 'found record 201 on disk');
  const after: number[] = [];
  j = new Journal(dir, 4096);
  t.equal(await j.open(195, async (lsn) => void after.push(lsn)), 200, 'reading stops before the torn record');
  t.same(after, [196, 197, 198, 199, 200]);
  t.equal(await j.append(rec(201), true), 201, 'the next append takes its place');
  await j.close();
});

t.test('SIGKILL while journal files are written over again: every acknowledged message not removed is back', async (t) => {
  const dir = join(tmp(t), 'db');
  // 8 KiB messages: 4 MiB journal files fill every ~500 messages; by 6,000 the few files have each been reused.
  const last = await killWhen('journal-reuse-crash-child.js', [dir], (line) => Number(line.split(' ')[1]) >= 6000, 'acked 6000');
  const [, acked, , removed] = last.split(' ').map(Number);
  const files = readdirSync(join(dir, 'journal')).filter((f) => f.endsWith('.jnl'));
  t.ok(files.length <= 8, `the journal reused its files (${files.length} files for ${acked} messages of 8 KiB, ~${Math.round((acked * 8) / 1024)} MiB)`);
  const s = new LevelStore(dir);
  await s.open();
  const seqs = new Set<number>();
  for (let after = 0; ; ) {
    const page = await s.load('queue://r', after, 5000);
    if (page.length === 0) break;
    for (const m of page) seqs.add(m.seq);
    after = page[page.length - 1]!.seq;
  }
  await s.close();
  const missing: number[] = [];
  let kept = 0;
  for (let seq = 1; seq <= acked!; seq++) {
    // The child goes on after its last line: its next round's removals (up to 50 further) may have been stored.
    if (seq <= removed! + 50 && seq % 3 !== 0) continue;
    kept++;
    if (!seqs.has(seq)) missing.push(seq);
  }
  t.same(missing.slice(0, 20), [], `none of the ${kept} acknowledged, unremoved messages is lost (${missing.length} missing)`);
  t.notOk([...seqs].some((q) => q > acked! + 50), 'nothing past the batch in flight at the kill');
  // Removals are not synced on their own: a crash may bring back some, but only from the last moments.
  const back = [...seqs].filter((q) => q <= removed! && q % 3 !== 0);
  t.ok(back.every((q) => q > removed! - 2000), `removed messages that came back are recent ones (${back.length}, lowest ${Math.min(...back)})`);
});

t.test('journaled batches: only the last write of a counter key reaches LevelDB, message puts cancelled by their delete none', async (t) => {
  const dir = tmp(t);
  const written: Op[][] = [];
  const deletes: number[] = [];
  const w = new JournaledWrites(dir, {
    get: async () => undefined,
    write: async (ops) => void written.push(ops),
    failed: (err) => t.fail(err.message),
    applied: (n) => void deletes.push(n),
  }, 60_000);
  await w.open();
  const value = (n: number): Uint8Array => Buffer.from([n]);
  for (let i = 1; i <= 50; i++) {
    const ops: Op[] = [
      { type: 'put', key: `m\x00q\x00${i}`, value: value(i) },
      { type: 'put', key: 'c\x00q', value: value(i) },
      { type: 'put', key: 's\x00', value: value(i) },
    ];
    // Every message but the last ten is removed in the batch after its own.
    if (i > 1 && i - 1 <= 40) ops.push({ type: 'del', key: `m\x00q\x00${i - 1}` });
    await w.append(ops, [0], i % 2 === 0);
  }
  await w.applyAll();
  const all = written.flat();
  const byKey = (k: string): Op[] => all.filter((o) => o.key === k);
  t.same(byKey('c\x00q').map((o) => (o as { value: Uint8Array }).value[0]), [50], 'one write of the count, the last');
  t.same(byKey('s\x00').map((o) => (o as { value: Uint8Array }).value[0]), [50], 'one write of the sequence, the last');
  const msgs = all.filter((o) => o.key.startsWith('m\x00')).map((o) => `${o.type} ${o.key.slice(4)}`);
  t.same(msgs, Array.from({ length: 10 }, (_, i) => `put ${41 + i}`), 'the ten messages not removed, and nothing of the others');
  t.same(deletes, [0], 'no delete of a message reached LevelDB: compaction has nothing to follow');
  await w.append([{ type: 'del', key: 'm\x00q\x0041' }], [], false);
  await w.applyAll();
  t.same(deletes, [0, 1], 'the delete of a message LevelDB holds is counted');

  // A write of the same key journaled while a LevelDB write is under way goes after it.
  await w.append([{ type: 'put', key: 'c\x00q', value: value(60) }], [], true);
  const applying = w.applyAll();
  await w.append([{ type: 'put', key: 'c\x00q', value: value(61) }], [], true);
  await applying;
  await w.applyAll();
  t.same(byKeyIn(written.slice(-2).flat(), 'c\x00q'), [60, 61], 'both reach LevelDB, in order');
  await w.close(false);
});

function byKeyIn(ops: Op[], k: string): number[] {
  return ops.filter((o) => o.key === k).map((o) => (o as { value: Uint8Array }).value[0]!);
}

t.test('a barrier waits for the journal, not for LevelDB; a purge still finds messages only journaled', async (t) => {
  const dir = join(tmp(t), 'db');
  const s = new LevelStore(dir, { journalApplyDelayMs: 60_000 });
  await s.open();
  const add = (seq: number): Promise<void> =>
    new Promise((resolve, reject) =>
      s.add(
        { seq, id: `id-${seq}`, dest: 'queue://p', body: Buffer.alloc(100), bt: 0, persistent: true, priority: 4, timestamp: 1, expires: 0, deliveryCount: 0 },
        (err) => (err ? reject(err) : resolve()),
      ),
    );
  await Promise.all(Array.from({ length: 100 }, (_, i) => add(i + 1)));
  s.mark('queue://p', 100);
  await new Promise<void>((resolve, reject) => s.barrier((err) => (err ? reject(err) : resolve()), true));
  t.ok(s.bytesPending > 0, 'the synced barrier came back with LevelDB not yet written (the journal holds the batches)');
  t.equal(await s.removeRange('queue://p', 0, 50), 50, 'a purge of the first half finds all of it');
  t.same((await s.load('queue://p', 0, 1000)).map((m) => m.seq), Array.from({ length: 50 }, (_, i) => 51 + i), 'the other half is there');
  await s.close();
});

t.test('a page read waits for no LevelDB write: journaled puts are read from the journal, journaled deletes leave their messages out', async (t) => {
  const dir = join(tmp(t), 'db');
  const s = new LevelStore(dir, { journalApplyDelayMs: 60_000 });
  await s.open();
  const add = (seq: number): Promise<void> =>
    new Promise((resolve, reject) =>
      s.add(
        { seq, id: `id-${seq}`, dest: 'queue://d', body: Buffer.alloc(100), bt: 0, persistent: true, priority: 4, timestamp: 1, expires: 0, deliveryCount: 0 },
        (err) => (err ? reject(err) : resolve()),
      ),
    );
  const barrier = (): Promise<void> => new Promise((resolve, reject) => s.barrier((err) => (err ? reject(err) : resolve())));
  await Promise.all(Array.from({ length: 20 }, (_, i) => add(i + 1)));
  t.same((await s.load('queue://d', 0, 10)).map((m) => m.seq), Array.from({ length: 10 }, (_, i) => i + 1), 'the journaled puts are read');
  t.ok(s.bytesPending > 0, 'from the journal: LevelDB not written');
  await (s as unknown as { journal: { applyAll(): Promise<void> } }).journal.applyAll();
  t.equal(s.bytesPending, 0, 'now they are in LevelDB');
  // The first ten acked, as a queue that had them in memory acks them: journaled, not yet in LevelDB.
  for (let seq = 1; seq <= 10; seq++) s.remove(seq, 'queue://d');
  await barrier();
  t.ok(s.bytesPending > 0, 'the deletes are journaled, LevelDB not written');
  t.same((await s.load('queue://d', 10, 100)).map((m) => m.seq), Array.from({ length: 10 }, (_, i) => i + 11), 'the next page');
  t.ok(s.bytesPending > 0, 'read without writing the deletes to LevelDB first');
  t.same((await s.load('queue://d', 5, 100)).map((m) => m.seq), Array.from({ length: 10 }, (_, i) => i + 11), 'a read from below the acked ones does not see them');
  t.ok(s.bytesPending > 0, 'nor did it write the deletes to LevelDB first');
  await s.close();
});

t.test('a rotation syncs the file it leaves when its last records were not synced, and only then', async (t) => {
  const dir = tmp(t);
  const j = new Journal(dir, 4096);
  await j.open(0, async () => {});
  const rec = (): Buffer => Buffer.alloc(20 + 1500, 7);
  // Every fdatasync, by the file it flushed.
  const synced: number[] = [];
  const probe = await (await import('node:fs/promises')).open(join(dir, 'probe'), 'w');
  const proto = Object.getPrototypeOf(probe) as { datasync: () => Promise<void> };
  await probe.close();
  const datasync = proto.datasync;
  proto.datasync = function (this: { fd: number }) {
    synced.push(this.fd);
    return datasync.call(this);
  };
  t.teardown(() => void (proto.datasync = datasync));
  const fdOf = (): number => (j as unknown as { segments: { fh: { fd: number } }[] }).segments.at(-1)!.fh.fd;

  await j.append(rec(), true); // the first file, synced
  await j.append(rec(), false); // a batch of deletes: not synced
  const first = fdOf();
  synced.length = 0;
  await j.append(rec(), true); // does not fit: the next file
  t.not(fdOf(), first, 'the journal moved to the next file');
  t.same(synced, [first, fdOf()], 'the file left behind was synced before the record in the next one');

  await j.append(rec(), true);
  const second = fdOf();
  synced.length = 0;
  await j.append(rec(), true); // the next file again; everything before it was synced
  t.not(fdOf(), second);
  t.same(synced, [fdOf()], 'no flush of a file whose records were all synced');
  await j.close();
});

t.test('spares: two are zeroed ahead; a rotation that finds none ready writes a new file instead of waiting', async (t) => {
  const dir = tmp(t);
  const jnl = (): string[] => readdirSync(dir).filter((f) => f.endsWith('.jnl'));
  const until = async (what: string, ok: () => boolean): Promise<void> => {
    const deadline = Date.now() + 10_000;
    while (!ok()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  };
  const j = new Journal(dir, 4096);
  await j.open(0, async () => {});
  await until('two zeroed spares', () => jnl().length === 2);

  // Zeroing a spare stalls from here on (its writes of zeros wait), as on a loaded disk.
  const probe = await (await import('node:fs/promises')).open(join(dir, 'probe'), 'w');
  const proto = Object.getPrototypeOf(probe) as { write: (...args: unknown[]) => Promise<unknown> };
  await probe.close();
  const write = proto.write;
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  let stalls = 0;
  proto.write = async function (this: unknown, ...args: unknown[]) {
    if ((args[0] as Buffer).length === 1024 * 1024) {
      stalls++;
      await gate;
    }
    return write.apply(this, args);
  };
  t.teardown(() => {
    proto.write = write;
    release();
  });
  const rec = (i: number): Buffer => {
    const b = Buffer.alloc(20 + 1500, i % 251);
    b.writeUInt32LE(i, 20);
    return b;
  };
  // Two records per file: the two spares, then three files that no zeroing provides.
  const appended = (async () => {
    for (let i = 1; i <= 10; i++) await j.append(rec(i), true);
  })();
  const stalled = await Promise.race([appended.then(() => false), new Promise<boolean>((resolve) => setTimeout(() => resolve(true), 5000).unref())]);
  t.notOk(stalled, 'ten appends over five files went through while the zeroing of a spare was stalled');
  t.ok(stalls > 0, 'a spare was being zeroed meanwhile');
  proto.write = write;
  release();
  await appended;
  await j.close();
  const seen: number[] = [];
  const again = new Journal(dir, 4096);
  t.equal(await again.open(0, async (lsn, payload) => void (payload.readUInt32LE(0) === lsn && seen.push(lsn))), 10);
  t.same(seen, Array.from({ length: 10 }, (_, i) => i + 1), 'every record back, in order, across zeroed and new files');
  await again.close();
});

t.test('back-pressure: an append waits while more than the bound is journaled and not yet in LevelDB', async (t) => {
  const dir = tmp(t);
  let release!: () => void;
  let writes = 0;
  let gate = new Promise<void>((resolve) => (release = resolve));
  const w = new JournaledWrites(
    dir,
    {
      get: async () => undefined,
      write: async () => {
        writes++;
        await gate;
      },
      failed: (err) => t.fail(err.message),
      applied: () => {},
    },
    60_000,
    64 * 1024,
  );
  await w.open();
  const batch = (i: number): Op[] => [{ type: 'put', key: `m\x00q\x00${String(i).padStart(6, '0')}`, value: Buffer.alloc(8 * 1024, i) }];
  // Under the bound: appends do not wait for LevelDB (nothing is written to it yet: the apply delay is a minute).
  let i = 0;
  while (w.pendingBytes < 64 * 1024) await w.append(batch(i++), [0], false);
  t.equal(writes, 0, `${i} appends (${w.pendingBytes} bytes) journaled with no LevelDB write`);
  // At the bound: the next append starts the LevelDB write and waits for it.
  let done = false;
  const next = w.append(batch(i++), [0], false).then(() => (done = true));
  const deadline = Date.now() + 5000;
  while (writes === 0) {
    if (Date.now() > deadline) throw new Error('no LevelDB write started within 5 s');
    await new Promise((r) => setImmediate(r));
  }
  for (let k = 0; k < 20; k++) await new Promise((r) => setImmediate(r));
  t.notOk(done, 'the append waits while LevelDB has not taken what is behind');
  release();
  gate = Promise.resolve();
  await next;
  t.ok(done, 'and goes on once it has');
  t.ok(w.pendingBytes < 64 * 1024, `what waits for LevelDB is under the bound again (${w.pendingBytes} bytes)`);
  await w.close(false);
});
