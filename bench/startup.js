#!/usr/bin/env node
// Start-up and idle memory: launch → port open for `ferrymq start`, beside a bare `node` that listens (the floor)
// and `nats-server` when it is on the PATH; the wall time of `ferrymq producer --count 1`; the idle broker's RSS.
//   usage: node bench/startup.js [--runs N] [--json]        (see bench/README.md)
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { now, procCpuMs, ROOT, stopProcess } from './lib.js';

const o = { runs: 15, json: false };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === '--json') o.json = true;
  else if (argv[i] === '--runs') o.runs = Math.max(1, Math.floor(Number(argv[++i])));
  else {
    console.error('usage: node bench/startup.js [--runs N] [--json]');
    process.exit(2);
  }
}
const BIN = join(ROOT, 'bin', 'ferrymq');
const DEADLINE_MS = 20000;

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}
const canConnect = (port) =>
  new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
const onPath = (cmd) => (process.env.PATH ?? '').split(delimiter).some((d) => spawnSync('test', ['-x', join(d, cmd)]).status === 0);
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

/** Spawn, then try to connect every 2 ms until the port accepts: ms from spawn to the first accepted connect. */
async function launch(cmd, args, port) {
  const t0 = now();
  const child = spawn(cmd, args, { stdio: 'ignore' });
  let exited = false;
  child.once('exit', () => (exited = true));
  try {
    while (!(await canConnect(port))) {
      if (exited) throw new Error(`${cmd} ${args.join(' ')} exited before its port opened`);
      if (now() - t0 > DEADLINE_MS) throw new Error(`${cmd}: port ${port} not open within ${DEADLINE_MS} ms`);
      await new Promise((r) => setTimeout(r, 2));
    }
    // The CPU the launch took, which a busy machine inflates far less than the wall time.
    return { ms: now() - t0, cpuMs: procCpuMs(child.pid), child };
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
}

const subjects = [
  { name: 'node (listen only, the floor)', args: (port) => [process.execPath, ['-e', `require('net').createServer().listen(${port}, '127.0.0.1')`]] },
  { name: 'ferrymq start', args: (port, dir) => [process.execPath, [BIN, 'start', '--transport', `tcp://127.0.0.1:${port}`, '--data', dir, '--no-console']] },
];
if (onPath('nats-server')) subjects.push({ name: 'nats-server', args: (port) => ['nats-server', ['-a', '127.0.0.1', '-p', String(port)]] });

// First, one broker, idle: its memory once started and settled, and a one-message producer's whole run against it.
// Run first because it also warms up: bin/ferrymq keeps a V8 code cache per command, written by the first run of
// the command once it has done its start-up work (2 s in), as it would be on any machine after the first start.
const port = await freePort();
const dir = mkdtempSync(join(tmpdir(), 'ferrymq-startup-'));
const { child: broker } = await launch(process.execPath, [BIN, 'start', '--transport', `tcp://127.0.0.1:${port}`, '--data', dir, '--no-console'], port);
const producerMs = [];
let rss;
try {
  await new Promise((r) => setTimeout(r, 2000));
  const status = readFileSync(`/proc/${broker.pid}/status`, 'utf8');
  const kb = (k) => Number(new RegExp(`${k}:\\s+(\\d+) kB`).exec(status)?.[1] ?? NaN) / 1024;
  rss = { rss: kb('VmRSS'), anon: kb('RssAnon'), file: kb('RssFile') };
  for (let i = 0; i < o.runs; i++) {
    const t0 = now();
    const r = spawnSync(process.execPath, [BIN, 'producer', '--url', `tcp://127.0.0.1:${port}`, '--destination', 'queue://startup', '--count', '1'], { stdio: ['ignore', 'ignore', 'pipe'] });
    if (r.status !== 0) throw new Error(`ferrymq producer --count 1 exited ${r.status}: ${r.stderr}`);
    producerMs.push(now() - t0);
  }
} finally {
  await stopProcess(broker, 10000);
  rmSync(dir, { recursive: true, force: true });
}

const times = new Map(subjects.map((s) => [s.name, []]));
const cpuTimes = new Map(subjects.map((s) => [s.name, []]));
for (let i = 0; i < o.runs; i++) {
  for (const s of subjects) {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'ferrymq-startup-'));
    try {
      const [cmd, args] = s.args(port, dir);
      const { ms, cpuMs, child } = await launch(cmd, args, port);
      times.get(s.name).push(ms);
      cpuTimes.get(s.name).push(cpuMs);
      await stopProcess(child, 5000);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

const floor = median(times.get(subjects[0].name));
const load = loadavg().map((l) => l.toFixed(1)).join(' ');
console.log(`\nferrymq start-up: ${cpus().length} cores, node ${process.version}, median of ${o.runs} alternating launches, load average ${load}\n`);
const cpuFloor = median(cpuTimes.get(subjects[0].name));
console.log('what                                   median ms   min ms   × floor   CPU ms  CPU × floor');
for (const [name, xs] of times) {
  const c = median(cpuTimes.get(name));
  console.log(`${name.padEnd(37)}  ${median(xs).toFixed(0).padStart(9)}  ${Math.min(...xs).toFixed(0).padStart(7)}  ${(median(xs) / floor).toFixed(2).padStart(8)}  ${c.toFixed(0).padStart(7)}  ${(c / cpuFloor).toFixed(2).padStart(11)}`);
}
console.log(`${'ferrymq producer --count 1 (whole run)'.padEnd(37)}  ${median(producerMs).toFixed(0).padStart(9)}  ${Math.min(...producerMs).toFixed(0).padStart(7)}  ${(median(producerMs) / floor).toFixed(2).padStart(8)}`);
console.log(`\nidle broker (2 s after its port opened): RSS ${rss.rss.toFixed(1)} MiB (anon ${rss.anon.toFixed(1)}, file ${rss.file.toFixed(1)})`);
if (o.json) {
  const m = Object.fromEntries([...times].map(([k, xs]) => [k, Math.round(median(xs))]));
  const c = Object.fromEntries([...cpuTimes].map(([k, xs]) => [k, median(xs)]));
  console.log(JSON.stringify({ cores: cpus().length, runs: o.runs, load, medianMs: m, cpuMs: c, producerCount1Ms: Math.round(median(producerMs)), idleRssMiB: rss }));
}
