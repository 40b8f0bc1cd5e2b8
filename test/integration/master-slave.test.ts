/*
 * Shared-store master/slave with real processes: two `ferrymq start` on one data directory. The first holds
 * LevelDB's LOCK and serves; the other waits with no port open, takes over when the master is SIGKILLed, and a
 * master that loses its lock (LOCK removed, or master.json naming someone else) stops serving and exits 3.
 * A probe loop checks throughout that the two ports never accept connections at the same time.
 */
import { spawn } from 'node:child_process';
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { connect } from '../../src/index.js';
import { BIN, type BrokerProcess, startBroker, type Teardown, tempDir } from '../helpers/broker.js';
import { freePort } from '../helpers/proc.js';

/** Whether something accepts a TCP connection on the port right now. */
function accepting(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = netConnect({ host: '127.0.0.1', port });
    const done = (v: boolean): void => {
      clearTimeout(timer);
      s.destroy();
      resolve(v);
    };
    const timer = setTimeout(() => done(false), 1000);
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

/** Probe both ports together every few ms until stopped; counts rounds in which both accepted. */
function probe(ports: [number, number]): {
  /** Resolves once port i has been seen accepting. */
  seen(i: 0 | 1, timeoutMs: number): Promise<void>;
  stop(): Promise<{ rounds: number; both: number; accepted: [number, number] }>;
} {
  let running = true;
  const r = { rounds: 0, both: 0, accepted: [0, 0] as [number, number] };
  const loop = (async () => {
    while (running) {
      const [a, b] = await Promise.all(ports.map(accepting));
      r.rounds++;
      if (a) r.accepted[0]++;
      if (b) r.accepted[1]++;
      if (a && b) r.both++;
      await new Promise((res) => setTimeout(res, 5));
    }
  })();
  return {
    seen: async (i, timeoutMs) => {
      const deadline = Date.now() + timeoutMs;
      while (r.accepted[i] === 0) {
        if (Date.now() > deadline) throw new Error(`probe: port ${ports[i]} not seen accepting within ${timeoutMs} ms`);
        await new Promise((res) => setTimeout(res, 10));
      }
    },
    stop: async () => {
      running = false;
      await loop;
      return r;
    },
  };
}

const msgOf = (l: Record<string, unknown>): string => String(l['msg']);

/** Start a node on `dir` that is expected to wait for the lock; resolves once it says so. */
async function startSlave(t: Teardown, dir: string, port: number, args: string[] = []): Promise<BrokerProcess> {
  const b = await startBroker(t, { dataDir: dir, port, noWait: true, args });
  await b.waitForLog((l) => msgOf(l).startsWith('waiting for the lock on'), 'waiting for the lock');
  return b;
}

/** `ferrymq dstat` (human output) against a URL. */
function dstat(url: string): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [BIN, 'dstat', '--url', url], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => (p.kill('SIGKILL'), reject(new Error('dstat did not exit within 15 s'))), 15_000);
    p.once('exit', (code) => (clearTimeout(timer), resolve({ code, out })));
  });
}

t.test('a slave waits with no port open, logs who holds the lock once, and ends at once on SIGTERM', async (t) => {
  const dir = tempDir(t);
  // A keep-alive every 50 ms: if a check ever opened and closed LOCK (dropping the master's POSIX lock), the slave
  // would get in during the wait below.
  const master = await startBroker(t, { dataDir: dir, args: ['--lock-keep-alive-period', '50'] });
  t.ok(master.logs.some((l) => msgOf(l) === `lock acquired on ${join(dir, 'leveldb')}: master (epoch 1)`), 'master says so');
  const sPort = await freePort();
  const slave = await startSlave(t, dir, sPort);
  const waiting = slave.logs.find((l) => msgOf(l).startsWith('waiting for the lock'))!;
  t.equal(msgOf(waiting), `waiting for the lock on ${join(dir, 'leveldb')} (held by pid ${master.proc.pid} on ${hostname()})`);
  t.equal(await accepting(sPort), false, `nothing accepts on the slave's port ${sPort}`);
  // Let several retry intervals (200 ms) and keep-alive checks pass: still one line, still no listener.
  await new Promise((r) => setTimeout(r, 700));
  t.equal(slave.logs.filter((l) => msgOf(l).includes('waiting for the lock')).length, 1, 'the wait is logged once');
  t.notOk(slave.logs.some((l) => msgOf(l).includes('listening')), 'the slave logs no listener');
  t.equal(await accepting(sPort), false, 'still nothing on the slave port');

  const d = await dstat(master.url);
  t.equal(d.code, 0, `dstat exits 0: ${d.out.slice(0, 200)}`);
  t.match(d.out, new RegExp(`^Name .*\\n(.*\\n)*Broker localhost: master of ${join(dir, 'leveldb')} \\(epoch 1, since `), 'dstat shows the role');
  const ds = await dstat(`tcp://127.0.0.1:${sPort}`);
  t.equal(ds.code, 1, 'dstat against the slave port fails');
  t.match(ds.out, /a slave waiting for its store lock opens no port/);

  const t0 = Date.now();
  const code = await slave.kill('SIGTERM');
  const took = Date.now() - t0;
  t.equal(code, 0, 'clean exit');
  t.ok(took < 3000, `SIGTERM to a waiting slave: exited in ${took} ms`);
  t.ok(await accepting(master.port), 'the master is unaffected');
});

