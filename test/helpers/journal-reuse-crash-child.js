// Crash child for test/unit/store-journal.test.ts: a LevelStore at argv[2] written past many journal files, with
// LevelDB written behind quickly (so files are released and written over again), 8 KiB messages in batches of 50.
// Two messages in three are removed 100 sequences later (as a consumer's acks would); every third stays. After each batch is acknowledged it
// prints "acked <highest seq> removed <highest removed seq>"; it keeps going until SIGKILLed.
import { LevelStore } from '../../dist/store/level-store.js';

const store = new LevelStore(process.argv[2], { journalApplyDelayMs: 5 });
await store.open();
const body = Buffer.alloc(8 * 1024, 0x62);
const add = (seq) =>
  new Promise((resolve, reject) =>
    store.add(
      { seq, id: `id-${seq}`, dest: 'queue://r', body, bt: 0, persistent: true, priority: 4, timestamp: Date.now(), expires: 0, deliveryCount: 0, pid: 'P', pseq: seq },
      (err) => (err ? reject(err) : resolve()),
    ),
  );
let seq = 0;
let removed = 0;
for (;;) {
  const batch = [];
  for (let i = 0; i < 50; i++) batch.push(add(++seq));
  while (removed < seq - 100) if (++removed % 3 !== 0) store.remove(removed, 'queue://r');
  await Promise.all(batch);
  process.stdout.write(`acked ${seq} removed ${removed}\n`);
}
