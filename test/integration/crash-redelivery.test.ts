import t from 'tap';
import { connect } from '../../src/index.js';
import { type BrokerProcess, startBroker } from '../helpers/broker.js';

/** Poll `pred` until it holds; fail naming `what` after `ms`. */
async function until(what: string, pred: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`waited ${ms} ms for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

t.test('after kill -9, messages delivered before come back flagged redelivered to a plain tcp:// consumer; never-dispatched ones do not', async (t) => {
  const a = await startBroker(t);
  const producer = await connect(a.url);
  for (let i = 0; i < 50; i++) await producer.send('queue://seen', `s${i}`);
  for (let i = 0; i < 20; i++) await producer.send('queue://unseen', `u${i}`);
  const consumer = await connect(a.url);
  const sub = await consumer.subscribe('queue://seen', { ack: 'client', prefetch: 100 });
  for (let i = 0; i < 50; i++) {
    const m = await sub.receive(10_000);
    t.ok(m !== null && !m.redelivered, `first delivery ${i} not flagged`);
  }
  // Received and not acked; then the broker dies without a word to anyone.
  await a.kill('SIGKILL');
  await Promise.allSettled([producer.close(), consumer.close()]);
  const b = await startBroker(t, { dataDir: a.dataDir, port: a.port });
  const c2 = await connect(b.url);
  t.teardown(() => c2.close());
  const seen = await c2.subscribe('queue://seen', { ack: 'auto', prefetch: 100 });
  let flagged = 0;
  for (let i = 0; i < 50; i++) {
    const m = await seen.receive(10_000);
    if (m === null) break;
    if (m.redelivered && m.deliveryCount >= 2) flagged++;
  }
  t.equal(flagged, 50, 'all 50 delivered before the crash come back redelivered, deliveryCount ≥ 2');
  const unseen = await c2.subscribe('queue://unseen', { ack: 'auto', prefetch: 100 });
  let fresh = 0;
  for (let i = 0; i < 20; i++) {
    const m = await unseen.receive(10_000);
    if (m !== null && !m.redelivered && m.deliveryCount === 1) fresh++;
  }
  t.equal(fresh, 20, 'the 20 never dispatched come back unflagged');
});

t.test('ten kill -9s under two failover producers and two client-ack consumers: sent = received unique, every duplicate flagged', async (t) => {
  let broker: BrokerProcess = await startBroker(t);
  const port = broker.port;
  const dataDir = broker.dataDir;
  const url = `failover:(tcp://127.0.0.1:${port})?initialReconnectDelay=10&maxReconnectDelay=100`;
  const Q = 'queue://killloop';
  const conns = await Promise.all([connect(url), connect(url), connect(url), connect(url)]);
  t.teardown(() => Promise.allSettled(conns.map((c) => c.close())));
  const [p1, p2, c1, c2] = conns as [typeof conns[0], typeof conns[0], typeof conns[0], typeof conns[0]];

  const copies = new Map<string, number>();
  let unflaggedDuplicates = 0;
  let received = 0;
  let stopConsumers = false;
  const consume = async (c: typeof c1): Promise<void> => {
    const sub = await c.subscribe(Q, { ack: 'client', prefetch: 200 });
    while (!stopConsumers) {
      const m = await sub.receive(200);
      if (m === null) continue;
      received++;
      const n = copies.get(m.text) ?? 0;
      if (n > 0 && !m.redelivered) unflaggedDuplicates++;
      copies.set(m.text, n + 1);
      m.ack();
    }
  };
  const consumers = [consume(c1), consume(c2)];

  let stopProducers = false;
  let sent = 0;
  let failedSends = 0;
  const produce = async (p: typeof p1, name: string): Promise<void> => {
    let i = 0;
    const window = new Set<Promise<void>>();
    while (!stopProducers) {
      const send: Promise<void> = p.send(Q, `${name}-${i++}`).then(
        () => void sent++,
        () => void failedSends++,
      );
      window.add(send);
      void send.finally(() => window.delete(send));
      if (window.size >= 100) await Promise.race(window);
    }
    await Promise.all(window);
  };
  const producers = [produce(p1, 'a'), produce(p2, 'b')];

  for (let kill = 1; kill <= 10; kill++) {
    const target = received + 1500;
    await until(`1500 more messages received before kill ${kill}`, () => received >= target, 20_000);
    await broker.kill('SIGKILL');
    broker = await startBroker(t, { dataDir, port });
  }
  await until('traffic after the last restart', () => received >= sent - 1000 && sent > 0, 20_000);
  stopProducers = true;
  await Promise.all(producers);
  await until(`every one of the ${sent} receipted sends received`, () => copies.size >= sent, 30_000);
  stopConsumers = true;
  await Promise.all(consumers);
  t.equal(failedSends, 0, 'no send failed (the failover client resends what was not receipted)');
  t.equal(copies.size, sent, `received unique = sent (${sent})`);
  const duplicates = [...copies.values()].reduce((n, k) => n + k - 1, 0);
  t.equal(unflaggedDuplicates, 0, `every duplicate is flagged redelivered (${duplicates} duplicates)`);
});
