import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { connect, type Connection, type Subscription } from '../../src/index.js';
import { tempDir } from '../helpers/broker.js';
import { bridgeUp, demandFor, freePort, startNode, tcp } from '../helpers/cluster.js';

type Tap = typeof t;

async function client(t: Tap, url: string): Promise<Connection> {
  const c = await connect(url);
  t.teardown(() => c.close());
  return c;
}

/** Receive from `sub` until `n` messages arrived or `idleMs` passes with none; bodies counted. */
async function drain(sub: Subscription, seen: Map<string, number>, until: () => boolean, idleMs = 10_000): Promise<void> {
  while (!until()) {
    const m = await sub.receive(idleMs);
    if (m === null) return;
    seen.set(m.text, (seen.get(m.text) ?? 0) + 1);
  }
}

async function sendAll(c: Connection, dest: string, n: number, prefix = 'm', persistent = true): Promise<void> {
  let window: Promise<void>[] = [];
  for (let i = 0; i < n; i++) {
    window.push(c.send(dest, `${prefix}${i}`, { persistent }));
    if (window.length >= 200) {
      await Promise.all(window);
      window = [];
    }
  }
  await Promise.all(window);
}

t.test('producer on A, consumers on B and C: every message once, shared between B and C', async (t) => {
  const [pa, pb, pc] = await Promise.all([freePort(), freePort(), freePort()]);
  const b = await startNode(t, { name: 'B', port: pb });
  const c = await startNode(t, { name: 'C', port: pc });
  const a = await startNode(t, { name: 'A', port: pa, network: [`static:(${tcp(pb)},${tcp(pc)})`] });
  await Promise.all([bridgeUp(a, 'B'), bridgeUp(a, 'C')]);
  const cb = await client(t, tcp(pb));
  const cc = await client(t, tcp(pc));
  const sb = await cb.subscribe('queue://work', { prefetch: 50 });
  const sc = await cc.subscribe('queue://work', { prefetch: 50 });
  await Promise.all([demandFor(a, 'queue://work'), demandFor(a, 'queue://work', 1)]);
  const N = 3000;
  const producer = await client(t, tcp(pa));
  await sendAll(producer, 'queue://work', N);
  const seenB = new Map<string, number>();
  const seenC = new Map<string, number>();
  const total = (): number => seenB.size + seenC.size;
  await Promise.all([drain(sb, seenB, () => total() >= N), drain(sc, seenC, () => total() >= N)]);
  const all = new Set([...seenB.keys(), ...seenC.keys()]);
  t.equal(all.size, N, `${N} unique across B and C`);
  t.equal(seenB.size + seenC.size, N, 'none reached both');
  t.ok([...seenB.values(), ...seenC.values()].every((n) => n === 1), 'none twice on one broker');
  t.ok(seenB.size > 0 && seenC.size > 0, `shared: B ${seenB.size}, C ${seenC.size}`);
  const stats = await producer.stats();
  t.equal(stats.find((s) => s.name === 'queue://work')?.forwardCount, N, "A's dstat counts every message forwarded");
});

t.test('non-persistent through a bridge with a small prefetch: every message once, every forward acked on A', async (t) => {
  // A non-persistent forward is answered as soon as it is written: its ack (batched per turn of the event loop)
  // frees credit, and the dispatch that follows forwards and answers the next ones inside the ack run itself.
  const [pa, pb] = await Promise.all([freePort(), freePort()]);
  const b = await startNode(t, { name: 'B', port: pb });
  const a = await startNode(t, { name: 'A', port: pa, network: [`static:(${tcp(pb)})?prefetchSize=50`] });
  await bridgeUp(a, 'B');
  const sub = await (await client(t, tcp(pb))).subscribe('queue://np', { prefetch: 200 });
  await demandFor(a, 'queue://np');
  const N = 5000;
  const producer = await client(t, tcp(pa));
  await sendAll(producer, 'queue://np', N, 'm', false);
  const seen = new Map<string, number>();
  await drain(sub, seen, () => seen.size >= N, 5000);
  t.equal(seen.size, N, `${N} unique received on B`);
  t.ok([...seen.values()].every((n) => n === 1), 'none twice');
  const until = Date.now() + 10_000;
  let st = (await producer.stats()).find((s) => s.name === 'queue://np');
  while ((st?.forwardCount !== N || st.inflight !== 0) && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 20));
    st = (await producer.stats()).find((s) => s.name === 'queue://np');
  }
  t.equal(st?.forwardCount, N, `A acked all ${N} forwards (dstat Forward #) within 10 s`);
  t.equal(st?.inflight, 0, 'nothing left in flight on A');
});

