#!/usr/bin/env node
// ferrymq benchmark: node bench/run.js [--count N] [--size B] [--only base,np,p,lat] [--json] (see bench/README.md)
import { cpus, loadavg, platform, release } from 'node:os';
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { deadline, onPath, procCpuMs, procPeakRssMiB, startBroker, startNatsServer, startWorker } from './lib.js';

const USAGE = `usage: node bench/run.js [options]
  --count N        messages per throughput scenario (default: base/np 200000, p 100000)
  --size B         body bytes (default 1024)
  --only LIST      comma list of: base, nats, np, p, lat, bridge (default: base, nats, np, p, lat;
                   nats only when nats-server is on the PATH)
  --json           also print one JSON object as the last line
  --window W       persistent sends in flight (default 1000)
  --np-mode M      non-persistent producer: await | batch | window (default await)
  --batch B        sends per batch for --np-mode batch (default 1000); window size for --np-mode window
  --prefetch P     consumer prefetch (default 1000)
  --rate R         latency scenario send rate, msg/s (default 10000)
  --duration S     latency scenario duration, s (default 5)
  --linger MS     producer waits MS after its last send before closing (diagnostic)
  --parts LIST     bridge scenario: which of np, p, lat-np, lat-p to run (default: all four), each beside its
                   one-broker peer
  --profile DIR    run each broker with --cpu-prof, profiles written to DIR (see bench/profile-top.js); the
                   bridge's two brokers are broker-bridge-<part>-A and -B
  --conf FILE      broker config (ActiveMQ XML) for every broker started (default: the shipped conf/single.xml)`;

/** Every scenario, in the order they run: NATS just before np, so their ratio comes from the same minute. */
const SCENARIOS = ['base', 'nats', 'np', 'p', 'lat', 'bridge'];
/** The bridge scenario's parts, each measured beside one broker doing the same. */
const BRIDGE_PARTS = ['np', 'p', 'lat-np', 'lat-p'];

function parseArgs(argv) {
  const o = { size: 1024, only: ['base', 'nats', 'np', 'p', 'lat'], json: false, window: 1000, npMode: 'await', batch: 1000,
    prefetch: 1000, rate: 10000, duration: 5, count: null, profile: null, linger: 0, conf: null, parts: BRIDGE_PARTS };
  const num = (name, v) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} needs a positive number, got ${v}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    switch (a) {
      case '--count': o.count = Math.floor(num(a, val())); break;
      case '--size': o.size = Math.max(8, Math.floor(num(a, val()))); break;
      case '--only': o.only = val().split(',').map((s) => s.trim()).filter(Boolean); break;
      case '--json': o.json = true; break;
      case '--window': o.window = Math.floor(num(a, val())); break;
      case '--np-mode': o.npMode = val(); break;
      case '--batch': o.batch = Math.floor(num(a, val())); break;
      case '--prefetch': o.prefetch = Math.floor(num(a, val())); break;
      case '--rate': o.rate = num(a, val()); break;
      case '--duration': o.duration = num(a, val()); break;
      case '--linger': o.linger = Math.floor(num(a, val())); break;
      case '--profile': o.profile = resolve(val()); break;
      case '--parts': o.parts = val().split(',').map((s) => s.trim()).filter(Boolean); break;
      case '--conf': o.conf = resolve(val()); break;
      case '-h': case '--help': console.log(USAGE); process.exit(0); break; // eslint-disable-line no-fallthrough
      default: throw new Error(`unknown option ${a}\n${USAGE}`);
    }
  }
  for (const s of o.only) if (!SCENARIOS.includes(s)) throw new Error(`--only: unknown scenario ${s}`);
  for (const s of o.parts) if (!BRIDGE_PARTS.includes(s)) throw new Error(`--parts: unknown part ${s} (${BRIDGE_PARTS.join(', ')})`);
  if (!['await', 'batch', 'window'].includes(o.npMode)) throw new Error(`--np-mode: await, batch or window`);
  return o;
}

