/**
 * Multicast discovery with real broker processes. Every test here runs inside a private network namespace (see
 * helpers/netns.ts): datagrams go to 239.255.2.3 via 127.0.0.1 of a namespace holding nothing but `lo`.
 */
import { createSocket } from 'node:dgram';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type tap from 'tap';
import { connect, type Connection, type Subscription } from '../../src/index.js';
import { type BrokerProcess, startBroker, tempDir } from '../helpers/broker.js';
import { bridgeUp, demandFor } from '../helpers/cluster.js';
import { inPrivateNetns } from '../helpers/netns.js';

type Tap = typeof tap;

const ns = await inPrivateNetns();
if (ns.inside) cases((await import('tap')).default);
else if (ns.skip !== undefined) (await import('tap')).default.plan(0, ns.skip);

/** A broker named `name` whose only connector is advertised on `group` and which bridges to what it hears there. */
function discoveryNode(t: Tap, name: string, group: string, opts: { dataDir?: string; env?: Record<string, string>; bridge?: boolean; host?: string } = {}): Promise<BrokerProcess> {
  const dir = tempDir(t);
  const conf = join(dir, `${name}.xml`);
  const network = opts.bridge === false ? '' : `<networkConnectors><networkConnector name="disc" uri="multicast://${group}"/></networkConnectors>`;
  writeFileSync(
    conf,
    `<broker brokerName="${name}">
       <transportConnectors><transportConnector uri="tcp://${opts.host ?? '127.0.0.1'}:0" discoveryUri="multicast://${group}"/></transportConnectors>
       ${network}
     </broker>`,
  );
  return startBroker(t, { noTransport: true, args: ['--conf', conf], dataDir: opts.dataDir ?? dir, ...(opts.env ? { env: opts.env } : {}) });
}

async function client(t: Tap, url: string): Promise<Connection> {
  const c = await connect(url);
  t.teardown(() => c.close());
  return c;
}

/** Receive until `n` distinct bodies arrived or 10 s pass with none. */
async function receiveAll(sub: Subscription, n: number): Promise<Map<string, number>> {
  const seen = new Map<string, number>();
  while (seen.size < n) {
    const m = await sub.receive(10_000);
    if (m === null) break;
    seen.set(m.text, (seen.get(m.text) ?? 0) + 1);
  }
  return seen;
}

async function sendAll(c: Connection, dest: string, n: number, prefix: string): Promise<void> {
  const sends: Promise<void>[] = [];
  for (let i = 0; i < n; i++) sends.push(c.send(dest, `${prefix}${i}`));
  await Promise.all(sends);
}

/** Resolves once `b` logs that its network connector closed the bridge to `uri`, with the reason given. */
function bridgeClosed(b: BrokerProcess, uri: string): Promise<Record<string, unknown>> {
  return b.waitForLog((l) => l['peer'] === uri && String(l['msg']).endsWith('; bridge closed'), `bridge to ${uri} closed`, 20_000);
}

