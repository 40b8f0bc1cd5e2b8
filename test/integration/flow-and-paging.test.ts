import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { connect, type ConnectionStatus } from '../../src/index.js';
import { startBroker, tempDir } from '../helpers/broker.js';
import { RawPeer } from '../helpers/raw.js';

function flowConf(dir: string, limit: string, timeout?: number): string {
  const f = join(dir, 'flow.xml');
  const attr = timeout !== undefined ? ` sendFailIfNoSpaceAfterTimeout="${timeout}"` : '';
  writeFileSync(
    f,
    `<broker brokerName="flow"><systemUsage><systemUsage${attr}><memoryUsage><memoryUsage limit="${limit}"/></memoryUsage></systemUsage></systemUsage></broker>`,
  );
  return f;
}

t.test('producer flow control: non-persistent sends wait at the memory limit, resume as it drains', async (t) => {
  const dir = tempDir(t);
  const b = await startBroker(t, { dataDir: dir, args: ['--conf', flowConf(dir, '1 mb')] });
  const p = await connect(b.url);
  t.teardown(() => p.close());
  const events: ConnectionStatus['type'][] = [];
  p.on('status', (s: ConnectionStatus) => events.push(s.type));
  const blocked = new Promise((resolve) => p.once('blocked', resolve));
  const N = 300; // 300 x 10 KiB = 3 MiB, three times the limit
  const body = Buffer.alloc(10 * 1024, 7);
  const sending = (async () => {
    for (let i = 0; i < N; i++) await p.send('queue://flow', body, { persistent: false, headers: { i } });
  })();
  await blocked;
  t.pass('the producer was told it is blocked');
  const stats = await p.stats();
  const q = stats.find((s) => s.name === 'queue://flow')!;
  t.ok(q.memoryBytes <= 1.5 * 1024 * 1024, `memory held ${q.memoryBytes} bytes stays near the 1 MiB limit`);
  t.ok(q.queueSize < N, `only ${q.queueSize} of ${N} accepted while blocked`);
  const c = await connect(b.url);
  t.teardown(() => c.close());
  const sub = await c.subscribe('queue://flow');
  const seen = new Set<number>();
  while (seen.size < N) {
    const m = await sub.receive(10_000);
    if (!m) break;
    seen.add(m.headers['i'] as number);
  }
  await sending;
  t.equal(seen.size, N, `all ${N} delivered once the consumer drained the queue`);
  t.ok(events.includes('unblocked'), 'and the producer was told it is unblocked');
});

t.test('sendFailIfNoSpaceAfterTimeout: a held send fails with a clear error; the connection lives on', async (t) => {
  const dir = tempDir(t);
  const b = await startBroker(t, { dataDir: dir, args: ['--conf', flowConf(dir, '1 mb', 200)] });
  const p = await connect(b.url);
  t.teardown(() => p.close());
  const errors: Error[] = [];
  p.on('error', (e: Error) => errors.push(e));
  const body = Buffer.alloc(10 * 1024, 7);
  for (let i = 0; i < 150; i++) await p.send('queue://full', body, { persistent: false });
  const sub = await p.subscribe('topic://ping');
  // Fill past the limit, then a send with a receipt: persistent ones page to disk, so ask for one on a topic...
  const t0 = Date.now();
  await new Promise<void>((resolve) => {
    const check = (): void => {
      if (errors.length > 0) return resolve();
      setTimeout(check, 20);
    };
    check();
  });
  const took = Date.now() - t0;
  t.match(errors[0]!.message, /sendFailIfNoSpaceAfterTimeout=200/, 'the error names the setting');
  t.equal((errors[0] as { code?: string }).code, 'FERRY_RESOURCE_EXHAUSTED');
  t.ok(took < 5000, `failed after ${took} ms`);
  await p.purge('queue://full');
  await p.send('topic://ping', 'alive', { persistent: false });
  t.equal((await sub.receive(5000))?.text, 'alive', 'the connection works once memory is free');
});

