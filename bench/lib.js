// Shared helpers of the benchmark: clock, worker processes with deadlines, the broker process.
import { fork, spawn } from 'node:child_process';
import { accessSync, constants as fsConstants, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';

export const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
export const ROOT = join(BENCH_DIR, '..');

/** Wall-clock ms with sub-ms resolution, comparable across processes on one machine. */
export const now = () => performance.timeOrigin + performance.now();

/** Every child process this bench started, killed on exit whatever happens. */
const children = new Set();
let exitHooked = false;
export function track(child) {
  children.add(child);
  child.once('exit', () => children.delete(child));
  if (!exitHooked) {
    exitHooked = true;
    process.on('exit', () => {
      for (const c of children) {
        try {
          c.kill('SIGKILL');
        } catch {
          // already gone
        }
      }
    });
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
      process.on(sig, () => {
        process.stderr.write(`bench: ${sig}, cleaning up\n`);
        process.exit(130); // the 'exit' hook kills the children; run.js's own hook removes the data dir
      });
    }
  }
  return child;
}

/** Reject after `ms` unless `p` settles first. */
export function deadline(p, ms, what) {
  let timer;
  const t = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timeout: ${what} did not happen within ${ms} ms`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

/** End a process by its PID: SIGTERM, then SIGKILL after `graceMs`. Resolves once it has exited. */
export function stopProcess(child, graceMs = 5000) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const killer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(killer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/**
 * A worker process (forked, IPC channel). It posts {type, ...} messages; `next(type, ms)` waits for the next one
 * of that type; an {type:'error'} message or an early exit rejects every wait. `execArgv`: node's options for it
 * (default: this process's).
 */
export function startWorker(script, cfg, label = script, execArgv = process.execArgv) {
  const child = track(fork(join(BENCH_DIR, script), [JSON.stringify(cfg)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv }));
  const inbox = [];
  const waiters = [];
  let failure = null;
  const settle = () => {
    for (let i = 0; i < waiters.length; ) {
      const w = waiters[i];
      const j = inbox.findIndex((m) => m.type === w.type);
      if (j >= 0) {
        waiters.splice(i, 1);
        w.resolve(inbox.splice(j, 1)[0]);
      } else if (failure) {
        waiters.splice(i, 1);
        w.reject(failure);
      } else i++;
    }
  };
  child.on('message', (m) => {
    if (m && m.type === 'error') failure = new Error(`${label}: ${m.message}`);
    else inbox.push(m);
    settle();
  });
  child.once('exit', (code, signal) => {
    if (!failure) failure = new Error(`${label} exited (code ${code}, signal ${signal})`);
    setImmediate(settle); // let messages already received be handled first
  });
  return {
    child,
    send: (m) => child.connected && child.send(m),
    next(type, ms) {
      return deadline(new Promise((resolve, reject) => { waiters.push({ type, resolve, reject }); settle(); }), ms, `${label} '${type}'`);
    },
    /** Let it finish on its own for `graceMs`, then SIGTERM (then SIGKILL). */
    stop: async (graceMs = 3000) => {
      if (child.exitCode === null && child.signalCode === null) {
        await new Promise((resolve) => {
          const t = setTimeout(resolve, graceMs);
          child.once('exit', () => { clearTimeout(t); resolve(); });
        });
      }
      await stopProcess(child, 3000);
    },
  };
}

/** Worker side: the config, a way to post, and self-destruction when the parent goes away or time runs out. */
export function workerSetup(defaultMaxMs = 300000) {
  const cfg = JSON.parse(process.argv[2] ?? '{}');
  const maxMs = cfg.maxMs ?? defaultMaxMs;
  const post = (m) => new Promise((resolve) => (process.connected ? process.send(m, () => resolve()) : resolve()));
  process.on('disconnect', () => process.exit(1));
  setTimeout(() => {
    post({ type: 'error', message: `worker deadline of ${maxMs} ms passed` }).finally(() => process.exit(3));
  }, maxMs).unref();
  const fail = (err) => {
    post({ type: 'error', message: err?.stack ?? String(err) }).finally(() => process.exit(2));
  };
  process.on('uncaughtException', fail);
  process.on('unhandledRejection', fail);
  const waitFor = (type) => new Promise((resolve) => {
    const on = (m) => {
      if (m && m.type === type) {
        process.off('message', on);
        resolve(m);
      }
    };
    process.on('message', on);
  });
  return { cfg, post, fail, waitFor };
}

/**
 * Data directories still to remove when the bench exits. One 'exit' listener for all of them: a listener per
 * broker tripped Node's MaxListenersExceededWarning in the bridge scenario (12 brokers in one run).
 */
const dirsToRemove = new Set();
let dirsHooked = false;
function removeOnExit(fn) {
  dirsToRemove.add(fn);
  if (dirsHooked) return;
  dirsHooked = true;
  process.on('exit', () => {
    for (const f of [...dirsToRemove]) f();
  });
}

/**
 * Start a broker on 127.0.0.1. By default a fresh one: port 0 (any free port) and a new temp data dir.
 * Options (all optional): `nodeArgs` e.g. ['--cpu-prof', '--cpu-prof-dir=...']; `timeoutMs` for startup;
 * `dataDir` an existing data dir to use instead of a new temp one (e.g. to restart a broker on its data);
 * `port` a fixed port instead of 0; `keepDir` true: never remove the data dir, neither in stop() nor on exit
 * (default: a new temp dir is removed, a `dataDir` passed in is kept); `onSpawn(child)` called right after the
 * spawn (e.g. to watch the process while it starts).
 * Resolves to {url, child, dataDir, log, tail, counts, spawnedAt, startedAt, recovered, stop()}: `tail` the last
 * 50 log records, `spawnedAt`/`startedAt` `now()` just before spawn and when the "broker … started" line arrived,
 * `recovered` the count of the "store open: N persistent messages recovered" line (null if none).
 * stop() ends it (SIGTERM, SIGKILL after 10 s) and removes the data dir unless it is kept. A failed startup
 * rejects with an error whose `tail` holds the last log records.
 */
export async function startBroker({ nodeArgs = [], args: extraArgs = [], timeoutMs = 20000, dataDir: givenDir, port = 0, keepDir, onSpawn } = {}) {
  const dataDir = givenDir ?? mkdtempSync(join(tmpdir(), 'ferrymq-bench-'));
  const keep = keepDir ?? givenDir !== undefined;
  const removeDir = () => {
    dirsToRemove.delete(removeDir);
    if (!keep) rmSync(dataDir, { recursive: true, force: true });
  };
  const args = [...nodeArgs, join(ROOT, 'bin', 'ferrymq'), 'start', '--transport', `tcp://127.0.0.1:${port}`, '--data', dataDir, '--no-console', ...extraArgs];
  const spawnedAt = now();
  const child = track(spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] }));
  removeOnExit(removeDir); // hooked after track()'s: the broker is killed first
  onSpawn?.(child);
  const log = [];
  const tail = []; // the last 50 records, for error reports
  const counts = new Map(); // log message -> how many times (first 100 distinct messages)
  const info = { startedAt: null, recovered: null };
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const stop = async () => {
    await stopProcess(child, 10000);
    removeDir();
  };
  let url = null;
  const ready = new Promise((resolve, reject) => {
    jsonLines(child.stdout, (rec, line) => {
        if (log.length < 200) log.push(rec);
        tail.push(rec);
        if (tail.length > 50) tail.shift();
        if (typeof rec.msg === 'string' && (counts.has(rec.msg) || counts.size < 100)) counts.set(rec.msg, (counts.get(rec.msg) ?? 0) + 1);
        if (rec.level >= 50) process.stderr.write(`broker: ${line}\n`);
        if (typeof rec.msg === 'string' && rec.msg.includes('listening') && rec.url) url = rec.url;
        if (typeof rec.msg === 'string' && rec.msg.startsWith('store open:') && typeof rec.recovered === 'number') info.recovered = rec.recovered;
        if (typeof rec.msg === 'string' && /^broker .* started/.test(rec.msg)) {
          info.startedAt = now();
          if (url) resolve(url);
          else reject(new Error('broker started but no "listening" line with a url was seen'));
        }
    });
    child.once('exit', (code, signal) => reject(new Error(`broker exited during startup (code ${code}, signal ${signal}): ${stderr.trim()}`)));
  });
  try {
    await deadline(ready, timeoutMs, 'broker startup');
  } catch (err) {
    await stop();
    err.tail = tail;
    throw err;
  }
  /** Resolves with the first log record (from now on) that `pred` accepts. */
  const waitLog = (pred, what, ms = 20000) =>
    deadline(new Promise((resolve) => {
      const seen = tail.find(pred);
      if (seen) return resolve(seen);
      const on = (d) => {
        for (const line of String(d).split('\n')) {
          let rec;
          try {
            rec = JSON.parse(line);
          } catch {
            continue;
          }
          if (pred(rec)) {
            child.stdout.off('data', on);
            resolve(rec);
            return;
          }
        }
      };
      child.stdout.on('data', on);
    }), ms, what);
  return { url, child, dataDir, log, tail, counts, spawnedAt, startedAt: info.startedAt, recovered: info.recovered, stop, waitLog };
}

