import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { Teardown } from './broker.js';

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Run a command to its end in its own process group, with a deadline. The whole group (the command and
 * whatever it started in the background) is SIGKILLed at the deadline and at teardown if still there.
 */
export function runToEnd(
  t: Teardown,
  cmd: string,
  args: string[],
  opts: { timeoutMs: number; cwd?: string; env?: Record<string, string> },
): Promise<RunResult> {
  const proc = spawn(cmd, args, {
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const pgid = proc.pid!;
  const killGroup = (): void => {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      // the group is gone already
    }
  };
  let stdout = '';
  let stderr = '';
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup();
  }, opts.timeoutMs);
  t.teardown(killGroup);
  return new Promise((resolve) => {
    proc.once('close', (code, signal) => {
      clearTimeout(timer);
      if (timedOut) stderr += `\n[killed: still running after ${opts.timeoutMs} ms]`;
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/**
 * Where the kernel picks the local ports of outgoing connections (and of `listen(0)`): Linux's
 * net.ipv4.ip_local_port_range, 32768–60999 by default.
 */
function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > 2048 ? low : 32768;
  } catch {
    return 32768;
  }
}

/** Try binding `port` on 127.0.0.1: resolves it when that worked (and the listener is closed again), else null. */
function tryPort(port: number): Promise<number | null> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(null));
    s.listen({ host: '127.0.0.1', port }, () => {
      const bound = (s.address() as { port: number }).port;
      s.close(() => resolve(bound));
    });
  });
}

/**
 * A TCP port free on 127.0.0.1 right now, for scripts and configs that need a literal port rather than 0. Taken
 * below the kernel's ephemeral range: a port pinned for a broker that is down for a while (a standby, one killed and
 * restarted on the same port) could otherwise become the local port of any outgoing connection on the machine
 * meanwhile, and the broker then fails to start with EADDRINUSE (seen in CI's replicated test).
 */
export async function freePort(): Promise<number> {
  const high = ephemeralLow() - 1;
  const low = Math.max(1025, high - 12000);
  for (let i = 0; i < 50; i++) {
    const port = await tryPort(low + Math.floor(Math.random() * (high - low + 1)));
    if (port !== null) return port;
  }
  const port = await tryPort(0);
  if (port === null) throw new Error('no free TCP port on 127.0.0.1');
  return port;
}
