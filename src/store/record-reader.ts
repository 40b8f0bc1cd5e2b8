/**
 * A small reader for the msgpack values the store writes (level-codec.ts packs message records with msgpackr, no
 * records, no structured clone): maps with string keys, arrays, integers, float64, ASCII strings, binary, nil,
 * booleans and msgpackr's `undefined` (fixext 0/0). A backlog drain decodes every stored message once; msgpackr's
 * general reader (string and key caches, a fresh Buffer per binary) was a fifth of the broker's time in it.
 *
 * Anything else (a non-ASCII string, float32, 64-bit integers, other extensions, truncated bytes) answers FAIL,
 * and the caller decodes the value with msgpackr, which gives it the meaning it always had.
 */

export const FAIL = Symbol('fail');

/** Indexes of a message record's fields in {@link readMessageRecord}'s output. */
export const enum F {
  seq, id, dest, body, bt, priority, timestamp, expires, headers, correlationId, replyTo, deliveryCount, pid, pseq, home, path,
}

type Latin1 = (start: number, end: number) => string;
const proto = Buffer.prototype as Buffer & { latin1Slice?: Latin1 };

let src: Buffer = Buffer.alloc(0);
let pos = 0;
let end = 0;

function ascii(n: number): string | typeof FAIL {
  const e = pos + n;
  if (e > end) return FAIL;
  for (let i = pos; i < e; i++) if (src[i]! > 0x7f) return FAIL;
  const s = proto.latin1Slice !== undefined ? proto.latin1Slice.call(src, pos, e) : src.toString('latin1', pos, e);
  pos = e;
  return s;
}

function u16(): number {
  const v = (src[pos]! << 8) | src[pos + 1]!;
  pos += 2;
  return v;
}

function u32(): number {
  const v = src.readUInt32BE(pos);
  pos += 4;
  return v;
}

function map(n: number, depth: number): Record<string, unknown> | typeof FAIL {
  const o: Record<string, unknown> = {};
  for (let i = 0; i < n; i++) {
    const k = value(depth);
    // msgpackr renames a key __proto__; leave such a map to it
    if (typeof k !== 'string' || k === '__proto__') return FAIL;
    const v = value(depth);
    if (v === FAIL) return FAIL;
    o[k] = v;
  }
  return o;
}

function array(n: number, depth: number): unknown[] | typeof FAIL {
  const a = new Array<unknown>(n);
  for (let i = 0; i < n; i++) {
    const v = value(depth);
    if (v === FAIL) return FAIL;
    a[i] = v;
  }
  return a;
}

function value(depth: number): unknown {
  if (pos >= end || depth > 8) return FAIL;
  const b = src[pos++]!;
  if (b < 0x80) return b;
  if (b >= 0xe0) return b - 0x100;
  if (b < 0x90) return map(b & 0x0f, depth + 1);
  if (b < 0xa0) return array(b & 0x0f, depth + 1);
  if (b < 0xc0) return ascii(b & 0x1f);
  const left = end - pos;
  let n: number;
  switch (b) {
    case 0xc0:
      return null;
    case 0xc2:
      return false;
    case 0xc3:
      return true;
    case 0xc4:
    case 0xc5:
    case 0xc6:
      if (left < (b === 0xc4 ? 1 : b === 0xc5 ? 2 : 4)) return FAIL;
      n = b === 0xc4 ? src[pos++]! : b === 0xc5 ? u16() : u32();
      if (pos + n > end) return FAIL;
      // A view of the stored value (it holds nothing else), not a copy.
      pos += n;
      return new Uint8Array(src.buffer, src.byteOffset + pos - n, n);
    case 0xcb:
      if (left < 8) return FAIL;
      pos += 8;
      return src.readDoubleBE(pos - 8);
    case 0xcc:
      return left < 1 ? FAIL : src[pos++]!;
    case 0xcd:
      return left < 2 ? FAIL : u16();
    case 0xce:
      return left < 4 ? FAIL : u32();
    case 0xd0:
      return left < 1 ? FAIL : src.readInt8(pos++);
    case 0xd1:
      if (left < 2) return FAIL;
      pos += 2;
      return src.readInt16BE(pos - 2);
    case 0xd2:
      if (left < 4) return FAIL;
      pos += 4;
      return src.readInt32BE(pos - 4);
    case 0xd4:
      // fixext 1 of type 0: msgpackr's undefined
      if (left < 2 || src[pos] !== 0 || src[pos + 1] !== 0) return FAIL;
      pos += 2;
      return undefined;
    case 0xd9:
      return left < 1 ? FAIL : ascii(src[pos++]!);
    case 0xda:
      return left < 2 ? FAIL : ascii(u16());
    case 0xdc:
      return left < 2 ? FAIL : array(u16(), depth + 1);
    case 0xde:
      return left < 2 ? FAIL : map(u16(), depth + 1);
    default:
      return FAIL;
  }
}

