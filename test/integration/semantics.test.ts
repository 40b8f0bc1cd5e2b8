import t from 'tap';
import { connect, type Connection, type SendOptions } from '../../src/index.js';
import { startBroker } from '../helpers/broker.js';
import { RawPeer } from '../helpers/raw.js';

type T = typeof t;

async function open(t: T, url: string, clientId?: string): Promise<Connection> {
  const c = await connect(url, clientId !== undefined ? { clientId } : {});
  t.teardown(() => c.close());
  return c;
}

let barriers = 0;
/**
 * Everything a subscription delivers before a barrier: a marker sent through `via` to `dest` after everything
 * else (with `options` chosen so the subscription takes it, after what it is owed). Deterministic where "quiet
 * for a while" is not: anything still due arrives before the marker.
 */
async function drain(
  sub: { receive(ms: number): Promise<{ text: string; ack(): void } | null> },
  via: Connection,
  dest: string,
  options: SendOptions = {},
): Promise<string[]> {
  const mark = `barrier-${++barriers}`;
  await via.send(dest, mark, { priority: 0, ...options });
  const out: string[] = [];
  for (;;) {
    const m = await sub.receive(10_000);
    if (!m) throw new Error(`the barrier sent to ${dest} did not arrive within 10 s; got ${JSON.stringify(out)}`);
    m.ack();
    if (m.text === mark) return out;
    if (!m.text.startsWith('barrier-')) out.push(m.text); // an earlier drain's marker, on a topic with two subscribers
  }
}

t.test('redelivery and dead letters: NACKed 7 times, then ActiveMQ.DLQ with the reason', async (t) => {
  const b = await startBroker(t);
  const c = await open(t, b.url);
  await c.send('queue://poison', 'bad', { headers: { k: 'v' } });
  const sub = await c.subscribe('queue://poison', { ack: 'individual' });
  const counts: number[] = [];
  const flags: boolean[] = [];
  for (;;) {
    const m = await sub.receive(1000);
    if (!m) break;
    counts.push(m.deliveryCount);
    flags.push(m.redelivered);
    m.nack();
  }
  t.same(counts, [1, 2, 3, 4, 5, 6, 7], 'first delivery plus maximumRedeliveries=6 redeliveries');
  t.same(flags, [false, true, true, true, true, true, true], 'redelivered flag from the second delivery on');
  const dlq = await c.subscribe('queue://ActiveMQ.DLQ');
  const dead = await dlq.receive(5000);
  t.equal(dead?.text, 'bad', 'message is on the DLQ');
  t.equal(dead?.headers['originalDestination'], 'queue://poison');
  t.match(String(dead?.headers['dlqDeliveryFailureCause']), /maximumRedeliveries=6/);
  t.equal(dead?.headers['k'], 'v', 'original headers kept');
});

t.test('expiration: expired messages are never delivered; persistent ones go to the DLQ', async (t) => {
  const b = await startBroker(t);
  const c = await open(t, b.url);
  await c.send('queue://exp', 'p-short', { ttl: 50 });
  await c.send('queue://exp', 'np-short', { ttl: 50, persistent: false });
  await c.send('queue://exp', 'long', { ttl: 60_000 });
  await c.send('queue://exp', 'forever');
  // The feature is time itself: let the 50 ms pass.
  await new Promise((r) => setTimeout(r, 120));
  const sub = await c.subscribe('queue://exp');
  t.same(await drain(sub, c, 'queue://exp'), ['long', 'forever'], 'only unexpired messages are delivered');
  const dlq = await c.subscribe('queue://ActiveMQ.DLQ');
  const dead = await drain(dlq, c, 'queue://ActiveMQ.DLQ');
  t.same(dead, ['p-short'], 'the persistent expired message is dead-lettered, the non-persistent one dropped');
});

t.test('expiration: the periodic sweep removes expired messages from a queue nobody consumes', async (t) => {
  const b = await startBroker(t);
  const c = await open(t, b.url);
  await c.send('queue://sweep', 'gone', { ttl: 50 });
  await c.send('queue://sweep', 'stays');
  // The dead-letter copy is enqueued once it is stored, a moment after the original left: wait for both.
  let size = -1;
  let dlqSize: number | undefined;
  for (let i = 0; i < 100 && (size !== 1 || dlqSize !== 1); i++) {
    const stats = await c.stats();
    size = stats.find((s) => s.name === 'queue://sweep')?.queueSize ?? -1;
    dlqSize = stats.find((s) => s.name === 'queue://ActiveMQ.DLQ')?.queueSize;
    if (size !== 1 || dlqSize !== 1) await new Promise((r) => setTimeout(r, 50));
  }
  t.equal(size, 1, 'the expired message left the queue without a consumer');
  t.equal(dlqSize, 1, 'and went to the DLQ');
});

