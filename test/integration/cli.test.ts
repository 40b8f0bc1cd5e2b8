/**
 * The client subcommands run for real: `node bin/ferrymq producer|consumer|dstat|browse|purge` as child
 * processes against broker processes. Every wait has a deadline; every child is killed (by PID) at teardown.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import t from 'tap';
import { connect, type Connection, type DestinationStats } from '../../src/index.js';
import { BIN, type BrokerProcess, startBroker, type Teardown } from '../helpers/broker.js';

/** Deadline of one CLI run. */
const RUN_TIMEOUT_MS = 20_000;

interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** stdout split into lines (no trailing empty line). */
  lines: string[];
}

interface Cli {
  proc: ChildProcess;
  /** Lines of stdout so far. */
  lines: string[];
  /** Resolves once stdout has at least `n` lines; rejects at the deadline or when the process exits first. */
  waitForLines(n: number, timeoutMs?: number): Promise<void>;
  done: Promise<CliResult>;
}

/**
 * Start `ferrymq ARGS`. It is SIGKILLed (by its PID) when it outlives `timeoutMs`, and at teardown if still
 * running; `done` resolves with its exit and output.
 */
function cli(t: Teardown, args: string[], timeoutMs = RUN_TIMEOUT_MS): Cli {
  const proc = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let partial = '';
  const lines: string[] = [];
  let waiters: { n: number; resolve: () => void }[] = [];
  proc.stdout!.setEncoding('utf8');
  proc.stderr!.setEncoding('utf8');
  proc.stdout!.on('data', (d: string) => {
    stdout += d;
    const parts = (partial + d).split('\n');
    partial = parts.pop()!;
    for (const l of parts) lines.push(l);
    waiters = waiters.filter((w) => {
      if (lines.length < w.n) return true;
      w.resolve();
      return false;
    });
  });
  proc.stderr!.on('data', (d: string) => (stderr += d));
  let alive = true;
  const timer = setTimeout(() => {
    if (alive) process.kill(proc.pid!, 'SIGKILL');
  }, timeoutMs);
  const done = new Promise<CliResult>((resolve) => {
    proc.once('close', (code, signal) => {
      alive = false;
      clearTimeout(timer);
      if (partial !== '') lines.push(partial);
      resolve({ code, signal, stdout, stderr, lines });
    });
  });
  t.teardown(async () => {
    clearTimeout(timer);
    if (alive) {
      process.kill(proc.pid!, 'SIGKILL');
      await done;
    }
  });
  const waitForLines = (n: number, ms = RUN_TIMEOUT_MS): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      if (lines.length >= n) return resolve();
      const to = setTimeout(() => reject(new Error(`ferrymq ${args[0]}: fewer than ${n} stdout lines within ${ms} ms (${lines.length})`)), ms);
      waiters.push({
        n,
        resolve: () => {
          clearTimeout(to);
          resolve();
        },
      });
      void done.then((r) => {
        clearTimeout(to);
        reject(new Error(`ferrymq ${args[0]} exited (${r.code ?? r.signal}) after ${lines.length} of ${n} lines; stderr: ${r.stderr}`));
      });
    });
  return { proc, lines, waitForLines, done };
}

/** Run `ferrymq ARGS` to its end. */
function run(t: Teardown, args: string[], timeoutMs = RUN_TIMEOUT_MS): Promise<CliResult> {
  return cli(t, args, timeoutMs).done;
}

/** The JSON on the last stdout line. */
function lastJson(r: CliResult): Record<string, unknown> {
  const last = r.lines.filter((l) => l.trim() !== '').at(-1);
  if (last === undefined) throw new Error(`no stdout; exit ${r.code ?? r.signal}; stderr: ${r.stderr}`);
  try {
    return JSON.parse(last) as Record<string, unknown>;
  } catch {
    throw new Error(`last stdout line is not JSON: ${last}; stderr: ${r.stderr}`);
  }
}

async function open(t: Teardown, url: string): Promise<Connection> {
  const c = await connect(url);
  t.teardown(() => c.close());
  return c;
}

