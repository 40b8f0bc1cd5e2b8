import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import type { BrokerMessage } from '../../src/broker/message.js';
import { LevelStore } from '../../src/store/level-store.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import type { MessageStore } from '../../src/store/store.js';

/** One conformance suite, run against every store. `reopen` gives the same store after a restart. */
interface Impl {
  name: string;
  make(t: Tap): { open(): MessageStore; persistent: boolean };
}
type Tap = { teardown(fn: () => unknown): void };

const impls: Impl[] = [
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
      return { open: () => new LevelStore(join(dir, 'db')), persistent: true };
    },
  },
];

function msg(seq: number, extra: Partial<BrokerMessage> = {}): BrokerMessage {
  return {
    seq,
    id: `id-${seq}`,
    dest: 'queue://a',
    body: Buffer.from(`body ${seq}`),
    bt: 1,
    persistent: true,
    priority: 4,
    timestamp: 1000 + seq,
    expires: 0,
    deliveryCount: 0,
    ...extra,
  };
}

const add = (s: MessageStore, m: BrokerMessage): Promise<void> =>
  new Promise((resolve, reject) => s.add(m, (err) => (err ? reject(err) : resolve())));

for (const impl of impls) {
  t.test(`${impl.name} store`, async (t) => {
    t.test('add, remove, recover in sequence order with the producer audit', async (t) => {
      const f = impl.make(t);
      let s = f.open();
      const empty = await s.open();
      t.equal(empty.destinations.size, 0);
      t.equal(empty.nextSeq, 1);
      await Promise.all([1, 2, 3, 4, 5].map((i) => add(s, msg(i, { pid: 'P1', pseq: i, headers: { k: i } }))));
      s.remove(2, 'queue://a');
      s.remove(4, 'queue://a');
      await new Promise<void>((resolve, reject) => s.barrier((e) => (e ? reject(e) : resolve())));
      await s.close();
      s = f.open();
      const st = await s.open();
      t.same([...st.destinations], [['queue://a', { count: 3 }]], 'one destination, its count');
      const msgs = await s.load('queue://a', 0, 100);
      t.same(msgs.map((m) => m.seq), [1, 3, 5], 'removed messages are gone, order kept');
      t.same(msgs[1]!.headers, { k: 3 }, 'headers kept');
      t.equal(Buffer.from(msgs[2]!.body).toString(), 'body 5', 'body kept');
      t.same((await s.load('queue://a', 1, 1)).map((m) => m.seq), [3], 'load pages from a sequence, with a limit');
      t.equal(st.nextSeq, 6, 'sequence continues after the highest stored');
      t.equal(st.producers.get('P1'), 5, 'producer audit kept');
      s.forgetProducer('P1');
      await s.close();
      const st2 = await f.open().open();
      t.equal(st2.producers.has('P1'), false, 'forgotten producer is gone');
    });

    t.test('group commit: many concurrent adds, every callback fires once', async (t) => {
      const f = impl.make(t);
      const s = f.open();
      await s.open();
      let calls = 0;
      const N = 5000;
      await Promise.all(
        Array.from({ length: N }, (_, i) =>
          new Promise<void>((resolve, reject) =>
            s.add(msg(i + 1), (err) => {
              calls++;
              if (err) reject(err);
              else resolve();
            }),
          ),
        ),
      );
      t.equal(calls, N);
      await s.close();
      const st = await f.open().open();
      t.equal(st.destinations.get('queue://a')?.count, N, `all ${N} recovered`);
    });

    t.test('close is idempotent and waits for queued writes', async (t) => {
      const f = impl.make(t);
      const s = f.open();
      await s.open();
      let done = false;
      s.add(msg(1), () => (done = true));
      await Promise.all([s.close(), s.close()]);
      t.ok(done, 'queued add completed before close resolved');
    });
  });
}

for (const impl of impls) {
  t.test(`${impl.name} store: per-destination ranges, durable records, removeRange`, async (t) => {
    const f = impl.make(t);
    let s = f.open();
    await s.open();
    await add(s, msg(1, { dest: 'queue://a' }));
    await add(s, msg(2, { dest: 'queue://a.b' }));
    await add(s, msg(3, { dest: 'topic://t', home: 'durable://c:n' }));
    await add(s, msg(4, { dest: 'queue://a' }));
    await new Promise<void>((r) => s.putDurable({ clientId: 'c', name: 'n', topic: 'topic://t' }, () => r()));
    t.same((await s.load('queue://a', 0, 10)).map((m) => m.seq), [1, 4], 'a prefix of another name is not mixed in');
    const home = await s.load('durable://c:n', 0, 10);
    t.same(home.map((m) => [m.seq, m.dest]), [[3, 'topic://t']], 'a durable copy is stored under its home, keeps its dest');
    t.equal(await s.removeRange('queue://a', 0, 3), 1, 'removeRange stops at its upper bound');
    await s.close();
    s = f.open();
    const st = await s.open();
    t.same(st.durables, [{ clientId: 'c', name: 'n', topic: 'topic://t' }], 'durable record kept');
    t.equal(st.destinations.get('queue://a')?.count, 1);
    s.removeDurable('c', 'n');
    await s.close();
    t.same((await f.open().open()).durables, [], 'durable record removed');
  });
}
