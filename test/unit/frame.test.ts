import t from 'tap';
import { FrameTooLargeError } from '../../src/errors.js';
import { decodeBody, encodeFrame } from '../../src/protocol/codec.js';
import { FrameDecoder } from '../../src/protocol/frame.js';

function frames(...cmds: object[]): Buffer {
  return Buffer.concat(cmds.map((c) => encodeFrame(c)));
}

function decodeAll(dec: FrameDecoder, chunks: Buffer[]): unknown[] {
  const out: unknown[] = [];
  for (const c of chunks) dec.push(c, (b) => out.push(decodeBody(b)));
  return out;
}

const sample = [
  { t: 'PING' },
  { t: 'SEND', dest: 'queue://a', body: Buffer.from('hello'), persistent: true, rid: 7 },
  { t: 'SEND', dest: 'topic://b', body: Buffer.alloc(5000, 0xab), headers: { k: 'v', n: 3 } },
  { t: 'ACK', sid: 1, tag: 99, upto: true },
];

t.test('whole frames in one chunk', async (t) => {
  const got = decodeAll(new FrameDecoder(), [frames(...sample)]);
  t.same(got, sample);
});

t.test('byte by byte', async (t) => {
  const buf = frames(...sample);
  const chunks = [...buf].map((b) => Buffer.from([b]));
  t.same(decodeAll(new FrameDecoder(), chunks), sample);
});

t.test('split at every possible position', async (t) => {
  const buf = frames(...sample);
  for (let i = 1; i < buf.length; i++) {
    const got = decodeAll(new FrameDecoder(), [buf.subarray(0, i), buf.subarray(i)]);
    if (JSON.stringify(got) !== JSON.stringify(sample)) {
      t.fail(`split at ${i} decoded differently`);
      return;
    }
  }
  t.pass(`all ${buf.length - 1} split points decode the same`);
});

t.test('random chunking', async (t) => {
  const buf = frames(...sample, ...sample, ...sample);
  for (let round = 0; round < 200; round++) {
    const chunks: Buffer[] = [];
    let off = 0;
    while (off < buf.length) {
      const n = 1 + Math.floor(Math.random() * 700);
      chunks.push(buf.subarray(off, off + n));
      off += n;
    }
    const got = decodeAll(new FrameDecoder(), chunks);
    if (got.length !== sample.length * 3) {
      t.fail(`round ${round}: ${got.length} frames`);
      return;
    }
  }
  t.pass('200 random chunkings');
});

t.test('oversize header is rejected before the body is buffered', async (t) => {
  const dec = new FrameDecoder(1024);
  const header = Buffer.alloc(4);
  header.writeUInt32BE(1025);
  t.throws(() => dec.push(header, () => t.fail('no frame')), FrameTooLargeError);
  t.equal(dec.buffered, 0, 'nothing buffered');
  // Rejected even when the header arrives one byte at a time.
  const dec2 = new FrameDecoder(1024);
  dec2.push(header.subarray(0, 3), () => {});
  t.throws(() => dec2.push(header.subarray(3), () => {}), /exceeds wireFormat\.maxFrameSize=1024/);
});

t.test('a frame of exactly maxFrameSize passes', async (t) => {
  const body = Buffer.alloc(1024, 1);
  const h = Buffer.alloc(4);
  h.writeUInt32BE(1024);
  const got: Buffer[] = [];
  new FrameDecoder(1024).push(Buffer.concat([h, body]), (b) => got.push(b));
  t.equal(got.length, 1);
  t.equal(got[0]!.length, 1024);
});

t.test('empty and malformed bodies', async (t) => {
  t.throws(() => decodeBody(Buffer.alloc(0)), { code: 'FERRY_MALFORMED_FRAME' });
  t.throws(() => decodeBody(Buffer.from([0xc7, 0x00, 0x05])), { code: 'FERRY_MALFORMED_FRAME' }, 'unknown extension type');
  t.throws(() => decodeBody(Buffer.from([0x92, 0x01])), { code: 'FERRY_MALFORMED_FRAME' }, 'truncated array');
  t.throws(() => decodeBody(Buffer.from([0x01, 0x02])), { code: 'FERRY_MALFORMED_FRAME' }, 'trailing bytes');
  const got: Buffer[] = [];
  new FrameDecoder().push(Buffer.from([0, 0, 0, 0]), (b) => got.push(b));
  t.equal(got.length, 1, 'a zero-length frame is delivered (and then rejected by the codec)');
});

t.test('bodies are views, not copies, when a frame lies in one chunk', async (t) => {
  const buf = frames({ t: 'SEND', dest: 'q', body: Buffer.from('zero-copy') });
  let body: Buffer | null = null;
  new FrameDecoder().push(buf, (b) => (body = b));
  t.equal((body as unknown as Buffer).buffer, buf.buffer);
});