t.test('priority: higher priority first, FIFO within one', async (t) => {
  const b = await startBroker(t);
  const c = await open(t, b.url);
  const prios = [4, 0, 9, 4, 7, 1, 9, 4];
  for (let i = 0; i < prios.length; i++) await c.send('queue://prio', `${prios[i]}-${i}`, { priority: prios[i]! });
  const sub = await c.subscribe('queue://prio');
  t.same(await drain(sub, c, 'queue://prio'), ['9-2', '9-6', '7-4', '4-0', '4-3', '4-7', '1-5', '0-1']);
});

t.test('selectors: consumers get only what matches; a bad selector is an error naming the position', async (t) => {
  const b = await startBroker(t);
  const c = await open(t, b.url);
  const red = await c.subscribe('queue://sel', { selector: "color = 'red' AND weight > 10" });
  const rest = await c.subscribe('queue://sel', { selector: "color <> 'red' OR weight <= 10" });
  const N = 60;
  for (let i = 0; i < N; i++) {
    await c.send('queue://sel', `m${i}`, { headers: { color: i % 3 === 0 ? 'red' : 'blue', weight: i } });
  }
  const r = await drain(red, c, 'queue://sel', { headers: { color: 'red', weight: 99 } });
  const o = await drain(rest, c, 'queue://sel', { headers: { color: 'blue', weight: 0 } });
  const expectRed = Array.from({ length: N }, (_, i) => i).filter((i) => i % 3 === 0 && i > 10).map((i) => `m${i}`);
  t.same(r, expectRed, 'red and heavy only');
  t.equal(o.length, N - expectRed.length, 'the other consumer got the rest');
  const topicSub = await c.subscribe('topic://sel', { selector: 'JMSPriority > 5' });
  await c.send('topic://sel', 'low', { priority: 1 });
  await c.send('topic://sel', 'high', { priority: 8 });
  t.same(await drain(topicSub, c, 'topic://sel', { priority: 9 }), ['high'], 'selector on a topic, over a JMS header');
  await t.rejects(c.subscribe('queue://sel', { selector: "color = = 'red'" }), { code: 'FERRY_INVALID_SELECTOR', message: /column/ });
});

t.test('wildcards: * one element, > the rest', async (t) => {
  const b = await startBroker(t);
  const c = await open(t, b.url);
  const all = await c.subscribe('topic://PRICE.>');
  const nyse = await c.subscribe('topic://PRICE.*.NYSE');
  for (const d of ['PRICE.STOCK.NYSE', 'PRICE.STOCK.NASDAQ', 'PRICE.BOND.NYSE', 'PRICE.BOND.X.NYSE', 'PRICES.STOCK.NYSE']) {
    await c.send(`topic://${d}`, d);
  }
  t.same(await drain(all, c, 'topic://PRICE.BAR.NYSE'), ['PRICE.STOCK.NYSE', 'PRICE.STOCK.NASDAQ', 'PRICE.BOND.NYSE', 'PRICE.BOND.X.NYSE']);
  t.same(await drain(nyse, c, 'topic://PRICE.BAR.NYSE'), ['PRICE.STOCK.NYSE', 'PRICE.BOND.NYSE']);
  await t.rejects(c.send('topic://PRICE.*', 'x'), { code: 'FERRY_INVALID_DESTINATION' }, 'no sending to a wildcard');
});

