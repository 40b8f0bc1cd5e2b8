import type { Headers } from './commands.js';

/**
 * A message's header map, read by the plain SEND and MESSAGE readers (hot-send.ts, hot-message.ts): a map of scalars
 * (ASCII strings, numbers as msgpack writes them, booleans, nil) with short ASCII keys, as msgpackr builds it and
 * validate.ts accepts it. Anything else (non-ASCII text, nested or binary values, 64-bit integers, float32, the key
 * `__proto__` that msgpackr renames, more entries or longer keys than validate.ts allows) answers undefined, and the
 * frame goes to the general readers.
 */

type Latin1 = (start: number, end: number) => string;
const proto = Buffer.prototype as Buffer & { latin1Slice?: Latin1 };
const EMPTY = Buffer.alloc(0);

/** Most entries and longest key validate.ts accepts. */
const MAX_HEADERS = 1024;
const MAX_KEY = 1024;

/** Where the value just read ends. */
export let headersEnd = 0;
let at = 0;

/** A string at `buf[s, s + n)` if it is ASCII, else undefined (shared by the plain SEND and MESSAGE readers). */
export function asciiAt(buf: Buffer, s: number, n: number): string | undefined {
  for (let i = s; i < s + n; i++) if (buf[i]! > 0x7f) return undefined;
  return proto.latin1Slice !== undefined ? proto.latin1Slice.call(buf, s, s + n) : buf.toString('latin1', s, s + n);
}

/** An ASCII string (fixstr, str8, str16) at `p`, its end in `at`; undefined for anything else. */
function strAt(buf: Buffer, p: number, stop: number): string | undefined {
  const t = buf[p]!;
  let len: number;
  if ((t & 0xe0) === 0xa0) {
    len = t & 0x1f;
    p += 1;
  } else if (t === 0xd9 && p + 1 < stop) {
    len = buf[p + 1]!;
    p += 2;
  } else if (t === 0xda && p + 2 < stop) {
    len = (buf[p + 1]! << 8) | buf[p + 2]!;
    p += 3;
  } else return undefined;
  if (p + len > stop) return undefined;
  at = p + len;
  return asciiAt(buf, p, len);
}

/** A number at `p` (fixints, 8/16/32-bit integers, float64), its end in `at`; NaN for anything else. */
function numAt(buf: Buffer, p: number, stop: number): number {
  const t = buf[p]!;
  if (t < 0x80 || t >= 0xe0) {
    at = p + 1;
    return t < 0x80 ? t : t - 0x100;
  }
  switch (t) {
    case 0xcc:
      if (p + 1 >= stop) return NaN;
      at = p + 2;
      return buf[p + 1]!;
    case 0xcd:
      if (p + 2 >= stop) return NaN;
      at = p + 3;
      return (buf[p + 1]! << 8) | buf[p + 2]!;
    case 0xce:
      if (p + 4 >= stop) return NaN;
      at = p + 5;
      return buf.readUInt32BE(p + 1);
    case 0xd0:
      if (p + 1 >= stop) return NaN;
      at = p + 2;
      return buf.readInt8(p + 1);
    case 0xd1:
      if (p + 2 >= stop) return NaN;
      at = p + 3;
      return buf.readInt16BE(p + 1);
    case 0xd2:
      if (p + 4 >= stop) return NaN;
      at = p + 5;
      return buf.readInt32BE(p + 1);
    case 0xcb:
      if (p + 8 >= stop) return NaN;
      at = p + 9;
      return buf.readDoubleBE(p + 1);
    default:
      return NaN;
  }
}

/** Header names read at the first few positions of the last map (a producer's names repeat frame after frame). */
const SLOTS = 4;
const keyBytes: Buffer[] = [EMPTY, EMPTY, EMPTY, EMPTY];
const keyStr: string[] = ['', '', '', ''];

function keyAt(buf: Buffer, p: number, stop: number, slot: number): string | undefined {
  const t = buf[p]!;
  if (slot >= SLOTS || (t & 0xe0) !== 0xa0) return strAt(buf, p, stop);
  const n = t & 0x1f;
  const b = keyBytes[slot]!;
  if (b.length === n && n > 0 && p + 1 + n <= stop) {
    let j = 0;
    while (j < n && b[j] === buf[p + 1 + j]) j++;
    if (j === n) {
      at = p + 1 + n;
      return keyStr[slot]!;
    }
  }
  const v = strAt(buf, p, stop);
  if (v !== undefined) {
    keyBytes[slot] = Buffer.from(buf.subarray(p + 1, p + 1 + n));
    keyStr[slot] = v;
  }
  return v;
}

/** The header map at `buf[p]` (fixmap or map16), its end in {@link headersEnd}; undefined when not plain. */
export function readHeaders(buf: Buffer, p: number, stop: number): Headers | undefined {
  if (p >= stop) return undefined;
  const t = buf[p]!;
  let n: number;
  if ((t & 0xf0) === 0x80) {
    n = t & 0x0f;
    p++;
  } else if (t === 0xde && p + 2 < stop) {
    n = (buf[p + 1]! << 8) | buf[p + 2]!;
    p += 3;
  } else return undefined;
  if (n > MAX_HEADERS) return undefined;
  const h: Headers = {};
  for (let i = 0; i < n; i++) {
    if (p >= stop) return undefined;
    const k = keyAt(buf, p, stop, i);
    if (k === undefined || k.length > MAX_KEY || k === '__proto__') return undefined;
    p = at;
    if (p >= stop) return undefined;
    const v = buf[p]!;
    if (v === 0xc0) {
      h[k] = null;
      p++;
    } else if (v === 0xc2 || v === 0xc3) {
      h[k] = v === 0xc3;
      p++;
    } else if ((v & 0xe0) === 0xa0 || v === 0xd9 || v === 0xda) {
      const s = strAt(buf, p, stop);
      if (s === undefined) return undefined;
      h[k] = s;
      p = at;
    } else {
      const x = numAt(buf, p, stop);
      if (Number.isNaN(x)) return undefined;
      h[k] = x;
      p = at;
    }
  }
  headersEnd = p;
  return h;
}
