#!/usr/bin/env node
// Replicated LevelDB store: node bench/replicated.js [--count N (20000)] [--window W (1000)] [--kills K (5)] [--sync S (quorum_disk)] [--json]
// Needs Debian's zookeeper package (jars in /usr/share/java); starts a private ZooKeeper on a free loopback port.
//  1. Throughput: N persistent 1 KiB sends (W in flight, each answered once stored) to one plain node, then to the
//     master of three replicated nodes (sync S), in the same run; the figure is the ratio (target >= 0.5).
//  2. Failover: SIGKILL the master K times; time from the kill to a new master accepting TCP connections on its
//     client port. Each round the killed node is restarted and caught up first, so every round is 3 nodes.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { firstAccept, freePort, nodeLog, now, ROOT, stopProcess, track } from './lib.js';

const USAGE = 'usage: node bench/replicated.js [--count N] [--window W] [--kills K] [--sync quorum_disk|quorum_mem|local_disk] [--json]';

function parseArgs(argv) {
  const o = { count: 20000, window: 1000, kills: 5, sync: 'quorum_disk', json: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--json') o.json = true;
    else if (a === '--sync') o.sync = argv[++i];
    else if (['--count', '--window', '--kills'].includes(a)) {
      const n = Number(argv[++i]);
      if (!Number.isInteger(n) || n < 1) throw new Error(`${a} needs a positive integer`);
      o[a.slice(2)] = n;
    } else throw new Error(`unknown option ${a}\n${USAGE}`);
  }
  return o;
}

async function startZooKeeper(dir) {
  const port = await freePort();
  const cfg = join(dir, 'zoo.cfg');
  writeFileSync(cfg, `tickTime=500\ndataDir=${join(dir, 'zk')}\nclientPort=${port}\nclientPortAddress=127.0.0.1\nadmin.enableServer=false\nmaxClientCnxns=0\n`);
  const jars = ['/usr/share/java/zookeeper.jar', '/usr/share/java/zookeeper-jute.jar'].join(':');
  const child = track(spawn('java', ['-Xmx128m', '-cp', jars, 'org.apache.zookeeper.server.quorum.QuorumPeerMain', cfg], { stdio: 'ignore' }));
  await firstAccept(port, 30000);
  return { address: `127.0.0.1:${port}`, child };
}

/** A `ferrymq start`; `waitFor(pred)` resolves with the first log record (from `from` on) matching. */
function startNode({ dir, port, conf }) {
  const args = [join(ROOT, 'bin', 'ferrymq'), 'start', '--no-console', '--data', dir, '--transport', `tcp://127.0.0.1:${port}`, ...(conf ? ['--conf', conf] : [])];
  const child = track(spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] }));
  const { records, waitFor, exited } = nodeLog(child, `node on ${port}`);
  return { child, port, records, waitFor, exited };
}

const msg = (r) => String(r.msg);

/** N persistent 1 KiB sends, W in flight; msg/s from the first send to the last receipt. */
async function produce(url, n, w) {
  const { connect: fm } = await import(join(ROOT, 'dist', 'index.js'));
  const c = await fm(url);
  const body = Buffer.alloc(1024, 0x61);
  const t0 = now();
  let inflight = [];
  for (let i = 0; i < n; i++) {
    inflight.push(c.send('queue://bench-rep', body));
    if (inflight.length >= w) await Promise.all(inflight.splice(0, w / 2));
  }
  await Promise.all(inflight);
  const s = (now() - t0) / 1000;
  await c.close();
  return n / s;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const dir = mkdtempSync(join(tmpdir(), 'ferrymq-bench-rep-'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  const zk = await startZooKeeper(dir);
  const load = loadavg()[0].toFixed(2);

  // 1. One plain node, then the replicated group, same N and window.
  const single = startNode({ dir: join(dir, 'single'), port: await freePort() });
  await single.waitFor((r) => /^broker .* started/.test(msg(r)), 'single node started');
  const singleRate = await produce(`tcp://127.0.0.1:${single.port}`, o.count, o.window);
  await stopProcess(single.child);

  const nodes = [];
  for (const name of ['a', 'b', 'c']) {
    const d = join(dir, name);
    const conf = join(dir, `${name}.xml`);
    writeFileSync(conf, `<broker brokerName="rep-${name}"><persistenceAdapter><replicatedLevelDB replicas="3" zkAddress="${zk.address}" zkPath="/bench" zkSessionTimeout="2s" sync="${o.sync}"/></persistenceAdapter></broker>`);
    nodes.push({ name: `rep-${name}`, dir: d, conf, port: await freePort(), proc: null });
  }
  for (const n of nodes) n.proc = startNode(n);
  const masterOf = (live) =>
    Promise.race(live.map((n) => n.proc.waitFor((r) => msg(r).endsWith('started (master)'), `${n.name} master`).then(() => n)));
  let master = await masterOf(nodes);
  for (const r of nodes.filter((n) => n !== master)) await master.proc.waitFor((x) => msg(x).startsWith(`replica ${r.name} caught up`), `${r.name} caught up`);
  const repRate = await produce(`tcp://127.0.0.1:${master.port}`, o.count, o.window);

  // 2. Failover, K times.
  const failovers = [];
  for (let k = 0; k < o.kills; k++) {
    const others = nodes.filter((n) => n !== master);
    const killedAt = now();
    master.proc.child.kill('SIGKILL');
    const next = await Promise.race(others.map((n) => firstAccept(n.port, 30000).then((at) => ({ n, at }))));
    failovers.push(next.at - killedAt);
    process.stderr.write(`kill ${k + 1}: ${next.n.name} accepting ${(next.at - killedAt).toFixed(0)} ms after SIGKILL of ${master.name}\n`);
    await master.proc.exited;
    const dead = master;
    master = next.n;
    await master.proc.waitFor((r) => msg(r).endsWith('started (master)'), `${master.name} master`);
    const from = master.proc.records.length;
    dead.proc = startNode(dead);
    await master.proc.waitFor((r) => msg(r).startsWith(`replica ${dead.name} caught up`), `${dead.name} caught up`, 60000, from);
  }
  await Promise.all(nodes.map((n) => stopProcess(n.proc.child)));
  await stopProcess(zk.child);

  const fig = {
    cores: cpus().length,
    loadavg1: Number(load),
    count: o.count,
    window: o.window,
    sync: o.sync,
    singleMsgS: Math.round(singleRate),
    replicatedMsgS: Math.round(repRate),
    ratio: +(repRate / singleRate).toFixed(2),
    failoverMedianMs: Math.round(median(failovers)),
    failoverMs: failovers.map((x) => Math.round(x)),
  };
  process.stdout.write(
    `persistent 1 KiB, ${o.count} sends, window ${o.window}: one node ${fig.singleMsgS} msg/s, three replicated (${o.sync}) ` +
      `${fig.replicatedMsgS} msg/s = ${fig.ratio} of one node (target >= 0.5)\n` +
      `failover SIGKILL -> new master accepting: median ${fig.failoverMedianMs} ms of ${o.kills} (${fig.failoverMs.join(', ')} ms; ` +
      `ZooKeeper session timeout 2000 ms)\n${fig.cores} cores, load average ${load} at start\n`,
  );
  if (o.json) process.stdout.write(`${JSON.stringify(fig)}\n`);
}

main().catch((err) => {
  process.stderr.write(`replicated bench failed: ${err.stack ?? err}\n`);
  process.exit(1);
});