t.test('durable subscription: kept while offline, across kill -9; unsubscribe removes it', async (t) => {
  const b = await startBroker(t);
  const sub1 = await connect(b.url, { clientId: 'app-1' });
  const s = await sub1.subscribe('topic://news', { durable: 'reader' });
  await sub1.send('topic://news', 'while-online');
  t.equal((await s.receive(5000))?.text, 'while-online');
  await sub1.close();
  const p = await connect(b.url);
  for (let i = 0; i < 100; i++) await p.send('topic://news', `n${i}`);
  await p.send('topic://news', 'np', { persistent: false });
  await p.close();
  await b.kill('SIGKILL');
  const b2 = await startBroker(t, { dataDir: b.dataDir, port: b.port });
  const again = await open(t, b2.url, 'app-1');
  const s2 = await again.subscribe('topic://news', { durable: 'reader' });
  const got = await drain(s2, again, 'topic://news');
  t.equal(got.length, 100, 'the 100 persistent messages published while offline survive a kill -9');
  t.same(got.slice(0, 3), ['n0', 'n1', 'n2'], 'in order');
  await t.rejects(
    (async () => {
      const other = await open(t, b2.url, 'app-1');
      await other.subscribe('topic://news', { durable: 'reader' });
    })(),
    { code: 'FERRY_DURABLE_IN_USE' },
    'one active consumer per durable subscription',
  );
  await s2.close();
  await again.unsubscribe('reader');
  const p2 = await open(t, b2.url);
  await p2.send('topic://news', 'after-unsubscribe');
  const s3 = await again.subscribe('topic://news', { durable: 'reader' });
  t.same(await drain(s3, p2, 'topic://news'), [], 'a new subscription of the same name starts empty');
  await t.rejects(p2.subscribe('topic://news', { durable: 'x' }), /needs a clientId/, 'durable needs a client id');
});

t.test('transactions: abort drops sends and redelivers acks; commit applies both', async (t) => {
  const b = await startBroker(t);
  const c = await open(t, b.url);
  let tx = await c.begin();
  for (let i = 0; i < 5; i++) await tx.send('queue://tx', `a${i}`);
  await tx.abort();
  tx = await c.begin();
  for (let i = 0; i < 5; i++) await tx.send('queue://tx', `c${i}`);
  const watch = await c.subscribe('queue://tx', { ack: 'client' });
  // A marker sent outside the transaction after its sends arrives first: they are not visible yet.
  await c.send('queue://tx', 'outside');
  const first = await watch.receive(5000);
  t.equal(first?.text, 'outside', 'nothing of the transaction visible before commit');
  first?.ack();
  await tx.commit();
  const seen: { text: string; redelivered: boolean }[] = [];
  const tx2 = await c.begin();
  for (let i = 0; i < 5; i++) {
    const m = await watch.receive(5000);
    if (!m) break;
    seen.push({ text: m.text, redelivered: m.redelivered });
    tx2.ack(m);
  }
  t.same(seen.map((s) => s.text), ['c0', 'c1', 'c2', 'c3', 'c4'], 'committed sends appear, aborted ones never');
  await tx2.abort();
  const again: { text: string; redelivered: boolean }[] = [];
  const tx3 = await c.begin();
  for (let i = 0; i < 5; i++) {
    const m = await watch.receive(5000);
    if (!m) break;
    again.push({ text: m.text, redelivered: m.redelivered });
    tx3.ack(m);
  }
  t.same(again.map((s) => s.text), ['c0', 'c1', 'c2', 'c3', 'c4'], 'an aborted transaction redelivers what it acked');
  t.ok(again.every((s) => s.redelivered), 'flagged redelivered');
  await tx3.commit();
  await watch.close();
  const after = await c.subscribe('queue://tx');
  t.same(await drain(after, c, 'queue://tx'), [], 'committed acks are final');
});

t.test('a connection that dies mid-transaction aborts it', async (t) => {
  const b = await startBroker(t);
  const raw = await RawPeer.connected(b.port);
  raw.send({ t: 'BEGIN', tx: 'T1', rid: 1 });
  for (let i = 0; i < 3; i++) raw.send({ t: 'SEND', dest: 'queue://txd', body: Buffer.from(`x${i}`), persistent: true, tx: 'T1', rid: 10 + i });
  await raw.waitFor((c) => c['t'] === 'RECEIPT' && c['rid'] === 12, 'receipt of the third transacted send');
  raw.destroy(); // dies without COMMIT
  await raw.done;
  const d = await open(t, b.url);
  const sub = await d.subscribe('queue://txd');
  t.same(await drain(sub, d, 'queue://txd'), [], 'its sends never appear');
  const stats = await d.stats();
  t.equal(stats.find((s) => s.name === 'queue://txd')?.enqueueCount, 1, 'nothing was enqueued but the barrier');
});

