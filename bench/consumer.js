// Consumer worker: subscribes (auto ack), says 'ready', receives `count` messages, posts {type:'result'}.
// cfg: {url, dest, count, size, prefetch, idleMs, latency: {warmup}}
// With `latency`, each body's first 8 bytes are the send time (float64 LE, wall-clock ms); receive time minus
// send time goes into an hdr histogram in microseconds (the first `warmup` messages are left out).
import { build } from 'hdr-histogram-js';
import { connect } from '../dist/index.js';
import { cpuMs, now, summary, workerSetup } from './lib.js';

const { cfg, post } = workerSetup();

const conn = await connect(cfg.url);
const sub = await conn.subscribe(cfg.dest, { ack: 'auto', prefetch: cfg.prefetch ?? 1000 });
await post({ type: 'ready' });
const cpu0 = process.cpuUsage();

const hist = cfg.latency
  ? build({ lowestDiscernibleValue: 1, highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: 3 })
  : null;
const warmup = cfg.latency?.warmup ?? 0;
const idleMs = cfg.idleMs ?? 15000;
let n = 0;
let bytes = 0;
let badSize = 0;
let firstRecv = 0;
let lastRecv = 0;
let timedOut = false;

while (n < cfg.count) {
  const m = await sub.receive(idleMs);
  if (m === null) {
    timedOut = true;
    break;
  }
  const t = now();
  if (n === 0) firstRecv = t;
  lastRecv = t;
  const b = m.bytes;
  bytes += b.length;
  if (b.length !== cfg.size) badSize++;
  if (hist !== null && n >= warmup) {
    const t0 = Buffer.from(b.buffer, b.byteOffset, 8).readDoubleLE(0);
    hist.recordValue(Math.max(1, Math.round((t - t0) * 1000)));
  }
  n++;
}

const result = { type: 'result', received: n, bytes, badSize, firstRecv, lastRecv, timedOut, cpuMs: cpuMs(cpu0) };
if (hist !== null) result.latencyUs = summary(hist);
await post(result);
await conn.close();
process.exit(0);
