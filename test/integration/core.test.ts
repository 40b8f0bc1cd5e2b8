import t from 'tap';
import { connect, type Connection } from '../../src/index.js';
import { startBroker } from '../helpers/broker.js';
import { RawPeer } from '../helpers/raw.js';

async function open(t: Tap.Test, url: string): Promise<Connection> {
  const c = await connect(url);
  t.teardown(() => c.close());
  return c;
}

type Tap = { Test: typeof t };
declare namespace Tap {
  type Test = typeof t;
}

t.test('queue: produce then consume, bodies and headers intact', async (t) => {
  const b = await startBroker(t);
  const p = await open(t, b.url);
  const N = 500;
  await Promise.all(
    Array.from({ length: N }, (_, i) => p.send('queue://q1', `m${i}`, { headers: { i, kind: 'test', odd: i % 2 === 1 } })),
  );
  await p.send('queue://q1', Buffer.from([1, 2, 3]));
  await p.send('queue://q1', { nested: [1, 'two'] });
  const c = await open(t, b.url);
  const sub = await c.subscribe('queue://q1');
  for (let i = 0; i < N; i++) {
    const m = await sub.receive(5000);
    t.ok(m, `message ${i} arrives`);
    if (!m) return;
    if (m.body !== `m${i}` || m.headers['i'] !== i) {
      t.fail(`message ${i}: got body ${String(m.body)} headers ${JSON.stringify(m.headers)}`);
      return;
    }
  }
  const bin = await sub.receive(5000);
  t.same(bin?.body, Buffer.from([1, 2, 3]), 'bytes body comes back as bytes');
  const val = await sub.receive(5000);
  t.same(val?.body, { nested: [1, 'two'] }, 'a value body comes back as that value');
  await p.send('queue://q1', 'barrier');
  t.equal((await sub.receive(5000))?.text, 'barrier', 'nothing more: a message sent after them all comes next');
});

t.test('topic: every subscriber gets every message', async (t) => {
  const b = await startBroker(t);
  const c1 = await open(t, b.url);
  const c2 = await open(t, b.url);
  const s1 = await c1.subscribe('topic://prices');
  const s2 = await c2.subscribe('topic://prices');
  const p = await open(t, b.url);
  const N = 300;
  for (let i = 0; i < N; i++) await p.send('topic://prices', `p${i}`, { persistent: i % 2 === 0 });
  for (const [name, s] of [['first', s1], ['second', s2]] as const) {
    const got: string[] = [];
    for (let i = 0; i < N; i++) {
      const m = await s.receive(5000);
      if (!m) break;
      got.push(m.text);
    }
    t.equal(got.length, N, `${name} subscriber received ${N}`);
    t.equal(new Set(got).size, N, `${name} subscriber: all unique`);
  }
});

t.test('competing consumers share a queue: each message to exactly one', async (t) => {
  const b = await startBroker(t);
  const conns = await Promise.all([open(t, b.url), open(t, b.url), open(t, b.url)]);
  const subs = await Promise.all(conns.map((c) => c.subscribe('queue://work', { prefetch: 10 })));
  const p = await open(t, b.url);
  const N = 3000;
  const sends: Promise<void>[] = [];
  for (let i = 0; i < N; i++) sends.push(p.send('queue://work', `w${i}`, { persistent: false }));
  await Promise.all(sends);
  const seen = new Map<string, number>();
  const perConsumer = [0, 0, 0];
  await Promise.all(
    subs.map(async (s, k) => {
      for (;;) {
        const m = await s.receive(1000);
        if (!m) return;
        perConsumer[k]!++;
        seen.set(m.text, (seen.get(m.text) ?? 0) + 1);
      }
    }),
  );
  t.equal(seen.size, N, `all ${N} messages consumed`);
  t.equal([...seen.values()].filter((n) => n > 1).length, 0, 'none twice');
  for (let k = 0; k < 3; k++) t.ok(perConsumer[k]! > N / 10, `consumer ${k} took a share (${perConsumer[k]})`);
});