t.test('temporary queues and request/reply', async (t) => {
  const b = await startBroker(t);
  const server = await open(t, b.url);
  const svc = await server.subscribe('queue://svc.echo');
  const serving = (async () => {
    for await (const m of svc) {
      if (m.replyTo === undefined) continue;
      await server.send(m.replyTo, `echo:${m.text}`, { correlationId: m.correlationId!, persistent: false });
    }
  })();
  const client = await connect(b.url);
  const replies = await Promise.all([1, 2, 3].map((i) => client.request('queue://svc.echo', `hi${i}`, { timeout: 5000 })));
  t.same(replies.map((r) => r.text), ['echo:hi1', 'echo:hi2', 'echo:hi3'], 'each reply matched by correlation id');
  const temp = client.createTemporaryQueue();
  const ts = await client.subscribe(temp);
  await server.send(temp, 'direct');
  t.equal((await ts.receive(5000))?.text, 'direct', 'anyone can send to a temporary queue');
  await t.rejects(server.subscribe(temp), /belongs to another connection/, 'only its owner consumes');
  await client.close();
  await t.rejects(
    (async () => {
      // The owner's close is processed by the broker asynchronously: poll until the queue is gone.
      for (let i = 0; i < 100; i++) {
        await server.send(temp, 'late');
        await new Promise((r) => setTimeout(r, 20));
      }
    })(),
    { code: 'FERRY_INVALID_DESTINATION', message: /temporary queue/ },
    'the temporary queue is gone with its connection',
  );
  await svc.close();
  await serving;
});

t.test('browse, purge and delete a queue', async (t) => {
  const b = await startBroker(t);
  const c = await open(t, b.url);
  for (let i = 0; i < 20; i++) await c.send('queue://adm', `b${i}`);
  const seen = await c.browse('queue://adm', 5);
  t.same(seen.map((m) => m.body), ['b0', 'b1', 'b2', 'b3', 'b4'], 'browse shows the head, text bodies as strings');
  t.equal((await c.stats()).find((s) => s.name === 'queue://adm')?.queueSize, 20, 'browse consumed nothing');
  t.equal(await c.purge('queue://adm'), 20, 'purge drops all 20');
  t.equal((await c.stats()).find((s) => s.name === 'queue://adm')?.queueSize, 0);
  await c.send('queue://adm', 'x');
  t.equal(await c.deleteDestination('queue://adm'), 1, 'delete drops what is left');
  t.notOk((await c.stats()).some((s) => s.name === 'queue://adm'), 'and the queue is gone');
  t.same(await c.browse('queue://never-made'), [], 'browse does not create');
  await t.rejects(c.browse('topic://adm'), { code: 'FERRY_INVALID_DESTINATION' }, 'a topic cannot be browsed');
  await c.send('queue://kinds', { id: 42, total: 9.5 });
  await c.send('queue://kinds', Buffer.from([1, 2, 3]));
  const kinds = await c.browse('queue://kinds');
  t.same(kinds[0]?.body, { id: 42, total: 9.5 }, 'a msgpack value comes back decoded');
  t.ok(Buffer.isBuffer(kinds[1]?.body) && (kinds[1]?.body as Buffer).equals(Buffer.from([1, 2, 3])), 'bytes come back as a Buffer');
  t.notOk((await c.stats()).some((s) => s.name === 'queue://never-made'));
});


t.test('a NACKed and redelivered message goes back in its original place when its consumer leaves', async (t) => {
  const b = await startBroker(t);
  const c = await open(t, b.url);
  for (const x of ['m1', 'm2', 'm3']) await c.send('queue://order', x);
  const c1 = await connect(b.url);
  const s1 = await c1.subscribe('queue://order', { ack: 'individual' });
  const msgs = [];
  for (let i = 0; i < 3; i++) msgs.push((await s1.receive(5000))!);
  t.same(msgs.map((m) => m.text), ['m1', 'm2', 'm3']);
  msgs[0]!.nack();
  const back = await s1.receive(5000);
  t.equal(back?.text, 'm1', 'the NACKed message comes straight back, now behind m2 and m3 in tag order');
  t.ok(back?.redelivered);
  await c1.close();
  const s2 = await c.subscribe('queue://order');
  t.same(await drain(s2, c, 'queue://order'), ['m1', 'm2', 'm3'], 'given back in their original order');
});
