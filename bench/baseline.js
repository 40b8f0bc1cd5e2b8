// Baseline worker, no broker: a bare TCP socket on loopback carrying length-prefixed frames one way.
// cfg.role 'recv': listen on 127.0.0.1:0, post {type:'ready', port}, count `count` frames, post the result.
// cfg.role 'send': connect to cfg.port, post 'ready', wait for 'go', write `count` frames of 4-byte big-endian
// length + `size` bytes, coalesced into 256 KiB writes (as ferrymq's FrameWriter does), honouring backpressure.
import { connect, createServer } from 'node:net';
import { cpuMs, now, workerSetup } from './lib.js';

const { cfg, post, waitFor } = workerSetup();
const CHUNK = 256 * 1024;

if (cfg.role === 'recv') {
  const cpu0 = process.cpuUsage();
  const server = createServer((sock) => {
    sock.setNoDelay(true);
    let n = 0;
    let firstRecv = 0;
    let lastRecv = 0;
    let bytes = 0;
    let head = Buffer.alloc(0); // a partial length prefix carried between chunks
    let skip = 0; // body bytes of the current frame still to come
    sock.on('data', (chunk) => {
      const t = now();
      if (firstRecv === 0) firstRecv = t;
      let off = 0;
      while (off < chunk.length) {
        if (skip > 0) {
          const take = Math.min(skip, chunk.length - off);
          skip -= take;
          bytes += take;
          off += take;
          if (skip === 0) n++;
          continue;
        }
        const need = 4 - head.length;
        if (chunk.length - off < need) {
          head = Buffer.concat([head, chunk.subarray(off)]);
          break;
        }
        const h = head.length === 0 ? chunk : Buffer.concat([head, chunk.subarray(off, off + need)]);
        const len = head.length === 0 ? h.readUInt32BE(off) : h.readUInt32BE(0);
        off += need;
        head = Buffer.alloc(0);
        skip = len;
        if (len === 0) n++;
      }
      if (n >= cfg.count && lastRecv === 0) {
        lastRecv = t;
        post({ type: 'result', received: n, bytes, firstRecv, lastRecv, cpuMs: cpuMs(cpu0) }).then(() => process.exit(0));
      }
    });
  });
  server.listen(0, '127.0.0.1', () => post({ type: 'ready', port: server.address().port }));
} else {
  const sock = connect({ host: '127.0.0.1', port: cfg.port, noDelay: true });
  await new Promise((resolve, reject) => {
    sock.once('connect', resolve);
    sock.once('error', reject);
  });
  await post({ type: 'ready' });
  await waitFor('go');
  const cpu0 = process.cpuUsage();
  const body = Buffer.alloc(cfg.size, 0x61);
  const frame = 4 + cfg.size;
  const first = now();
  let out = Buffer.allocUnsafe(Math.max(CHUNK, frame));
  let off = 0;
  for (let i = 0; i < cfg.count; i++) {
    out.writeUInt32BE(cfg.size, off);
    body.copy(out, off + 4);
    off += frame;
    if (off + frame > out.length || i === cfg.count - 1) {
      const ok = sock.write(off === out.length ? out : out.subarray(0, off));
      out = Buffer.allocUnsafe(Math.max(CHUNK, frame));
      off = 0;
      if (!ok) await new Promise((r) => sock.once('drain', r));
    }
  }
  const last = now();
  await post({ type: 'result', sent: cfg.count, firstSend: first, lastSend: last, rate: cfg.count / ((last - first) / 1000), cpuMs: cpuMs(cpu0) });
  sock.end();
  sock.once('close', () => process.exit(0));
}