t.test('persistence: N receipted sends survive SIGKILL', async (t) => {
  const first = await startBroker(t);
  const p = await connect(first.url);
  const N = 2000;
  let inflight: Promise<void>[] = [];
  for (let i = 0; i < N; i++) {
    inflight.push(p.send('queue://durable', `d${i}`));
    if (inflight.length >= 200) {
      await Promise.all(inflight);
      inflight = [];
    }
  }
  await Promise.all(inflight);
  p.close().catch(() => {});
  await first.kill('SIGKILL');
  const second = await startBroker(t, { dataDir: first.dataDir, port: first.port });
  const rec = await second.waitForLog((l) => typeof l['recovered'] === 'number', 'recovered');
  t.equal(rec['recovered'], N, `broker recovered ${N}`);
  const c = await open(t, second.url);
  const sub = await c.subscribe('queue://durable');
  const seen = new Set<string>();
  for (;;) {
    const m = await sub.receive(1000);
    if (!m) break;
    seen.add(m.text);
  }
  t.equal(seen.size, N, `received ${N} unique after kill -9, 0 lost`);
});

t.test('unacked messages come back redelivered when their consumer goes away', async (t) => {
  const b = await startBroker(t);
  const p = await open(t, b.url);
  for (let i = 0; i < 10; i++) await p.send('queue://redo', `r${i}`);
  const c1 = await connect(b.url);
  const s1 = await c1.subscribe('queue://redo', { ack: 'client' });
  const first: string[] = [];
  for (let i = 0; i < 10; i++) {
    const m = await s1.receive(5000);
    if (m) first.push(m.text);
  }
  t.equal(first.length, 10, 'first consumer got 10 and acked none');
  await c1.close();
  const c2 = await open(t, b.url);
  const s2 = await c2.subscribe('queue://redo', { ack: 'client' });
  const again: { text: string; redelivered: boolean; count: number }[] = [];
  for (let i = 0; i < 10; i++) {
    const m = await s2.receive(5000);
    if (!m) break;
    again.push({ text: m.text, redelivered: m.redelivered, count: m.deliveryCount });
    m.ack();
  }
  t.same(again.map((x) => x.text), first, 'same messages, same order');
  t.ok(again.every((x) => x.redelivered && x.count === 2), 'each flagged redelivered with deliveryCount 2');
  await s2.close();
  const s3 = await c2.subscribe('queue://redo');
  await c2.send('queue://redo', 'barrier');
  t.equal((await s3.receive(5000))?.text, 'barrier', 'acked messages are gone: a message sent after them comes first');
});

t.test('duplicate audit survives kill -9: a resent (producer id, sequence) is stored once', async (t) => {
  const first = await startBroker(t);
  const raw = await RawPeer.connected(first.port);
  for (let seq = 1; seq <= 10; seq++) {
    raw.send({ t: 'SEND', dest: 'queue://audit', body: Buffer.from(`a${seq}`), persistent: true, pid: 'P-audit', seq, rid: seq });
  }
  await raw.waitFor((c) => c['t'] === 'RECEIPT' && c['rid'] === 10, 'receipt of the 10th send');
  raw.destroy();
  await first.kill('SIGKILL');
  const second = await startBroker(t, { dataDir: first.dataDir, port: first.port });
  const again = await RawPeer.connected(second.port);
  // A failover client resends what it has no receipt for: here 6..12, of which 6..10 were stored before the crash.
  for (let seq = 6; seq <= 12; seq++) {
    again.send({ t: 'SEND', dest: 'queue://audit', body: Buffer.from(`a${seq}`), persistent: true, pid: 'P-audit', seq, rid: 100 + seq });
  }
  await again.waitFor((c) => c['t'] === 'RECEIPT' && c['rid'] === 112, 'receipt of the last resend');
  t.equal(again.received.filter((c) => c['t'] === 'RECEIPT').length, 7, 'every resend is receipted');
  const c = await open(t, second.url);
  const sub = await c.subscribe('queue://audit');
  const got: string[] = [];
  for (;;) {
    const m = await sub.receive(500);
    if (!m) break;
    got.push(m.text);
  }
  t.same(got, Array.from({ length: 12 }, (_, i) => `a${i + 1}`), '12 messages, each once, in order');
  again.destroy();
});
