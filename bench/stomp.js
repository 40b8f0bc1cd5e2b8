#!/usr/bin/env node
// STOMP throughput through stompit (npm): persistent 1 KiB messages, W sends in flight (each receipted once the broker
// has fsync'd it), one consumer in ack:auto. The native-protocol counterpart is `node bench/run.js --only p`.
//   npx tsc -p . && node bench/stomp.js [--count N] [--size B] [--window W] [--prefetch P] [--json]
// Standalone on purpose (bench/run.js is someone else's file): it starts its own broker with a tcp:// and a stomp://
// connector, forks itself as producer and consumer (separate processes, as run.js does), and cleans up on exit.
// FERRYMQ_BENCH_BROKER_NODE_ARGS adds node flags to the broker, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof".
import { fork, spawn } from 'node:child_process';
import { connect as netConnect } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import stompit from 'stompit';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const now = () => performance.timeOrigin + performance.now();
const DEST = '/queue/bench.stomp';

function parseArgs(argv) {
  const o = { count: 50000, size: 1024, window: 1000, prefetch: 1000, json: false, client: 'stompit' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--json') o.json = true;
    else if (a === '--client') {
      o.client = argv[++i];
      if (o.client !== 'stompit' && o.client !== 'raw') throw new Error(`--client is stompit or raw, got ${o.client}`);
    }
    else if (['--count', '--size', '--window', '--prefetch'].includes(a)) {
      const n = Number(argv[++i]);
      if (!Number.isInteger(n) || n <= 0) throw new Error(`${a} needs a positive integer, got ${argv[i]}`);
      o[a.slice(2)] = n;
    } else throw new Error(`unknown option ${a}\nusage: node bench/stomp.js [--client stompit|raw] [--count N] [--size B] [--window W] [--prefetch P] [--json]`);
  }
  return o;
}

function stompConnect(port) {
  return new Promise((resolve, reject) => {
    const connectHeaders = { host: 'localhost', 'heart-beat': '10000,10000' };
    stompit.connect({ host: '127.0.0.1', port, connectHeaders }, (err, client) => (err ? reject(err) : resolve(client)));
  });
}

/**
 * A minimal STOMP 1.2 client over a bare socket (ferrymq's own frame parser and encoder, from dist/), for
 * `--client raw`: it costs far less CPU than stompit, so on two cores the broker's STOMP side is what is measured.
 */
async function rawConnect(port, onFrame) {
  const { StompParser } = await import('../dist/transport/stomp/parser.js');
  const { encodeFrame } = await import('../dist/transport/stomp/encoder.js');
  const socket = netConnect({ host: '127.0.0.1', port });
  socket.setNoDelay(true);
  const parser = new StompParser();
  parser.version = '1.2';
  let connected;
  const ready = new Promise((r) => (connected = r));
  socket.on('data', (chunk) =>
    parser.push(chunk, (f) => {
      if (f.command === 'CONNECTED') connected();
      else if (f.command === 'ERROR') fatal(new Error(f.headers.get('message')));
      else onFrame(f);
    }),
  );
  socket.on('error', fatal);
  socket.write(encodeFrame('CONNECT', [['accept-version', '1.2'], ['host', 'localhost'], ['heart-beat', '0,0']], null, null));
  await ready;
  let parts = [];
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    const out = Buffer.concat(parts);
    parts = [];
    return socket.write(out);
  };
  return {
    send: (command, headers, body) => {
      parts.push(encodeFrame(command, headers, body, '1.2'));
      if (!scheduled) {
        scheduled = true;
        process.nextTick(flush);
      }
    },
    close: () => socket.end(),
  };
}

async function rawProducer(cfg) {
  let inflight = 0;
  let wake = null;
  const c = await rawConnect(cfg.port, (f) => {
    if (f.command === 'RECEIPT') {
      inflight--;
      if (wake) wake();
    }
  });
  const body = Buffer.alloc(cfg.size, 0x61);
  process.send({ type: 'ready' });
  await new Promise((r) => process.once('message', r));
  const t0 = now();
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < cfg.count; i++) {
    while (inflight >= cfg.window) await new Promise((r) => (wake = r));
    inflight++;
    c.send('SEND', [['destination', DEST], ['persistent', 'true'], ['receipt', String(i)]], body);
  }
  while (inflight > 0) await new Promise((r) => (wake = r));
  const cpu = process.cpuUsage(cpu0);
  process.send({ type: 'result', firstSend: t0, lastReceipt: now(), cpuMs: (cpu.user + cpu.system) / 1000 });
  c.close();
  process.exit(0);
}

