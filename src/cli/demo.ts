import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import { type Connection, type ConnectionStatus, connect } from '../client/connection.js';
import { parseIntOption } from './util.js';
import { fromRoot } from '../root.js';

const BIN = fromRoot('bin/ferrymq');
const CONF = fromRoot('conf/');

interface DemoOptions {
  count: number;
  rate: number;
  basePort: number;
  killAt: number;
  json?: boolean;
  keep?: boolean;
}

/** One node of the demo, with its log lines as they come. */
interface Node {
  name: string;
  proc: ChildProcess;
  lines: { at: number; msg: string; rec: Record<string, unknown> }[];
  waiters: { pred: (msg: string, rec: Record<string, unknown>) => boolean; resolve: (at: number) => void }[];
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * `ferrymq demo`: the tutorial's combined topology on this machine, and the headline promise tested live. Node A
 * (own store) bridges to B and C, which share one store: the first to lock it is master, the other waits. A
 * producer sends persistent messages to A; a consumer reads them with `failover:(B,C)`. Mid-stream the master is
 * killed with SIGKILL. The narration says what happened when; the verdict line counts: sent, received unique,
 * lost, duplicates, takeover time. Exit code 0 only when nothing was lost and nothing doubled.
 */
export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('kill-the-master demo: tutorial topology (A; B+C sharing a store), producer on A, failover consumer on B/C')
    .option('--count <n>', 'persistent messages to send', parseIntOption('--count', 1, 10_000_000), 10_000)
    .option('--rate <n>', 'messages per second', parseIntOption('--rate', 1, 1_000_000), 2000)
    .option('--kill-at <n>', 'kill the master after this many messages were sent (default: 40 %)', parseIntOption('--kill-at', 0, 10_000_000))
    .option('--base-port <port>', 'A listens here, B and C on the next two ports (the tutorial: 61616)', parseIntOption('--base-port', 1, 65533), 61616)
    .option('--json', 'print the verdict as one JSON object')
    .option('--keep', 'keep the data directory')
    .action(async (opts: DemoOptions) => {
      const verdict = await runDemo(opts);
      process.exit(verdict.lost === 0 && verdict.duplicates === 0 ? 0 : 1);
    });
}

