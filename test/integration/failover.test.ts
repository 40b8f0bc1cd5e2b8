import t from 'tap';
import { connect, type ConnectionStatus } from '../../src/index.js';
import { startBroker } from '../helpers/broker.js';
import { freePort } from '../helpers/proc.js';

t.test('5000 persistent sends across a kill -9 and restart: 5000 unique received, 0 duplicates', async (t) => {
  const a = await startBroker(t);
  const bPort = await freePort(); // the second broker of the list is down for the whole test
  const url = `failover:(tcp://127.0.0.1:${a.port},tcp://127.0.0.1:${bPort})?randomize=false&initialReconnectDelay=10&maxReconnectDelay=200`;
  const producer = await connect(url);
  const consumer = await connect(url);
  t.teardown(() => Promise.all([producer.close(), consumer.close()]));
  const events: ConnectionStatus[] = [];
  producer.on('status', (s: ConnectionStatus) => events.push(s));
  const sub = await consumer.subscribe('queue://fo', { prefetch: 100 });

  const N = 5000;
  const seen = new Map<string, number>();
  let redeliveredDuplicates = 0;
  const consuming = (async () => {
    while (seen.size < N) {
      const m = await sub.receive(20_000);
      if (m === null) break;
      const prev = seen.get(m.text) ?? 0;
      if (prev > 0 && m.redelivered) redeliveredDuplicates++;
      seen.set(m.text, prev + 1);
    }
  })();

  let restarted: Promise<unknown> | null = null;
  let window: Promise<void>[] = [];
  for (let i = 0; i < N; i++) {
    window.push(producer.send('queue://fo', `m${i}`));
    if (i === 2000) {
      // Kill the broker mid-stream with sends in flight, and bring it back on the same port.
      restarted = a.kill('SIGKILL').then(() => startBroker(t, { dataDir: a.dataDir, port: a.port }));
    }
    if (window.length >= 100) {
      await Promise.all(window);
      window = [];
    }
  }
  await Promise.all(window);
  await restarted;
  await consuming;
  const dup = [...seen.values()].filter((n) => n > 1).length;
  t.equal(seen.size, N, `consumer received ${N} unique`);
  t.equal(dup - redeliveredDuplicates, 0, 'no duplicates beyond flagged redeliveries');
  t.equal(dup, 0, 'no duplicates at all: redeliveries of acked messages are dropped by the client');
  t.ok(events.some((e) => e.type === 'interrupted'), 'producer saw interrupted');
  t.ok(events.some((e) => e.type === 'resumed'), 'producer saw resumed');
  t.equal(producer.connectedUrl, `tcp://127.0.0.1:${a.port}`, 'connectedUrl names the broker');
});

t.test('startupMaxReconnectAttempts and back-off growing to its cap', async (t) => {
  const port = await freePort();
  const events: { at: number; delayMs: number }[] = [];
  const attempt = connect(
    `failover:(tcp://127.0.0.1:${port})?startupMaxReconnectAttempts=5&initialReconnectDelay=20&maxReconnectDelay=100&backOffMultiplier=2`,
    { onStatus: (s) => void (s.type === 'reconnecting' && events.push({ at: performance.now(), delayMs: s.delayMs })) },
  );
  await t.rejects(attempt, /after 6 passes/, 'gives up after the first pass plus 5 reconnect passes');
  const end = performance.now();
  t.same(events.map((e) => e.delayMs), [20, 40, 80, 100, 100], 'each announced delay doubles up to the cap');
  // Each wait really lasted its delay: the next pass (announced by the next event, or the final rejection) came
  // no sooner. The upper bound is generous: a busy machine may run timers late, never early.
  for (let i = 0; i < events.length; i++) {
    const waited = (i + 1 < events.length ? events[i + 1]!.at : end) - events[i]!.at;
    t.ok(waited >= events[i]!.delayMs - 2 && waited < events[i]!.delayMs + 2000, `pass ${i + 2} came ${waited.toFixed(1)} ms after its ${events[i]!.delayMs} ms delay was announced`);
  }
});

t.test('reconnecting events: delays grow by the multiplier and are capped; maxReconnectAttempts surfaces failed', async (t) => {
  const a = await startBroker(t);
  const c = await connect(
    `failover:(tcp://127.0.0.1:${a.port})?initialReconnectDelay=20&maxReconnectDelay=80&maxReconnectAttempts=4`,
  );
  const events: (ConnectionStatus & { at: number })[] = [];
  c.on('status', (s: ConnectionStatus) => events.push({ ...s, at: Date.now() }));
  const failed = new Promise<ConnectionStatus>((resolve) => c.on('failed', resolve));
  await a.kill('SIGKILL');
  const f = await failed;
  t.equal(f.type, 'failed');
  const rec = events.filter((e) => e.type === 'reconnecting') as ({ type: 'reconnecting'; delayMs: number; at: number })[];
  t.same(
    rec.map((e) => e.delayMs),
    [20, 40, 80, 80],
    'delays 20, 40, 80, then capped at 80',
  );
  for (let i = 1; i < rec.length; i++) {
    const gap = rec[i]!.at - rec[i - 1]!.at;
    t.ok(gap >= rec[i - 1]!.delayMs - 2, `pass ${i + 1} started ${gap} ms after the previous (waited ${rec[i - 1]!.delayMs})`);
  }
  await t.rejects(c.send('queue://x', 'late'), /cannot connect|closed/, 'sends fail once the attempts are used up');
});

