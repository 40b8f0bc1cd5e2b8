#!/usr/bin/env node
// "Queues deeper than memory": node bench/deep.js [--count N] [--size B] [--window W] [--json] (see bench/README.md)
// Fill a queue nobody consumes with N persistent messages, crash the broker (SIGKILL), restart it on the same port
// and data dir, drain the queue, and watch the broker's RSS and the LevelDB directory throughout.
import { cpus, platform, release } from 'node:os';
import { cpSync, lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deadline, freePort, now, procCpuMs, startBroker, startWorker } from './lib.js';

const USAGE = `usage: node bench/deep.js [options]
  --count N        messages to enqueue, then drain (default 1000000)
  --size B         body bytes (default 1024, at least 8)
  --window W       persistent sends in flight (default 1000)
  --prefetch P     drain consumer prefetch (default 1000)
  --ref-rate R     plain persistent throughput, msg/s (the 'p' row of node bench/run.js --only p), for the
                   drain target (drain rate >= R/2); without it that target is not judged
  --shrink-wait S  after the drain, poll the data dir every 500 ms for up to S s for it to shrink (default 120)
  --compressible   bodies of 0x61 filler (as run.js sends) instead of random bytes LevelDB cannot compress
  --keep           keep the data dir (its path is printed) instead of removing it
  --profile DIR    run the restarted broker (the drain) and the drain consumer under node --cpu-prof, the profiles
                   written to DIR (broker-drain.cpuprofile, consumer-drain.cpuprofile)
  --save-full DIR  after the SIGKILL, copy the full data dir to DIR (a backlog to drain again with --from)
  --from DIR       skip the enqueue: drain a copy of DIR (saved by --save-full with the same --count and --size)
  --json           also print one JSON object as the last line`;

function parseArgs(argv) {
  const o = { count: 1_000_000, size: 1024, window: 1000, prefetch: 1000, refRate: null, shrinkWait: 120, compressible: false, keep: false, json: false };
  const num = (name, v) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} needs a positive number, got ${v}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    switch (a) {
      case '--count': o.count = Math.floor(num(a, val())); break;
      case '--size': o.size = Math.max(8, Math.floor(num(a, val()))); break;
      case '--window': o.window = Math.floor(num(a, val())); break;
      case '--prefetch': o.prefetch = Math.floor(num(a, val())); break;
      case '--ref-rate': o.refRate = num(a, val()); break;
      case '--shrink-wait': o.shrinkWait = num(a, val()); break;
      case '--compressible': o.compressible = true; break;
      case '--keep': o.keep = true; break;
      case '--profile': o.profile = val(); break;
      case '--save-full': o.saveFull = val(); break;
      case '--from': o.from = val(); break;
      case '--json': o.json = true; break;
      case '-h': case '--help': console.log(USAGE); process.exit(0); break; // eslint-disable-line no-fallthrough
      default: throw new Error(`unknown option ${a}\n${USAGE}`);
    }
  }
  if (o.count > 0xffffffff) throw new Error('--count: at most 2^32 - 1 (the sequence number is a uint32)');
  return o;
}

let opts;
try {
  opts = parseArgs(process.argv.slice(2));
} catch (err) {
  console.error(err.message);
  process.exit(2);
}

const MiB = 1024 * 1024;
const TARGET = { rssMiB: 300, restartReadyS: 5 };
const machine = { cores: cpus().length, cpu: cpus()[0]?.model ?? '?', node: process.version, os: `${platform()} ${release()}` };
const log = (s) => process.stderr.write(`deep: ${s}\n`);
const dest = 'queue://deep';
/** A deadline for a phase that moves N messages: 60 s plus 1 ms a message (i.e. no slower than 1000 msg/s). */
const phaseMs = 60_000 + opts.count;

/**
 * Resident set of a process, MiB, from /proc: {rss: VmRSS, anon: RssAnon (heap, buffers), file: RssFile (mapped
 * file pages: LevelDB mmaps its table files, so pages it reads count here too)}; null if it is gone.
 */
function memMiB(pid) {
  try {
    const st = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (name) => {
      const m = new RegExp(`${name}:\\s+(\\d+) kB`).exec(st);
      return m ? Number(m[1]) / 1024 : null;
    };
    const rss = kb('VmRSS');
    return rss === null ? null : { rss, anon: kb('RssAnon'), file: kb('RssFile') };
  } catch {
    return null;
  }
}
const rssMiB = (pid) => memMiB(pid)?.rss ?? null;

