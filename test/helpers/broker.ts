import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const BIN = join(ROOT, 'bin', 'ferrymq');

/** Anything with a teardown hook: tap's `t`. */
export interface Teardown {
  teardown(fn: () => unknown): void;
}

export interface BrokerProcess {
  proc: ChildProcess;
  /** tcp://127.0.0.1:PORT of its first connector. */
  url: string;
  port: number;
  dataDir: string;
  /** Every log line (parsed JSON) so far. */
  logs: Record<string, unknown>[];
  /** Resolves with the first log line matching. */
  waitForLog(pred: (l: Record<string, unknown>) => boolean, what: string, timeoutMs?: number): Promise<Record<string, unknown>>;
  kill(signal?: NodeJS.Signals): Promise<number | null>;
  exited: Promise<number | null>;
}

export interface StartOptions {
  /** Port to bind; 0 (default) lets the kernel choose. Pin the first run's port before a restart. */
  port?: number;
  dataDir?: string;
  args?: string[];
  /** Extra transport URI query, e.g. `maximumConnections=2`. */
  query?: string;
  env?: Record<string, string>;
  /** Do not wait for "started" (for config-error tests). */
  noWait?: boolean;
  /** A command the broker runs under, e.g. `['unshare', '-m', …]`: it is given node and its arguments to exec. */
  wrap?: string[];
  /** No `--transport` flag: the config file's connectors are used (e.g. ones with a discoveryUri). */
  noTransport?: boolean;
  /** Serve the web console on port 0 (default: `--no-console`); its URL is read back by test/helpers/console.ts. */
  console?: boolean;
}

/** What one test started: every process is killed before any directory is removed. */
interface Started {
  kills: (() => Promise<unknown>)[];
  dirs: string[];
}
const started = new WeakMap<Teardown, Started>();

function registry(t: Teardown): Started {
  let s = started.get(t);
  if (s === undefined) {
    const st: Started = { kills: [], dirs: [] };
    started.set(t, st);
    t.teardown(async () => {
      await Promise.all(st.kills.map((k) => k()));
      for (const d of st.dirs) rmSync(d, { recursive: true, force: true, maxRetries: 5 });
    });
    s = st;
  }
  return s;
}

/** A fresh temporary data directory, removed at teardown (after the test's brokers are dead). */
export function tempDir(t: Teardown, prefix = 'ferrymq-'): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  registry(t).dirs.push(d);
  return d;
}

/**
 * Start a real broker process (`bin/ferrymq start`) on 127.0.0.1, wait until it logs that it started, and read
 * its port back from the log. The process is SIGKILLed at teardown if still running.
 */
export async function startBroker(t: Teardown, opts: StartOptions = {}): Promise<BrokerProcess> {
  const dataDir = opts.dataDir ?? tempDir(t);
  const q = opts.query ? `?${opts.query}` : '';
  const transport = opts.noTransport ? [] : ['--transport', `tcp://127.0.0.1:${opts.port ?? 0}${q}`];
  const consoleArgs = opts.console === true ? ['--console-port', '0'] : ['--no-console'];
  const args = [BIN, 'start', ...consoleArgs, '--data', dataDir, ...transport, ...(opts.args ?? [])];
  const [file, ...pre] = opts.wrap ?? [];
  const proc = spawn(file ?? process.execPath, file === undefined ? args : [...pre, process.execPath, ...args], {
    cwd: dataDir,
    env: { ...process.env, FERRYMQ_LOG_LEVEL: 'info', ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Record<string, unknown>[] = [];
  const waiters: { pred: (l: Record<string, unknown>) => boolean; resolve: (l: Record<string, unknown>) => void }[] = [];
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  createInterface({ input: proc.stdout! }).on('line', (line) => {
    let l: Record<string, unknown>;
    try {
      l = JSON.parse(line) as Record<string, unknown>;
    } catch {
      l = { msg: line };
    }
    logs.push(l);
    for (const w of [...waiters]) {
      if (w.pred(l)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(l);
      }
    }
  });
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  let alive = true;
  void exited.then(() => (alive = false));
  registry(t).kills.push(async () => {
    if (alive) {
      proc.kill('SIGKILL');
      await exited;
    }
  });
  const waitForLog = (pred: (l: Record<string, unknown>) => boolean, what: string, timeoutMs = 15_000): Promise<Record<string, unknown>> => {
    const hit = logs.find(pred);
    if (hit) return Promise.resolve(hit);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`broker: no log line "${what}" within ${timeoutMs} ms; stderr: ${stderr}`)), timeoutMs);
      const w = {
        pred,
        resolve: (l: Record<string, unknown>) => {
          clearTimeout(timer);
          resolve(l);
        },
      };
      waiters.push(w);
      void exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`broker exited (code ${code}) before "${what}"; stderr: ${stderr}`));
      });
    });
  };
  const b: BrokerProcess = {
    proc,
    url: '',
    port: 0,
    dataDir,
    logs,
    waitForLog,
    exited,
    kill: async (signal = 'SIGKILL') => {
      if (alive) proc.kill(signal);
      return exited;
    },
  };
  if (opts.noWait) return b;
  const listening = await waitForLog((l) => typeof l['url'] === 'string' && String(l['msg']).includes('listening'), 'listening');
  await waitForLog((l) => String(l['msg']).includes('started'), 'started');
  b.url = listening['url'] as string;
  b.port = Number(new URL(b.url).port);
  return b;
}

/**
 * {@link startBroker} with a second connector, `stomp://127.0.0.1:0` (`stompQuery` as its URI query), after the
 * usual tcp one (`--transport` is repeatable). The STOMP port is read from that connector's "listening" log line.
 */
export async function startStompBroker(
  t: Teardown,
  opts: StartOptions & { stompQuery?: string } = {},
): Promise<BrokerProcess & { stompUrl: string; stompPort: number }> {
  const q = opts.stompQuery ? `?${opts.stompQuery}` : '';
  const b = await startBroker(t, { ...opts, args: [...(opts.args ?? []), '--transport', `stomp://127.0.0.1:0${q}`] });
  const l = await b.waitForLog(
    (l) => typeof l['url'] === 'string' && String(l['url']).startsWith('stomp://') && String(l['msg']).includes('listening'),
    'stomp connector listening',
  );
  const stompUrl = String(l['url']);
  return Object.assign(b, { stompUrl, stompPort: Number(new URL(stompUrl).port) });
}