const MiB = 1024 * 1024;
let opts;
const natsServer = onPath('nats-server');
const load0 = loadavg()[0].toFixed(2);
try {
  opts = parseArgs(process.argv.slice(2));
} catch (err) {
  console.error(err.message);
  process.exit(2);
}
const machine = { cores: cpus().length, cpu: cpus()[0]?.model ?? '?', node: process.version, os: `${platform()} ${release()}` };
const log = (s) => process.stderr.write(`${s}\n`);
if (opts.profile) mkdirSync(opts.profile, { recursive: true });

/** `node --cpu-prof` arguments for a broker of the run, with --profile. */
const profileArgs = (name) => (opts.profile ? ['--cpu-prof', `--cpu-prof-dir=${opts.profile}`, `--cpu-prof-name=broker-${name}.cpuprofile`] : []);
const confArgs = () => (opts.conf ? ['--conf', opts.conf] : []);

/** A fresh broker for one scenario, always stopped (and its data dir removed) afterwards. */
async function withBroker(name, fn) {
  const broker = await startBroker({ nodeArgs: profileArgs(name), args: confArgs() });
  const blocked = () => [...broker.counts].filter(([m]) => /producer blocked/.test(m)).reduce((a, [, n]) => a + n, 0);
  try {
    const rows = await fn(broker.url, broker.child.pid);
    for (const r of [rows].flat()) r.brokerFlowControlBlocks = blocked();
    return rows;
  } catch (err) {
    err.message += ` [broker logged 'producer blocked' ${blocked()} times]`;
    throw err;
  } finally {
    await broker.stop();
  }
}

/**
 * Two brokers, A bridging to B (profiled as `broker-<name>-A` and `-B` with --profile); `fn(urlB, pidB, bridged)`
 * where `bridged` is {producerUrl, pidA, demand} and `demand(dest)` waits for A to forward `dest`.
 */
async function withBridge(name, fn) {
  const b = await startBroker({ nodeArgs: profileArgs(`${name}-B`), args: [...confArgs(), '--name', 'B'] });
  let a;
  try {
    a = await startBroker({ nodeArgs: profileArgs(`${name}-A`), args: [...confArgs(), '--name', 'A', '--network', `static:(${b.url})`] });
    await a.waitLog((r) => /^network bridge .* up: /.test(r.msg ?? ''), 'bridge A -> B up');
    const demand = (dest) => a.waitLog((r) => (r.msg ?? '').startsWith(`demand for ${dest} `), `demand for ${dest} on A`);
    return await fn(b.url, b.child.pid, { producerUrl: a.url, pidA: a.child.pid, demand });
  } finally {
    await a?.stop();
    await b.stop();
  }
}

/** Consumer process first (subscribed), then the producer process; 'go' once both are connected. */
async function pair(url, brokerPid, name, prodCfg, consCfg, resultMs, bridged = null) {
  const dest = `queue://bench.${name}.${process.pid}`;
  const prodUrl = bridged?.producerUrl ?? url;
  const maxMs = resultMs + 30000;
  const workers = [];
  try {
    const cons = startWorker('consumer.js', { ...consCfg, url, dest, size: opts.size, maxMs }, `${name} consumer`);
    workers.push(cons);
    await cons.next('ready', 20000);
    // Across a bridge: the consumer's demand must have reached the producer's broker before the clock starts.
    if (bridged) await bridged.demand(dest);
    const prod = startWorker('producer.js', { ...prodCfg, url: prodUrl, dest, size: opts.size, maxMs, lingerMs: opts.linger }, `${name} producer`);
    workers.push(prod);
    await prod.next('ready', 20000);
    const cpu0 = procCpuMs(brokerPid);
    const cpuA0 = bridged ? procCpuMs(bridged.pidA) : null;
    prod.send({ type: 'go' });
    const [pr, cr] = await Promise.all([prod.next('result', resultMs), cons.next('result', resultMs)]);
    const cpu1 = procCpuMs(brokerPid);
    if (cpu0 !== null && cpu1 !== null) cr.brokerCpuMs = cpu1 - cpu0;
    // Across a bridge the producer's broker A works too: its CPU is reported beside B's.
    const cpuA1 = bridged ? procCpuMs(bridged.pidA) : null;
    if (cpuA0 !== null && cpuA1 !== null) cr.brokerACpuMs = cpuA1 - cpuA0;
    cr.brokerPeakRssMiB = procPeakRssMiB(brokerPid);
    if (cr.received !== prodCfg.count) {
      throw new Error(`consumer got ${cr.received} of ${prodCfg.count} messages${cr.timedOut ? ' (idle timeout)' : ''}; ` +
        `broker's stats of the queue: ${await queueStats(url, dest)}`);
    }
    if (cr.badSize > 0) throw new Error(`${cr.badSize} messages arrived with a body size other than ${opts.size}`);
    return { pr, cr };
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
  }
}

