// Worker of deep.js ("queues deeper than memory"). Two roles, cfg.role:
//  'produce': connects, says 'ready', waits for 'go', sends cfg.count persistent messages keeping cfg.window in
//             flight (each resolves after the broker's fsync'd group commit), posts {type:'result'}.
//             Body i (0-based) carries i as a uint32 LE in its first 4 bytes, then 'deep', then filler: a slice of a
//             32 MiB random pool at a different offset for every message, so that LevelDB cannot compress it and
//             the directory sizes are those of real data (cfg.compressible: 0x61 filler, as producer.js sends).
//  'drain':   says 'ready', then dials cfg.url every cfg.dialEveryMs until the port answers (the broker is being
//             (re)started), posts {type:'connected', at}; subscribes (auto ack, cfg.prefetch), posts
//             {type:'first', at} on the first message, receives cfg.count, checks every sequence number arrived
//             once, posts {type:'result'}.
// cfg: {role, url, dest, count, size, compressible, window, prefetch, dialEveryMs, firstWithinMs, idleMs, progressEvery, maxMs}
import { randomBytes } from 'node:crypto';
import { connect } from '../dist/index.js';
import { cpuMs, now, windowed, workerSetup } from './lib.js';

const { cfg, post, waitFor } = workerSetup();
const MAGIC = Buffer.from('deep');
const progressEvery = cfg.progressEvery ?? 100_000;

const POOL = 32 * 1024 * 1024;
const pool = cfg.compressible ? null : randomBytes(POOL + cfg.size);

function makeBody(template, i) {
  const b = Buffer.allocUnsafe(cfg.size);
  if (pool === null) template.copy(b);
  else {
    // 4099 apart (more than a body, and prime): neighbours in a LevelDB block share no bytes.
    const off = (i * 4099) % POOL;
    pool.copy(b, 0, off, off + cfg.size);
  }
  b.writeUInt32LE(i, 0);
  MAGIC.copy(b, 4);
  return b;
}

async function produce() {
  const template = Buffer.alloc(cfg.size, 0x61);
  MAGIC.copy(template, 4);
  const opts = { persistent: true };
  const conn = await connect(cfg.url);
  await post({ type: 'ready' });
  await waitFor('go');
  const cpu0 = process.cpuUsage();
  const first = now();
  const n = cfg.count;
  const w = cfg.window;
  let acked = 0;
  // A fresh buffer per send: the client may keep the command until its receipt.
  await windowed(n, w, (i) => conn.send(cfg.dest, makeBody(template, i), opts), () => {
    if (++acked % progressEvery === 0) void post({ type: 'progress', done: acked, at: now() });
  });
  const last = now();
  await post({ type: 'result', sent: n, firstSend: first, lastSend: last, rate: n / ((last - first) / 1000), cpuMs: cpuMs(cpu0) });
  await conn.close();
}

async function dialUntilUp() {
  const until = now() + (cfg.firstWithinMs ?? 120_000);
  let attempts = 0;
  for (;;) {
    attempts++;
    try {
      return { conn: await connect(cfg.url, { connectTimeoutMs: 5000 }), attempts };
    } catch (err) {
      if (now() > until) throw new Error(`broker at ${cfg.url} did not accept a connection in ${cfg.firstWithinMs} ms (${attempts} attempts): ${err.message}`);
      await new Promise((r) => setTimeout(r, cfg.dialEveryMs ?? 20));
    }
  }
}

async function drain() {
  await post({ type: 'ready' });
  const { conn, attempts } = await dialUntilUp();
  await post({ type: 'connected', at: now(), attempts });
  const sub = await conn.subscribe(cfg.dest, { ack: 'auto', prefetch: cfg.prefetch ?? 1000 });
  const subscribedAt = now();
  const cpu0 = process.cpuUsage();
  const n = cfg.count;
  const seen = new Uint8Array(n);
  let received = 0;
  let unique = 0;
  let duplicates = 0;
  let outOfRange = 0;
  let badBody = 0;
  let outOfOrder = 0;
  let maxSeq = -1;
  let firstRecv = 0;
  let lastRecv = 0;
  let timedOut = false;
  const idleMs = cfg.idleMs ?? 30_000;
  while (unique < n) {
    const m = await sub.receive(received === 0 ? (cfg.firstWithinMs ?? 120_000) : idleMs);
    if (m === null) {
      timedOut = true;
      break;
    }
    const t = now();
    if (received === 0) {
      firstRecv = t;
      await post({ type: 'first', at: t });
    }
    lastRecv = t;
    received++;
    const b = m.bytes;
    if (b.length !== cfg.size || b[4] !== 0x64 || b[5] !== 0x65 || b[6] !== 0x65 || b[7] !== 0x70) {
      badBody++;
      continue;
    }
    const seq = Buffer.from(b.buffer, b.byteOffset, 4).readUInt32LE(0);
    if (seq >= n) {
      outOfRange++;
      continue;
    }
    if (seen[seq]) duplicates++;
    else {
      seen[seq] = 1;
      unique++;
    }
    if (seq < maxSeq) outOfOrder++;
    else maxSeq = seq;
    if (received % progressEvery === 0) await post({ type: 'progress', done: received, at: t });
  }
  // Anything that would arrive beyond N (a duplicate of a message already seen) shows up within a short wait.
  if (!timedOut) {
    for (;;) {
      const m = await sub.receive(cfg.extraWaitMs ?? 1000);
      if (m === null) break;
      received++;
      duplicates++;
    }
  }
  let firstMissing = -1;
  if (unique < n) firstMissing = seen.indexOf(0);
  await post({ type: 'result', received, unique, duplicates, outOfRange, badBody, outOfOrder, missing: n - unique, firstMissing,
    subscribedAt, firstRecv, lastRecv, timedOut, cpuMs: cpuMs(cpu0) });
  await conn.close();
}

if (cfg.role === 'produce') await produce();
else if (cfg.role === 'drain') await drain();
else throw new Error(`unknown role ${cfg.role}`);
process.exit(0);
