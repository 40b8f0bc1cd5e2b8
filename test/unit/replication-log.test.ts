// The replication log window: which replica positions may catch up from memory, and which need a snapshot.
import t from 'tap';
import { LogWindow } from '../../src/ha/replicated/log-window.js';
import type { StoreOp } from '../../src/ha/replicated/wire.js';

const ops = (n: number): StoreOp[] => Array.from({ length: n }, (_, i): StoreOp => ['m', 'queue://q', i]);
const positions = (es: { first: number; ops: StoreOp[] }[] | null): number[] | null =>
  es === null ? null : es.flatMap((e) => e.ops.map((_, i) => e.first + i));

t.test('a replica on the log catches up from the entry after its position', async (t) => {
  const w = new LogWindow({ epoch: 1, pos: 10, exact: true });
  w.append(1, 11, ops(3)); // 11..13
  w.append(2, 14, ops(2)); // 14..15, a new master's epoch
  t.strictSame(w.last, { epoch: 2, pos: 15 });
  t.strictSame(positions(w.after({ epoch: 1, pos: 12 })), [13, 14, 15], 'mid-entry: the rest of that entry, then the next');
  t.strictSame(positions(w.after({ epoch: 1, pos: 13 })), [14, 15]);
  t.strictSame(positions(w.after({ epoch: 2, pos: 15 })), [], 'up to date: nothing to send');
  t.strictSame(positions(w.after({ epoch: 1, pos: 10 })), [11, 12, 13, 14, 15], 'exactly at the window\'s exact base');
});

t.test('a replica that cannot prove it holds a prefix of this log gets a snapshot (null)', async (t) => {
  const w = new LogWindow({ epoch: 1, pos: 10, exact: true });
  w.append(2, 11, ops(3));
  t.equal(w.after({ epoch: 1, pos: 12 }), null, 'same position, another epoch: it diverged (an old master\'s unreplicated writes)');
  t.equal(w.after({ epoch: 2, pos: 20 }), null, 'ahead of the master');
  t.equal(w.after({ epoch: 1, pos: 9 }), null, 'behind the window');
  t.equal(w.after({ epoch: 0, pos: 10 }), null, 'at the base position but from another epoch');
  const inexact = new LogWindow({ epoch: 1, pos: 10, exact: false });
  inexact.append(1, 11, ops(1));
  t.equal(inexact.after({ epoch: 1, pos: 10 }), null, 'the master itself restarted after a crash: its base is not exact');
  t.strictSame(positions(inexact.after({ epoch: 1, pos: 11 })), [], 'but an entry it wrote since is proof');
});

t.test('the window drops its oldest entries past its byte budget, and its base moves up with them', async (t) => {
  const w = new LogWindow({ epoch: 1, pos: 0, exact: true }, 200);
  for (let i = 1; i <= 10; i++) w.append(1, i, ops(1)); // about 64 bytes an entry: three fit
  t.equal(w.after({ epoch: 1, pos: 2 }), null, 'the early entries are gone: a snapshot');
  t.strictSame(positions(w.after({ epoch: 1, pos: 8 })), [9, 10], 'recent ones are still there');
  t.strictSame(positions(w.after({ epoch: 1, pos: 7 })), [8, 9, 10], 'the new base (7) is exact: the dropped entries were applied');
  t.equal(w.after({ epoch: 1, pos: 6 }), null, 'below the base');
});
