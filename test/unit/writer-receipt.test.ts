import t from 'tap';
import { pack, unpack } from 'msgpackr';
import type { Socket } from 'node:net';
import { FrameWriter } from '../../src/transport/writer.js';
import { decodeReceipt } from '../../src/protocol/hot-receipt.js';

t.test('a RECEIPT encoded in place reads as the map msgpackr would have written', async (t) => {
  const chunks: Buffer[] = [];
  const socket = { destroyed: false, writable: true, writableLength: 0, write: (b: Buffer) => void chunks.push(Buffer.from(b)) } as unknown as Socket;
  const w = new FrameWriter(socket);
  const rids = [0, 1, 127, 128, 65_535, 65_536, 0xffffffff, 2 ** 32, 2 ** 53 - 1];
  for (const rid of rids) w.writeReceipt(rid);
  w.flush();
  const all = Buffer.concat(chunks);
  const got: unknown[] = [];
  for (let off = 0; off < all.length; ) {
    const n = all.readUInt32BE(off);
    got.push(unpack(all.subarray(off + 4, off + 4 + n)));
    off += 4 + n;
  }
  t.same(got, rids.map((rid) => ({ t: 'RECEIPT', rid })));
});

t.test('the client reads a RECEIPT written in place by its bytes, and leaves any other frame to msgpackr', async (t) => {
  const chunks: Buffer[] = [];
  const socket = { destroyed: false, writable: true, writableLength: 0, write: (b: Buffer) => void chunks.push(Buffer.from(b)) } as unknown as Socket;
  const w = new FrameWriter(socket);
  const rids = [0, 1, 127, 128, 65_535, 65_536, 0xffffffff, 2 ** 32, 2 ** 53 - 1];
  for (const rid of rids) w.writeReceipt(rid);
  w.flush();
  const all = Buffer.concat(chunks);
  const got: unknown[] = [];
  for (let off = 0; off < all.length; ) {
    const n = all.readUInt32BE(off);
    got.push(decodeReceipt(all, off + 4, off + 4 + n)); // in place, as the client reads it off a chunk
    off += 4 + n;
  }
  t.same(got, rids.map((rid) => ({ t: 'RECEIPT', rid })), 'every rid, small and large');
  for (const other of [
    { t: 'RECEIPT', rid: 1, data: { n: 1 } },
    { t: 'RECEIPT', rid: 5 },
    { t: 'RECEIPX', rid: 70_000 },
    { t: 'ERROR', rid: 70_000, code: 'X', message: 'm' },
  ]) {
    // msgpackr writes a small rid as a fixint: the reader leaves it to msgpackr (which reads it as it always did).
    t.equal(decodeReceipt(pack(other)), undefined, `not read by hand: ${JSON.stringify(other)}`);
  }
  const receipt = Buffer.from(all.subarray(4, all.readUInt32BE(0) + 4));
  t.equal(decodeReceipt(receipt.subarray(0, receipt.length - 1)), undefined, 'a truncated one is not read by hand either');
});
