import type { ReceiptCmd } from './commands.js';

/**
 * RECEIPT without data, the answer to every persistent send, written by the broker in place (FrameWriter.writeReceipt)
 * and read here by its bytes: through msgpackr, after the MESSAGE reader had tried it first, it was ~10 % of a
 * persistent producer's busy time (a map, two strings and a key cache per receipt).
 */

/** msgpack of `{ t: 'RECEIPT', rid: ` up to the rid's value. */
export const RECEIPT_HEAD = Buffer.from([0x82, 0xa1, 0x74, 0xa7, ...Buffer.from('RECEIPT'), 0xa3, ...Buffer.from('rid')]);
const N = RECEIPT_HEAD.length;

/**
 * The RECEIPT at `buf[start, end)` (the whole buffer by default) when it is exactly RECEIPT_HEAD and a uint32 or
 * float64 rid; undefined otherwise.
 */
export function decodeReceipt(buf: Buffer, start = 0, end = buf.length): ReceiptCmd | undefined {
  const len = end - start;
  if (len !== N + 5 && len !== N + 9) return undefined;
  for (let i = 0; i < N; i++) if (buf[start + i] !== RECEIPT_HEAD[i]) return undefined;
  const type = buf[start + N];
  if (type === 0xce && len === N + 5) return { t: 'RECEIPT', rid: buf.readUInt32BE(start + N + 1) };
  if (type === 0xcb && len === N + 9) return { t: 'RECEIPT', rid: buf.readDoubleBE(start + N + 1) };
  return undefined;
}
