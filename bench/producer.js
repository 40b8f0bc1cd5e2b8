// Producer worker: connects, says 'ready', waits for 'go', sends, posts {type:'result'}.
// cfg: {url, dest, count, size, persistent, window, npMode: 'await'|'batch'|'window', batch, paced: {rate}}
import { build } from 'hdr-histogram-js';
import { connect } from '../dist/index.js';
import { cpuMs, now, summary, windowed, workerSetup } from './lib.js';

const { cfg, post, waitFor } = workerSetup();

const body = Buffer.alloc(cfg.size, 0x61);
const opts = { persistent: !!cfg.persistent };

/** Non-persistent: await every send (send resolves at once unless the socket has > 1 MiB waiting). */
async function sendAwaitEach(conn, n) {
  for (let i = 0; i < n; i++) await conn.send(cfg.dest, body, opts);
}

/** Non-persistent: issue `b` sends synchronously, then await them together. */
async function sendBatches(conn, n, b) {
  for (let i = 0; i < n; ) {
    const end = Math.min(n, i + b);
    const ps = [];
    for (; i < end; i++) ps.push(conn.send(cfg.dest, body, opts));
    await Promise.all(ps);
  }
}

/** Keep up to `w` sends in flight (persistent: each resolves after the broker's fsync'd group commit). */
function sendWindow(conn, n, w) {
  return windowed(n, w, () => conn.send(cfg.dest, body, opts));
}

/**
 * Paced: `rate` msg/s for `count` messages. Every ~1 ms timer tick sends what is due by then (about rate/1000),
 * each body stamped with its send time (float64 LE, wall-clock ms) in its first 8 bytes.
 * For persistent sends the time to the receipt (fsync) goes into a histogram too.
 */
async function sendPaced(conn, n, rate) {
  const receipt = build({ lowestDiscernibleValue: 1, highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: 3 });
  let sent = 0;
  let settled = 0;
  let maxBehind = 0;
  let error = null;
  const start = now();
  await new Promise((resolve, reject) => {
    const check = () => {
      if (error) reject(error);
      else if (settled === n) resolve();
    };
    const tick = () => {
      const t = now();
      const due = Math.min(n, Math.floor(((t - start) * rate) / 1000) + 1);
      maxBehind = Math.max(maxBehind, due - sent);
      while (sent < due) {
        const t0 = now();
        body.writeDoubleLE(t0, 0);
        sent++;
        conn.send(cfg.dest, body, opts).then(
          () => {
            if (opts.persistent) receipt.recordValue(Math.max(1, Math.round((now() - t0) * 1000)));
            settled++;
            check();
          },
          (err) => {
            error = err;
            check();
          },
        );
      }
      if (sent < n && !error) setTimeout(tick, 1);
    };
    tick();
  });
  const r = { elapsedMs: now() - start, maxBurst: maxBehind };
  if (opts.persistent) r.receiptUs = summary(receipt);
  return r;
}

const conn = await connect(cfg.url);
await post({ type: 'ready' });
await waitFor('go');
const cpu0 = process.cpuUsage();
const first = now();
let extra = {};
if (cfg.paced) extra = await sendPaced(conn, cfg.count, cfg.paced.rate);
else if (cfg.persistent || cfg.npMode === 'window') await sendWindow(conn, cfg.count, cfg.window);
else if (cfg.npMode === 'batch') await sendBatches(conn, cfg.count, cfg.batch);
else await sendAwaitEach(conn, cfg.count);
const last = now();
await post({ type: 'result', sent: cfg.count, firstSend: first, lastSend: last, rate: cfg.count / ((last - first) / 1000), cpuMs: cpuMs(cpu0), ...extra });
// Diagnostic (--linger): keep the connection open a while before DISCONNECT.
if (cfg.lingerMs > 0) await new Promise((r) => setTimeout(r, cfg.lingerMs));
await conn.close();
process.exit(0);