async function rawConsumer(cfg) {
  let received = 0;
  let badSize = 0;
  let cpu0 = null;
  const c = await rawConnect(cfg.port, (f) => {
    if (f.command === 'RECEIPT') return process.send({ type: 'ready' });
    if (f.command !== 'MESSAGE') return;
    cpu0 ??= process.cpuUsage();
    if (f.body.length !== cfg.size) badSize++;
    if (++received === cfg.count) {
      const cpu = process.cpuUsage(cpu0);
      process.send({ type: 'result', lastRecv: now(), received, badSize, cpuMs: (cpu.user + cpu.system) / 1000 });
      c.close();
      setTimeout(() => process.exit(0), 100);
    }
  });
  c.send('SUBSCRIBE', [['id', '1'], ['destination', DEST], ['ack', 'auto'], ['activemq.prefetchSize', String(cfg.prefetch)], ['receipt', 'sub']], null);
}

/** Producer process: W persistent sends in flight, each released by its RECEIPT. */
async function producer(cfg) {
  const client = await stompConnect(cfg.port);
  client.on('error', (err) => fatal(err));
  const body = Buffer.alloc(cfg.size, 0x61);
  process.send({ type: 'ready' });
  await new Promise((r) => process.once('message', r));
  const t0 = now();
  const cpu0 = process.cpuUsage();
  let inflight = 0;
  let wake = null;
  const done = () => {
    inflight--;
    if (wake) wake();
  };
  for (let i = 0; i < cfg.count; i++) {
    while (inflight >= cfg.window) await new Promise((r) => (wake = r));
    inflight++;
    client.send({ destination: DEST, persistent: 'true', 'content-length': String(cfg.size) }, { onReceipt: done }).end(body);
  }
  while (inflight > 0) await new Promise((r) => (wake = r));
  const cpu = process.cpuUsage(cpu0);
  process.send({ type: 'result', firstSend: t0, lastReceipt: now(), cpuMs: (cpu.user + cpu.system) / 1000 });
  client.disconnect(() => process.exit(0));
}

/** Consumer process: ack:auto, counts messages and checks their size. */
async function consumer(cfg) {
  const client = await stompConnect(cfg.port);
  client.on('error', (err) => fatal(err));
  let received = 0;
  let badSize = 0;
  let cpu0 = null;
  client.subscribe({ destination: DEST, ack: 'auto', 'activemq.prefetchSize': String(cfg.prefetch) }, (err, m) => {
    if (err) return fatal(err);
    cpu0 ??= process.cpuUsage();
    let len = 0;
    m.on('data', (d) => (len += d.length));
    m.on('end', () => {
      if (len !== cfg.size) badSize++;
      if (++received === cfg.count) {
        const cpu = process.cpuUsage(cpu0);
        process.send({ type: 'result', lastRecv: now(), received, badSize, cpuMs: (cpu.user + cpu.system) / 1000 });
        client.disconnect(() => process.exit(0));
      }
    });
  });
  // A receipted frame after SUBSCRIBE: the subscription exists once it is answered.
  client.send({ destination: '/queue/bench.sync' }, { onReceipt: () => process.send({ type: 'ready' }) }).end('');
}

function fatal(err) {
  process.send?.({ type: 'error', message: String(err?.message ?? err) });
  process.exit(1);
}

