// Crash child for the store conformance suite: opens a LevelStore at argv[2] and adds messages as fast as the
// store takes them (1000 in flight), printing each sequence once its callback fired. The parent SIGKILLs it.
import { LevelStore } from '../../dist/store/level-store.js';

const store = new LevelStore(process.argv[2]);
await store.open();
let seq = 0;
const body = Buffer.alloc(512, 0x61);
const one = () => {
  const s = ++seq;
  store.add(
    { seq: s, id: `id-${s}`, dest: 'queue://a', body, bt: 0, persistent: true, priority: 4, timestamp: Date.now(), expires: 0, deliveryCount: 0 },
    (err) => {
      if (err) throw err;
      process.stdout.write(`${s}\n`);
      one();
    },
  );
};
for (let i = 0; i < 1000; i++) one();