/** The broker's own counters for `dest`, to tell a lost message from a stuck one. */
async function queueStats(url, dest) {
  let conn;
  try {
    const { connect } = await import('../dist/index.js');
    conn = await connect(url, { connectTimeoutMs: 5000 });
    const st = (await deadline(conn.stats(), 5000, 'stats')).find((d) => d.name === dest);
    return st ? JSON.stringify(st) : 'queue not found';
  } catch (err) {
    return `unavailable (${err.message})`;
  } finally {
    await conn?.close().catch(() => {});
  }
}

function throughputRow(name, label, count, pr, cr) {
  const secs = (cr.lastRecv - pr.firstSend) / 1000;
  const rate = count / secs;
  const cpu = (ms) => (typeof ms === 'number' ? Math.round(ms / 10 / secs) : null);
  // CPU time per message barely depends on what else the machine runs; msg/s does.
  const perMsg = (ms) => (typeof ms === 'number' ? (ms * 1000) / count : null);
  return { scenario: name, label, messages: count, seconds: secs, msgPerSec: rate, mibPerSec: (rate * opts.size) / MiB, producerMsgPerSec: pr.rate,
    cpuPercent: { producer: cpu(pr.cpuMs), broker: cpu(cr.brokerCpuMs), consumer: cpu(cr.cpuMs), ...(cr.brokerACpuMs !== undefined ? { brokerA: cpu(cr.brokerACpuMs) } : {}) },
    cpuUsPerMsg: { producer: perMsg(pr.cpuMs), broker: perMsg(cr.brokerCpuMs), consumer: perMsg(cr.cpuMs), ...(cr.brokerACpuMs !== undefined ? { brokerA: perMsg(cr.brokerACpuMs) } : {}) },
    brokerPeakRssMiB: cr.brokerPeakRssMiB ?? null };
}

const toMs = (s) => Object.fromEntries(Object.entries(s).map(([k, v]) => [k, k === 'count' ? v : v / 1000]));

