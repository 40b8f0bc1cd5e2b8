import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import t from 'tap';
import { BIN } from '../helpers/broker.js';

/** Three consecutive free ports on 127.0.0.1 (the demo puts A, B and C on base, base+1, base+2). */
async function freeRun(): Promise<number> {
  const free = (port: number): Promise<boolean> =>
    new Promise((resolve) => {
      const s = createServer();
      s.once('error', () => resolve(false));
      s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
    });
  for (let i = 0; i < 50; i++) {
    const base = 20_000 + Math.floor(Math.random() * 40_000);
    if ((await free(base)) && (await free(base + 1)) && (await free(base + 2))) return base;
  }
  throw new Error('no three consecutive free ports found');
}

t.test('the kill-the-master demo in the tutorial topology: nothing lost, nothing doubled, messages reach the new master', async (t) => {
  const base = await freeRun();
  const child = spawn(process.execPath, [BIN, 'demo', '--count', '3000', '--rate', '1500', '--base-port', String(base), '--json'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  const last = out.trim().split('\n').pop() ?? '';
  let v: Record<string, number | null>;
  try {
    v = JSON.parse(last) as Record<string, number | null>;
  } catch {
    t.fail(`no verdict; stdout: ${out} stderr: ${err}`);
    return;
  }
  t.equal(v['sent'], 3000, 'every message sent and receipted by A');
  t.equal(v['received'], 3000, 'every one received once, on B or on C after the takeover');
  t.equal(v['lost'], 0, 'lost 0');
  t.equal(v['duplicates'], 0, 'duplicates 0');
  t.type(v['takeoverMs'], 'number', 'C took the lock');
  t.ok((v['takeoverMs'] as number) < 5000, `takeover in ${v['takeoverMs']} ms (generous bound; bench/takeover.js measures it)`);
  t.equal(code, 0, 'the demo exits 0');
});
