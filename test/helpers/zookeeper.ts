/*
 * A private standalone ZooKeeper for one test: Debian's `zookeeper` package (jars in /usr/share/java; .ci/run
 * installs it), on a free loopback port with a temporary data directory, stopped by its PID at teardown.
 */
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { type Teardown, tempDir } from './broker.js';
import { freePort } from './proc.js';

const JARS = ['/usr/share/java/zookeeper.jar', '/usr/share/java/zookeeper-jute.jar'];

export interface ZooKeeper {
  /** host:port, for zkAddress. */
  address: string;
  pid: number;
}

/** Whether the Debian package is there (the tests that need it skip with a reason otherwise). */
export function zookeeperInstalled(): boolean {
  return JARS.every((j) => existsSync(j));
}

function accepting(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** Start ZooKeeper and wait (at most 30 s: a JVM on a busy 2-core machine) until it accepts connections. */
export async function startZooKeeper(t: Teardown): Promise<ZooKeeper> {
  const dir = tempDir(t, 'ferrymq-zk-');
  const port = await freePort();
  const cfg = join(dir, 'zoo.cfg');
  // tickTime 500: sessions of 1–10 s are allowed (2..20 ticks), so a test can use a short session timeout.
  writeFileSync(
    cfg,
    [`tickTime=500`, `dataDir=${join(dir, 'data')}`, `clientPort=${port}`, 'clientPortAddress=127.0.0.1', 'admin.enableServer=false', 'maxClientCnxns=0', ''].join('\n'),
  );
  const proc = spawn('java', ['-Xmx128m', '-cp', JARS.join(':'), 'org.apache.zookeeper.server.quorum.QuorumPeerMain', cfg], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  let alive = true;
  void exited.then(() => (alive = false));
  t.teardown(async () => {
    if (alive) {
      process.kill(proc.pid!, 'SIGKILL');
      await exited;
    }
  });
  const deadline = Date.now() + 30_000;
  while (!(await accepting(port))) {
    if (!alive) throw new Error(`ZooKeeper exited before accepting on port ${port}: ${stderr}`);
    if (Date.now() > deadline) throw new Error(`ZooKeeper not accepting on 127.0.0.1:${port} within 30 s: ${stderr}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { address: `127.0.0.1:${port}`, pid: proc.pid! };
}