/** LevelDB table files (*.ldb) mapped into a process: {files, residentMiB} from /proc/PID/smaps; null if unreadable. */
function ldbMapped(pid) {
  try {
    let files = 0;
    let kb = 0;
    let inLdb = false;
    for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
      if (/^[0-9a-f]+-[0-9a-f]+ /.test(line)) {
        inLdb = line.endsWith('.ldb') || line.endsWith('.ldb (deleted)');
        if (inLdb) files++;
      } else if (inLdb && line.startsWith('Rss:')) kb += Number(/(\d+)/.exec(line)[1]);
    }
    return { files, residentMiB: kb / 1024 };
  } catch {
    return null;
  }
}

/** Disk usage of a directory tree, MiB, as du counts it (allocated blocks); null if it cannot be read. */
function duMiB(dir) {
  let bytes = 0;
  const walk = (d) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      try {
        const st = lstatSync(p);
        bytes += st.blocks * 512;
        if (st.isDirectory()) walk(p);
      } catch {
        // removed while we looked (LevelDB deletes obsolete files as it compacts)
      }
    }
  };
  try {
    walk(dir);
  } catch {
    return null;
  }
  return bytes / MiB;
}

/**
 * RSS of the current broker every 250 ms, each sample tagged with the phase it fell in; the data dir's size
 * every 1 s (while there is one).
 */
const samples = [];
const dirSamples = [];
let sampled = { pid: null, phase: 'idle' };
let dirToWatch = null;
let ticks = 0;
function sampleNow(pid, phaseName) {
  const m = memMiB(pid);
  if (m !== null) samples.push({ t: now(), phase: phaseName, ...m });
}
const sampler = setInterval(() => {
  if (sampled.pid !== null) sampleNow(sampled.pid, sampled.phase);
  if (dirToWatch !== null && ticks++ % 4 === 0) {
    const d = duMiB(dirToWatch);
    if (d !== null) dirSamples.push({ t: now(), phase: sampled.phase, mib: d });
  }
}, 250);
sampler.unref();
function phase(name, pid = sampled.pid) {
  // one sample at each boundary, so that a short phase has at least one
  if (sampled.pid !== null) sampleNow(sampled.pid, sampled.phase);
  sampled = { pid, phase: name };
  if (pid !== null) sampleNow(pid, name);
}
const maxOf = (xs) => (xs.length > 0 ? Math.max(...xs) : null);
/** Peak of `key` ('rss', 'anon' or 'file') over the samples of the phases named. */
const peak = (names, key = 'rss') => maxOf(samples.filter((s) => names.includes(s.phase) && s[key] !== null).map((s) => s[key]));
const peaks = (...names) => ({ peakRssMiB: peak(names), peakRssAnonMiB: peak(names, 'anon'), peakRssFileMiB: peak(names, 'file'),
  samples: samples.filter((s) => names.includes(s.phase)).length });
const dirPeak = (...names) => maxOf(dirSamples.filter((s) => names.includes(s.phase)).map((s) => s.mib));

/** Worker progress lines on stderr (the runs are long). */
function showProgress(w, what) {
  const t0 = now();
  w.child.on('message', (m) => {
    if (m && m.type === 'progress') log(`${what}: ${m.done.toLocaleString('en-US')} after ${((m.at - t0) / 1000).toFixed(1)} s, broker RSS ${fmt(rssMiB(sampled.pid) ?? NaN)} MiB (anon ${fmt(memMiB(sampled.pid)?.anon ?? NaN)}), dir ${fmt(dirSamples.at(-1)?.mib ?? NaN)} MiB`);
  });
}

const fig = {}; // every figure, for the table and the JSON line
const workers = [];
let broker = null;
let dataDir = null;
let failure = null;
let restartTail = null; // log of a restart that failed

