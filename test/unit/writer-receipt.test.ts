import t from 'tap';
import { unpack } from 'msgpackr';
import type { Socket } from 'node:net';
import { FrameWriter } from '../../src/transport/writer.js';

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