/** The fields of a stored message record (level-codec.ts `encodeMessage`), by code: index in this list, plus one. */
const FIELDS = ['seq', 'id', 'dest', 'body', 'bt', 'priority', 'timestamp', 'expires', 'headers', 'correlationId', 'replyTo', 'deliveryCount', 'pid', 'pseq', 'home', 'path'];
const FIELD_BYTES = FIELDS.map((f) => Buffer.from(f, 'latin1'));
/** Fields whose strings repeat from one record to the next (destination, producer id): the last one is reused. */
const REPEATS = new Set([FIELDS.indexOf('dest'), FIELDS.indexOf('pid'), FIELDS.indexOf('home')]);
const lastBytes: (Buffer | undefined)[] = [];
const lastStr: string[] = [];

/** The field at the cursor (a fixstr key), as its index in FIELDS; -1 for any other key. */
function field(): number {
  if (pos >= end) return -1;
  const b = src[pos]!;
  if ((b & 0xe0) !== 0xa0) return -1;
  const n = b & 0x1f;
  if (pos + 1 + n > end) return -1;
  for (let f = 0; f < FIELD_BYTES.length; f++) {
    const k = FIELD_BYTES[f]!;
    if (k.length !== n) continue;
    let j = 0;
    while (j < n && k[j] === src[pos + 1 + j]) j++;
    if (j === n) {
      pos += 1 + n;
      return f;
    }
  }
  return -1;
}

/** A fixstr value that is most likely the same as last time for field `f`. */
function repeated(f: number): unknown {
  const b = src[pos]!;
  const prev = lastBytes[f];
  if ((b & 0xe0) === 0xa0 && prev !== undefined && prev.length === (b & 0x1f) && pos + 1 + prev.length <= end) {
    const n = prev.length;
    let j = 0;
    while (j < n && prev[j] === src[pos + 1 + j]) j++;
    if (j === n) {
      pos += 1 + n;
      return lastStr[f];
    }
  }
  const start = pos;
  const v = value(0);
  if (typeof v === 'string' && (b & 0xe0) === 0xa0) {
    lastBytes[f] = Buffer.from(src.subarray(start + 1, pos));
    lastStr[f] = v;
  }
  return v;
}

/**
 * A stored message record: its fields by FIELDS index in `out` (absent ones left undefined), or false when the
 * bytes are not a record this reader takes (the caller then asks msgpackr). Known keys are matched by their bytes,
 * so no key string is made; an unknown key makes it fall back.
 */
export function readMessageRecord(bytes: Uint8Array, out: unknown[]): boolean {
  src = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  pos = 0;
  end = src.length;
  out.fill(undefined);
  let ok = false;
  let n = -1;
  if (end > 0) {
    const b = src[0]!;
    if ((b & 0xf0) === 0x80) {
      n = b & 0x0f;
      pos = 1;
    } else if (b === 0xde && end >= 3) {
      n = (src[1]! << 8) | src[2]!;
      pos = 3;
    }
  }
  if (n >= 0) {
    ok = true;
    for (let i = 0; i < n && ok; i++) {
      const f = field();
      if (f < 0) ok = false;
      else {
        const v = REPEATS.has(f) && pos < end ? repeated(f) : value(0);
        if (v === FAIL) ok = false;
        else out[f] = v;
      }
    }
    ok = ok && pos === end;
  }
  src = EMPTY;
  return ok;
}

/** The msgpack value in `bytes` (the whole of it), or FAIL for what this reader leaves to msgpackr. */
export function readRecord(bytes: Uint8Array): unknown {
  src = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  pos = 0;
  end = src.length;
  const v = value(0);
  const whole = pos === end;
  src = EMPTY;
  return whole ? v : FAIL;
}

const EMPTY = Buffer.alloc(0);