t.test('a topic published on A reaches subscribers on B and C exactly once each, and A\'s own', async (t) => {
  const [pa, pb, pc] = await Promise.all([freePort(), freePort(), freePort()]);
  const b = await startNode(t, { name: 'B', port: pb });
  const c = await startNode(t, { name: 'C', port: pc });
  const a = await startNode(t, { name: 'A', port: pa, network: [`static:(${tcp(pb)},${tcp(pc)})`] });
  await Promise.all([bridgeUp(a, 'B'), bridgeUp(a, 'C')]);
  const subs = await Promise.all([tcp(pa), tcp(pb), tcp(pc)].map(async (u) => (await client(t, u)).subscribe('topic://prices')));
  await Promise.all([demandFor(a, 'topic://prices'), demandFor(a, 'topic://prices', 1)]);
  const N = 1000;
  await sendAll(await client(t, tcp(pa)), 'topic://prices', N, 'p', false);
  for (const [i, sub] of subs.entries()) {
    const seen = new Map<string, number>();
    await drain(sub, seen, () => seen.size >= N);
    t.equal(seen.size, N, `subscriber ${'ABC'[i]} got all ${N}`);
    t.ok([...seen.values()].every((n) => n === 1), `subscriber ${'ABC'[i]} got none twice`);
  }
});

for (const ttl of [1, 2]) {
  t.test(`line B -> A -> C, networkTTL=${ttl}: a topic published on B ${ttl > 1 ? 'reaches' : 'does not reach'} C`, async (t) => {
    const [pa, pc] = await Promise.all([freePort(), freePort()]);
    const c = await startNode(t, { name: 'C', port: pc });
    const a = await startNode(t, { name: 'A', port: pa, network: [`static:(${tcp(pc)})?networkTTL=${ttl}`] });
    await bridgeUp(a, 'C');
    const subC = await (await client(t, tcp(pc))).subscribe('topic://line');
    const subA = await (await client(t, tcp(pa))).subscribe('topic://line');
    await demandFor(a, 'topic://line');
    const b = await startNode(t, { name: 'B', network: [`static:(${tcp(pa)})?networkTTL=${ttl}`] });
    await bridgeUp(b, 'A');
    await demandFor(b, 'topic://line');
    const N = 200;
    await sendAll(await client(t, b.url), 'topic://line', N, 'b', false);
    const seenA = new Map<string, number>();
    await drain(subA, seenA, () => seenA.size >= N);
    t.equal(seenA.size, N, 'A got every message from B (one hop)');
    // A marker published on A after them: when it reaches C, whatever A was going to forward from B has gone.
    await (await client(t, tcp(pa))).send('topic://line', 'marker', { persistent: false });
    const seenC = new Map<string, number>();
    await drain(subC, seenC, () => seenC.has('marker'));
    t.ok(seenC.has('marker'), 'the marker from A reached C');
    seenC.delete('marker');
    if (ttl > 1) {
      await drain(subC, seenC, () => seenC.size >= N);
      t.equal(seenC.size, N, `C got all ${N} from B through A`);
      t.ok([...seenC.values()].every((n) => n === 1), 'exactly once');
    } else {
      t.equal(seenC.size, 0, 'networkTTL=1: nothing from B travelled two hops');
    }
  });
}

