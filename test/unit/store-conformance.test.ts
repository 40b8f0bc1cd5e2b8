import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { LevelStore } from '../../src/store/level-store.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { storeConformance, type StoreImpl } from '../helpers/store-conformance.js';

/** Every store runs the one conformance suite (test/helpers/store-conformance.ts). */
const impls: StoreImpl[] = [
  {
    name: 'memory',
    make: () => {
      const s = new MemoryStore();
      return { open: () => s, persistent: false };
    },
  },
  {
    name: 'levelDB',
    make: (t) => {
      const dir = mkdtempSync(join(tmpdir(), 'ferrymq-store-'));
      t.teardown(() => rmSync(dir, { recursive: true, force: true }));
      return { open: () => new LevelStore(join(dir, 'db')), persistent: true, dir: join(dir, 'db') };
    },
    crashChild: fileURLToPath(new URL('../helpers/level-store-crash-child.js', import.meta.url)),
  },
  {
    // The write path before the journal (every batch a synced LevelDB write), kept for bench comparisons.
    name: 'levelDB without journal',
    make: (t) => {
      const dir = mkdtempSync(join(tmpdir(), 'ferrymq-store-'));
      t.teardown(() => rmSync(dir, { recursive: true, force: true }));
      return { open: () => new LevelStore(join(dir, 'db'), { journal: false }), persistent: true, dir: join(dir, 'db') };
    },
  },
];

for (const impl of impls) storeConformance(t, impl);