const scenarios = {
  async base() {
    const count = opts.count ?? 200000;
    const workers = [];
    try {
      const recv = startWorker('baseline.js', { role: 'recv', count, size: opts.size, maxMs: 180000 }, 'baseline receiver');
      workers.push(recv);
      const { port } = await recv.next('ready', 20000);
      const send = startWorker('baseline.js', { role: 'send', port, count, size: opts.size, maxMs: 180000 }, 'baseline sender');
      workers.push(send);
      await send.next('ready', 20000);
      send.send({ type: 'go' });
      const [pr, cr] = await Promise.all([send.next('result', 150000), recv.next('result', 150000)]);
      return [throughputRow('base', 'baseline: raw TCP socket, no broker', count, pr, cr)];
    } finally {
      await Promise.all(workers.map((w) => w.stop()));
    }
  },
  /**
   * The peer: NATS core (nats-server from the PATH, official `nats` client), the same one-producer / one-consumer
   * 1 KiB flow as np, on a free loopback port. NATS core keeps nothing: a consumer that falls more than the
   * server's pending limit behind is cut off, so a short count shows here as a failure, not as a figure.
   */
  async nats() {
    const count = opts.count ?? 200000;
    const server = await startNatsServer(natsServer);
    const workers = [];
    try {
      const common = { port: server.port, subject: `bench.nats.${process.pid}`, count, size: opts.size, maxMs: 180000 };
      const cons = startWorker('nats-worker.js', { ...common, role: 'consume' }, 'nats consumer');
      workers.push(cons);
      await cons.next('ready', 20000);
      const prod = startWorker('nats-worker.js', { ...common, role: 'produce', window: opts.batch }, 'nats producer');
      workers.push(prod);
      await prod.next('ready', 20000);
      const cpu0 = procCpuMs(server.child.pid);
      prod.send({ type: 'go' });
      const [pr, cr] = await Promise.all([prod.next('result', 150000), cons.next('result', 150000)]);
      const cpu1 = procCpuMs(server.child.pid);
      if (cpu0 !== null && cpu1 !== null) cr.brokerCpuMs = cpu1 - cpu0;
      cr.brokerPeakRssMiB = procPeakRssMiB(server.child.pid);
      if (cr.received !== count) throw new Error(`NATS consumer got ${cr.received} of ${count} messages${cr.timedOut ? ' (idle timeout)' : ''}`);
      if (cr.badSize > 0) throw new Error(`${cr.badSize} NATS messages arrived with a body size other than ${opts.size}`);
      return [throughputRow('nats', 'peer: NATS core (nats-server + nats.js), 1 producer / 1 consumer', count, pr, cr)];
    } finally {
      await Promise.all(workers.map((w) => w.stop()));
      await server.stop();
    }
  },
  async np() {
    const count = opts.count ?? 200000;
    return withBroker('np', async (url, pid) => {
      const { pr, cr } = await pair(url, pid, 'np', { count, persistent: false, npMode: opts.npMode, batch: opts.batch, window: opts.batch },
        { count, prefetch: opts.prefetch }, 150000);
      return [{ ...throughputRow('np', `non-persistent queue (producer: ${opts.npMode})`, count, pr, cr) }];
    });
  },
  async p() {
    const count = opts.count ?? 100000;
    return withBroker('p', async (url, pid) => {
      const { pr, cr } = await pair(url, pid, 'p', { count, persistent: true, window: opts.window }, { count, prefetch: opts.prefetch }, 150000);
      return [throughputRow('p', `persistent queue (window ${opts.window})`, count, pr, cr)];
    });
  },
  /**
   * One bridge hop (A -> static:(B), producer on A, consumer on B) against producer and consumer both on one
   * broker, in the same run: throughput persistent and non-persistent, and latency at --rate.
   */
  async bridge() {
    const rows = [];
    const runs = [
      ['np', { count: opts.count ?? 200000, persistent: false, npMode: opts.npMode, batch: opts.batch, window: opts.batch }],
      ['p', { count: opts.count ?? 100000, persistent: true, window: opts.window }],
    ];
    const latCount = Math.round(opts.rate * opts.duration);
    const latency = { warmup: Math.min(Math.floor(latCount / 10), Math.round(opts.rate * 0.5)) };
    for (const [kind, prodCfg] of runs) {
      if (!opts.parts.includes(kind)) continue;
      rows.push(await withBroker(`single-${kind}`, async (url, pid) => {
        const { pr, cr } = await pair(url, pid, `single-${kind}`, prodCfg, { count: prodCfg.count, prefetch: opts.prefetch }, 150000);
        return throughputRow(`single-${kind}`, `one broker, ${prodCfg.persistent ? 'persistent' : 'non-persistent'}`, prodCfg.count, pr, cr);
      }));
      rows.push(await withBridge(`bridge-${kind}`, async (urlB, pidB, bridged) => {
        const { pr, cr } = await pair(urlB, pidB, `bridge-${kind}`, prodCfg, { count: prodCfg.count, prefetch: opts.prefetch }, 150000, bridged);
        return throughputRow(`bridge-${kind}`, `A -> B bridge, ${prodCfg.persistent ? 'persistent' : 'non-persistent'}`, prodCfg.count, pr, cr);
      }));
    }
    for (const persistent of [false, true]) {
      const cfg = { count: latCount, persistent, paced: { rate: opts.rate } };
      const k = persistent ? 'p' : 'np';
      if (!opts.parts.includes(`lat-${k}`)) continue;
      const latRow = (name, label, pr, cr) => ({
        ...throughputRow(name, label, latCount, pr, cr),
        latencyMs: toMs(cr.latencyUs),
        maxBurst: pr.maxBurst,
        ...(pr.receiptUs ? { receiptMs: toMs(pr.receiptUs) } : {}),
      });
      rows.push(await withBroker(`single-lat-${k}`, async (url, pid) => {
        const { pr, cr } = await pair(url, pid, `single-lat-${k}`, cfg, { count: latCount, prefetch: opts.prefetch, latency }, opts.duration * 1000 + 60000);
        return latRow(`single-lat-${k}`, `latency, one broker, ${persistent ? 'persistent' : 'non-persistent'} at ${opts.rate} msg/s`, pr, cr);
      }));
      rows.push(await withBridge(`bridge-lat-${k}`, async (urlB, pidB, bridged) => {
        const { pr, cr } = await pair(urlB, pidB, `bridge-lat-${k}`, cfg, { count: latCount, prefetch: opts.prefetch, latency }, opts.duration * 1000 + 60000, bridged);
        return latRow(`bridge-lat-${k}`, `latency, A -> B bridge, ${persistent ? 'persistent' : 'non-persistent'} at ${opts.rate} msg/s`, pr, cr);
      }));
    }
    return rows;
  },
  async lat() {
    const count = Math.round(opts.rate * opts.duration);
    const warmup = Math.min(Math.floor(count / 10), Math.round(opts.rate * 0.5));
    const rows = [];
    for (const persistent of [false, true]) {
      const name = persistent ? 'lat-p' : 'lat-np';
      rows.push(await withBroker(name, async (url, pid) => {
        const { pr, cr } = await pair(url, pid, name, { count, persistent, paced: { rate: opts.rate } },
          { count, prefetch: opts.prefetch, latency: { warmup } }, opts.duration * 1000 + 60000);
        const row = throughputRow(name, `latency, ${persistent ? 'persistent' : 'non-persistent'} at ${opts.rate} msg/s`, count, pr, cr);
        row.latencyMs = toMs(cr.latencyUs);
        row.maxBurst = pr.maxBurst;
        if (pr.receiptUs) row.receiptMs = toMs(pr.receiptUs);
        return row;
      }));
    }
    return rows;
  },
};

