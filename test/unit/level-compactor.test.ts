import t from 'tap';
import { Compactor } from '../../src/store/level-compactor.js';
import { MSG, seqKey } from '../../src/store/level-codec.js';

/** A LevelDB stand-in: records each compactRange, which completes when the test says so. */
function fakeDb(): { db: { compactRange(start: string, end: string): Promise<void> }; calls: [string, string][]; finish(): void } {
  const calls: [string, string][] = [];
  const pending: (() => void)[] = [];
  return {
    calls,
    db: {
      compactRange(start, end) {
        calls.push([start, end]);
        return new Promise((resolve) => pending.push(resolve));
      },
    },
    finish: () => pending.shift()?.(),
  };
}

t.test('a pass compacts the range of the keys deleted since the last one, not every message key', async (t) => {
  const f = fakeDb();
  const c = new Compactor(f.db, () => false);
  c.deleted(6000, seqKey('queue://q', 1), seqKey('queue://q', 6000));
  c.afterBatch(true);
  t.same(f.calls, [], 'below the threshold: no pass');
  c.deleted(5000, seqKey('queue://q', 6001), seqKey('queue://q', 11_000));
  c.afterBatch(true);
  t.same(f.calls, [[seqKey('queue://q', 1), seqKey('queue://q', 11_000)]], 'one pass over the deleted run');

  // Deletes while it runs: one more pass once it is done, over what they deleted only.
  c.deleted(20_000, seqKey('queue://q', 11_001), seqKey('queue://q', 31_000));
  c.afterBatch(true);
  c.afterBatch(true);
  t.equal(f.calls.length, 1, 'one pass at a time');
  f.finish();
  await c.running;
  t.same(f.calls[1], [seqKey('queue://q', 11_001), seqKey('queue://q', 31_000)], 'the next pass covers the later deletes');
  f.finish();
  await c.running;
  t.equal(f.calls.length, 2, 'nothing deleted since: no third pass');
});

t.test('deletes of several destinations: a pass over every message key', async (t) => {
  const f = fakeDb();
  const c = new Compactor(f.db, () => false);
  c.deleted(1, seqKey('queue://a', 5), seqKey('queue://a', 5));
  c.deleted(1, seqKey('queue://b', 2), seqKey('queue://b', 2));
  c.reclaim();
  t.same(f.calls, [[MSG, MSG + '\xff']]);
  f.finish();
  await c.running;
  t.same(Compactor.range(seqKey('queue://a', 1), seqKey('queue://a', 0x10_0000)), [seqKey('queue://a', 1), seqKey('queue://a', 0x10_0000)], 'one destination: its keys');
  t.same(Compactor.range(null, null), [MSG, MSG + '\xff'], 'nothing known: everything');
});