async function run() {
  let port;
  if (opts.from) {
    // A saved backlog: the same restart and drain on a copy of it, without the minutes of the enqueue.
    dataDir = mkdtempSync(join(tmpdir(), 'ferrymq-bench-'));
    if (!opts.keep) process.on('exit', () => rmSync(dataDir, { recursive: true, force: true }));
    cpSync(opts.from, dataDir, { recursive: true });
    dirToWatch = dataDir;
    port = await freePort();
    fig.dir = { fullMiB: duMiB(dataDir) };
    log(`drain of a copy of ${opts.from} (${fmt(fig.dir.fullMiB, 1)} MiB) in ${dataDir}, port ${port}`);
  } else port = await fill();
  await restartAndDrain(port);
}

/** 1. Fill: fresh broker, producer only; then the crash. @returns the broker's port */
async function fill() {
  broker = await startBroker({ keepDir: true, timeoutMs: 30_000 });
  dataDir = broker.dataDir;
  dirToWatch = dataDir;
  if (!opts.keep) process.on('exit', () => rmSync(dataDir, { recursive: true, force: true }));
  const port = Number(new URL(broker.url).port);
  log(`broker pid ${broker.child.pid} at ${broker.url}, data dir ${dataDir}`);
  const prod = startWorker('deep-worker.js', { role: 'produce', url: broker.url, dest, count: opts.count, size: opts.size, window: opts.window, compressible: opts.compressible,
    maxMs: phaseMs + 30_000 }, 'producer');
  workers.push(prod);
  showProgress(prod, 'enqueued');
  await prod.next('ready', 20_000);
  const cpu0 = procCpuMs(broker.child.pid);
  phase('enqueue', broker.child.pid);
  prod.send({ type: 'go' });
  const pr = await prod.next('result', phaseMs);
  phase('full');
  const cpu1 = procCpuMs(broker.child.pid);
  await prod.stop();
  const enqS = (pr.lastSend - pr.firstSend) / 1000;
  fig.enqueue = { messages: opts.count, seconds: enqS, msgPerSec: opts.count / enqS, ...peaks('enqueue'), peakDirMiB: dirPeak('enqueue'),
    brokerCpuPercent: cpu0 !== null && cpu1 !== null ? Math.round((cpu1 - cpu0) / 10 / enqS) : null,
    producerBlockedLogLines: [...broker.counts].filter(([m]) => /producer blocked/.test(m)).reduce((a, [, n]) => a + n, 0) };
  log(`enqueued ${opts.count} in ${enqS.toFixed(1)} s`);

  // 2. Crash and measure the store.
  await new Promise((r) => setTimeout(r, 500)); // one more RSS sample of the full, idle broker
  const crashed = broker;
  phase('crash', null);
  const exited = new Promise((resolve) => crashed.child.once('exit', resolve));
  crashed.child.kill('SIGKILL');
  await deadline(exited, 10_000, 'broker exit after SIGKILL');
  fig.dir = { fullMiB: duMiB(dataDir) };
  log(`broker killed (SIGKILL); data dir ${fmt(fig.dir.fullMiB, 1)} MiB; restarting on port ${port}`);
  if (opts.saveFull) {
    cpSync(dataDir, opts.saveFull, { recursive: true });
    log(`full data dir saved to ${opts.saveFull}`);
  }
  return port;
}