function fmt(n, digits = 0) {
  if (n === undefined || n === null || Number.isNaN(n)) return '-';
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function table(headers, rows) {
  const w = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells) => cells.map((c, i) => (i === 0 ? String(c).padEnd(w[i]) : String(c).padStart(w[i]))).join('  ');
  return [line(headers), w.map((n) => '-'.repeat(n)).join('  '), ...rows.map(line)].join('\n');
}

const results = [];
const errors = [];
for (const name of SCENARIOS) {
  if (!opts.only.includes(name)) continue;
  if (name === 'nats' && natsServer === null) {
    log('bench: nats skipped: no nats-server on the PATH (Debian: apt-get install nats-server)');
    continue;
  }
  log(`bench: running ${name} ...`);
  const t = Date.now();
  try {
    for (const row of await scenarios[name]()) results.push(row);
  } catch (err) {
    errors.push({ scenario: name, error: err.message });
    log(`bench: ${name} FAILED: ${err.stack ?? err}`);
  }
  log(`bench: ${name} done in ${((Date.now() - t) / 1000).toFixed(1)} s`);
}

const load = `${load0} at the start, ${loadavg()[0].toFixed(2)} at the end`;
console.log(`\nferrymq bench: ${machine.cores} cores (${machine.cpu}), node ${machine.node}, ${machine.os}; body ${opts.size} B; load average ${load}\n`);
// Ratios to the peer and to the ceiling measured in this same run: the machine is shared, absolute figures drift.
const natsRow = results.find((r) => r.scenario === 'nats');
const baseRow = results.find((r) => r.scenario === 'base');
const ratio = (r, ref) => (ref && !r.latencyMs && r !== ref ? `${(r.msgPerSec / ref.msgPerSec).toFixed(2)}` : '-');
for (const r of results) {
  if (natsRow && !r.latencyMs) r.ratioToNats = r.msgPerSec / natsRow.msgPerSec;
  if (baseRow && !r.latencyMs) r.ratioToBase = r.msgPerSec / baseRow.msgPerSec;
}
// Across a bridge the broker column is "A+B": the producer's broker, then the consumer's.
const brokerCol = (c, f) => (c.brokerA !== undefined ? `${f(c.brokerA)}+${f(c.broker)}` : f(c.broker));
const cpuCol = (c) => {
  const f = (v) => (v === null || v === undefined ? '-' : v);
  return [f(c.producer), brokerCol(c, f), f(c.consumer)].join('/');
};
const usCol = (c) => {
  const f = (v) => (typeof v === 'number' ? v.toFixed(1) : '-');
  return [f(c.producer), brokerCol(c, f), f(c.consumer)].join('/');
};
console.log(table(['scenario', 'messages', 'msg/s', '÷ NATS', '÷ base', 'MiB/s', 'producer msg/s', 'p50 ms', 'p99 ms', 'CPU% P/B/C', 'CPU µs/msg P/B/C', 'broker RSS MiB', 'description'],
  results.map((r) => [r.scenario, fmt(r.messages), fmt(r.msgPerSec), ratio(r, natsRow), ratio(r, baseRow), fmt(r.mibPerSec, 1), fmt(r.producerMsgPerSec),
    r.latencyMs ? fmt(r.latencyMs.p50, 3) : '-', r.latencyMs ? fmt(r.latencyMs.p99, 3) : '-', cpuCol(r.cpuPercent), usCol(r.cpuUsPerMsg), r.brokerPeakRssMiB ?? '-', r.label])));
