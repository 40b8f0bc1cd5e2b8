import t from 'tap';
import { MessageKeySet } from '../../src/cli/keys.js';
import { RUN_HEADER, SEQ_HEADER } from '../../src/cli/util.js';

const h = (run: unknown, seq: unknown): Record<string, never> => ({ [RUN_HEADER]: run, [SEQ_HEADER]: seq }) as Record<string, never>;

t.test('MessageKeySet: run + seq identify a message, whatever its id', async (t) => {
  const s = new MessageKeySet();
  t.ok(s.add(h('r1', 5), 'ID:1'), 'first delivery is new');
  t.notOk(s.add(h('r1', 5), 'ID:2'), 'same run and seq, another id: a duplicate');
  t.ok(s.add(h('r2', 5), 'ID:1'), 'same seq of another run is new');
  t.ok(s.add(h('r1', 6), 'ID:3'), 'next seq is new');
  t.equal(s.size, 3);
});

t.test('MessageKeySet: sequences across growth, and the fallbacks', async (t) => {
  const s = new MessageKeySet();
  for (let i = 0; i < 200_000; i += 3) s.add(h('run', i), `x${i}`);
  let missing = 0;
  let wronglyNew = 0;
  for (let i = 0; i < 200_000; i++) {
    const fresh = s.add(h('run', i), `y${i}`);
    if (i % 3 === 0 && fresh) missing++;
    if (i % 3 !== 0 && !fresh) wronglyNew++;
  }
  t.equal(missing, 0, 'every added seq is remembered after the bitmap grew');
  t.equal(wronglyNew, 0, 'no seq reported seen that was not added');
  t.equal(s.size, 200_000);
  t.ok(s.add(h('run', 2 ** 40), 'a'), 'a huge seq (string key) is new');
  t.notOk(s.add(h('run', 2 ** 40), 'b'), '... and then a duplicate');
  t.ok(s.add(h('run', '7'), 'c'), 'a text seq is kept apart (string key)');
  t.notOk(s.add(h('run', '7'), 'd'), '... and then a duplicate');
  t.ok(s.add({}, 'ID:9'), 'no run/seq: the id identifies it');
  t.notOk(s.add({}, 'ID:9'), '... redelivered with the same id: a duplicate');
  t.ok(s.add(h('run', -1), 'e'), 'a negative seq (string key) is new');
});