/** CPU ms this process used since `start` (a process.cpuUsage() value). */
export function cpuMs(start) {
  const u = process.cpuUsage(start);
  return (u.user + u.system) / 1000;
}

/** CPU time (user + system) a process has used so far, ms, from /proc (Linux; null elsewhere). Assumes 100 Hz ticks. */
export function procCpuMs(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) * 10; // utime, stime (fields 14, 15)
  } catch {
    return null;
  }
}

/** Peak resident set size of a process, MiB, from /proc (Linux; null elsewhere). */
export function procPeakRssMiB(pid) {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Math.round(Number(m[1]) / 1024) : null;
  } catch {
    return null;
  }
}

/** Percentiles of an hdr histogram, in its unit. */
export function summary(h) {
  return {
    count: h.totalCount,
    p50: h.getValueAtPercentile(50),
    p90: h.getValueAtPercentile(90),
    p99: h.getValueAtPercentile(99),
    p999: h.getValueAtPercentile(99.9),
    max: h.maxValue,
    mean: h.mean,
  };
}

/**
 * Keep up to `w` of `n` operations in flight: `start(i)` begins operation i and returns its promise. `onDone` runs
 * after each completes. Rejects with the first failure once everything started has settled.
 */
export async function windowed(n, w, start, onDone = () => {}) {
  let inflight = 0;
  let wake = null;
  let error = null;
  const settle = () => {
    inflight--;
    onDone();
    if (wake !== null) {
      const f = wake;
      wake = null;
      f();
    }
  };
  const failed = (err) => {
    error ??= err;
    settle();
  };
  for (let i = 0; i < n; i++) {
    while (inflight >= w) await new Promise((r) => (wake = r));
    if (error) throw error;
    inflight++;
    start(i).then(settle, failed);
  }
  while (inflight > 0) await new Promise((r) => (wake = r));
  if (error) throw error;
}