t.test('stuck messages: consumer on B leaves, a consumer on A receives what had been forwarded to B', async (t) => {
  const [pa, pb] = await Promise.all([freePort(), freePort()]);
  const a = await startNode(t, { name: 'A', port: pa, network: [`static:(${tcp(pb)})`] });
  const b = await startNode(t, { name: 'B', port: pb, network: [`static:(${tcp(pa)})`] });
  await Promise.all([bridgeUp(a, 'B'), bridgeUp(b, 'A')]);
  const cb = await client(t, tcp(pb));
  const sb = await cb.subscribe('queue://stuck', { ack: 'client', prefetch: 10 });
  await demandFor(a, 'queue://stuck');
  const N = 500;
  await sendAll(await client(t, tcp(pa)), 'queue://stuck', N);
  const seen = new Map<string, number>();
  // B's consumer takes 50, acks them, and leaves: the rest were forwarded to B and sit there.
  for (let i = 0; i < 50; i++) {
    const m = await sb.receive(10_000);
    if (m === null) break;
    seen.set(m.text, (seen.get(m.text) ?? 0) + 1);
    m.ack();
  }
  await sb.close();
  const sa = await (await client(t, tcp(pa))).subscribe('queue://stuck', { prefetch: 100 });
  await drain(sa, seen, () => seen.size >= N);
  t.equal(seen.size, N, `all ${N} consumed: 50 on B, the rest on A`);
  t.ok([...seen.values()].every((n) => n === 1), 'none twice');
});