/** 2. Restart on the same port and data dir with a consumer dialling meanwhile; 3. drain; 4. shrink. */
async function restartAndDrain(port) {

  const cons = startWorker('deep-worker.js', { role: 'drain', url: `tcp://127.0.0.1:${port}`, dest, count: opts.count, size: opts.size,
    prefetch: opts.prefetch, dialEveryMs: 20, firstWithinMs: 180_000, idleMs: 30_000, maxMs: 180_000 + phaseMs + 30_000 }, 'drain consumer',
    opts.profile ? ['--cpu-prof', `--cpu-prof-dir=${opts.profile}`, '--cpu-prof-name=consumer-drain.cpuprofile'] : undefined);
  workers.push(cons);
  showProgress(cons, 'drained');
  await cons.next('ready', 20_000); // dialling from now on
  try {
    const nodeArgs = opts.profile ? ['--cpu-prof', `--cpu-prof-dir=${opts.profile}`, '--cpu-prof-name=broker-drain.cpuprofile'] : [];
    broker = await startBroker({ nodeArgs, dataDir, port, keepDir: true, timeoutMs: 180_000, onSpawn: (child) => phase('restart', child.pid) });
  } catch (err) {
    restartTail = err.tail ?? null;
    throw err;
  }
  const spawnedAt = broker.spawnedAt;
  const connected = await cons.next('connected', 180_000);
  const first = await cons.next('first', 180_000);
  const drainCpu0 = procCpuMs(broker.child.pid);
  phase('drain');
  const mappedAtFirst = ldbMapped(broker.child.pid);
  const storeOpen = broker.log.find((r) => typeof r.msg === 'string' && r.msg.startsWith('store open:'));
  fig.restart = { ldbMappedAtFirstMessage: mappedAtFirst, storeOpenMs: storeOpen?.ms ?? null, recovered: broker.recovered, startedS: (broker.startedAt - spawnedAt) / 1000, portUpS: (connected.at - spawnedAt) / 1000,
    firstMessageS: (first.at - spawnedAt) / 1000, dialAttempts: connected.attempts };
  if (broker.recovered !== opts.count) throw new Error(`broker recovered ${broker.recovered} persistent messages, expected ${opts.count}`);
  log(`restarted: "started" after ${fmt(fig.restart.startedS, 2)} s, first message after ${fmt(fig.restart.firstMessageS, 2)} s, recovered ${broker.recovered}`);

  // 3. Drain.
  const cr = await cons.next('result', phaseMs);
  const drainCpu1 = procCpuMs(broker.child.pid);
  phase('drained');
  const mappedAfterDrain = ldbMapped(broker.child.pid);
  await cons.stop();
  const drainS = (cr.lastRecv - cr.firstRecv) / 1000;
  fig.drain = { messages: cr.unique, received: cr.received, duplicates: cr.duplicates, missing: cr.missing, outOfRange: cr.outOfRange,
    badBody: cr.badBody, outOfOrder: cr.outOfOrder, firstMissing: cr.firstMissing, seconds: drainS, msgPerSec: cr.unique / drainS,
    ...peaks('drain'), peakDirMiB: dirPeak('drain'), ldbMappedAtEnd: mappedAfterDrain,
    // CPU per message (all the process's threads) is steadier than msg/s on a shared machine.
    brokerCpuUsPerMsg: drainCpu0 !== null && drainCpu1 !== null ? ((drainCpu1 - drainCpu0) * 1000) / cr.unique : null,
    consumerCpuUsPerMsg: (cr.cpuMs * 1000) / cr.unique };
  Object.assign(fig.restart, peaks('restart'));
  fig.drain.brokerVmHwmMiB = vmHwm(broker.child.pid); // the restarted process's peak, restart and drain
  if (cr.missing > 0 || cr.duplicates > 0 || cr.outOfRange > 0 || cr.badBody > 0) {
    throw new Error(`drain: ${cr.unique} of ${opts.count} distinct messages (${cr.missing} missing, first missing #${cr.firstMissing}` +
      `${cr.timedOut ? ', consumer idle timeout' : ''}), ${cr.duplicates} duplicates, ${cr.outOfRange} out of range, ${cr.badBody} bad bodies; ` +
      `broker's stats of the queue: ${await queueStats(broker.url)}`);
  }
  log(`drained ${cr.unique} in ${drainS.toFixed(1)} s`);

  // 4. Does the store give the space back?
  fig.dir.afterDrainMiB = duMiB(dataDir);
  const full = fig.dir.fullMiB;
  const shrunk = (s) => s !== null && full !== null && s <= full * 0.25;
  let min = fig.dir.afterDrainMiB;
  const t0 = now();
  let shrunkAfterS = shrunk(min) ? 0 : null;
  while (shrunkAfterS === null && now() - t0 < opts.shrinkWait * 1000) {
    await new Promise((r) => setTimeout(r, 500));
    const s = duMiB(dataDir);
    if (s !== null && (min === null || s < min)) min = s;
    if (shrunk(s)) shrunkAfterS = (now() - t0) / 1000;
  }
  fig.dir.minAfterDrainMiB = min;
  fig.dir.shrunkAfterS = shrunkAfterS;
  fig.idle = peaks('drained');
  phase('stop', null);
  const stopT = now();
  await broker.stop(); // SIGTERM (the data dir is kept)
  fig.dir.afterStopMiB = duMiB(dataDir);
  fig.dir.stopS = (now() - stopT) / 1000;
  if (broker.child.signalCode === 'SIGKILL') throw new Error('broker did not stop on SIGTERM within 10 s (killed)');
}

