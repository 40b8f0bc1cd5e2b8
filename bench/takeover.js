#!/usr/bin/env node
// Shared-store master/slave takeover: node bench/takeover.js [--kills N] [--backlog M] [--json]
// Two `ferrymq start` on one data directory; SIGKILL whichever is master, N times, and time SIGKILL -> the standby
// accepting TCP connections on its port (a connect() succeeding). After each kill a fresh standby is started on the
// killed node's port, so every round is "master + waiting slave". See bench/README.md.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { firstAccept, freePort, nodeLog, ROOT, stopProcess, track } from './lib.js';

/** Wall-clock ms, to compare with the brokers' log times. */
const now = () => Date.now();

const USAGE = 'usage: node bench/takeover.js [--kills N (10)] [--backlog M persistent messages stored first (10000)] [--json]';

function parseArgs(argv) {
  const o = { kills: 10, backlog: 10000, json: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--json') o.json = true;
    else if (a === '--kills' || a === '--backlog') {
      const n = Number(argv[++i]);
      if (!Number.isInteger(n) || n < 0) throw new Error(`${a} needs a non-negative integer`);
      o[a.slice(2)] = n;
    } else throw new Error(`unknown option ${a}\n${USAGE}`);
  }
  return o;
}

/** A `ferrymq start` on `dir` and `port`; `waitFor(pred)` resolves with the first log record matching. */
function startNode(dir, port) {
  const args = [join(ROOT, 'bin', 'ferrymq'), 'start', '--no-console', '--data', dir, '--transport', `tcp://127.0.0.1:${port}`];
  const child = track(spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] }));
  const { waitFor, exited } = nodeLog(child, `node on ${port}`, { failOnExit: true });
  return { child, port, waitFor, exited };
}

const msg = (r) => String(r.msg);

async function fillBacklog(port, n) {
  if (n === 0) return;
  const { connect: fmConnect } = await import(join(ROOT, 'dist', 'index.js'));
  const c = await fmConnect(`tcp://127.0.0.1:${port}`);
  const body = Buffer.alloc(1024, 1);
  let window = [];
  for (let i = 0; i < n; i++) {
    window.push(c.send('queue://takeover', body));
    if (window.length >= 500) await Promise.all(window.splice(0));
  }
  await Promise.all(window);
  await c.close();
}

function pct(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))];
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const dir = mkdtempSync(join(tmpdir(), 'ferrymq-takeover-'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  const ports = [await freePort(), await freePort()];
  let master = startNode(dir, ports[0]);
  await master.waitFor((r) => msg(r).startsWith('broker ') && msg(r).includes(' started'), 'master started');
  await fillBacklog(ports[0], o.backlog);
  let standby = startNode(dir, ports[1]);
  await standby.waitFor((r) => msg(r).startsWith('waiting for the lock'), 'standby waiting');
  const rounds = [];
  for (let k = 0; k < o.kills; k++) {
    // A random moment, not right after the standby's latest attempt: otherwise every round would wait a full
    // lockAcquireSleepInterval (the new standby is the next to take over, and it has just tried).
    await new Promise((r) => setTimeout(r, 300 + Math.random() * 1000));
    const killedAt = now();
    master.child.kill('SIGKILL');
    let diedAt = 0;
    void master.exited.then(() => (diedAt = now()));
    const acceptedAt = await firstAccept(standby.port, 20000, now);
    const opened = await standby.waitFor((r) => msg(r).startsWith('store open:'), 'store open');
    const free = await standby.waitFor((r) => msg(r).startsWith('lock on '), 'lock free');
    const listening = await standby.waitFor((r) => msg(r).includes('listening'), 'listening');
    // Log times are Date.now() ms in the standby: where the time went (kill -> lock free -> store open -> listening).
    const at = (r) => (r.time - killedAt).toFixed(0);
    rounds.push({ ms: acceptedAt - killedAt, storeOpenMs: opened.ms, recovered: opened.recovered });
    process.stderr.write(
      `kill ${k + 1}: standby on ${standby.port} accepting ${(acceptedAt - killedAt).toFixed(1)} ms after SIGKILL ` +
        `(master reaped at ${(diedAt - killedAt).toFixed(0)}) ` +
        `(lock free at ${at(free)}, store open at ${at(opened)} [${opened.ms} ms, ${opened.recovered} recovered], listening at ${at(listening)})\n`,
    );
    await master.exited;
    const next = startNode(dir, master.port);
    await next.waitFor((r) => msg(r).startsWith('waiting for the lock'), 'new standby waiting');
    master = standby;
    standby = next;
  }
  await Promise.all([stopProcess(master.child), stopProcess(standby.child)]);
  const ms = rounds.map((r) => r.ms).sort((a, b) => a - b);
  const fig = {
    kills: o.kills,
    backlog: o.backlog,
    medianMs: +pct(ms, 50).toFixed(1),
    maxMs: +ms[ms.length - 1].toFixed(1),
    minMs: +ms[0].toFixed(1),
    storeOpenMsMedian: pct(rounds.map((r) => r.storeOpenMs).sort((a, b) => a - b), 50),
    targetMs: 500,
  };
  process.stdout.write(
    `takeover, SIGKILL -> standby accepting, ${o.kills} kills, ${o.backlog} stored messages: median ${fig.medianMs} ms, ` +
      `min ${fig.minMs} ms, max ${fig.maxMs} ms (target < 500 ms median); store open + recovery median ${fig.storeOpenMsMedian} ms\n`,
  );
  if (o.json) process.stdout.write(`${JSON.stringify(fig)}\n`);
  if (fig.medianMs >= fig.targetMs) process.exitCode = 1;
}

main().catch((err) => {
  process.stderr.write(`takeover bench failed: ${err.stack ?? err}\n`);
  process.exit(1);
});
