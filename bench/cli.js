#!/usr/bin/env node
// The CLI tools against the bench, in one run: `ferrymq consumer` and `ferrymq producer` as processes (start-up
// included) beside `bench/run.js --only np,p`.   usage: node bench/cli.js [--count N] [--rounds R] [--json]
import { spawn } from 'node:child_process';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { deadline, now, ROOT, startBroker } from './lib.js';

const o = { count: 200000, rounds: 1, json: false, size: 1024 };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (a === '--json') o.json = true;
  else if (a === '--count' || a === '--rounds' || a === '--size') o[a.slice(2)] = Math.floor(Number(argv[++i]));
  else {
    console.error('usage: node bench/cli.js [--count N] [--rounds R] [--size B] [--json]');
    process.exit(2);
  }
}

const BIN = join(ROOT, 'bin', 'ferrymq');

/** Run a process to its end; resolves with its stdout, rejects on a non-zero exit. */
function run(cmd, args, what, ms = 300000) {
  return deadline(new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${what} exited ${code}: ${err.slice(0, 500)}`))));
  }), ms, what);
}
const lastJson = (out) => JSON.parse(out.trim().split('\n').pop());

/** Consumer and producer launched together; msg/s = N / (launch → the consumer's exit with N received). */
async function cliRound(url, persistent) {
  const dest = `queue://cli-${persistent ? 'p' : 'np'}-${Math.random().toString(36).slice(2, 8)}`;
  const t0 = now();
  const consumer = run(process.execPath, [BIN, 'consumer', '--url', url, '--destination', dest, '--count', String(o.count), '--json'], 'ferrymq consumer');
  const producer = run(process.execPath, [BIN, 'producer', '--url', url, '--destination', dest, '--count', String(o.count), '--size', String(o.size),
    persistent ? '--persistent' : '--no-persistent', '--json'], 'ferrymq producer');
  const [c, p] = await Promise.all([consumer, producer]);
  const wall = now() - t0;
  const cr = lastJson(c);
  if (cr.unique !== o.count) throw new Error(`consumer received ${cr.unique} unique of ${o.count}`);
  return { msgPerSec: Math.round(o.count / (wall / 1000)), wallMs: Math.round(wall), producerRate: lastJson(p).rate, consumerRate: cr.rate };
}

const rows = [];
for (let r = 0; r < o.rounds; r++) {
  const bench = lastJson(await run(process.execPath, [join(ROOT, 'bench', 'run.js'), '--only', 'np,p', '--count', String(o.count), '--size', String(o.size), '--json'], 'bench/run.js', 600000));
  const rate = (s) => { const v = bench.results.find((x) => x.scenario === s || x.scenario.startsWith(`${s} `))?.msgPerSec; return v === undefined ? null : Math.round(v); };
  const broker = await startBroker();
  try {
    for (const persistent of [false, true]) {
      const cli = await cliRound(broker.url, persistent);
      const ref = rate(persistent ? 'p' : 'np');
      rows.push({ round: r + 1, kind: persistent ? 'p' : 'np', bench: ref, ...cli, ratio: ref ? Number((cli.msgPerSec / ref).toFixed(2)) : null });
    }
  } finally {
    await broker.stop();
  }
}

const load = (await import('node:os')).loadavg().map((l) => l.toFixed(1)).join(' ');
console.log(`\nferrymq CLI tools vs bench: ${cpus().length} cores, ${o.count} x ${o.size} B, load average ${load}\n`);
console.log('round  kind  bench msg/s  CLI msg/s (wall)  ratio  producer msg/s  consumer msg/s');
for (const x of rows) {
  console.log(`${String(x.round).padEnd(5)}  ${x.kind.padEnd(4)}  ${String(x.bench).padStart(11)}  ${String(x.msgPerSec).padStart(16)}  ${String(x.ratio).padStart(5)}  ${String(x.producerRate).padStart(14)}  ${String(x.consumerRate).padStart(14)}`);
}
if (o.json) console.log(JSON.stringify({ cores: cpus().length, count: o.count, size: o.size, load, rows }));