t.test('queues deeper than memory: a backlog pages from disk, in order, across a kill -9', async (t) => {
  const b = await startBroker(t);
  const p = await connect(b.url);
  const N = 12_000; // more than two pages of 5000
  let window: Promise<void>[] = [];
  for (let i = 0; i < N; i++) {
    window.push(p.send('queue://deep', `d${i}`));
    if (window.length >= 500) {
      await Promise.all(window);
      window = [];
    }
  }
  await Promise.all(window);
  const q = (await p.stats()).find((s) => s.name === 'queue://deep')!;
  t.equal(q.queueSize, N, `queue size ${N}`);
  t.ok(q.memoryBytes < 5000 * 300, `only a page is in memory (${q.memoryBytes} bytes)`);
  await p.close();
  await b.kill('SIGKILL');
  const b2 = await startBroker(t, { dataDir: b.dataDir, port: b.port });
  const c = await connect(b2.url);
  t.teardown(() => c.close());
  t.equal((await c.stats()).find((s) => s.name === 'queue://deep')?.queueSize, N, 'restarted broker knows the backlog');
  const sub = await c.subscribe('queue://deep');
  let next = 0;
  let outOfOrder = 0;
  for (;;) {
    const m = await sub.receive(2000);
    if (!m) break;
    if (m.text !== `d${next}`) outOfOrder++;
    next++;
  }
  t.equal(next, N, `all ${N} received`);
  t.equal(outOfOrder, 0, 'in order');
});

t.test('flow control keeps order: COMMIT and DISCONNECT wait behind a held send', async (t) => {
  const dir = tempDir(t);
  const b = await startBroker(t, { dataDir: dir, args: ['--conf', flowConf(dir, '1 mb')] });
  const raw = await RawPeer.connected(b.port);
  const big = Buffer.alloc(10 * 1024, 1);
  for (let i = 0; i < 150; i++) raw.send({ t: 'SEND', dest: 'queue://fill', body: big });
  raw.send({ t: 'SEND', dest: 'queue://fill', body: big, rid: 1 }); // held: memory is full
  raw.send({ t: 'BEGIN', tx: 'tx1', rid: 2 });
  raw.send({ t: 'SEND', dest: 'queue://txq', body: Buffer.from('in-tx'), tx: 'tx1', rid: 3 });
  raw.send({ t: 'COMMIT', tx: 'tx1', rid: 4 });
  raw.send({ t: 'DISCONNECT', rid: 5 });
  await raw.waitFor((c) => c['t'] === 'FLOW' && c['blocked'] === true, 'FLOW blocked');
  t.notOk(raw.received.some((c) => c['t'] === 'RECEIPT' && c['rid'] === 4), 'COMMIT is not answered while the send before it is held');
  const admin = await connect(b.url);
  t.teardown(() => admin.close());
  await admin.purge('queue://fill');
  await raw.waitFor((c) => c['t'] === 'RECEIPT' && c['rid'] === 5, 'DISCONNECT receipt after the held commands ran');
  const rids = raw.received.filter((c) => c['t'] === 'RECEIPT').map((c) => c['rid']);
  t.same(rids, [1, 2, 3, 4, 5], `every held command answered, in order: ${JSON.stringify(raw.received.filter((c) => c['t'] !== 'MESSAGE'))}`);
  t.notOk(raw.received.some((c) => c['t'] === 'ERROR'), 'no errors');
  const sub = await admin.subscribe('queue://txq');
  t.equal((await sub.receive(5000))?.text, 'in-tx', 'the transaction committed its send');
});

t.test('flow control: persistent sends to a topic wait too (a non-durable subscriber buffers in memory)', async (t) => {
  const dir = tempDir(t);
  const b = await startBroker(t, { dataDir: dir, args: ['--conf', flowConf(dir, '1 mb')] });
  const c = await connect(b.url);
  t.teardown(() => c.close());
  const sub = await c.subscribe('topic://slow', { prefetch: 1 });
  const p = await connect(b.url);
  t.teardown(() => p.close());
  const blocked = new Promise((resolve) => p.once('blocked', resolve));
  const N = 300;
  const body = Buffer.alloc(10 * 1024, 3);
  const sending = (async () => {
    for (let i = 0; i < N; i++) await p.send('topic://slow', body, { headers: { i } });
  })();
  await blocked;
  const mem = (await c.stats()).find((s) => s.name === 'topic://slow')!.memoryBytes;
  t.ok(mem <= 1.5 * 1024 * 1024, `the subscriber's buffer stays near the 1 MiB limit (${mem} bytes)`);
  const seen = new Set<number>();
  while (seen.size < N) {
    const m = await sub.receive(10_000);
    if (!m) break;
    seen.add(m.headers['i'] as number);
  }
  await sending;
  t.equal(seen.size, N, `all ${N} delivered`);
});
