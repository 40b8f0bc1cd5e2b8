/*
 * Replicated LevelDB store with real processes and a real ZooKeeper: three `ferrymq start` nodes in one group.
 * ZooKeeper elects one master (the only one with a client port open); its writes reach a quorum before a
 * persistent send is answered; SIGKILL of the master gets a new one elected within the session timeout, with
 * every receipted message; losing two of three nodes makes persistent sends fail with FERRY_NO_QUORUM.
 */
import { writeFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { join } from 'node:path';
import t from 'tap';
import { type Connection, connect } from '../../src/index.js';
import { BIN, type BrokerProcess, startBroker, type Teardown, tempDir } from '../helpers/broker.js';
import { freePort, runToEnd } from '../helpers/proc.js';
import { startZooKeeper, type ZooKeeper, zookeeperInstalled } from '../helpers/zookeeper.js';

if (!zookeeperInstalled()) {
  t.skip('ZooKeeper is not installed (apt-get install zookeeper; .ci/run does)');
  process.exit(0);
}

interface Node {
  name: string;
  port: number;
  dir: string;
  conf: string;
  proc: BrokerProcess | null;
}

let zk: ZooKeeper;
let groups = 0;

/** Three nodes of one group (not started), each with its own data directory and a pinned client port. */
async function group(t: Teardown, sync: string): Promise<Node[]> {
  const zkPath = `/ferrymq/test-${++groups}`;
  const nodes: Node[] = [];
  for (const name of ['a', 'b', 'c']) {
    const dir = tempDir(t, `ferrymq-rep-${name}-`);
    const conf = join(dir, 'broker.xml');
    writeFileSync(
      conf,
      `<broker brokerName="rep-${name}"><persistenceAdapter><replicatedLevelDB replicas="3" bind="tcp://127.0.0.1:0" ` +
        `zkAddress="${zk.address}" zkPath="${zkPath}" zkSessionTimeout="2s" sync="${sync}"/></persistenceAdapter></broker>`,
    );
    nodes.push({ name: `rep-${name}`, port: await freePort(), dir, conf, proc: null });
  }
  return nodes;
}

async function start(t: Teardown, n: Node): Promise<BrokerProcess> {
  n.proc = await startBroker(t, { dataDir: n.dir, port: n.port, noWait: true, args: ['--conf', n.conf] });
  await n.proc.waitForLog((l) => String(l['msg']).startsWith('joined replication group'), `${n.name} joined the group`);
  return n.proc;
}

const msgOf = (l: Record<string, unknown>): string => String(l['msg']);

/** `p`, or a rejection saying what did not happen within `ms`. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`not within ${ms} ms: ${what}`)), ms)))]).finally(() => clearTimeout(timer));
}

/** The node (of those running) that logs "started (master)" after log line `after` of each. */
async function master(nodes: Node[], timeoutMs = 20_000): Promise<Node> {
  const live = nodes.filter((n) => n.proc !== null);
  return Promise.race(live.map((n) => n.proc!.waitForLog((l) => msgOf(l).endsWith('started (master)'), `${n.name} serving as master`, timeoutMs).then(() => n)));
}

async function kill(n: Node): Promise<void> {
  await n.proc!.kill('SIGKILL');
  n.proc = null;
}

function accepting(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = netConnect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

const failoverUrl = (nodes: Node[]): string =>
  `failover:(${nodes.map((n) => `tcp://127.0.0.1:${n.port}`).join(',')})?randomize=false&initialReconnectDelay=20&maxReconnectDelay=300`;

/** Send `n` persistent messages `${prefix}${i}` in windows of 100; resolves when every one is receipted. */
async function produce(c: Connection, dest: string, prefix: string, n: number): Promise<void> {
  let window: Promise<void>[] = [];
  for (let i = 0; i < n; i++) {
    window.push(c.send(dest, `${prefix}${i}`));
    if (window.length >= 100) {
      await Promise.all(window);
      window = [];
    }
  }
  await Promise.all(window);
}

/** Receive until `n` distinct bodies were seen (or nothing came for 20 s); `seen` fills as they come. */
async function consume(c: Connection, dest: string, n: number, seen = new Map<string, number>()): Promise<Map<string, number>> {
  const sub = await c.subscribe(dest, { prefetch: 200 });
  while (seen.size < n) {
    const m = await sub.receive(20_000);
    if (m === null) break;
    seen.set(m.text, (seen.get(m.text) ?? 0) + 1);
  }
  await sub.close();
  return seen;
}

t.before(async () => {
  zk = await startZooKeeper(t);
});

t.test('election, replication of N messages, and the new master after SIGKILL serves all N', async (t) => {
  const nodes = await group(t, 'quorum_disk');
  await Promise.all(nodes.map((n) => start(t, n)));
  const m = await master(nodes);
  const replicas = nodes.filter((n) => n !== m);
  for (const r of replicas) {
    await r.proc!.waitForLog((l) => msgOf(l).startsWith(`replica of ${m.name} `), `${r.name} replica of ${m.name}`);
    t.equal(await accepting(r.port), false, `${r.name} (replica) opens no client port`);
  }
  t.equal(await accepting(m.port), true, `${m.name} (master) serves`);
  for (const r of replicas) await m.proc!.waitForLog((l) => msgOf(l).startsWith(`replica ${r.name} caught up`), `${r.name} caught up`);
  const dstat = await runToEnd(t, process.execPath, [BIN, 'dstat', '--url', `tcp://127.0.0.1:${m.port}`], { timeoutMs: 20_000 });
  t.match(dstat.stdout, new RegExp(`Broker ${m.name}: master of replicated store .* \\(epoch \\d+, quorum 2 of 3, ZooKeeper session [0-9a-f]+; replica rep-. live lag 0, replica rep-. live lag 0\\)`), 'dstat names the role, the quorum and each replica\'s lag');

  const N = 1000;
  const producer = await connect(failoverUrl(nodes));
  await produce(producer, 'queue://rep', 'm', N);
  await producer.close();
  t.pass(`${N} persistent sends receipted by ${m.name}`);

  const t0 = Date.now();
  await kill(m);
  const m2 = await master(nodes);
  t.not(m2, m, `a replica took over: ${m2.name} after ${Date.now() - t0} ms`);
  t.equal(await accepting(m.port), false, 'the killed master is gone');
  const consumer = await connect(failoverUrl(nodes));
  const seen = await consume(consumer, 'queue://rep', N);
  await consumer.close();
  t.equal(seen.size, N, `all ${N} messages read from the new master ${m2.name}`);
});

t.test('one replica lost: the master goes on; two lost: FERRY_NO_QUORUM; back: sends resume', async (t) => {
  const nodes = await group(t, 'quorum_mem');
  await Promise.all(nodes.map((n) => start(t, n)));
  const m = await master(nodes);
  const [r1, r2] = nodes.filter((n) => n !== m) as [Node, Node];
  for (const r of [r1, r2]) await m.proc!.waitForLog((l) => msgOf(l).startsWith(`replica ${r.name} caught up`), `${r.name} caught up`);
  const c = await connect(`tcp://127.0.0.1:${m.port}`);
  t.teardown(() => c.close());

  await kill(r1);
  await m.proc!.waitForLog((l) => msgOf(l) === `replica ${r1.name} disconnected`, `${m.name} saw ${r1.name} go`);
  await produce(c, 'queue://q', 'one-', 200);
  t.pass('200 sends receipted with one replica down (2 of 3 nodes)');

  await kill(r2);
  await m.proc!.waitForLog((l) => msgOf(l).startsWith('lost the quorum'), `${m.name} lost the quorum`);
  const refused = await within(
    c.send('queue://q', 'no-quorum').then(
      () => null,
      (err: unknown) => err as { code?: string; message?: string },
    ),
    10_000,
    'the persistent send without a quorum is answered',
  );
  t.equal(refused?.code, 'FERRY_NO_QUORUM', `persistent send refused: ${refused?.message}`);
  await c.send('queue://q', 'not persistent', { persistent: false });
  t.pass('a non-persistent send still goes');

  const back = m.proc!.logs.length;
  await Promise.all([start(t, r1), start(t, r2)]);
  await m.proc!.waitForLog((l) => m.proc!.logs.indexOf(l) >= back && msgOf(l).startsWith('quorum back'), `${m.name} has its quorum back`);
  await produce(c, 'queue://q', 'two-', 200);
  t.pass('200 sends receipted once the replicas are back');
  const seen = await consume(c, 'queue://q', 401);
  t.equal([...seen.keys()].filter((k) => k.startsWith('one-') || k.startsWith('two-')).length, 400, '400 persistent messages, each once');
  t.notOk(seen.has('no-quorum'), 'the refused send was stored nowhere');
});

t.test('master SIGKILLed twice under load: a failover producer and consumer, N sent, N unique received', async (t) => {
  const nodes = await group(t, 'quorum_disk');
  await Promise.all(nodes.map((n) => start(t, n)));
  let m = await master(nodes);
  const url = failoverUrl(nodes);
  const producer = await connect(url);
  const consumer = await connect(url);
  t.teardown(() => Promise.all([producer.close(), consumer.close()]));
  const N = 4000;
  const progress = new Map<string, number>();
  const consuming = consume(consumer, 'queue://load', N, progress);
  const producing = produce(producer, 'queue://load', 'l', N);
  for (let k = 0; k < 2; k++) {
    // Kill while messages flow: once the consumer is a third (then two thirds) of the way through.
    const deadline = Date.now() + 30_000;
    while (progress.size < ((k + 1) * N) / 3) {
      if (Date.now() > deadline) throw new Error(`consumer stuck at ${progress.size} of ${N} before kill ${k + 1}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    await kill(m);
    const dead = m;
    m = await master(nodes);
    // The killed node comes back as a replica (from a snapshot: it was killed) before the next kill.
    const back = m.proc!.logs.length;
    await start(t, dead);
    await m.proc!.waitForLog((l) => m.proc!.logs.indexOf(l) >= back && msgOf(l).startsWith(`replica ${dead.name} caught up`), `${dead.name} caught up`);
  }
  await producing;
  const seen = await consuming;
  t.equal(seen.size, N, `sent ${N}, received ${N} unique across two master kills`);
});

t.test('a master frozen past its ZooKeeper session is deposed: a new master serves, the old one exits 3, no split brain', async (t) => {
  const nodes = await group(t, 'quorum_mem');
  await Promise.all(nodes.map((n) => start(t, n)));
  const m = await master(nodes);
  for (const r of nodes.filter((n) => n !== m)) await m.proc!.waitForLog((l) => msgOf(l).startsWith(`replica ${r.name} caught up`), `${r.name} caught up`);
  const c = await connect(`tcp://127.0.0.1:${m.port}`);
  t.teardown(() => c.close());
  await produce(c, 'queue://frozen', 'before-', 100);

  // SIGSTOP: the process holds its sockets but answers nothing, so ZooKeeper expires its session.
  m.proc!.proc.kill('SIGSTOP');
  const others = nodes.filter((n) => n !== m);
  const m2 = await master(others);
  // A send arriving at the old master while it is frozen is read once it resumes; it must not be receipted there.
  const late = c.send('queue://frozen', 'to-the-old-master').then(
    () => 'receipted',
    (err: unknown) => (err as { code?: string }).code ?? String(err),
  );
  m.proc!.proc.kill('SIGCONT');
  t.equal(await within(m.proc!.exited, 15_000, `${m.name} exits after SIGCONT`), 3, 'the deposed master exits with code 3');
  t.match(m.proc!.logs.map(msgOf).join('\n'), /ZooKeeper session (disconnected|expired).*stopping now/, 'and says why');
  t.not(await late, 'receipted', `the send to the deposed master was not receipted (${await late})`);
  t.equal(await accepting(m.port), false, 'the old master listens no more');
  const c2 = await connect(`tcp://127.0.0.1:${m2.port}`);
  t.teardown(() => c2.close());
  const seen = await consume(c2, 'queue://frozen', 100);
  t.equal(seen.size, 100, `${m2.name} serves the 100 receipted messages`);
  t.notOk(seen.has('to-the-old-master'), 'the late send is nowhere');
});