async function runDemo(opts: DemoOptions): Promise<{ lost: number; duplicates: number }> {
  const t0 = Date.now();
  const say = (s: string): void => {
    if (!opts.json) process.stdout.write(`[${((Date.now() - t0) / 1000).toFixed(2).padStart(6)} s] ${s}\n`);
  };
  const dir = mkdtempSync(join(tmpdir(), 'ferrymq-demo-'));
  const [pa, pb, pc] = [opts.basePort, opts.basePort + 1, opts.basePort + 2];
  const tcp = (p: number): string => `tcp://127.0.0.1:${p}`;
  const nodes: Node[] = [];
  const start = (name: string, conf: string, port: number, network: string): Node => {
    // The tutorial's config files, with the ports moved when --base-port says so; data under the demo's directory.
    const proc = spawn(
      process.execPath,
      [BIN, 'start', '--conf', join(CONF, conf), '--transport', `${tcp(port)}?maximumConnections=1000`, '--network', network, '--no-console'],
      { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FERRYMQ_LOG_LEVEL: 'info' } },
    );
    const n: Node = { name, proc, lines: [], waiters: [] };
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      let rec: Record<string, unknown>;
      try {
        rec = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return;
      }
      const msg = String(rec['msg'] ?? '');
      const at = Date.now();
      n.lines.push({ at, msg, rec });
      for (const w of [...n.waiters]) {
        if (w.pred(msg, rec)) {
          n.waiters.splice(n.waiters.indexOf(w), 1);
          w.resolve(at);
        }
      }
    });
    nodes.push(n);
    return n;
  };
  const waitFor = (n: Node, what: string, pred: (msg: string, rec: Record<string, unknown>) => boolean, ms = 20_000): Promise<number> => {
    const hit = n.lines.find((l) => pred(l.msg, l.rec));
    if (hit) return Promise.resolve(hit.at);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${n.name}: no "${what}" within ${ms} ms`)), ms);
      n.waiters.push({
        pred,
        resolve: (at) => {
          clearTimeout(timer);
          resolve(at);
        },
      });
      n.proc.once('exit', (code) => reject(new Error(`${n.name} exited (code ${code}) before "${what}"`)));
    });
  };
  let producer: Connection | null = null;
  let consumer: Connection | null = null;
  try {
    say(`data in ${dir}; node A on ${pa}, B on ${pb} and C on ${pc} (B and C share data/tutorial-bc/kahadb)`);
    const a = start('A', 'tutorial-a.xml', pa, `static:(${tcp(pb)},${tcp(pc)})`);
    await waitFor(a, 'started', (m) => m.startsWith('broker ') && m.includes(' started'));
    const b = start('B', 'tutorial-b.xml', pb, `static:(${tcp(pa)})`);
    await waitFor(b, 'started', (m) => m.startsWith('broker ') && m.includes(' started'));
    say('B took the lock on the shared store: master, serving');
    const c = start('C', 'tutorial-c.xml', pc, `static:(${tcp(pa)})`);
    await waitFor(c, 'waiting for the lock', (m) => m.startsWith('waiting for the lock'));
    say('C is waiting for the lock: slave, no port open');
    await waitFor(a, 'bridge to B', (m, r) => m.includes(' up: ') && r['remoteBroker'] === 'tutorial-b');
    say('A bridges to B');

    let killedAt = 0;
    consumer = await connect(`failover:(${tcp(pb)},${tcp(pc)})?randomize=false&initialReconnectDelay=10&maxReconnectDelay=500`, {
      onStatus: (s: ConnectionStatus) => {
        if (s.type === 'resumed' && killedAt > 0) say(`consumer failed over to ${s.url} ${Date.now() - killedAt} ms after the kill`);
      },
    });
    const sub = await consumer.subscribe('queue://demo', { ack: 'client', prefetch: 100 });
    await waitFor(a, 'demand', (m) => m.startsWith('demand for queue://demo'));
    say('consumer on failover:(B,C), connected to B; A forwards queue://demo to B');
    producer = await connect(tcp(pa));

    const seen = new Map<string, number>();
    let duplicates = 0;
    let redelivered = 0;
    let lastAt = Date.now();
    const consuming = (async () => {
      while (seen.size < opts.count) {
        const m = await sub.receive(15_000);
        if (m === null) break;
        const k = m.text;
        const n = seen.get(k) ?? 0;
        if (n > 0) duplicates++;
        if (m.redelivered) redelivered++;
        seen.set(k, n + 1);
        lastAt = Date.now();
        m.ack();
      }
    })();

    const killAt = opts.killAt ?? Math.floor(opts.count * 0.4);
    let sent = 0;
    let failed = 0;
    const inflight = new Set<Promise<void>>();
    const gap = 1000 / opts.rate;
    say(`producing ${opts.count} persistent messages to A at ${opts.rate}/s; the master dies after ${killAt}`);
    for (let i = 0; i < opts.count; i++) {
      if (i === killAt) {
        killedAt = Date.now();
        b.proc.kill('SIGKILL');
        say(`SIGKILL to B (pid ${b.proc.pid}), the master, with ${seen.size} received so far`);
        void waitFor(c, 'lock', (m) => m.startsWith('lock acquired')).then((at) => say(`C took the lock ${at - killedAt} ms after the kill`));
        void waitFor(a, 'bridge to C', (m, r) => m.includes(' up: ') && r['remoteBroker'] === 'tutorial-c').then((at) =>
          say(`A's bridge reached C ${at - killedAt} ms after the kill`),
        );
      }
      const p = producer.send('queue://demo', `m${i}`).then(
        () => void sent++,
        () => void failed++,
      );
      inflight.add(p);
      void p.finally(() => inflight.delete(p));
      if (inflight.size >= 200) await Promise.race(inflight);
      await sleep(gap);
    }
    await Promise.all(inflight);
    say(`producer done: ${sent} sent and receipted by A${failed > 0 ? `, ${failed} failed` : ''}`);
    const takeoverAt = c.lines.find((l) => l.msg.startsWith('lock acquired'))?.at ?? 0;
    await consuming;
    const lost = sent - [...seen.keys()].length;
    const result = {
      sent,
      received: seen.size,
      lost: Math.max(0, lost),
      duplicates,
      redelivered,
      takeoverMs: takeoverAt > 0 ? takeoverAt - killedAt : null,
      lastMessageAfterKillMs: lastAt - killedAt,
    };
    if (opts.json) process.stdout.write(`${JSON.stringify(result)}\n`);
    else {
      say(
        `verdict: sent ${result.sent}, received ${result.received} unique, lost ${result.lost}, duplicates ${result.duplicates}, ` +
          `takeover in ${result.takeoverMs ?? '?'} ms`,
      );
    }
    return result;
  } finally {
    await producer?.close().catch(() => {});
    await consumer?.close().catch(() => {});
    for (const n of nodes) if (n.proc.exitCode === null && n.proc.signalCode === null) n.proc.kill('SIGTERM');
    await Promise.all(nodes.map((n) => (n.proc.exitCode !== null || n.proc.signalCode !== null ? null : new Promise((r) => n.proc.once('exit', r)))));
    if (!opts.keep) rmSync(dir, { recursive: true, force: true });
  }
}
