#!/usr/bin/env node
// STOMP, one client sending persistent 1 KiB messages with a receipt per message (each waited for), ferrymq against
// ActiveMQ 5.17 (Debian's `activemq` package, KahaDB, its defaults: every message synced before its receipt),
// in the same run, alternating. The client is stomp.py (Debian's python3-stomp) in bench/stomp_receipt.py.
//   npx tsc -p . && node bench/stomp-peer.js [--count N] [--rounds R] [--json]
// Each broker starts fresh (temp data dir, free loopback port) once and is stopped at the end; rounds alternate
// ferrymq, ActiveMQ, ferrymq, ... on the same two brokers.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { BENCH_DIR, ROOT, startBroker } from './lib.js';

const AMQ_HOME = '/usr/share/activemq';
const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

function parseArgs(argv) {
  const o = { count: 2000, rounds: 3, json: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--json') o.json = true;
    else if (a === '--count' || a === '--rounds') {
      o[a.slice(2)] = Number(argv[++i]);
      if (!Number.isInteger(o[a.slice(2)]) || o[a.slice(2)] <= 0) throw new Error(`${a} needs a positive integer`);
    } else throw new Error(`unknown option ${a}\nusage: node bench/stomp-peer.js [--count N] [--rounds R] [--json]`);
  }
  return o;
}

const freePort = () =>
  new Promise((resolve, reject) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });

/** Resolve once something accepts connections on `port`, or reject after `ms`. */
async function waitPort(port, ms, what) {
  const end = Date.now() + ms;
  for (;;) {
    const ok = await new Promise((resolve) => {
      const c = connect({ host: '127.0.0.1', port }, () => (c.end(), resolve(true)));
      c.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > end) throw new Error(`timeout: ${what} did not listen on ${port} within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** ActiveMQ with only a stomp:// connector and KahaDB in a temp dir; stop() kills it and removes the dir. */
async function startActiveMQ() {
  if (!existsSync(join(AMQ_HOME, 'bin', 'activemq.jar'))) throw new Error(`ActiveMQ not found in ${AMQ_HOME}: apt-get install activemq`);
  const base = mkdtempSync(join(tmpdir(), 'ferrymq-amq-'));
  mkdirSync(join(base, 'conf'));
  const port = await freePort();
  writeFileSync(
    join(base, 'conf', 'activemq.xml'),
    `<beans xmlns="http://www.springframework.org/schema/beans" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
  xsi:schemaLocation="http://www.springframework.org/schema/beans http://www.springframework.org/schema/beans/spring-beans.xsd http://activemq.apache.org/schema/core http://activemq.apache.org/schema/core/activemq-core.xsd">
  <broker xmlns="http://activemq.apache.org/schema/core" brokerName="peer" dataDirectory="${base}/data" useJmx="false">
    <persistenceAdapter><kahaDB directory="${base}/data/kahadb"/></persistenceAdapter>
    <transportConnectors><transportConnector name="stomp" uri="stomp://127.0.0.1:${port}"/></transportConnectors>
  </broker>
</beans>
`,
  );
  const child = spawn(
    'java',
    ['-Xmx512m', `-Dactivemq.home=${AMQ_HOME}`, `-Dactivemq.base=${base}`, `-Dactivemq.conf=${base}/conf`, `-Dactivemq.data=${base}/data`,
      '-jar', join(AMQ_HOME, 'bin', 'activemq.jar'), 'start', `xbean:file:${base}/conf/activemq.xml`],
    { stdio: 'ignore' },
  );
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
    }
    rmSync(base, { recursive: true, force: true });
  };
  process.on('exit', () => child.kill('SIGKILL'));
  try {
    await waitPort(port, 60000, 'ActiveMQ');
  } catch (err) {
    await stop();
    throw err;
  }
  return { port, stop };
}

function client(port, count) {
  const r = spawnSync(PYTHON, [join(BENCH_DIR, 'stomp_receipt.py'), String(port), String(count)], { encoding: 'utf8', timeout: 300000 });
  if (r.status !== 0) throw new Error(`stomp client against port ${port} failed: ${r.stderr || r.error}`);
  const [n, secs, rate, p50, p99] = r.stdout.trim().split(/\s+/).map(Number);
  return { n, secs, rate, p50, p99 };
}

const opts = parseArgs(process.argv.slice(2));
const stompPort = await freePort();
const ferry = await startBroker({ args: ['--transport', `stomp://127.0.0.1:${stompPort}`] });
let amq;
const rows = [];
try {
  amq = await startActiveMQ();
  client(stompPort, 200); // warm-up, both
  client(amq.port, 200);
  for (let r = 1; r <= opts.rounds; r++) {
    const f = client(stompPort, opts.count);
    const a = client(amq.port, opts.count);
    rows.push({ round: r, ferrymq: f, activemq: a, ratio: f.rate / a.rate });
  }
} finally {
  await amq?.stop();
  await ferry.stop();
}
const f = (n, d = 0) => n.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
console.log(`\nSTOMP, one client, receipt per persistent 1 KiB message (stomp.py); ${cpus().length} cores, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}\n`);
console.log('| round | ferrymq msg/s | p50 / p99 ms | ActiveMQ 5.17 msg/s | p50 / p99 ms | ferrymq / ActiveMQ |\n|---|---|---|---|---|---|');
for (const r of rows) {
  console.log(`| ${r.round} | ${f(r.ferrymq.rate)} | ${f(r.ferrymq.p50, 3)} / ${f(r.ferrymq.p99, 3)} | ${f(r.activemq.rate)} | ${f(r.activemq.p50, 3)} / ${f(r.activemq.p99, 3)} | ${f(r.ratio, 2)} |`);
}
if (opts.json) console.log(JSON.stringify({ cores: cpus().length, loadavg: loadavg(), opts, rows }));
void ROOT;
process.exit(0);
