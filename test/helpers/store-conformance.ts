import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { BrokerMessage } from '../../src/model/message.js';
import type { MessageStore } from '../../src/store/store.js';

/** What the suite needs of a test: tap's `t`. */
export interface SuiteTest {
  test(name: string, fn: (t: SuiteTest & Assertions) => Promise<void>): unknown;
  teardown(fn: () => unknown): void;
}
type Assertions = {
  equal(a: unknown, b: unknown, msg?: string): void;
  same(a: unknown, b: unknown, msg?: string): void;
  ok(v: unknown, msg?: string): void;
};

/**
 * A store under test. `make` gives a factory bound to one location: every `open()` is the same store after a
 * restart (a fresh instance over the same data). `crashChild`, when given, is a module path that opens the store
 * at `process.argv[2]` in a child process and adds messages forever, printing each sequence whose callback fired:
 * the suite SIGKILLs it and checks that every acknowledged message survived.
 */
export interface StoreImpl {
  name: string;
  make(t: SuiteTest): { open(): MessageStore; persistent: boolean; dir?: string };
  crashChild?: string;
}

export function msg(seq: number, extra: Partial<BrokerMessage> = {}): BrokerMessage {
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

export const add = (s: MessageStore, m: BrokerMessage): Promise<void> =>
  new Promise((resolve, reject) => s.add(m, (err) => (err ? reject(err) : resolve())));

/** The conformance suite: run it for every store implementation. */
export function storeConformance(t: SuiteTest, impl: StoreImpl): void {
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

    t.test('a page larger than one read of the store comes back whole, in order, up to its limit', async (t) => {
      // 1 MiB of bodies: LevelStore reads a page in several iterator calls (level-pages.ts PAGE_READ_BYTES).
      const f = impl.make(t);
      const s = f.open();
      await s.open();
      const body = Buffer.alloc(1024, 0x61);
      const n = 1024;
      await Promise.all(Array.from({ length: n }, (_, i) => add(s, msg(i + 1, { body }))));
      const page = await s.load('queue://a', 0, n - 24);
      t.equal(page.length, n - 24, 'as many as the limit');
      t.ok(page.every((m, i) => m.seq === i + 1 && m.body.length === 1024), 'every message, in sequence order, body whole');
      const rest = await s.load('queue://a', page.at(-1)!.seq, n);
      t.same(rest.map((m) => m.seq), Array.from({ length: 24 }, (_, i) => n - 23 + i), 'the rest from where the page ended');
      if (s.loadChunks !== undefined) {
        const parts: number[][] = [];
        await s.loadChunks('queue://a', 0, n - 24, (msgs) => parts.push(msgs.map((m) => m.seq)) > 0);
        t.ok(parts.length > 1, `read in parts (${parts.length})`);
        t.same(parts.flat(), page.map((m) => m.seq), 'the parts make the page, in order');
        const first: number[][] = [];
        await s.loadChunks('queue://a', 0, n, (msgs) => first.push(msgs.map((m) => m.seq)) === 0);
        t.same(first, [parts[0]], 'no part after the callback says stop');
      }
      await s.close();
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

    t.test('callbacks fire in the order the operations were queued', async (t) => {
      const f = impl.make(t);
      const s = f.open();
      await s.open();
      const order: string[] = [];
      const all: Promise<void>[] = [];
      for (let i = 1; i <= 200; i++) {
        all.push(new Promise<void>((r) => s.add(msg(i), () => (order.push(`add${i}`), r()))));
        if (i % 50 === 0) all.push(new Promise<void>((r) => s.barrier(() => (order.push(`barrier${i}`), r()))));
        if (i % 70 === 0) all.push(new Promise<void>((r) => s.putDurable({ clientId: 'c', name: `n${i}`, topic: 'topic://t' }, () => (order.push(`durable${i}`), r()))));
      }
      await Promise.all(all);
      const queued: string[] = [];
      for (let i = 1; i <= 200; i++) {
        queued.push(`add${i}`);
        if (i % 50 === 0) queued.push(`barrier${i}`);
        if (i % 70 === 0) queued.push(`durable${i}`);
      }
      t.same(order, queued, 'every callback, once, in queue order');
      await s.close();
    });

    t.test('a forwarded message keeps its broker path, id and delivery state across a restart', async (t) => {
      const f = impl.make(t);
      let s = f.open();
      await s.open();
      await add(s, msg(1, { path: ['node-a', 'node-b'], id: 'ID:origin:1', deliveryCount: 2 }));
      await s.close();
      s = f.open();
      await s.open();
      const [m] = await s.load('queue://a', 0, 10);
      t.same(m?.path, ['node-a', 'node-b'], 'path kept');
      t.equal(m?.id, 'ID:origin:1', 'id kept');
      await s.close();
    });

    if (impl.crashChild !== undefined) {
      t.test('SIGKILL while writing: every message whose callback fired is there after reopening', async (t) => {
        const f = impl.make(t);
        const acked = await runUntilKilled(impl.crashChild!, f.dir!, 3000);
        t.ok(acked.length >= 3000, `${acked.length} adds acknowledged before the kill`);
        const s = f.open();
        const st = await s.open();
        const stored = new Set((await s.load('queue://a', 0, 1_000_000)).map((m) => m.seq));
        const missing = acked.filter((seq) => !stored.has(seq));
        t.same(missing, [], 'no acknowledged message lost');
        t.equal(st.nextSeq > Math.max(...acked), true, 'the sequence continues above every acknowledged message');
        await s.close();
      });
    }
  });

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

/** Start the crash child on `dir`, let it acknowledge at least `atLeast` adds, SIGKILL it mid-write. */
function runUntilKilled(script: string, dir: string, atLeast: number): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
    const acked: number[] = [];
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`crash child acknowledged ${acked.length} of ${atLeast} adds within 20 s`));
    }, 20_000);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const n = Number(line);
      if (Number.isInteger(n) && n > 0) acked.push(n);
      if (acked.length === atLeast) child.kill('SIGKILL');
    });
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(acked);
    });
  });
}