t.test('excluded destinations are never forwarded; statically included ones are, with no consumer', async (t) => {
  const [pa, pb] = await Promise.all([freePort(), freePort()]);
  const b = await startNode(t, { name: 'B', port: pb });
  const dir = tempDir(t);
  const conf = join(dir, 'a.xml');
  writeFileSync(
    conf,
    `<broker brokerName="A"><networkConnectors>
       <networkConnector name="to-b" uri="static:(${tcp(pb)})">
         <excludedDestinations><queue physicalName="secret.>"/></excludedDestinations>
         <staticallyIncludedDestinations><queue physicalName="always"/></staticallyIncludedDestinations>
       </networkConnector>
     </networkConnectors></broker>`,
  );
  const a = await startNode(t, { name: 'A', port: pa, args: ['--conf', conf] });
  await bridgeUp(a, 'B');
  const cb = await client(t, tcp(pb));
  const secret = await cb.subscribe('queue://secret.plans');
  const open = await cb.subscribe('queue://open');
  await demandFor(a, 'queue://open');
  const N = 100;
  const producer = await client(t, tcp(pa));
  await sendAll(producer, 'queue://secret.plans', N, 's');
  await sendAll(producer, 'queue://always', N, 'a');
  await sendAll(producer, 'queue://open', N, 'o');
  const seen = new Map<string, number>();
  await drain(open, seen, () => seen.size >= N);
  t.equal(seen.size, N, 'a destination with demand is forwarded');
  const statsA = await producer.stats();
  const secretA = statsA.find((s) => s.name === 'queue://secret.plans');
  t.equal(secretA?.queueSize, N, 'the excluded queue keeps every message on A');
  t.equal(secretA?.forwardCount, 0, 'none forwarded');
  t.notOk(a.logs.some((l) => String(l['msg']).startsWith('demand for queue://secret.plans')), 'no demand was taken for it');
  t.equal(await secret.receive(200), null, 'the consumer on B of the excluded queue got nothing');
  // Statically included: forwarded although nobody consumes it on B.
  const deadline = Date.now() + 10_000;
  let onB = 0;
  while (Date.now() < deadline) {
    onB = (await cb.stats()).find((s) => s.name === 'queue://always')?.queueSize ?? 0;
    if (onB >= N) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  t.equal(onB, N, `all ${N} of the statically included queue reached B with no consumer there`);
});

t.test('kill -9 B mid-flow and restart it: the bridge reconnects, every persistent message delivered, none twice', async (t) => {
  const [pa, pb] = await Promise.all([freePort(), freePort()]);
  const b = await startNode(t, { name: 'B', port: pb });
  const a = await startNode(t, { name: 'A', port: pa, network: [`static:(${tcp(pb)})?initialReconnectDelay=100&maxReconnectDelay=500`] });
  await bridgeUp(a, 'B');
  const consumer = await client(t, `failover:(${tcp(pb)})?initialReconnectDelay=50&maxReconnectDelay=500`);
  const sub = await consumer.subscribe('queue://crash', { ack: 'client', prefetch: 100 });
  await demandFor(a, 'queue://crash');
  const N = 4000;
  const producer = await client(t, tcp(pa));
  const seen = new Map<string, number>();
  let unflaggedDuplicates = 0;
  const consuming = (async () => {
    while (seen.size < N) {
      const m = await sub.receive(30_000);
      if (m === null) break;
      const prev = seen.get(m.text) ?? 0;
      if (prev > 0 && !m.redelivered) unflaggedDuplicates++;
      seen.set(m.text, prev + 1);
      m.ack();
    }
  })();
  const sending = sendAll(producer, 'queue://crash', N);
  // Kill B once part of the flow has crossed, restart it on its port with its store.
  while (seen.size < N / 4) await new Promise((r) => setTimeout(r, 5));
  await b.kill('SIGKILL');
  const b2 = await startNode(t, { name: 'B', port: pb, dataDir: b.dataDir });
  await bridgeUp(a, 'B', 1);
  await sending;
  await consuming;
  t.equal(seen.size, N, `${N} unique received on B`);
  t.equal(unflaggedDuplicates, 0, 'no duplicate that was not flagged redelivered');
  t.equal([...seen.values()].filter((n) => n > 1).length, 0, 'no duplicates at all');
  void b2;
});

t.test('duplex: one connection, configured on A only, carries both directions', async (t) => {
  const [pa, pb] = await Promise.all([freePort(), freePort()]);
  const b = await startNode(t, { name: 'B', port: pb });
  const a = await startNode(t, { name: 'A', port: pa, network: [`static:(${tcp(pb)})?duplex=true`] });
  await bridgeUp(a, 'B');
  const ca = await client(t, tcp(pa));
  const cb = await client(t, tcp(pb));
  // B -> A: a consumer on A, a producer on B (B has no network connector at all).
  const onA = await ca.subscribe('queue://back');
  await a.waitForLog((l) => String(l['msg']).startsWith('duplex: pulling queue://back'), 'duplex pull of queue://back');
  // A -> B: a consumer on B, a producer on A.
  const onB = await cb.subscribe('queue://forth');
  await demandFor(a, 'queue://forth');
  const N = 500;
  await Promise.all([sendAll(cb, 'queue://back', N, 'b'), sendAll(ca, 'queue://forth', N, 'f')]);
  const seenA = new Map<string, number>();
  const seenB = new Map<string, number>();
  await Promise.all([drain(onA, seenA, () => seenA.size >= N), drain(onB, seenB, () => seenB.size >= N)]);
  t.equal(seenA.size, N, `A received all ${N} produced on B`);
  t.equal(seenB.size, N, `B received all ${N} produced on A`);
  t.ok([...seenA.values(), ...seenB.values()].every((n) => n === 1), 'none twice');
  t.equal(b.logs.filter((l) => String(l['msg']).startsWith('network bridge')).length, 0, 'B has no bridge of its own: one connection');
  // Topic, both ways at once: subscribers on both brokers each get every message once, no loop.
  const ta = await ca.subscribe('topic://both');
  const tb = await cb.subscribe('topic://both');
  await a.waitForLog((l) => String(l['msg']).startsWith('duplex: pulling topic://both'), 'duplex pull of topic://both');
  await demandFor(a, 'topic://both');
  const M = 200;
  await sendAll(ca, 'topic://both', M, 'x', false);
  await sendAll(cb, 'topic://both', M, 'y', false);
  for (const [name, sub] of [['A', ta], ['B', tb]] as const) {
    const seen = new Map<string, number>();
    await drain(sub, seen, () => seen.size >= 2 * M);
    t.equal(seen.size, 2 * M, `topic subscriber on ${name} got all ${2 * M}`);
    t.ok([...seen.values()].every((n) => n === 1), `topic subscriber on ${name} got none twice`);
  }
  // After a last marker each way, nothing more arrives: no message circled back.
  await ca.send('topic://both', 'end-a', { persistent: false });
  await cb.send('topic://both', 'end-b', { persistent: false });
  const rest = new Map<string, number>();
  await drain(ta, rest, () => rest.has('end-a') && rest.has('end-b'));
  t.same([...rest.keys()].sort(), ['end-a', 'end-b'], 'A saw only the two markers after the run: no loop');
});

t.test('full mesh A<->B, A<->C, B<->C with networkTTL=1: every message exactly once', async (t) => {
  const [pa, pb, pc] = await Promise.all([freePort(), freePort(), freePort()]);
  const nodes = await Promise.all([
    startNode(t, { name: 'A', port: pa, network: [`static:(${tcp(pb)},${tcp(pc)})`] }),
    startNode(t, { name: 'B', port: pb, network: [`static:(${tcp(pa)},${tcp(pc)})`] }),
    startNode(t, { name: 'C', port: pc, network: [`static:(${tcp(pa)},${tcp(pb)})`] }),
  ]);
  const [a, b, c] = nodes;
  await Promise.all([bridgeUp(a!, 'B'), bridgeUp(a!, 'C'), bridgeUp(b!, 'A'), bridgeUp(b!, 'C'), bridgeUp(c!, 'A'), bridgeUp(c!, 'B')]);
  const cb = await client(t, tcp(pb));
  const cc = await client(t, tcp(pc));
  const topicB = await cb.subscribe('topic://mesh');
  const topicC = await cc.subscribe('topic://mesh');
  const queueC = await cc.subscribe('queue://mesh');
  await Promise.all([demandFor(a!, 'topic://mesh'), demandFor(a!, 'topic://mesh', 1), demandFor(a!, 'queue://mesh')]);
  // B forwards to C too (its bridge sees C's consumers): make sure that demand exists before producing on B.
  await demandFor(b!, 'queue://mesh');
  const N = 500;
  const pa1 = await client(t, tcp(pa));
  await sendAll(pa1, 'topic://mesh', N, 't', false);
  await sendAll(pa1, 'queue://mesh', N, 'qa');
  await sendAll(cb, 'queue://mesh', N, 'qb');
  for (const [name, sub, want] of [['B topic', topicB, N], ['C topic', topicC, N], ['C queue', queueC, 2 * N]] as const) {
    const seen = new Map<string, number>();
    await drain(sub, seen, () => seen.size >= want);
    t.equal(seen.size, want, `${name}: all ${want}`);
    t.ok([...seen.values()].every((n) => n === 1), `${name}: none twice`);
  }
  // Anything that went round the triangle would arrive after a last marker sent the same way.
  await pa1.send('topic://mesh', 'end', { persistent: false });
  const rest = new Map<string, number>();
  await drain(topicC, rest, () => rest.has('end'));
  t.same([...rest.keys()], ['end'], 'nothing came round a second path');
});

t.test('masterslave:(B,C): one bridge follows the master of a shared-store pair; nothing lost or doubled across a kill -9', async (t) => {
  const [pa, pb, pc] = await Promise.all([freePort(), freePort(), freePort()]);
  const shared = tempDir(t);
  const b = await startNode(t, { name: 'B', port: pb, dataDir: shared });
  const c = await startNode(t, { name: 'C', port: pc, dataDir: shared, noWait: true });
  await c.waitForLog((l) => String(l['msg']).startsWith('waiting for the lock'), 'C waits for the lock');
  const a = await startNode(t, { name: 'A', port: pa, network: [`masterslave:(${tcp(pb)},${tcp(pc)})`] });
  await bridgeUp(a, 'B');
  const consumer = await client(t, `failover:(${tcp(pb)},${tcp(pc)})?randomize=false&initialReconnectDelay=10&maxReconnectDelay=200`);
  const sub = await consumer.subscribe('queue://ms', { ack: 'client', prefetch: 100 });
  await demandFor(a, 'queue://ms');
  const N = 3000;
  const seen = new Map<string, number>();
  let unflagged = 0;
  const consuming = (async () => {
    while (seen.size < N) {
      const m = await sub.receive(20_000);
      if (m === null) break;
      const prev = seen.get(m.text) ?? 0;
      if (prev > 0 && !m.redelivered) unflagged++;
      seen.set(m.text, prev + 1);
      m.ack();
    }
  })();
  const producer = await client(t, tcp(pa));
  const sending = sendAll(producer, 'queue://ms', N);
  while (seen.size < N / 3) await new Promise((r) => setTimeout(r, 5));
  await b.kill('SIGKILL');
  await bridgeUp(a, 'C');
  await sending;
  await consuming;
  t.equal(seen.size, N, `${N} unique received through B, then C`);
  t.equal(unflagged, 0, 'no duplicate that was not flagged redelivered');
  t.equal([...seen.values()].filter((n) => n > 1).length, 0, 'no duplicates at all');
  t.equal(a.logs.filter((l) => String(l['msg']).startsWith('network bridge') && String(l['msg']).includes('starting')).length, 1, 'one bridge for the pair');
});
