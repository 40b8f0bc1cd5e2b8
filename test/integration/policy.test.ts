import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { connect, type Connection, type ConnectionStatus } from '../../src/index.js';
import { startBroker, tempDir } from '../helpers/broker.js';

type T = typeof t;

const POLICY = `<broker brokerName="policy"><destinationPolicy><policyMap><policyEntries>
  <policyEntry queue="ORDERS.>" maximumRedeliveries="2" redeliveryDelay="300">
    <deadLetterStrategy><individualDeadLetterStrategy queuePrefix="DLQ."/></deadLetterStrategy>
  </policyEntry>
  <policyEntry queue="SMALL" memoryLimit="256 kb"/>
  <policyEntry topic="PRICES.>" maximumRedeliveries="1">
    <deadLetterStrategy><individualDeadLetterStrategy topicPrefix="DLQ.T."/></deadLetterStrategy>
  </policyEntry>
</policyEntries></policyMap></destinationPolicy></broker>`;

async function policyBroker(t: T) {
  const dir = tempDir(t);
  const conf = join(dir, 'policy.xml');
  writeFileSync(conf, POLICY);
  return startBroker(t, { dataDir: dir, args: ['--conf', conf] });
}

async function open(t: T, url: string): Promise<Connection> {
  const c = await connect(url);
  t.teardown(() => c.close());
  return c;
}

t.test('per-destination maximumRedeliveries, redeliveryDelay and an individual dead-letter queue', async (t) => {
  const b = await policyBroker(t);
  const c = await open(t, b.url);
  await c.send('queue://ORDERS.eu', 'poison');
  await c.send('queue://OTHER', 'elsewhere');
  const sub = await c.subscribe('queue://ORDERS.eu', { ack: 'individual' });
  const at: number[] = [];
  for (;;) {
    const m = await sub.receive(2000);
    if (!m) break;
    at.push(Date.now());
    m.nack();
  }
  t.equal(at.length, 3, 'first delivery plus maximumRedeliveries=2 from the policy (the broker default is 6)');
  for (let i = 1; i < at.length; i++) t.ok(at[i]! - at[i - 1]! >= 280, `redelivery ${i} came after the 300 ms delay (${at[i]! - at[i - 1]!} ms)`);
  const dlq = await c.subscribe('queue://DLQ.ORDERS.eu');
  const dead = await dlq.receive(5000);
  t.equal(dead?.text, 'poison', 'dead-lettered to DLQ.<queue name>');
  t.equal(dead?.headers['originalDestination'], 'queue://ORDERS.eu');
  const stats = await c.stats();
  t.notOk(stats.some((s) => s.name === 'queue://ActiveMQ.DLQ' && s.queueSize > 0), 'not to the shared DLQ');
  // A queue no policy matches keeps the broker's defaults.
  const other = await c.subscribe('queue://OTHER', { ack: 'individual' });
  let n = 0;
  for (;;) {
    const m = await other.receive(1000);
    if (!m) break;
    n++;
    m.nack();
  }
  t.equal(n, 7, 'the default maximumRedeliveries=6 elsewhere');
  t.equal((await c.stats()).find((s) => s.name === 'queue://ActiveMQ.DLQ')?.queueSize, 1, 'and the shared DLQ');
});

t.test('per-destination memoryLimit: non-persistent producers to that queue wait; others do not', async (t) => {
  const b = await policyBroker(t);
  const p = await open(t, b.url);
  const events: ConnectionStatus['type'][] = [];
  p.on('status', (s: ConnectionStatus) => events.push(s.type));
  const blocked = new Promise((resolve) => p.once('blocked', resolve));
  const body = Buffer.alloc(8 * 1024, 1);
  const N = 100; // 800 KiB into a queue limited to 256 KiB
  const sending = (async () => {
    for (let i = 0; i < N; i++) await p.send('queue://SMALL', body, { persistent: false, headers: { i } });
  })();
  await blocked;
  const other = await open(t, b.url);
  const otherEvents: ConnectionStatus['type'][] = [];
  other.on('status', (s: ConnectionStatus) => otherEvents.push(s.type));
  const big = await other.subscribe('queue://BIG');
  // A non-persistent send resolves once written to the socket: only its arrival shows the broker did not hold it.
  await other.send('queue://BIG', body, { persistent: false, headers: { probe: 1 } });
  t.equal((await big.receive(5000))?.headers['probe'], 1, 'a producer to another queue is not held: its message arrives');
  t.notOk(otherEvents.includes('blocked'), 'and its connection is never told it is blocked');
  const size = (await other.stats()).find((s) => s.name === 'queue://SMALL');
  t.ok(size!.memoryBytes <= 300 * 1024, `queue://SMALL holds ${size!.memoryBytes} bytes, about its 256 KiB limit`);
  const sub = await other.subscribe('queue://SMALL');
  const seen = new Set<number>();
  while (seen.size < N) {
    const m = await sub.receive(10_000);
    if (!m) break;
    seen.add(m.headers['i'] as number);
  }
  await sending;
  t.equal(seen.size, N, `all ${N} arrive once the queue drains`);
  t.ok(events.includes('unblocked'));
});

t.test("a durable subscription follows its topic's policy", async (t) => {
  const b = await policyBroker(t);
  const c = await connect(b.url, { clientId: 'pol-1' });
  t.teardown(() => c.close());
  const sub = await c.subscribe('topic://PRICES.eur', { durable: 'd1', ack: 'individual' });
  await c.send('topic://PRICES.eur', 'tick');
  let n = 0;
  for (;;) {
    const m = await sub.receive(1000);
    if (!m) break;
    n++;
    m.nack();
  }
  t.equal(n, 2, 'maximumRedeliveries=1 from the topic policy');
  const dlq = await c.subscribe('queue://DLQ.T.PRICES.eur');
  t.equal((await dlq.receive(5000))?.text, 'tick', 'dead-lettered with the topic prefix');
});
