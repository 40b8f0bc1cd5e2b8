import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { LevelStore } from '../../src/store/level-store.js';
import type { JournaledWrites } from '../../src/store/journaled-writes.js';
import type { BrokerMessage } from '../../src/model/message.js';

function tmp(t: Tap.Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'ferrymq-jpages-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'db');
}

const msg = (seq: number, dest = 'queue://q'): BrokerMessage =>
  ({ seq, id: `id-${seq}`, dest, body: Buffer.alloc(1000, seq & 0xff), bt: 0, persistent: true, priority: 4, timestamp: 1, expires: 0, deliveryCount: 0 }) as BrokerMessage;

function add(s: LevelStore, m: BrokerMessage): Promise<void> {
  return new Promise((resolve, reject) => s.add(m, (err) => (err ? reject(err) : resolve())));
}

const journalOf = (s: LevelStore): JournaledWrites => (s as unknown as { journal: JournaledWrites }).journal;
const seqs = (ms: BrokerMessage[]): number[] => ms.map((m) => m.seq);
const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

t.test('a page of messages only journaled is read from the journal: LevelDB never gets them when they are then removed', async (t) => {
  const s = new LevelStore(tmp(t), { journalApplyDelayMs: 60_000 });
  await s.open();
  await Promise.all(range(1, 100).map((i) => add(s, msg(i))));
  await Promise.all(range(101, 110).map((i) => add(s, msg(i, 'queue://other'))));
  const page = await s.load('queue://q', 0, 1000);
  t.same(seqs(page), range(1, 100), 'every message, in order, none of the other queue');
  t.ok(page.every((m, i) => m.body.length === 1000 && m.body[0] === i + 1 && m.id === `id-${i + 1}` && m.persistent), 'bodies and fields as sent');
  t.ok(s.bytesPending > 100 * 1000, 'the read left the journal as it was (LevelDB not written up to date)');
  for (const m of page) s.remove(m.seq, 'queue://q');
  await s.close();
  t.ok(s.bytesWritten < 20 * 1000, `LevelDB got the other queue's ten messages (~11 KB) and no more (${s.bytesWritten} bytes)`);
});

t.test('a page spanning LevelDB and the journal: merged in order, limits honoured, each message once', async (t) => {
  const s = new LevelStore(tmp(t), { journalApplyDelayMs: 60_000 });
  await s.open();
  await Promise.all(range(1, 50).map((i) => add(s, msg(i))));
  await journalOf(s).applyAll();
  t.equal(s.bytesPending, 0, 'the first fifty are in LevelDB');
  await Promise.all(range(51, 100).map((i) => add(s, msg(i))));
  t.same(seqs(await s.load('queue://q', 0, 1000)), range(1, 100), 'all of it');
  t.same(seqs(await s.load('queue://q', 30, 40)), range(31, 70), 'across the two');
  t.same(seqs(await s.load('queue://q', 10, 20)), range(11, 30), 'LevelDB alone');
  t.same(seqs(await s.load('queue://q', 60, 10)), range(61, 70), 'the journal alone');
  t.same(seqs(await s.load('queue://q', 100, 10)), [], 'nothing after the last');
  // Removed behind the journal: still in LevelDB, not to be read.
  for (let i = 1; i <= 10; i++) s.remove(i, 'queue://q');
  s.remove(55, 'queue://q');
  await new Promise<void>((resolve, reject) => s.barrier((err) => (err ? reject(err) : resolve())));
  t.same(seqs(await s.load('queue://q', 0, 10)), range(11, 20), 'the removed ones are left out, and the page is still full');
  t.same(seqs(await s.load('queue://q', 45, 10)), [46, 47, 48, 49, 50, 51, 52, 53, 54, 56], 'a removed journaled one too');

  // A LevelDB write of the journal under way when the read starts, and one starting just after it.
  await Promise.all(range(101, 150).map((i) => add(s, msg(i))));
  const applying = journalOf(s).applyAll();
  const during = s.load('queue://q', 90, 1000);
  await Promise.all(range(151, 160).map((i) => add(s, msg(i))));
  const after = s.load('queue://q', 90, 1000);
  void journalOf(s).applyAll();
  const want = range(91, 160).filter((n) => n !== 55);
  t.same(seqs(await during), want.slice(0, (await during).length), 'read while LevelDB was written: in order, none twice');
  t.ok((await during).length >= 60, 'nothing written before the read is missing from it');
  t.same(seqs(await after), want, 'read while LevelDB was written again: complete, none twice');
  await applying;
  await s.close();
});

t.test('messages re-queued out of sequence order come back in order', async (t) => {
  const s = new LevelStore(tmp(t), { journalApplyDelayMs: 60_000 });
  await s.open();
  const order = [5, 3, 9, 1, 7, 2, 8, 4, 6, 10];
  await Promise.all(order.map((i) => add(s, msg(i))));
  t.same(seqs(await s.load('queue://q', 0, 100)), range(1, 10));
  t.same(seqs(await s.load('queue://q', 2, 3)), [3, 4, 5]);
  await s.close();
});
