// Crash child for test/unit/store-journal.test.ts: opens a LevelStore at argv[2] whose journaled batches wait a
// minute before LevelDB is written, adds N messages, removes the first half, adds one more (its batch carries the
// removals), prints "ready" once that is acknowledged, and waits to be SIGKILLed: everything it did is then in the
// journal and nothing of it in LevelDB.
import { LevelStore } from '../../dist/store/level-store.js';

const N = Number(process.argv[3]);
const store = new LevelStore(process.argv[2], { journalApplyDelayMs: 60_000 });
await store.open();
const body = Buffer.alloc(512, 0x61);
const add = (seq) =>
  new Promise((resolve, reject) =>
    store.add(
      { seq, id: `id-${seq}`, dest: 'queue://a', body, bt: 0, persistent: true, priority: 4, timestamp: Date.now(), expires: 0, deliveryCount: 0, pid: 'P', pseq: seq },
      (err) => (err ? reject(err) : resolve()),
    ),
  );
await Promise.all(Array.from({ length: N }, (_, i) => add(i + 1)));
for (let seq = 1; seq <= N / 2; seq++) store.remove(seq, 'queue://a');
await add(N + 1);
process.stdout.write('ready\n');
setInterval(() => {}, 1000);
