import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { LevelStore, type WriteFaults } from '../../src/store/level-store.js';
import type { BrokerMessage } from '../../src/model/message.js';

function tmp(t: Tap.Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'ferrymq-commit-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'db');
}

const msg = (seq: number): BrokerMessage =>
  ({ seq, id: `id-${seq}`, dest: 'queue://q', body: Buffer.alloc(10, seq), bt: 0, persistent: true, priority: 4, timestamp: 1, expires: 0, deliveryCount: 0 }) as BrokerMessage;

/** Resolves with what the store answered for `m` (undefined: stored). */
const add = (s: LevelStore, m: BrokerMessage): Promise<Error | undefined> => new Promise((resolve) => s.add(m, (err) => resolve(err)));

async function until(what: string, ok: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`waited ${ms} ms for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

t.test('a failed batch: sends queued behind it are refused at once, not held until the store is back; removals in it and behind it are written after', async (t) => {
  let reopenable = false;
  let queuedBehind: Promise<Error | undefined> | null = null;
  let s!: LevelStore;
  const faults: WriteFaults = {
    write(batch) {
      if (batch !== 2) return undefined;
      // Batch 2 is being written: what is queued now goes into the next batch, behind the one about to fail.
      queuedBehind = add(s, msg(3));
      s.remove(1, 'queue://q');
      return new Error('EIO: the disk said no');
    },
    reopen: () => (reopenable ? undefined : new Error('still broken')),
  };
  s = new LevelStore(tmp(t), { faults });
  let recovered = 0;
  s.watch({ failed: () => {}, recovered: () => void recovered++, lost: (err) => t.fail(err.message) });
  await s.open();
  t.same(await Promise.all([add(s, msg(1)), add(s, msg(4))]), [undefined, undefined], 'batch 1 is stored');
  const secondP = add(s, msg(2));
  s.remove(4, 'queue://q');
  const second = await secondP;
  t.match(second?.message, /EIO/, 'batch 2 fails with the write error');
  t.ok(queuedBehind !== null, 'a send was queued behind batch 2 while it was written');
  let timer!: NodeJS.Timeout;
  const behind = await Promise.race([queuedBehind!, new Promise<'held'>((resolve) => (timer = setTimeout(() => resolve('held'), 5000)))]);
  clearTimeout(timer);
  t.not(behind, 'held', 'the send queued behind the failed batch was answered while the store was still down');
  t.match((behind as Error | undefined)?.message, /EIO/, 'with the failure');
  t.ok(s.failure !== null && recovered === 0, 'the store had not recovered when it answered');

  reopenable = true;
  await until('the store to recover', () => recovered === 1);
  await new Promise<void>((resolve, reject) => s.barrier((err) => (err ? reject(err) : resolve()), true));
  t.same((await s.load('queue://q', 0, 100)).map((m) => m.seq), [], '1 and 4 removed (the removals in the failed batch and behind it were kept), 2 and 3 never stored');
  await s.close();
});

t.test('group commit: callbacks fire in the order operations were queued, across batches written back to back', async (t) => {
  const s = new LevelStore(tmp(t));
  await s.open();
  const order: number[] = [];
  const all: Promise<void>[] = [];
  let seq = 0;
  // Bursts queued from the callbacks of the burst before, so that each batch starts while the last one's
  // callbacks have yet to run.
  const burst = (left: number): void => {
    for (let i = 0; i < 50; i++) {
      const n = ++seq;
      all.push(
        new Promise<void>((resolve, reject) =>
          s.add(msg(n), (err) => {
            if (err) return reject(err);
            order.push(n);
            if (i === 0 && left > 0) burst(left - 1);
            resolve();
          }),
        ),
      );
    }
  };
  burst(10);
  await until('eleven bursts stored', () => order.length === 550);
  await Promise.all(all);
  t.same(order, Array.from({ length: 550 }, (_, i) => i + 1), 'every callback once, in order');
  t.equal((await s.load('queue://q', 0, 1000)).length, 550, 'every message stored');
  await s.close();
});
