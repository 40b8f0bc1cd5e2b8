/**
 * What survives kill -9, seen by plain `tcp://` clients (a failover client drops redeliveries of messages it
 * acked itself, which would hide a lost ack): acks, a durable subscription's unacked backlog, priority and TTL of a
 * backlog deeper than a page.
 */
import t from 'tap';
import { connect, type Connection, type Subscription } from '../../src/index.js';
import { startBroker } from '../helpers/broker.js';

type T = typeof t;

async function open(t: T, url: string, clientId?: string): Promise<Connection> {
  const c = await connect(url, clientId !== undefined ? { clientId } : {});
  t.teardown(() => c.close());
  return c;
}

/** Texts received on `sub` until the marker `mark` (sent after everything else) arrives. */
async function untilMark(sub: Subscription, mark: string, timeoutMs = 10_000): Promise<{ text: string; redelivered: boolean }[]> {
  const out: { text: string; redelivered: boolean }[] = [];
  for (;;) {
    const m = await sub.receive(timeoutMs);
    if (!m) throw new Error(`marker ${mark} did not arrive within ${timeoutMs} ms; got ${out.length} messages`);
    m.ack();
    if (m.text === mark) return out;
    out.push({ text: m.text, redelivered: m.redelivered });
  }
}

t.test('acks survive kill -9: a plain tcp:// consumer never sees an acked message again', async (t) => {
  const b = await startBroker(t);
  const p = await open(t, b.url);
  const N = 200;
  await Promise.all(Array.from({ length: N }, (_, i) => p.send('queue://acks', `m${i}`)));
  const c = await connect(b.url);
  const sub = await c.subscribe('queue://acks', { ack: 'individual', prefetch: N });
  const got: string[] = [];
  for (let i = 0; i < 150; i++) {
    const m = await sub.receive(5000);
    if (!m) throw new Error(`delivery ${i} did not arrive`);
    got.push(m.text);
    if (i < 100) m.ack(); // the first 100 acked; 50 more delivered and left unacked
  }
  // A persistent send written after the ACK frames on the same socket: its receipt means the store has taken the
  // acks' deletes (store operations are written in order, the send's batch synced).
  await c.send('queue://acks-sync', 'after the acks');
  await b.kill('SIGKILL');
  c.close().catch(() => {});
  const b2 = await startBroker(t, { dataDir: b.dataDir, port: b.port });
  const c2 = await open(t, b2.url); // tcp://: no client-side filtering of redeliveries
  const sub2 = await c2.subscribe('queue://acks', { ack: 'individual' });
  await c2.send('queue://acks', 'mark', { priority: 0 });
  const after = await untilMark(sub2, 'mark');
  const texts = after.map((m) => m.text);
  t.same(texts, Array.from({ length: 100 }, (_, i) => `m${i + 100}`), 'exactly the 100 unacked come back, in order; no acked one');
  t.same(got.slice(0, 3), ['m0', 'm1', 'm2'], 'the acked ones were the first 100');
});

t.test('durable subscription with unacked messages across kill -9', async (t) => {
  const b = await startBroker(t);
  const sub1 = await connect(b.url, { clientId: 'dur-1' });
  const s = await sub1.subscribe('topic://dk', { durable: 'r', ack: 'client', prefetch: 1000 });
  const p = await open(t, b.url);
  for (let i = 0; i < 100; i++) await p.send('topic://dk', `n${i}`);
  let twentieth = null;
  for (let i = 0; i < 50; i++) {
    const m = await s.receive(5000);
    if (!m) throw new Error(`delivery ${i} did not arrive`);
    if (i === 19) twentieth = m;
  }
  twentieth!.ack(); // client mode: acks n0..n19; n20..n49 stay delivered and unacked
  await sub1.send('queue://dk-sync', 'after the ack');
  await b.kill('SIGKILL');
  sub1.close().catch(() => {});
  const b2 = await startBroker(t, { dataDir: b.dataDir, port: b.port });
  const again = await open(t, b2.url, 'dur-1');
  const s2 = await again.subscribe('topic://dk', { durable: 'r', ack: 'client' });
  const p2 = await open(t, b2.url);
  await p2.send('topic://dk', 'mark', { priority: 0 });
  const after = await untilMark(s2, 'mark');
  t.same(after.map((m) => m.text), Array.from({ length: 80 }, (_, i) => `n${i + 20}`), 'n20..n99: the unacked and the undelivered, none acked, none lost');
});

t.test('priority and TTL across paging and restart', async (t) => {
  const b = await startBroker(t);
  const p = await open(t, b.url);
  const LOW = 6000; // more than a queue's in-memory page (5000): the tail of the backlog is on disk only
  for (let i = 0; i < LOW; i += 500) {
    await Promise.all(Array.from({ length: 500 }, (_, k) => p.send('queue://pt', `low${i + k}`, { priority: 1 })));
  }
  for (let i = 0; i < 10; i++) await p.send('queue://pt', `high${i}`, { priority: 9 });
  for (let i = 0; i < 10; i++) await p.send('queue://pt', `short${i}`, { priority: 9, ttl: 1 });
  await b.kill('SIGKILL');
  const b2 = await startBroker(t, { dataDir: b.dataDir, port: b.port });
  const c = await open(t, b2.url);
  const sub = await c.subscribe('queue://pt', { prefetch: 500 });
  await c.send('queue://pt', 'mark', { priority: 0 });
  const after = (await untilMark(sub, 'mark', 20_000)).map((m) => m.text);
  const firstHigh = after.indexOf('high0');
  t.same(after.slice(0, 10), Array.from({ length: 10 }, (_, i) => `high${i}`), 'the priority 9 messages first, FIFO among them, though sent behind a paged-out backlog', {
    todo: `a broker gap (issue 24): after a restart the first page is dispatched before higher-priority messages stored behind it (high0 came at ${firstHigh})`,
  });
  t.equal(after.filter((x) => x.startsWith('short')).length, 0, 'expired messages are never delivered');
  t.equal(after.length, LOW + 10, `all ${LOW} low-priority messages follow`);
  t.same(after.filter((x) => x.startsWith('low')).slice(0, 3), ['low0', 'low1', 'low2'], 'in order');
  t.equal(new Set(after).size, after.length, 'no duplicates');
  const dlq = (await c.stats()).find((s) => s.name === 'queue://ActiveMQ.DLQ');
  t.equal(dlq?.queueSize, 10, 'the 10 expired persistent messages are on the DLQ');
});