function cases(t: Tap): void {
  t.test('three brokers find each other, bridge and deliver; one killed is dropped, restarted is bridged again', async (t) => {
    const group = 'disc-three';
    // C listens on 0.0.0.0 (in this namespace that is lo alone) on port 0: it must advertise 127.0.0.1 and the port it got.
    const [a, b, c] = await Promise.all(['A', 'B', 'C'].map((n) => discoveryNode(t, n, group, n === 'C' ? { host: '0.0.0.0' } : {})));
    const advertC = await c.waitForLog((l) => l['module'] === 'discovery' && typeof l['advertise'] === 'string', 'C advertising');
    t.equal(advertC['advertise'], `tcp://127.0.0.1:${c.port}`, 'a 0.0.0.0 connector is advertised with the interface address and its bound port');
    await Promise.all([bridgeUp(a, 'B'), bridgeUp(a, 'C'), bridgeUp(b, 'A'), bridgeUp(b, 'C'), bridgeUp(c, 'A'), bridgeUp(c, 'B')]);
    t.notOk(
      [a, b, c].some((x) => x.logs.some((l) => String(l['msg']).includes(`found tcp://127.0.0.1:${x.port};`))),
      'no broker bridged to itself',
    );

    // Producer on A, consumer on C.
    const urlC = `tcp://127.0.0.1:${c.port}`;
    const consumerC = await client(t, urlC);
    const subC = await consumerC.subscribe('queue://disc', { prefetch: 100 });
    await demandFor(a, 'queue://disc');
    const N = 500;
    const producerA = await client(t, a.url);
    await sendAll(producerA, 'queue://disc', N, 'a');
    const seen = await receiveAll(subC, N);
    t.equal(seen.size, N, `C received all ${N} sent on A`);
    t.ok([...seen.values()].every((k) => k === 1), 'none twice');

    // B dies without a word: A and C drop it after the dead-peer timeout (10 x 500 ms) and close their bridges.
    const killedAt = Date.now();
    await b.kill('SIGKILL');
    const [closedOnA, closedOnC] = await Promise.all([bridgeClosed(a, b.url), bridgeClosed(c, b.url)]);
    const waited = Date.now() - killedAt;
    t.equal(closedOnA['why'], 'silent', 'A dropped B for silence');
    t.equal(closedOnC['why'], 'silent', 'C dropped B for silence');
    t.ok(waited >= 3000 && waited < 12_000, `dropped after the dead-peer timeout (${waited} ms; expected about 5000)`);

    // A and C keep working.
    await sendAll(producerA, 'queue://disc', 200, 'after-');
    const after = await receiveAll(subC, 200);
    t.equal(after.size, 200, 'A -> C still delivers with B gone');

    // B comes back (a new port: port 0) and is bridged again, both ways.
    const b2 = await discoveryNode(t, 'B', group, { dataDir: b.dataDir });
    await Promise.all([bridgeUp(a, 'B', 1), bridgeUp(c, 'B', 1), bridgeUp(b2, 'A'), bridgeUp(b2, 'C')]);
    const subB = await (await client(t, b2.url)).subscribe('queue://back', { prefetch: 100 });
    await demandFor(c, 'queue://back');
    await sendAll(consumerC, 'queue://back', 100, 'c');
    const back = await receiveAll(subB, 100);
    t.equal(back.size, 100, 'C -> restarted B delivers all 100');
  });

  t.test('a broker that stops cleanly says dead: its peers drop it at once', async (t) => {
    const group = 'disc-dead';
    const [a, b] = await Promise.all([discoveryNode(t, 'A', group), discoveryNode(t, 'B', group)]);
    await bridgeUp(a, 'B');
    const stoppedAt = Date.now();
    await b.kill('SIGTERM');
    const closed = await bridgeClosed(a, b.url);
    t.equal(closed['why'], 'dead', 'A heard B say dead');
    t.ok(Date.now() - stoppedAt < 4000, `dropped before any silence timeout (${Date.now() - stoppedAt} ms)`);
  });

  t.test('discovery:(multicast://…) client connects to an advertised broker and fails over when it dies', async (t) => {
    const group = 'disc-client';
    const [x, y] = await Promise.all([discoveryNode(t, 'X', group, { bridge: false }), discoveryNode(t, 'Y', group, { bridge: false })]);
    const statuses: string[] = [];
    const conn = await connect(`discovery:(multicast://${group})?initialReconnectDelay=50&maxReconnectDelay=500`, {
      onStatus: (s) => statuses.push(s.type),
    });
    t.teardown(() => conn.close());
    const first = conn.brokerName;
    t.ok(first === 'X' || first === 'Y', `connected to an advertised broker (${first})`);
    const sub = await conn.subscribe('queue://fo', { prefetch: 100 });
    await sendAll(conn, 'queue://fo', 100, 'before-');
    t.equal((await receiveAll(sub, 100)).size, 100, 'sent and received 100 before the failover');

    const resumed = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no "resumed" within 15 s of killing the broker')), 15_000);
      conn.once('resumed', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    await (first === 'X' ? x : y).kill('SIGKILL');
    await resumed;
    const second = conn.brokerName;
    t.equal(second, first === 'X' ? 'Y' : 'X', `failed over to the other broker (${second})`);
    await sendAll(conn, 'queue://fo', 100, 'after-');
    t.equal((await receiveAll(sub, 100)).size, 100, 'sent and received 100 after the failover');
    t.ok(statuses.includes('interrupted'), 'the connection reported the interruption');
  });

  t.test('garbage on the group is counted and ignored; the broker keeps serving', async (t) => {
    const group = 'disc-garbage';
    const b = await discoveryNode(t, 'G', group, { env: { FERRYMQ_LOG_LEVEL: 'debug' } });
    const garbage: Buffer[] = [
      Buffer.from([0, 1, 2, 255, 254, 0x0a]),
      Buffer.from('hello'),
      Buffer.alloc(5000, 0x41),
      Buffer.from(`${group}.ActiveMQ-4.alive.%localhost%`),
      Buffer.from(`${group}.ActiveMQ-4.alive.%localhost%tcp://0.0.0.0:61616`),
      Buffer.from(`${group}.ActiveMQ-4.alive.%localhost%tcp://127.0.0.1:0`),
      Buffer.from(`${group}.ActiveMQ-4.alive.%localhost%http://127.0.0.1:80`),
      Buffer.from(`${group}.ActiveMQ-4.alive.%localhost%tcp://127.0.0.1:99999`),
      Buffer.from(`${group}.ActiveMQ-4.zombie.%localhost%tcp://127.0.0.1:1`),
      Buffer.from(`${group}.ActiveMQ-4.alive.%loc alhost%tcp://127.0.0.1:1`),
      Buffer.from(`${group}.ActiveMQ-4.alive.%localhost%tcp://ünïcode:1`, 'utf8'),
    ];
    const s = createSocket('udp4');
    t.teardown(() => s.close());
    await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', () => resolve()));
    s.setMulticastInterface('127.0.0.1');
    s.setMulticastTTL(0);
    for (const g of garbage) await new Promise<void>((resolve, reject) => s.send(g, 6155, '239.255.2.3', (err) => (err ? reject(err) : resolve())));
    // Each of the broker's two agents (its connector's and its network connector's) counts every one of them.
    await b.waitForLog((l) => l['malformed'] === garbage.length && l['module'] === 'discovery', `${garbage.length} malformed datagrams counted`);
    t.equal(b.proc.exitCode, null, 'the broker is still running');
    t.notOk(b.logs.some((l) => l['module'] === 'network' && String(l['msg']).includes('found')), 'no garbage became a peer');
    const c = await client(t, b.url);
    const sub = await c.subscribe('queue://still');
    await sendAll(c, 'queue://still', 50, 's');
    t.equal((await receiveAll(sub, 50)).size, 50, 'the broker still serves clients');
  });
}