function vmHwm(pid) {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : null;
  } catch {
    return null;
  }
}

/** The broker's own counters for the queue, to tell a lost message from a stuck one. */
async function queueStats(url) {
  let conn;
  try {
    const { connect } = await import('../dist/index.js');
    conn = await connect(url, { connectTimeoutMs: 5000 });
    const st = (await deadline(conn.stats(), 5000, 'stats')).find((d) => d.name === dest);
    return st ? JSON.stringify(st) : 'queue not found';
  } catch (err) {
    return `unavailable (${err.message})`;
  } finally {
    await conn?.close().catch(() => {});
  }
}

function fmt(n, digits = 0) {
  if (n === undefined || n === null || Number.isNaN(n)) return '-';
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function table(headers, rows) {
  const w = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells) => cells.map((c, i) => (i === 0 ? String(c).padEnd(w[i]) : String(c).padStart(w[i]))).join('  ');
  return [line(headers), w.map((n) => '-'.repeat(n)).join('  '), ...rows.map(line)].join('\n');
}

const started = now();
try {
  await run();
} catch (err) {
  failure = err;
  log(`FAILED: ${err.stack ?? err}`);
  if (restartTail !== null) {
    log('restarted broker failed to start, its last log lines:');
    for (const r of restartTail.slice(-20)) process.stderr.write(`  ${JSON.stringify(r)}\n`);
  } else if (broker !== null) {
    log(`broker pid ${broker.child.pid} (${broker.child.exitCode !== null || broker.child.signalCode !== null ? 'exited' : 'running'}), last log lines:`);
    for (const r of broker.tail.slice(-20)) process.stderr.write(`  ${JSON.stringify(r)}\n`);
  }
} finally {
  clearInterval(sampler);
  await Promise.all(workers.map((w) => w.stop(0)));
  if (broker !== null) await broker.stop();
}

// Targets.
const allPeak = maxOf(samples.map((s) => s.rss));
const allPeakAnon = maxOf(samples.filter((s) => s.anon !== null).map((s) => s.anon));
const verdict = (ok) => (ok === null ? 'n/a' : ok ? 'OK' : 'MISSED');
const targets = {
  rss: { target: `< ${TARGET.rssMiB} MiB throughout`, value: allPeak, ok: allPeak === null ? null : allPeak < TARGET.rssMiB },
  restartReady: { target: `< ${TARGET.restartReadyS} s spawn to first message`, value: fig.restart?.firstMessageS ?? null,
    ok: fig.restart?.firstMessageS === undefined ? null : fig.restart.firstMessageS < TARGET.restartReadyS },
  drainRate: { target: opts.refRate ? `>= ${fmt(opts.refRate / 2)} msg/s (half of ${fmt(opts.refRate)}, plain persistent)` : '>= half plain persistent (no --ref-rate)',
    value: fig.drain?.msgPerSec ?? null, ok: opts.refRate && fig.drain ? fig.drain.msgPerSec >= opts.refRate / 2 : null },
  dirShrinks: { target: `<= 25 % of ${fmt(fig.dir?.fullMiB, 1)} MiB within ${opts.shrinkWait} s of the drain`, value: fig.dir?.minAfterDrainMiB ?? null,
    ok: fig.dir?.minAfterDrainMiB === undefined ? null : fig.dir.shrunkAfterS !== null },
};

console.log(`\nferrymq deep queue: ${machine.cores} cores (${machine.cpu}), node ${machine.node}, ${machine.os}; ` +
  `${fmt(opts.count)} × ${opts.size} B persistent (${opts.compressible ? 'compressible' : 'random'} bodies), window ${opts.window}, prefetch ${opts.prefetch}; ${((now() - started) / 1000).toFixed(0)} s in all\n`);