const lat = results.filter((r) => r.latencyMs);
if (lat.length > 0) {
  console.log('\nlatency, send to receive (ms; first messages of the run left out as warm-up):\n');
  console.log(table(['scenario', 'count', 'p50', 'p90', 'p99', 'p99.9', 'max', 'receipt p50', 'receipt p99', 'max burst'],
    lat.map((r) => [r.scenario, fmt(r.latencyMs.count), fmt(r.latencyMs.p50, 3), fmt(r.latencyMs.p90, 3), fmt(r.latencyMs.p99, 3),
      fmt(r.latencyMs.p999, 3), fmt(r.latencyMs.max, 3), r.receiptMs ? fmt(r.receiptMs.p50, 3) : '-',
      r.receiptMs ? fmt(r.receiptMs.p99, 3) : '-', fmt(r.maxBurst)])));
}
for (const e of errors) console.log(`\nFAILED ${e.scenario}: ${e.error}`);
if (opts.profile) console.log(`\nbroker CPU profiles in ${opts.profile} (summarise: node bench/profile-top.js ${opts.profile}/broker-np.cpuprofile)`);
if (opts.json) console.log(JSON.stringify({ machine: { ...machine, loadAverage: load }, options: { ...opts, profile: undefined }, results, errors }));
process.exit(errors.length > 0 ? 1 : 0);