/** Poll the broker's statistics until `pred` holds for them (deadline `timeoutMs`). */
async function statsUntil(
  conn: Connection,
  pred: (s: DestinationStats[]) => boolean,
  what: string,
  timeoutMs = 10_000,
): Promise<DestinationStats[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = await conn.stats();
    if (pred(s)) return s;
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what}; stats: ${JSON.stringify(s)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const row = (s: DestinationStats[], name: string): DestinationStats | undefined => s.find((d) => d.name === name);

/** `dstat --json` through the CLI. */
async function dstat(t: Teardown, b: BrokerProcess): Promise<DestinationStats[]> {
  const r = await run(t, ['dstat', '--url', b.url, '--json']);
  if (r.code !== 0) throw new Error(`dstat exited ${r.code}: ${r.stderr}`);
  return lastJson(r) as unknown as DestinationStats[];
}

t.test('queue: producer 2000 persistent, then consumer --count 2000: all unique, no duplicates', async (t) => {
  const b = await startBroker(t);
  const p = await run(t, ['producer', '--url', b.url, '--destination', 'queue://A', '--count', '2000', '--json']);
  t.equal(p.code, 0, `producer exits 0 ${p.stderr}`);
  t.equal(lastJson(p)['sent'], 2000, 'sent 2000');
  const c = await run(t, ['consumer', '--url', b.url, '--destination', 'queue://A', '--count', '2000', '--json']);
  t.equal(c.code, 0, `consumer exits 0 ${c.stderr}`);
  const j = lastJson(c);
  t.equal(j['received'], 2000, 'received 2000');
  t.equal(j['unique'], 2000, 'unique 2000');
  t.equal(j['duplicates'], 0, 'duplicates 0');
  t.equal(j['nacked'], 0, 'nacked 0');
  t.equal(row(await dstat(t, b), 'queue://A')?.queueSize, 0, 'queue empty afterwards');
});

t.test('topic: two consumers subscribed first each get all 500', async (t) => {
  const b = await startBroker(t);
  const admin = await open(t, b.url);
  const args = ['consumer', '--url', b.url, '--destination', 'topic://T', '--count', '500', '--json'];
  const c1 = cli(t, args);
  const c2 = cli(t, args);
  await statsUntil(admin, (s) => row(s, 'topic://T')?.consumerCount === 2, 'both consumers subscribed to topic://T');
  const p = await run(t, ['producer', '--url', b.url, '--destination', 'topic://T', '--count', '500', '--size', '64', '--json']);
  t.equal(p.code, 0, `producer exits 0 ${p.stderr}`);
  t.equal(lastJson(p)['sent'], 500);
  for (const [name, c] of [['first', c1], ['second', c2]] as const) {
    const r = await c.done;
    t.equal(r.code, 0, `${name} consumer exits 0 ${r.stderr}`);
    const j = lastJson(r);
    t.equal(j['received'], 500, `${name}: received 500`);
    t.equal(j['unique'], 500, `${name}: unique 500`);
    t.equal(j['duplicates'], 0, `${name}: duplicates 0`);
  }
});

t.test('failover: 5000 persistent across a broker SIGKILL and restart; consumer unique 5000, 0 duplicates', async (t) => {
  const a = await startBroker(t);
  const url = `failover:(tcp://127.0.0.1:${a.port})?initialReconnectDelay=10&maxReconnectDelay=200`;
  const admin = await connect(a.url);
  const consumer = cli(t, ['consumer', '--url', url, '--destination', 'queue://FO', '--count', '5000', '--print', '--json'], 40_000);
  try {
    await statsUntil(admin, (s) => row(s, 'queue://FO')?.consumerCount === 1, 'consumer subscribed to queue://FO');
  } finally {
    await admin.close();
  }
  const producer = cli(
    t,
    ['producer', '--url', url, '--destination', 'queue://FO', '--count', '5000', '--window', '100', '--size', '100', '--json'],
    40_000,
  );
  await consumer.waitForLines(1000);
  let producerDone = false;
  void producer.done.then(() => (producerDone = true));
  await a.kill('SIGKILL');
  t.notOk(producerDone, 'the producer was still sending when the broker was killed');
  const seenAtKill = consumer.lines.length;
  t.ok(seenAtKill < 5000, `the consumer had seen ${seenAtKill} of 5000 at the kill`);
  const b = await startBroker(t, { dataDir: a.dataDir, port: a.port });
  t.ok(b.port === a.port, 'restarted on the same port');

  const p = await producer.done;
  t.equal(p.code, 0, `producer exits 0 ${p.stderr}`);
  t.equal(lastJson(p)['sent'], 5000, 'producer: sent 5000');
  t.match(p.stderr, /interrupted/, 'producer stderr shows the interruption');
  t.match(p.stderr, /resumed/, 'producer stderr shows the resumption');
  const c = await consumer.done;
  t.equal(c.code, 0, `consumer exits 0 ${c.stderr}`);
  const j = lastJson(c);
  t.equal(j['unique'], 5000, 'consumer: unique 5000');
  t.equal(j['duplicates'], 0, 'consumer: duplicates 0');
  t.equal(j['received'], 5000, 'consumer: received 5000');
  t.match(c.stderr, /interrupted/, 'consumer stderr shows the interruption');
  t.match(c.stderr, /resumed/, 'consumer stderr shows the resumption');
  t.equal(c.lines.length, 5001, 'one printed body per message, then the summary');
});

t.test('--selector: only the red ones', async (t) => {
  const b = await startBroker(t);
  for (const color of ['red', 'blue']) {
    const p = await run(t, ['producer', '--url', b.url, '--destination', 'queue://SEL', '--count', '100', '--size', '32', '--header', `color=${color}`, '--json']);
    t.equal(p.code, 0, `producer ${color} exits 0 ${p.stderr}`);
  }
  const c = await run(t, ['consumer', '--url', b.url, '--destination', 'queue://SEL', '--selector', "color = 'red'", '--idle-timeout', '1000', '--json']);
  t.equal(c.code, 0, `consumer exits 0 ${c.stderr}`);
  const j = lastJson(c);
  t.equal(j['received'], 100, 'received the 100 red');
  t.equal(j['unique'], 100);
  t.equal(row(await dstat(t, b), 'queue://SEL')?.queueSize, 100, 'the 100 blue are still waiting');
  const bad = await run(t, ['consumer', '--url', b.url, '--destination', 'queue://SEL', '--selector', "color = = 'red'", '--idle-timeout', '200']);
  t.equal(bad.code, 1, 'a bad selector: exit 1');
  t.match(bad.stderr, /cannot subscribe/);
});

t.test('--nack-every 1: 7 deliveries, then the message is in ActiveMQ.DLQ', async (t) => {
  const b = await startBroker(t);
  const p = await run(t, ['producer', '--url', b.url, '--destination', 'queue://NACK', '--count', '1', '--message', 'poison', '--json']);
  t.equal(p.code, 0, `producer exits 0 ${p.stderr}`);
  const c = await run(t, ['consumer', '--url', b.url, '--destination', 'queue://NACK', '--nack-every', '1', '--idle-timeout', '1500', '--json']);
  t.equal(c.code, 0, `consumer exits 0 ${c.stderr}`);
  const j = lastJson(c);
  t.equal(j['received'], 7, '7 deliveries (1 + maximumRedeliveries 6)');
  t.equal(j['nacked'], 7, 'nacked 7');
  t.equal(j['unique'], 1, 'one message');
  t.equal(j['duplicates'], 0, 'nothing consumed twice');
  t.equal(j['redelivered'], 6, '6 flagged as redelivered');
  const br = await run(t, ['browse', '--url', b.url, '--destination', 'queue://ActiveMQ.DLQ', '--json']);
  t.equal(br.code, 0, `browse exits 0 ${br.stderr}`);
  const msgs = lastJson(br) as unknown as { body: string; headers: Record<string, unknown> }[];
  t.equal(msgs.length, 1, 'one message on the DLQ');
  t.equal(msgs[0]?.body, 'poison');
  t.equal(msgs[0]?.headers['originalDestination'], 'queue://NACK');
  const s = await dstat(t, b);
  t.equal(row(s, 'queue://ActiveMQ.DLQ')?.queueSize, 1, 'dstat: DLQ Queue Size 1');
  t.equal(row(s, 'queue://NACK')?.queueSize, 0, 'dstat: NACK queue empty');

  const auto = await run(t, ['consumer', '--url', b.url, '--nack-every', '2', '--ack', 'auto']);
  t.equal(auto.code, 1, '--nack-every with --ack auto is refused');
  t.match(auto.stderr, /--nack-every needs --ack client or individual/);
});

t.test('--durable: messages wait while the consumer is away; --unsubscribe removes it', async (t) => {
  const b = await startBroker(t);
  const admin = await open(t, b.url);
  const ids = ['--destination', 'topic://D', '--durable', 'sub1', '--client-id', 'c1'];
  const first = cli(t, ['consumer', '--url', b.url, ...ids, '--count', '1', '--json']);
  await statsUntil(admin, (s) => row(s, 'durable://c1:sub1')?.consumerCount === 1, 'durable subscription active');
  const p1 = await run(t, ['producer', '--url', b.url, '--destination', 'topic://D', '--count', '1', '--json']);
  t.equal(p1.code, 0, `producer exits 0 ${p1.stderr}`);
  const r1 = await first.done;
  t.equal(r1.code, 0, `first consumer exits 0 ${r1.stderr}`);
  t.equal(lastJson(r1)['received'], 1, 'first run: received 1');

  const p = await run(t, ['producer', '--url', b.url, '--destination', 'topic://D', '--count', '50', '--size', '64', '--json']);
  t.equal(p.code, 0, `producer exits 0 ${p.stderr}`);
  const offline = row(await dstat(t, b), 'durable://c1:sub1');
  t.equal(offline?.queueSize, 50, 'dstat: 50 waiting for the offline durable subscriber');
  t.equal(offline?.consumerCount, 0);

  const again = await run(t, ['consumer', '--url', b.url, ...ids, '--count', '50', '--json']);
  t.equal(again.code, 0, `second consumer exits 0 ${again.stderr}`);
  const j = lastJson(again);
  t.equal(j['received'], 50, 'second run: received 50');
  t.equal(j['unique'], 50, 'second run: unique 50');
  t.equal(j['duplicates'], 0);

  const noId = await run(t, ['consumer', '--url', b.url, '--destination', 'topic://D', '--durable', 'sub1']);
  t.equal(noId.code, 1, '--durable without --client-id is refused');
  t.match(noId.stderr, /--durable needs --client-id/);

  const un = await run(t, ['consumer', '--url', b.url, '--durable', 'sub1', '--client-id', 'c1', '--unsubscribe', '--json']);
  t.equal(un.code, 0, `--unsubscribe exits 0 ${un.stderr}`);
  t.same(lastJson(un), { unsubscribed: 'sub1', clientId: 'c1' });
  t.notOk(row(await dstat(t, b), 'durable://c1:sub1'), 'dstat no longer lists durable://c1:sub1');
  const un2 = await run(t, ['consumer', '--url', b.url, '--durable', 'sub1', '--client-id', 'c1', '--unsubscribe']);
  t.equal(un2.code, 1, 'removing it again: exit 1');
  t.match(un2.stderr, /no durable subscription sub1/);
});

t.test('--transacted producer and consumer', async (t) => {
  const b = await startBroker(t);
  const p = await run(t, ['producer', '--url', b.url, '--destination', 'queue://TX', '--transacted', '--batch', '10', '--count', '100', '--json']);
  t.equal(p.code, 0, `producer exits 0 ${p.stderr}`);
  t.equal(lastJson(p)['sent'], 100, 'sent 100 in 10 transactions');
  const c = await run(t, ['consumer', '--url', b.url, '--destination', 'queue://TX', '--transacted', '--batch', '10', '--count', '100', '--json']);
  t.equal(c.code, 0, `consumer exits 0 ${c.stderr}`);
  const j = lastJson(c);
  t.equal(j['received'], 100, 'received 100');
  t.equal(j['unique'], 100, 'unique 100');
  t.equal(j['rolledBack'], 0, 'nothing rolled back');
  t.equal(j['inDoubt'], 0, 'nothing in doubt');
  t.equal(j['missing'], 0, 'nothing missing');
  const rest = await run(t, ['consumer', '--url', b.url, '--destination', 'queue://TX', '--idle-timeout', '500', '--json']);
  t.equal(rest.code, 0, `plain consumer exits 0 ${rest.stderr}`);
  t.equal(lastJson(rest)['received'], 0, 'every message was committed: nothing left');
});

t.test('--transacted consumer: SIGKILL before commit gives the messages back, SIGTERM commits them', async (t) => {
  const b = await startBroker(t);
  const p = await run(t, ['producer', '--url', b.url, '--destination', 'queue://TXK', '--count', '100', '--size', '32', '--json']);
  t.equal(p.code, 0, `producer exits 0 ${p.stderr}`);
  const args = ['consumer', '--url', b.url, '--destination', 'queue://TXK', '--transacted', '--batch', '200', '--print', '--json'];

  const killed = cli(t, args);
  await killed.waitForLines(100);
  process.kill(killed.proc.pid!, 'SIGKILL');
  t.equal((await killed.done).signal, 'SIGKILL');
  const admin = await open(t, b.url);
  await statsUntil(admin, (s) => row(s, 'queue://TXK')?.consumerCount === 0, 'the killed consumer is gone');

  const termed = cli(t, args);
  await termed.waitForLines(100);
  process.kill(termed.proc.pid!, 'SIGTERM');
  const r = await termed.done;
  t.equal(r.code, 0, `SIGTERM: exit 0 ${r.stderr}`);
  const j = lastJson(r);
  t.equal(j['received'], 100, 'the uncommitted 100 came again after the SIGKILL');
  t.equal(j['redelivered'], 100, '... flagged redelivered');
  const rest = await run(t, ['consumer', '--url', b.url, '--destination', 'queue://TXK', '--idle-timeout', '500', '--json']);
  t.equal(lastJson(rest)['received'], 0, 'SIGTERM committed what it had: nothing left');
});

t.test('producer --priority, --ttl and --header', async (t) => {
  const b = await startBroker(t);
  const p = await run(t, [
    'producer', '--url', b.url, '--destination', 'queue://PRI', '--count', '1', '--message', 'hi',
    '--priority', '9', '--ttl', '600000', '--header', 'k=v', '--header', 'n=5', '--header', 'flag=true', '--json',
  ]);
  t.equal(p.code, 0, `producer exits 0 ${p.stderr}`);
  const br = await run(t, ['browse', '--url', b.url, '--destination', 'queue://PRI', '--json']);
  const [m] = lastJson(br) as unknown as { priority: number; timestamp: number; expires: number; headers: Record<string, unknown> }[];
  t.equal(m?.priority, 9, 'priority 9');
  t.equal((m?.expires ?? 0) - (m?.timestamp ?? 0), 600_000, 'expires 600000 ms after its timestamp');
  t.equal(m?.headers['k'], 'v');
  t.equal(m?.headers['n'], 5, 'numeric header sent as a number');
  t.equal(m?.headers['flag'], true, 'boolean header sent as a boolean');

  const e = await run(t, ['producer', '--url', b.url, '--destination', 'queue://EXP', '--count', '5', '--ttl', '1', '--json']);
  t.equal(e.code, 0, `producer --ttl 1 exits 0 ${e.stderr}`);
  const c = await run(t, ['consumer', '--url', b.url, '--destination', 'queue://EXP', '--idle-timeout', '300', '--json']);
  t.equal(lastJson(c)['received'], 0, 'messages with --ttl 1 have expired before a consumer comes');
});

t.test('dstat text columns and purge', async (t) => {
  const b = await startBroker(t);
  const p = await run(t, ['producer', '--url', b.url, '--destination', 'queue://P', '--count', '10', '--size', '32', '--json']);
  t.equal(p.code, 0, `producer exits 0 ${p.stderr}`);
  const d = await run(t, ['dstat', '--url', b.url]);
  t.equal(d.code, 0);
  const [header, ...rows] = d.lines;
  for (const col of ['Name', 'Queue Size', 'Producer #', 'Consumer #', 'Enqueue #', 'Dequeue #']) t.match(header, col, `column ${col}`);
  t.ok(
    rows.some((r) => /^queue:\/\/P\s+10\s+0\s+0\s+10\s+0\s/.test(r)),
    `a row for queue://P: size 10, enqueued 10 (${rows.join(' | ')})`,
  );
  const pu = await run(t, ['purge', '--url', b.url, '--destination', 'queue://P', '--json']);
  t.equal(pu.code, 0, `purge exits 0 ${pu.stderr}`);
  t.same(lastJson(pu), { purged: 10, destination: 'queue://P' });
  const text = await run(t, ['purge', '--url', b.url, '--destination', 'queue://P']);
  t.equal(text.stdout, 'purged 0 messages from queue://P\n');
  t.equal(row(await dstat(t, b), 'queue://P')?.queueSize, 0, 'dstat: queue://P empty after the purge');
});

t.test('failover with --transacted producer and consumer: rolled-back batches are done again, none lost', async (t) => {
  const a = await startBroker(t);
  const url = `failover:(tcp://127.0.0.1:${a.port})?initialReconnectDelay=10&maxReconnectDelay=200`;
  const admin = await connect(a.url);
  // No --count: it must not stop at 3000 deliveries when some were of rolled-back transactions (they come again).
  const consumer = cli(t, ['consumer', '--url', url, '--destination', 'queue://TXFO', '--transacted', '--batch', '50', '--idle-timeout', '10000', '--print', '--json'], 60_000);
  try {
    await statsUntil(admin, (s) => row(s, 'queue://TXFO')?.consumerCount === 1, 'consumer subscribed to queue://TXFO');
  } finally {
    await admin.close();
  }
  const producer = cli(t, ['producer', '--url', url, '--destination', 'queue://TXFO', '--count', '3000', '--transacted', '--batch', '50', '--size', '64', '--json'], 60_000);
  await consumer.waitForLines(500);
  let producerDone = false;
  void producer.done.then(() => (producerDone = true));
  await a.kill('SIGKILL');
  t.notOk(producerDone, 'the producer was still sending when the broker was killed');
  await startBroker(t, { dataDir: a.dataDir, port: a.port });
  const p = await producer.done;
  t.equal(p.code, 0, `producer exits 0 ${p.stderr}`);
  t.equal(lastJson(p)['sent'], 3000, 'producer: 3000 committed');
  t.match(p.stderr, /interrupted/);
  t.match(p.stderr, /resumed/);
  const c = await consumer.done;
  t.equal(c.code, 0, `consumer exits 0 ${c.stderr}`);
  const j = lastJson(c);
  const rolled = (r: CliResult): string => r.stderr.split('\n').filter((l) => l.includes('rolled back')).join('; ');
  t.equal(j['unique'], 3000, `consumer: unique 3000, none lost (${JSON.stringify(j)}; producer: ${rolled(p)}; consumer: ${rolled(c)})`);
  // `unique` counts every message seen, committed or not: only the broker can say they were all consumed. The
  // queue is empty once the consumer has gone: every delivery's ack was committed, none is waiting again.
  const after = await connect(`tcp://127.0.0.1:${a.port}`);
  try {
    t.equal(row(await after.stats(), 'queue://TXFO')?.queueSize ?? 0, 0, 'the broker holds none of the 3000 after the consumer: all committed');
  } finally {
    await after.close();
  }
  // A commit in flight at the kill is in doubt: applied or not, its messages are consumed once (they came again, or
  // the queue is empty without them). Only those of transactions rolled back for certain must all come again.
  t.equal(j['missing'], 0, 'every message of a transaction rolled back for certain came again');
  // A producer transaction whose COMMIT was in flight is replayed with the same producer id and sequences (the audit
  // drops it if it had been applied); a consumer COMMIT is answered only once its acks are on disk.
  t.equal(j['duplicates'], 0, 'consumer: duplicates 0');
});