const rows = [];
const memCols = (f) => [fmt(f.peakRssMiB), fmt(f.peakRssAnonMiB), fmt(f.peakRssFileMiB)];
if (fig.enqueue) rows.push(['enqueue (no consumer)', fmt(fig.enqueue.messages), fmt(fig.enqueue.msgPerSec), ...memCols(fig.enqueue), fmt(fig.enqueue.seconds, 1)]);
if (fig.restart?.peakRssMiB !== undefined) rows.push(['restart (spawn → 1st msg)', '-', '-', ...memCols(fig.restart), fmt(fig.restart.firstMessageS, 2)]);
if (fig.drain) rows.push(['drain (after restart)', fmt(fig.drain.messages), fmt(fig.drain.msgPerSec), ...memCols(fig.drain), fmt(fig.drain.seconds, 1)]);
if (fig.idle) rows.push(['after drain, until stop', '-', '-', ...memCols(fig.idle), '-']);
console.log(table(['phase', 'messages', 'msg/s', 'peak RSS MiB', 'anon', 'file', 'seconds'], rows));
console.log('(RSS = VmRSS; anon = RssAnon: heap and buffers; file = RssFile: mapped file pages, i.e. LevelDB table files it has mmapped and read)');
if (fig.restart) {
  console.log(`\nrestart after SIGKILL: store open + recovery ${fmt(fig.restart.storeOpenMs)} ms (broker's log), "broker … started" ${fmt(fig.restart.startedS, 2)} s, port up ${fmt(fig.restart.portUpS, 2)} s, ` +
    `first message ${fmt(fig.restart.firstMessageS, 2)} s after spawn; recovered ${fmt(fig.restart.recovered)} (expected ${fmt(opts.count)})`);
  const mm = (x) => (x ? `${x.files} files, ${fmt(x.residentMiB)} MiB resident` : '-');
  console.log(`LevelDB tables mmapped by the broker: at the first message ${mm(fig.restart.ldbMappedAtFirstMessage)}; ` +
    `at the end of the drain ${mm(fig.drain?.ldbMappedAtEnd)}`);
}
if (fig.drain) {
  console.log(`drain check: ${fmt(fig.drain.messages)} distinct of ${fmt(opts.count)}, ${fig.drain.duplicates} duplicates, ${fig.drain.missing} missing, ` +
    `${fmt(fig.drain.outOfOrder)} out of order`);
  console.log(`drain CPU per message: broker ${fmt(fig.drain.brokerCpuUsPerMsg, 1)} µs (all its threads), consumer ${fmt(fig.drain.consumerCpuUsPerMsg, 1)} µs`);
}
if (fig.dir) {
  console.log(`LevelDB data dir (du): full ${fmt(fig.dir.fullMiB, 1)} MiB, right after drain ${fmt(fig.dir.afterDrainMiB, 1)} MiB, ` +
    `min within ${opts.shrinkWait} s ${fmt(fig.dir.minAfterDrainMiB, 1)} MiB${fig.dir.shrunkAfterS !== null && fig.dir.shrunkAfterS !== undefined ? ` (reached after ${fmt(fig.dir.shrunkAfterS, 1)} s)` : ''}, ` +
    `after stop ${fmt(fig.dir.afterStopMiB, 1)} MiB; largest seen while enqueueing ${fmt(fig.enqueue?.peakDirMiB, 1)} MiB, ` +
    `while draining ${fmt(fig.drain?.peakDirMiB, 1)} MiB`);
}
console.log('\ntargets:');
console.log(table(['target', 'wanted', 'measured', 'verdict'], [
  ['broker RSS', targets.rss.target, `${fmt(targets.rss.value)} MiB peak (anon ${fmt(allPeakAnon)})`, verdict(targets.rss.ok)],
  ['restart ready', targets.restartReady.target, `${fmt(targets.restartReady.value, 2)} s`, verdict(targets.restartReady.ok)],
  ['drain rate', targets.drainRate.target, `${fmt(targets.drainRate.value)} msg/s`, verdict(targets.drainRate.ok)],
  ['dir shrinks', targets.dirShrinks.target, `${fmt(targets.dirShrinks.value, 1)} MiB min`, verdict(targets.dirShrinks.ok)],
]));
if (failure) console.log(`\nFAILED: ${failure.message}`);
if (opts.keep && dataDir) console.log(`\ndata dir kept: ${dataDir}`);
if (opts.json) {
  console.log(JSON.stringify({ machine, options: opts, ...fig, peakRssMiB: allPeak, peakRssAnonMiB: allPeakAnon, targets, rssSamples: samples.length,
    error: failure ? failure.message : null }));
}
process.exit(failure ? 1 : 0);
