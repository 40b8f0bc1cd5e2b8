#!/usr/bin/env node
// The consumer's side alone: node bench/client-inproc.js [count] [runs] [root]  (see bench/README.md)
// A fake broker in a child process answers CONNECT and SUBSCRIBE and writes pre-encoded MESSAGE frames (1 KiB, the
// broker's encoder, prefetch 1000: it sends as far as the client's ACKs allow); this process runs the real client
// (`connect`, `subscribe`, `receive()` in auto-ack mode, as bench/consumer.js does) and prints its own CPU per
// message: the client's decoding, delivery and acks, without a broker and a producer sharing the two cores.
// `root` (default: this checkout) lets two builds be compared.
import { fork } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ROOT } from './lib.js';

const N = Number(process.argv[2] ?? 200000);
const runs = Number(process.argv[3] ?? 3);
const root = process.argv[4] ?? ROOT;

if (process.argv[2] === '--server') {
  // The fake broker: frames by msgpackr for the handshake, MESSAGE frames from the broker's own encoder.
  const cfg = JSON.parse(process.argv[3]);
  const { Packr } = await import(join(cfg.root, 'node_modules/msgpackr/index.js'));
  const { encodeMessage } = await import(join(cfg.root, 'dist/protocol/hot-encode.js'));
  const { FrameDecoder } = await import(join(cfg.root, 'dist/protocol/frame.js'));
  const packr = new Packr({ useRecords: false, structuredClone: false, variableMapSize: true });
  const frame = (o) => { const b = packr.pack(o); const f = Buffer.alloc(4 + b.length); f.writeUInt32BE(b.length, 0); b.copy(f, 4); return f; };
  const server = createServer((sock) => {
    sock.setNoDelay(true);
    const dec = new FrameDecoder();
    let sid = 0;
    let sent = 0;
    let acked = 0;
    const m = { id: '', dest: cfg.dest, body: Buffer.alloc(1024, 0x61), bt: 2, persistent: false, priority: 4, timestamp: Date.now(), expires: 0, deliveryCount: 1, pid: 'P-0123456789abcdef', pseq: 0, pidId: true };
    const pump = () => {
      const room = Math.min(1000 - (sent - acked), cfg.count - sent);
      if (room <= 0) return;
      const out = Buffer.allocUnsafe(room * 1200);
      let off = 0;
      for (let i = 0; i < room; i++) {
        sent++;
        m.pseq = sent;
        const e = encodeMessage(out, off + 4, sid, sent, m);
        out.writeUInt32BE(e - off - 4, off);
        off = e;
      }
      sock.write(out.subarray(0, off));
    };
    sock.on('data', (chunk) => dec.push(chunk, (body) => {
      const cmd = packr.unpack(body);
      if (cmd.t === 'CONNECT') sock.write(frame({ t: 'CONNECTED', v: 1, broker: 'fake', version: '0', maxFrameSize: 104857600, heartbeat: 0, session: 'fake' }));
      else if (cmd.t === 'SUBSCRIBE') {
        sid = cmd.sid;
        sock.write(frame({ t: 'RECEIPT', rid: cmd.rid }));
        pump();
      } else if (cmd.t === 'ACK') {
        acked = cmd.tag;
        pump();
      }
    }));
    sock.on('error', () => {});
  });
  server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }));
  process.on('disconnect', () => process.exit(0));
} else {
  const { connect } = await import(join(root, 'dist/index.js'));
  for (let r = 0; r < runs; r++) {
    const dest = `queue://client.bench.${r}`;
    const child = fork(fileURLToPath(import.meta.url), ['--server', JSON.stringify({ root, dest, count: N })], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const { port } = await new Promise((res, rej) => {
      const t = setTimeout(() => rej(new Error('fake broker did not start within 10 s')), 10000);
      child.once('message', (msg) => { clearTimeout(t); res(msg); });
    });
    const conn = await connect(`tcp://127.0.0.1:${port}`);
    const sub = await conn.subscribe(dest, { ack: 'auto', prefetch: 1000 });
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    let n = 0;
    let bytes = 0;
    while (n < N) {
      const m = await sub.receive(10000);
      if (m === null) throw new Error(`no message within 10 s after ${n}`);
      bytes += m.bytes.length;
      n++;
    }
    const c = process.cpuUsage(c0);
    const ms = performance.now() - t0;
    console.log(`${root.split('/').pop()} ${N} msgs (${bytes} bytes): user ${(c.user / N).toFixed(3)} sys ${(c.system / N).toFixed(3)} µs/msg, ${Math.round((N / ms) * 1000)} msg/s`);
    child.kill();
    conn.close().catch(() => {});
  }
  process.exit(0);
}
