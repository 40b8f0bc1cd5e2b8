#!/usr/bin/env node
// The broker's hot path alone, in one process: node bench/inproc.js [count] [runs] [root]  (see bench/README.md)
// A fake producer socket feeds pre-encoded SEND frames (the bundled client's, 1 KiB, in 64-frame chunks) to a
// NativeConnection; a fake consumer socket counts the MESSAGE frames written to it and ACKs up to the last one every
// 250 (prefetch 1000, as the client's auto ack does). Prints this process's CPU per message: the broker's
// JavaScript without the kernel and two other processes (which make the 3-process bench noisy on a shared machine).
// `root` (default: this checkout) lets two builds be compared.
import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import { ROOT } from './lib.js';
const N = Number(process.argv[2] ?? 200000);
const runs = Number(process.argv[3] ?? 3);
const root = process.argv[4] ?? ROOT;
const d = (p) => import(join(root, 'dist', p));
const { Broker } = await d('broker/broker.js');
const { MemoryStore } = await d('store/memory-store.js');
const { silentLogger } = await d('log.js');
const { NativeConnection } = await d('transport/native-connection.js');
const { Packr } = await import(join(root, 'node_modules/msgpackr/index.js'));
const packr = new Packr({ useRecords: false, structuredClone: false, variableMapSize: true });
const frame = (o) => { const b = packr.pack(o); const f = Buffer.alloc(4 + b.length); f.writeUInt32BE(b.length, 0); b.copy(f, 4); return f; };
class FakeSocket extends EventEmitter {
  remoteAddress = '127.0.0.1'; remotePort = 1; destroyed = false; writable = true; writableLength = 0; paused = false;
  constructor(onWrite) { super(); this.onWrite = onWrite; }
  setNoDelay() {} pause() { this.paused = true; } resume() { this.paused = false; this.emit('resumed'); }
  write(b) { this.onWrite(b); return true; } end() {} destroy() { this.destroyed = true; }
}
const opts = { maximumConnections: 10, maxFrameSize: 104857600, maxInactivityDurationMs: 0 };
for (let r = 0; r < runs; r++) {
  const broker = new Broker({ name: 'h', store: new MemoryStore(), logger: silentLogger() });
  await broker.start();
  const dest = `queue://bench.h.${r}`;
  // consumer
  let got = 0; let pendingAck = 0; let done; const finished = new Promise((res) => (done = res));
  let partial = Buffer.alloc(0);
  let cons;
  const consSock = new FakeSocket((b) => {
    // count frames (length-prefixed); first frames are CONNECTED and RECEIPT
    let buf = partial.length ? Buffer.concat([partial, b]) : b; let off = 0;
    while (buf.length - off >= 4) { const n = buf.readUInt32BE(off); if (buf.length - off - 4 < n) break; if (buf[off + 4 + 1] === 0xa1 && buf[off + 4 + 2] === 0x74 && buf[off + 4 + 4] === 0x4d) { got++; pendingAck++; } off += 4 + n; }
    partial = off < buf.length ? Buffer.from(buf.subarray(off)) : Buffer.alloc(0);
    if (pendingAck >= 250) { pendingAck = 0; const tag = got; setImmediate(() => consSock.emit('data', frame({ t: 'ACK', sid: 1, tag, upto: true }))); }
    if (got === N) done();
  });
  cons = new NativeConnection(consSock, broker, opts, silentLogger(), () => {});
  consSock.emit('data', Buffer.concat([frame({ t: 'CONNECT', v: [1] }), frame({ t: 'SUBSCRIBE', sid: 1, rid: 1, dest, ack: 'auto', prefetch: 1000 })]));
  // producer: chunks of 64 frames
  const { encodeSend } = await d('protocol/hot-encode.js');
  const body = Buffer.alloc(1024, 0x61);
  const prodSock = new FakeSocket(() => {});
  const prod = new NativeConnection(prodSock, broker, opts, silentLogger(), () => {});
  prodSock.emit('data', frame({ t: 'CONNECT', v: [1] }));
  await new Promise((r) => setTimeout(r, 20));
  let seq = 0;
  const chunk = () => { const out = Buffer.allocUnsafe(64 * 1200); let off = 0; for (let i = 0; i < 64 && seq < N; i++) { const e = encodeSend(out, off + 4, { t: 'SEND', dest, body, bt: 0, persistent: false, pid: 'P-0123456789abcdef', seq: ++seq }); out.writeUInt32BE(e - off - 4, off); off = e; } return out.subarray(0, off); };
  const chunks = []; while (seq < N) chunks.push(chunk()); let ci = 0;
  const pump = () => { while (!prodSock.paused && ci < chunks.length) { prodSock.emit('data', chunks[ci++]); if ((ci & 15) === 0) break; } if (ci < chunks.length) { if (prodSock.paused) prodSock.once('resumed', () => setImmediate(pump)); else setImmediate(pump); } };
  const c0 = process.cpuUsage(); const t0 = performance.now();
  pump();
  await finished;
  const c = process.cpuUsage(c0); const ms = performance.now() - t0;
  console.log(`${root.split('/').pop()} ${N} msgs: user ${(c.user / N).toFixed(3)} sys ${(c.system / N).toFixed(3)} µs/msg, ${Math.round(N / ms * 1000)} msg/s`);
  await broker.stop();
}
process.exit(0);