t.test('kill -9 the master mid-stream: the slave serves within seconds; every receipted message consumed once', async (t) => {
  const dir = tempDir(t);
  const [pA, pB] = [await freePort(), await freePort()];
  const a = await startBroker(t, { dataDir: dir, port: pA });
  const b = await startSlave(t, dir, pB);
  t.equal(await accepting(pB), false, 'slave port closed while waiting');
  const probing = probe([pA, pB]);
  const url = `failover:(tcp://127.0.0.1:${pA},tcp://127.0.0.1:${pB})?randomize=false&initialReconnectDelay=10&maxReconnectDelay=100`;
  const producer = await connect(url);
  const consumer = await connect(url);
  t.teardown(() => Promise.all([producer.close(), consumer.close()]));
  const sub = await consumer.subscribe('queue://ha', { prefetch: 100 });

  const N = 4000;
  const seen = new Map<string, number>();
  const consuming = (async () => {
    while (seen.size < N) {
      const m = await sub.receive(30_000);
      if (m === null) break;
      seen.set(m.text, (seen.get(m.text) ?? 0) + 1);
    }
  })();
  const receipted = new Set<string>();
  let killedAt = 0;
  let window: Promise<void>[] = [];
  for (let i = 0; i < N; i++) {
    const body = `m${i}`;
    window.push(producer.send('queue://ha', body).then(() => void receipted.add(body)));
    if (i === 1500) {
      killedAt = Date.now();
      a.proc.kill('SIGKILL');
    }
    if (window.length >= 100) {
      await Promise.all(window);
      window = [];
    }
  }
  await Promise.all(window);
  const listening = await b.waitForLog((l) => msgOf(l).includes('listening'), 'slave listening after takeover', 20_000);
  const takeoverMs = Number(listening['time']) - killedAt;
  t.ok(takeoverMs < 5000, `slave listening ${takeoverMs} ms after the SIGKILL`);
  t.equal(await a.exited, null, 'master died of the signal');
  t.ok(b.logs.some((l) => msgOf(l).endsWith('master (epoch 2)')), 'slave took the lock as epoch 2');
  await consuming;
  await probing.seen(1, 5000);
  const p = await probing.stop();

  t.equal(receipted.size, N, `all ${N} sends receipted`);
  const missing = [...receipted].filter((m) => !seen.has(m));
  t.strictSame(missing.slice(0, 10), [], 'every receipted message consumed');
  t.equal([...seen.values()].filter((n) => n > 1).length, 0, 'none consumed twice');
  t.equal(seen.size, N);
  t.equal(p.both, 0, `never two accepting (${p.rounds} probe rounds)`);
  t.ok(p.accepted[0] > 0 && p.accepted[1] > 0, `the probe saw each port accept (${p.accepted.join('/')})`);
  t.equal(producer.connectedUrl, `tcp://127.0.0.1:${pB}`, 'the client moved to the new master');
});

/** Master and slave on one dir with fast lock timings; the probe runs while `act` makes the master lose its lock. */
async function loseLock(t: Teardown & Tap, act: (storeDir: string) => void, why: RegExp): Promise<void> {
  const dir = tempDir(t);
  const [pA, pB] = [await freePort(), await freePort()];
  const timings = ['--lock-keep-alive-period', '200', '--lock-acquire-sleep-interval', '50'];
  const a = await startBroker(t, { dataDir: dir, port: pA, args: timings });
  const b = await startSlave(t, dir, pB, timings);
  const probing = probe([pA, pB]);
  act(join(dir, 'leveldb'));
  const lost = await a.waitForLog((l) => msgOf(l).startsWith('lost the lock on'), 'master: lost the lock', 10_000);
  t.match(msgOf(lost), why, 'the master logs why');
  t.equal(lost['level'], 50, 'at error level');
  t.equal(await a.exited, 3, 'the master exits 3');
  t.equal(await accepting(pA), false, 'the old master port is closed');
  await b.waitForLog((l) => msgOf(l).includes('listening'), 'slave listening after the master stepped down', 15_000);
  await probing.seen(1, 5000);
  const p = await probing.stop();
  t.equal(p.both, 0, `never two accepting (${p.rounds} probe rounds)`);
  t.ok(p.accepted[0] > 0 && p.accepted[1] > 0, `the probe saw each port accept (${p.accepted.join('/')})`);
  const c = await connect(`tcp://127.0.0.1:${pB}`);
  t.equal((await c.info()).role, 'master', 'INFO says master');
  await c.close();
}
type Tap = Parameters<Parameters<typeof t.test>[1]>[0];

t.test('LOCK removed under the master: it stops serving and exits 3; the slave serves after it', async (t) => {
  await loseLock(t, (d) => rmSync(join(d, 'LOCK')), /LOCK was (removed|replaced)|names another master/);
});

t.test('master.json naming another master: the master stops serving and exits 3; the slave serves after it', async (t) => {
  await loseLock(
    t,
    (d) => {
      const rec = { broker: 'intruder', host: 'elsewhere', pid: 1, token: 'not-yours', epoch: 99, since: Date.now() };
      writeFileSync(join(d, 'master.json.test'), JSON.stringify(rec));
      renameSync(join(d, 'master.json.test'), join(d, 'master.json'));
    },
    /master\.json names another master: intruder pid 1 on elsewhere \(epoch 99\)/,
  );
});