/** A TCP port free on 127.0.0.1 right now (for a server that cannot listen on port 0 and say which it got). */
export async function freePort() {
  const s = createServer();
  await new Promise((resolve, reject) => {
    s.once('error', reject);
    s.listen(0, '127.0.0.1', resolve);
  });
  const { port } = s.address();
  await new Promise((resolve) => s.close(resolve));
  return port;
}

/**
 * Resolves with the time (by `clock`, to compare with the caller's own readings) of the first successful connect to
 * `port` on 127.0.0.1, retried 1 ms after each refusal.
 */
export function firstAccept(port, ms, clock = now) {
  // Attempts end with the wait, won or not: a loser of a race (a replica's port that never opens) would otherwise
  // retry every millisecond for ever and keep the bench from exiting.
  let over = false;
  const accepted = new Promise((resolve) => {
    const attempt = () => {
      if (over) return;
      const s = connect({ host: '127.0.0.1', port });
      s.once('connect', () => {
        const at = clock();
        s.destroy();
        resolve(at);
      });
      // 1 ms between attempts: a busy loop would take CPU from the broker it is timing (2 cores).
      s.once('error', () => setTimeout(attempt, 1));
    };
    attempt();
  });
  return deadline(accepted, ms, `a connection accepted on ${port}`).finally(() => {
    over = true;
  });
}

/** Calls `onRecord(record, line)` for each line of `stream` that parses as JSON (pino's output); other lines are skipped. */
export function jsonLines(stream, onRecord) {
  let buf = '';
  stream.on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      let rec;
      try {
        rec = JSON.parse(line);
      } catch {
        continue;
      }
      onRecord(rec, line);
    }
  });
}

/**
 * The JSON log records of a `ferrymq start` child's stdout, as they come. `waitFor(pred, what, ms, from)` resolves
 * with the first record from index `from` on that matches; with `failOnExit`, it rejects when the process exits first.
 */
export function nodeLog(child, label, { failOnExit = false } = {}) {
  const records = [];
  const waiters = [];
  jsonLines(child.stdout, (rec) => {
    records.push(rec);
    for (const w of [...waiters]) if (w.pred(rec)) waiters.splice(waiters.indexOf(w), 1) && w.resolve(rec);
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const waitFor = (pred, what, ms = 20000, from = 0) => {
    const hit = records.slice(from).find(pred);
    if (hit) return Promise.resolve(hit);
    const match = new Promise((resolve) => waiters.push({ pred, resolve }));
    if (!failOnExit) return deadline(match, ms, `${what} (${label})`);
    const ended = exited.then((code) => Promise.reject(new Error(`${label} exited (${code}) before: ${what}`)));
    return deadline(Promise.race([match, ended]), ms, `${what} (${label})`);
  };
  return { records, waitFor, exited };
}

/** Full path of an executable on the PATH, or null. */
export function onPath(name) {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    try {
      accessSync(join(dir, name), fsConstants.X_OK);
      return join(dir, name);
    } catch {
      // not here
    }
  }
  return null;
}

/**
 * Start `nats-server` (core NATS, no JetStream) on a free loopback port; resolves once it logs "Server is ready".
 * Resolves to {port, child, stop()}; stop() ends it (SIGTERM, SIGKILL after 5 s).
 */
export async function startNatsServer(bin, timeoutMs = 10000) {
  const port = await freePort();
  const child = track(spawn(bin, ['-a', '127.0.0.1', '-p', String(port)], { stdio: ['ignore', 'pipe', 'pipe'] }));
  let out = '';
  const ready = new Promise((resolve, reject) => {
    const on = (d) => {
      out += d;
      if (out.includes('Server is ready')) resolve();
    };
    child.stdout.on('data', on);
    child.stderr.on('data', on);
    child.once('exit', (code, signal) => reject(new Error(`nats-server exited during startup (code ${code}, signal ${signal}): ${out.trim()}`)));
  });
  try {
    await deadline(ready, timeoutMs, 'nats-server startup');
  } catch (err) {
    await stopProcess(child);
    throw err;
  }
  return { port, child, stop: () => stopProcess(child) };
}