/** The broker, with a tcp:// and a stomp:// connector on ephemeral ports; resolves with the STOMP port. */
function startBroker(dataDir, children) {
  const child = spawn(process.execPath, [...(process.env.FERRYMQ_BENCH_BROKER_NODE_ARGS ?? '').split(' ').filter(Boolean), join(ROOT, 'bin', 'ferrymq'), 'start', '--no-console', '--data', dataDir,
    '--transport', 'tcp://127.0.0.1:0', '--transport', 'stomp://127.0.0.1:0'], { cwd: dataDir, env: { ...process.env, FERRYMQ_LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  return new Promise((resolve, reject) => {
    let port = 0;
    const timer = setTimeout(() => reject(new Error('broker did not start within 20 s')), 20000);
    child.once('exit', (code) => reject(new Error(`broker exited (${code}) before it started`)));
    createInterface({ input: child.stdout }).on('line', (line) => {
      let l;
      try {
        l = JSON.parse(line);
      } catch {
        return;
      }
      if (typeof l.url === 'string' && l.url.startsWith('stomp://')) port = Number(new URL(l.url).port);
      if (/broker .* started/.test(String(l.msg)) && port > 0) {
        clearTimeout(timer);
        resolve({ port, pid: child.pid });
      }
    });
  });
}

function worker(role, cfg, children) {
  const child = fork(fileURLToPath(import.meta.url), ['--role', role, JSON.stringify(cfg)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  children.push(child);
  const inbox = [];
  let waiting = null;
  child.on('message', (m) => {
    inbox.push(m);
    waiting?.();
  });
  const next = async (type, ms) => {
    const deadline = Date.now() + ms;
    for (;;) {
      const err = inbox.find((m) => m.type === 'error');
      if (err) throw new Error(`${role}: ${err.message}`);
      const i = inbox.findIndex((m) => m.type === type);
      if (i >= 0) return inbox.splice(i, 1)[0];
      if (Date.now() > deadline) throw new Error(`${role}: no ${type} within ${ms} ms`);
      await new Promise((r) => {
        waiting = r;
        setTimeout(r, 200);
      });
    }
  };
  return { child, next };
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const children = [];
  const dataDir = mkdtempSync(join(tmpdir(), 'ferrymq-bench-stomp-'));
  process.on('exit', () => {
    for (const c of children) c.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });
  for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130));
  const { port } = await startBroker(dataDir, children);
  const cfg = { port, count: opts.count, size: opts.size, window: opts.window, prefetch: opts.prefetch, client: opts.client };
  const cons = worker('consumer', cfg, children);
  await cons.next('ready', 20000);
  const prod = worker('producer', cfg, children);
  await prod.next('ready', 20000);
  prod.child.send({ type: 'go' });
  const limit = 120000 + opts.count * 2;
  const [pr, cr] = await Promise.all([prod.next('result', limit), cons.next('result', limit)]);
  if (cr.badSize > 0) throw new Error(`${cr.badSize} messages arrived with a body size other than ${opts.size}`);
  const secs = (cr.lastRecv - pr.firstSend) / 1000;
  const row = {
    scenario: 'stomp-p',
    label: `STOMP (${opts.client === 'raw' ? 'raw socket client' : 'stompit'}), persistent queue, window ${opts.window}, consumer ack:auto prefetch ${opts.prefetch}`,
    messages: opts.count,
    seconds: secs,
    msgPerSec: opts.count / secs,
    mibPerSec: (opts.count * opts.size) / secs / 1024 / 1024,
    producerMsgPerSec: opts.count / ((pr.lastReceipt - pr.firstSend) / 1000),
    producerCpuPercent: Math.round((pr.cpuMs / 1000 / secs) * 100),
    consumerCpuPercent: Math.round((cr.cpuMs / 1000 / secs) * 100),
  };
  const f = (n, d = 0) => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
  console.log(`\nferrymq STOMP bench: ${f(row.messages)} x ${opts.size} B: ${f(row.msgPerSec)} msg/s end to end (${f(row.mibPerSec, 1)} MiB/s), ` +
    `producer ${f(row.producerMsgPerSec)} msg/s incl. receipts, ${f(secs, 2)} s; CPU producer ${row.producerCpuPercent}%, consumer ${row.consumerCpuPercent}%\n${row.label}`);
  if (opts.json) console.log(JSON.stringify({ node: process.version, results: [row] }));
  // A graceful stop, so a broker run with FERRYMQ_BENCH_BROKER_NODE_ARGS="--cpu-prof ..." writes its profile.
  const broker = children[0];
  await new Promise((resolve) => {
    const t = setTimeout(resolve, 10000);
    broker.once('exit', () => { clearTimeout(t); resolve(); });
    broker.kill('SIGTERM');
  });
  process.exit(0);
}

const roleAt = process.argv.indexOf('--role');
if (roleAt >= 0) {
  const cfg = JSON.parse(process.argv[roleAt + 2]);
  process.on('disconnect', () => process.exit(1)); // the parent is gone
  const raw = cfg.client === 'raw';
  const role = process.argv[roleAt + 1];
  (role === 'producer' ? (raw ? rawProducer : producer) : raw ? rawConsumer : consumer)(cfg).catch(fatal);
} else {
  main().catch((err) => {
    console.error(`bench/stomp.js: ${err.stack ?? err}`);
    process.exit(1);
  });
}
