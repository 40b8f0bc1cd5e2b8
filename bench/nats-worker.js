// NATS core worker, the peer of producer.js / consumer.js: the same 1 KiB flow with the official `nats` client.
// cfg: {role: 'produce'|'consume', port, subject, count, size, window, idleMs, maxMs}
// produce: connects, says 'ready', waits for 'go', publishes `count` bodies, awaiting a flush (PING/PONG round trip:
//   the server has everything before it) every `window` messages so the client never buffers more than ~1 MiB, as
//   ferrymq's producer awaits its send once 1 MiB waits in the socket; posts {type:'result'}.
// consume: subscribes, flushes (the server has the subscription), says 'ready', iterates the subscription as an
//   application does until it has `count` messages (or `idleMs` passes with none), posts {type:'result'}.
import { connect } from 'nats';
import { cpuMs, now, workerSetup } from './lib.js';

const { cfg, post, waitFor } = workerSetup();
const nc = await connect({ servers: `127.0.0.1:${cfg.port}`, noEcho: true });

if (cfg.role === 'produce') {
  const body = Buffer.alloc(cfg.size, 0x61);
  const window = cfg.window ?? 1000;
  await post({ type: 'ready' });
  await waitFor('go');
  const cpu0 = process.cpuUsage();
  const first = now();
  for (let i = 0; i < cfg.count; i++) {
    nc.publish(cfg.subject, body);
    if (i % window === window - 1) await nc.flush();
  }
  await nc.flush();
  const last = now();
  await post({ type: 'result', sent: cfg.count, firstSend: first, lastSend: last, rate: cfg.count / ((last - first) / 1000), cpuMs: cpuMs(cpu0) });
} else {
  const sub = nc.subscribe(cfg.subject);
  await nc.flush();
  await post({ type: 'ready' });
  const cpu0 = process.cpuUsage();
  let n = 0;
  let bytes = 0;
  let badSize = 0;
  let firstRecv = 0;
  let lastRecv = 0;
  let timedOut = false;
  const idleMs = cfg.idleMs ?? 15000;
  let idle = setTimeout(() => {
    timedOut = true;
    sub.unsubscribe();
  }, idleMs);
  for await (const m of sub) {
    const t = now();
    if (n === 0) firstRecv = t;
    lastRecv = t;
    bytes += m.data.length;
    if (m.data.length !== cfg.size) badSize++;
    if (++n === cfg.count) break;
    if ((n & 1023) === 0) idle.refresh();
  }
  clearTimeout(idle);
  await post({ type: 'result', received: n, bytes, badSize, firstRecv, lastRecv, timedOut, cpuMs: cpuMs(cpu0) });
}
await nc.close();
process.exit(0);
