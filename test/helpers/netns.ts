import { spawn, spawnSync } from 'node:child_process';
import { networkInterfaces } from 'node:os';

const NETNS_ENV = 'FERRYMQ_TEST_NETNS';

export type NetnsResult =
  /** This is the copy inside the namespace: run the tests. */
  | { inside: true }
  /** This is the original process: the copy ran (its output passed through), or it could not (skip with `skip`). */
  | { inside: false; skip?: string };

/**
 * Multicast tests must never send anywhere but a private network: the test file calls this first, and the original
 * process re-runs the same file under `unshare -n` (a fresh network namespace holding only `lo`, brought up), with
 * stdout/stderr passed through and its exit code taken over. Everything the copy starts (brokers, clients) lives in
 * that namespace, so 127.0.0.1 there is private too. Needs root (CAP_SYS_ADMIN); otherwise says why to skip.
 */
export async function inPrivateNetns(): Promise<NetnsResult> {
  if (process.env[NETNS_ENV] === '1') {
    // Belt and braces: refuse to multicast if the namespace is not the private one we asked for.
    const nics = Object.keys(networkInterfaces());
    if (nics.some((n) => n !== 'lo')) throw new Error(`${NETNS_ENV}=1 but interfaces ${nics.join(', ')} are visible: not a private netns`);
    return { inside: true };
  }
  if (process.getuid?.() !== 0) return { inside: false, skip: 'multicast tests run in a private network namespace (unshare -n), which needs root' };
  const probe = spawnSync('unshare', ['-n', 'sh', '-c', 'ip link set lo up'], { encoding: 'utf8' });
  if (probe.error !== undefined || probe.status !== 0) {
    return { inside: false, skip: `cannot make a network namespace (unshare -n; ip link set lo up): ${probe.error?.message ?? probe.stderr.trim()}` };
  }
  const node = [process.execPath, ...process.execArgv, process.argv[1]!, ...process.argv.slice(2)];
  const child = spawn('unshare', ['-n', 'sh', '-c', 'ip link set lo up && exec "$@"', 'sh', ...node], {
    stdio: 'inherit',
    env: { ...process.env, [NETNS_ENV]: '1' },
  });
  const forward = (sig: NodeJS.Signals): void => void child.kill(sig);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, forward);
  const code = await new Promise<number>((resolve) => child.once('exit', (c, sig) => resolve(c ?? (sig !== null ? 1 : 0))));
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.off(sig, forward);
  process.exitCode = code;
  return { inside: false };
}