t.test('timeout: a send while disconnected fails after timeout ms, the connection lives on', async (t) => {
  const a = await startBroker(t);
  const c = await connect(`failover:(tcp://127.0.0.1:${a.port})?timeout=300&initialReconnectDelay=10&maxReconnectDelay=50`);
  t.teardown(() => c.close());
  const interrupted = new Promise((resolve) => c.once('interrupted', resolve));
  await a.kill('SIGKILL');
  await interrupted;
  const t0 = Date.now();
  await t.rejects(c.send('queue://tm', 'x'), { code: 'FERRY_TIMEOUT' });
  const took = Date.now() - t0;
  t.ok(took >= 290 && took < 3000, `failed after ${took} ms`);
  const resumed = new Promise((resolve) => c.once('resumed', resolve));
  await startBroker(t, { dataDir: a.dataDir, port: a.port });
  await resumed;
  await c.send('queue://tm', 'after');
  const s = await c.subscribe('queue://tm');
  t.equal((await s.receive(5000))?.text, 'after', 'the same connection sends again once the broker is back');
});

t.test('randomize=false tries the list in order; priorityBackup returns to the first URI', async (t) => {
  const a = await startBroker(t);
  const b = await startBroker(t);
  const list = `tcp://127.0.0.1:${a.port},tcp://127.0.0.1:${b.port}`;
  for (let i = 0; i < 5; i++) {
    const c = await connect(`failover:(${list})?randomize=false`);
    t.equal(c.connectedUrl, `tcp://127.0.0.1:${a.port}`, `connect ${i + 1} goes to the first URI`);
    await c.close();
  }
  const c = await connect(`failover:(${list})?randomize=false&priorityBackup=true&initialReconnectDelay=20&maxReconnectDelay=100`);
  t.teardown(() => c.close());
  const sub = await c.subscribe('queue://pb');
  const toB = new Promise((resolve) => c.once('resumed', resolve));
  await a.kill('SIGKILL');
  await toB;
  t.equal(c.connectedUrl, `tcp://127.0.0.1:${b.port}`, 'moved to the backup');
  const back = new Promise((resolve) => c.once('resumed', resolve));
  await startBroker(t, { dataDir: a.dataDir, port: a.port });
  await back;
  t.equal(c.connectedUrl, `tcp://127.0.0.1:${a.port}`, 'returned to the priority URI');
  await c.send('queue://pb', 'home');
  t.equal((await sub.receive(5000))?.text, 'home', 'subscription restored on the priority broker');
});

for (const end of ['commit', 'abort'] as const) {
  t.test(`a transaction begun before a failover, then ${end}: what it acked on the new connection is delivered again`, async (t) => {
    const a = await startBroker(t);
    const url = `failover:(tcp://127.0.0.1:${a.port})?initialReconnectDelay=10&maxReconnectDelay=200`;
    const producer = await connect(url);
    const consumer = await connect(url);
    t.teardown(() => Promise.all([producer.close(), consumer.close()]));
    const sub = await consumer.subscribe(`queue://txfo-${end}`, { ack: 'client', prefetch: 10 });
    for (let i = 0; i < 3; i++) await producer.send(`queue://txfo-${end}`, `m${i}`, { persistent: true });

    // BEGIN on the first connection, one message acked in it there.
    const tx = await consumer.begin();
    const first = await sub.receive(5000);
    t.equal(first?.text, 'm0', 'm0 delivered before the kill');
    tx.ack(first!);
    const resumed = new Promise<void>((resolve) => consumer.on('status', (s: ConnectionStatus) => s.type === 'resumed' && resolve()));
    await a.kill('SIGKILL');
    await startBroker(t, { dataDir: a.dataDir, port: a.port });
    await resumed;

    // The restarted broker delivers all three again, on the new connection; the application acks them in the
    // transaction it began before the failover, which the broker no longer knows.
    const again: string[] = [];
    for (let i = 0; i < 3; i++) {
      const m = await sub.receive(5000);
      if (m === null) break;
      again.push(m.text);
      tx.ack(m);
    }
    t.same(again.sort(), ['m0', 'm1', 'm2'], 'all three delivered on the new connection');
    if (end === 'commit') await t.rejects(tx.commit(), { code: 'FERRY_TRANSACTION_ROLLED_BACK' }, 'the commit says the failover rolled it back');
    else await tx.abort();

    // Rolled back: the messages come again. (They were delivered on the live connection: without being given back they
    // stayed there, held for this consumer and never redelivered.)
    const tx2 = await consumer.begin();
    const third: string[] = [];
    for (let i = 0; i < 3; i++) {
      const m = await sub.receive(5000);
      if (m === null) break;
      third.push(m.text);
      tx2.ack(m);
    }
    t.same(third.sort(), ['m0', 'm1', 'm2'], 'delivered again after the rollback');
    await tx2.commit();
    const row = (await producer.stats()).find((s) => s.name === `queue://txfo-${end}`);
    t.equal(row?.queueSize, 0, 'all three consumed once committed');
  });
}
