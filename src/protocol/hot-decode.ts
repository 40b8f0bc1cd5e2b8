import type { BodyType, Headers, MessageCmd, SendCmd } from './commands.js';
import { decodePlainSend } from './hot-send.js';

/**
 * The decoding half of the hot codec (see hot-encode.ts): SEND on the broker, MESSAGE on the client, read straight
 * off the received frame with bodies as views. Only the plain shape is taken — a map of scalar entries with short
 * ASCII keys and ASCII strings, plus `headers` as a map of such scalars and `path` as a list of such strings;
 * anything else answers `undefined` and takes the general path (msgpackr and validate.ts), which gives it the
 * meaning, or the error, it always had. A SEND taken here is one validate.ts accepts, field by field.
 */

const MAX_SAFE = Number.MAX_SAFE_INTEGER;

/** A value the fast decoders do not take (a map, an array, an extension, a non-ASCII string, truncated bytes). */
const OTHER = Symbol('other');
type Scalar = string | number | boolean | null | Buffer | Uint8Array | typeof OTHER;

/** Buffer's own latin1 slicer when present (what toString('latin1') calls after its argument checks). */
type Latin1 = (b: Buffer, start: number, end: number) => string;
const proto = Buffer.prototype as Buffer & { latin1Slice?: (start: number, end: number) => string };
const latin1: Latin1 =
  typeof proto.latin1Slice === 'function' ? (b, start, end) => (b as typeof proto).latin1Slice!(start, end) : (b, start, end) => b.toString('latin1', start, end);

// One frame is decoded at a time, synchronously: the cursor lives here rather than in an object per frame.
const EMPTY = Buffer.alloc(0);
let src: Buffer = EMPTY;
let pos = 0;
let end = 0;

function ascii(n: number): string | typeof OTHER {
  const e = pos + n;
  if (e > end) return OTHER;
  for (let i = pos; i < e; i++) if (src[i]! > 0x7f) return OTHER;
  const s = latin1(src, pos, e);
  pos = e;
  return s;
}

/**
 * Destinations and producer ids repeat frame after frame: the last string seen for a key is given again when the
 * bytes are the same, instead of a new string each time (fewer allocations, less garbage).
 */
const lastBytes: Buffer[] = [];
const lastStr: string[] = [];

function repeatedAscii(k: number): Scalar {
  if (pos >= end) return OTHER;
  const b = src[pos]!;
  if ((b & 0xe0) !== 0xa0) return scalar();
  const n = b & 0x1f;
  const s = pos + 1;
  const prev = lastBytes[k];
  if (prev !== undefined && prev.length === n && s + n <= end) {
    let j = 0;
    while (j < n && prev[j] === src[s + j]) j++;
    if (j === n) {
      pos = s + n;
      return lastStr[k]!;
    }
  }
  pos = s;
  const v = ascii(n);
  if (v !== OTHER) {
    lastBytes[k] = Buffer.from(src.subarray(s, s + n));
    lastStr[k] = v;
  }
  return v;
}

/**
 * Bodies of SENDs (the broker's side) are plain Uint8Array views: a Buffer view costs three times as much to make
 * (its subclass constructor), and the broker needs nothing of Buffer on a body. The client's MESSAGE bodies stay
 * Buffers, as applications get them.
 */
let plainViews = false;

function bin(n: number): Buffer | Uint8Array | typeof OTHER {
  const e = pos + n;
  if (e > end) return OTHER;
  const b = plainViews ? new Uint8Array(src.buffer, src.byteOffset + pos, n) : src.subarray(pos, e);
  pos = e;
  return b;
}

/** Bytes left for a fixed-size value, or OTHER's signal (false). */
function has(n: number): boolean {
  return pos + n <= end;
}

/** One scalar value at the cursor (as msgpackr decodes it), or OTHER. */
function scalar(): Scalar {
  if (pos >= end) return OTHER;
  const b = src[pos++]!;
  if (b < 0x80) return b;
  if (b >= 0xe0) return b - 0x100;
  if ((b & 0xe0) === 0xa0) return ascii(b & 0x1f);
  let v: number;
  switch (b) {
    case 0xc0:
      return null;
    case 0xc2:
      return false;
    case 0xc3:
      return true;
    case 0xc4:
      return has(1) ? bin(src[pos++]!) : OTHER;
    case 0xc5:
      if (!has(2)) return OTHER;
      v = src.readUInt16BE(pos);
      pos += 2;
      return bin(v);
    case 0xc6:
      if (!has(4)) return OTHER;
      v = src.readUInt32BE(pos);
      pos += 4;
      return bin(v);
    case 0xcb:
      if (!has(8)) return OTHER;
      v = src.readDoubleBE(pos);
      pos += 8;
      return v;
    case 0xcc:
      return has(1) ? src[pos++]! : OTHER;
    case 0xcd:
      if (!has(2)) return OTHER;
      v = src.readUInt16BE(pos);
      pos += 2;
      return v;
    case 0xce:
      if (!has(4)) return OTHER;
      v = src.readUInt32BE(pos);
      pos += 4;
      return v;
    case 0xd0:
      if (!has(1)) return OTHER;
      return src.readInt8(pos++);
    case 0xd1:
      if (!has(2)) return OTHER;
      v = src.readInt16BE(pos);
      pos += 2;
      return v;
    case 0xd2:
      if (!has(4)) return OTHER;
      v = src.readInt32BE(pos);
      pos += 4;
      return v;
    case 0xd9:
      return has(1) ? ascii(src[pos++]!) : OTHER;
    case 0xda:
      if (!has(2)) return OTHER;
      v = src.readUInt16BE(pos);
      pos += 2;
      return ascii(v);
    default:
      // maps, arrays, extensions, float32, 64-bit integers, str32: the general decoder's business
      return OTHER;
  }
}

/** Header positions whose keys are remembered (repeatedAscii slots after the command keys'). */
const REPEAT_SLOTS = 4;
const HEADER_KEY_SLOT = 32;

/** Longest broker path and most header entries validate.ts accepts (longer ones go to it, to be refused there). */
const MAX_PATH = 64;
const MAX_HEADERS = 1024;
const MAX_KEY = 1024;

/** A string at the cursor (fixstr, str8, str16; ASCII), or OTHER. */
function str(): string | typeof OTHER {
  if (pos >= end) return OTHER;
  const b = src[pos]!;
  if ((b & 0xe0) === 0xa0 || b === 0xd9 || b === 0xda) {
    const v = scalar();
    return typeof v === 'string' ? v : OTHER;
  }
  return OTHER;
}

/**
 * A header map of scalars at the cursor, as msgpackr (mapsAsObjects) builds it, or OTHER. Binary values, nested
 * values and the key `__proto__` (which msgpackr renames) are the general path's; so are maps validate.ts refuses.
 */
function headerMap(): Headers | typeof OTHER {
  const n = mapSize();
  if (n < 0 || n > MAX_HEADERS) return OTHER;
  const h: Headers = {};
  for (let i = 0; i < n; i++) {
    // The first few keys reuse the last key read at their position (a producer's header names repeat frame after
    // frame: the CLI tools' ferry.run and ferry.seq); values, often unique, are read afresh.
    const k = i < REPEAT_SLOTS ? repeatedAscii(HEADER_KEY_SLOT + i) : str();
    if (typeof k !== 'string' || k.length > MAX_KEY || k === '__proto__') return OTHER;
    const v = scalar();
    if (v === OTHER || (typeof v === 'object' && v !== null)) return OTHER;
    h[k] = v;
  }
  return h;
}

/** A broker path at the cursor: a list of non-empty strings validate.ts accepts, or OTHER. */
function pathList(): string[] | typeof OTHER {
  if (pos >= end) return OTHER;
  const b = src[pos]!;
  let n: number;
  if ((b & 0xf0) === 0x90) {
    n = b & 0x0f;
    pos++;
  } else if (b === 0xdc && pos + 3 <= end) {
    n = src.readUInt16BE(pos + 1);
    pos += 3;
  } else return OTHER;
  if (n > MAX_PATH) return OTHER;
  const p = new Array<string>(n);
  for (let i = 0; i < n; i++) {
    const s = str();
    if (s === OTHER || s.length === 0 || s.length > 256) return OTHER;
    p[i] = s;
  }
  return p;
}

const SEND_BYTES = Buffer.from('\xa4SEND', 'latin1');
const MESSAGE_BYTES = Buffer.from('\xa7MESSAGE', 'latin1');

function bytesAt(b: Buffer): boolean {
  const n = b.length;
  if (pos + n > end) return false;
  for (let i = 0; i < n; i++) if (src[pos + i] !== b[i]) return false;
  return true;
}

/** The command name (`t`): SEND and MESSAGE are recognised by their bytes, without making a string of them. */
function command(): Scalar {
  if (bytesAt(SEND_BYTES)) {
    pos += SEND_BYTES.length;
    return 'SEND';
  }
  if (bytesAt(MESSAGE_BYTES)) {
    pos += MESSAGE_BYTES.length;
    return 'MESSAGE';
  }
  return scalar();
}

/** Codes of the keys SEND and MESSAGE use, in the order of KEY_NAMES (0: any other key). */
const enum Key {
  t = 1, dest, body, bt, persistent, pid, seq, rid, priority, ttl, correlationId, replyTo, tx,
  sid, tag, id, timestamp, expires, deliveryCount, redelivered,
  headers, path, mid, ts, exp, rd,
}
const KEY_NAMES = [
  't', 'dest', 'body', 'bt', 'persistent', 'pid', 'seq', 'rid', 'priority', 'ttl', 'correlationId', 'replyTo', 'tx',
  'sid', 'tag', 'id', 'timestamp', 'expires', 'deliveryCount', 'redelivered',
  'headers', 'path', 'mid', 'ts', 'exp', 'rd',
];
/** The known keys' bytes, by code. */
const KEY_BYTES = KEY_NAMES.map((k) => Buffer.from(k, 'latin1'));
/**
 * Known keys by length and first byte (slot `length << 8 | byte`, lengths below 32): up to two candidate codes per
 * slot (no slot has more), picked from by a byte compare.
 */
const FIRST = new Uint8Array(32 << 8);
const SECOND = new Uint8Array(32 << 8);
KEY_NAMES.forEach((k, i) => {
  const slot = (k.length << 8) | k.charCodeAt(0);
  if (FIRST[slot] === 0) FIRST[slot] = i + 1;
  else if (SECOND[slot] === 0) SECOND[slot] = i + 1;
  else throw new Error(`hot-decode: three keys share slot ${k}`);
});

function sameKey(code: number, s: number, n: number): boolean {
  const k = KEY_BYTES[code - 1]!;
  for (let j = 1; j < n; j++) if (k[j] !== src[s + j]) return false;
  return true;
}

/**
 * The key at the cursor, as its code in KEY_NAMES (0: some other key, whose value is then skipped; -1: not a short
 * string key).
 */
function keyCode(): number {
  if (pos >= end) return -1;
  const b = src[pos]!;
  if ((b & 0xe0) !== 0xa0) return -1;
  const n = b & 0x1f;
  const s = pos + 1;
  pos = s + n;
  if (pos > end) return -1;
  if (n === 0) return 0;
  const slot = (n << 8) | src[s]!;
  const a = FIRST[slot]!;
  if (a === 0) return 0;
  if (sameKey(a, s, n)) return a;
  const c = SECOND[slot]!;
  return c !== 0 && sameKey(c, s, n) ? c : 0;
}

/** Entries of the map at the cursor (fixmap or map16), or -1. */
function mapSize(): number {
  if (pos >= end) return -1;
  const b = src[pos]!;
  if ((b & 0xf0) === 0x80) {
    pos++;
    return b & 0x0f;
  }
  if (b !== 0xde || pos + 3 > end) return -1;
  pos += 3;
  return src.readUInt16BE(pos - 2);
}

/** Scalar values by key code, for the frame being decoded (headers and path: see below). */
const vals: Scalar[] = new Array<Scalar>(KEY_NAMES.length + 1);
/** The frame's headers and path when they are a map and a list (nil or absent: in `vals`). */
let headersVal: Headers | undefined;
let pathVal: string[] | undefined;

/** The value of key `k` at the cursor, stored where its kind goes; false when the frame is not the plain shape. */
function value(k: number): boolean {
  if (k === Key.headers && pos < end && ((src[pos]! & 0xf0) === 0x80 || src[pos] === 0xde)) {
    const h = headerMap();
    if (h === OTHER) return false;
    headersVal = h;
    vals[k] = undefined as unknown as Scalar;
    return true;
  }
  if (k === Key.path && pos < end && ((src[pos]! & 0xf0) === 0x90 || src[pos] === 0xdc)) {
    const p = pathList();
    if (p === OTHER) return false;
    pathVal = p;
    vals[k] = undefined as unknown as Scalar;
    return true;
  }
  const v = k === Key.dest || k === Key.pid ? repeatedAscii(k) : k === Key.t ? command() : scalar();
  if (v === OTHER) return false;
  // A repeated key: the last one counts, as in msgpackr.
  if (k > 0) {
    vals[k] = v;
    if (k === Key.headers) headersVal = undefined;
    else if (k === Key.path) pathVal = undefined;
  }
  return true;
}

/**
 * Read a whole map of scalars into `vals` (unset keys: undefined), headers and path into theirs. False when it is
 * not that plain shape.
 */
function readMap(body: Buffer, start: number, stop: number): boolean {
  src = body;
  pos = start;
  end = stop;
  vals.fill(undefined as unknown as Scalar);
  headersVal = undefined;
  pathVal = undefined;
  const n = mapSize();
  if (n < 0) return false;
  for (let i = 0; i < n; i++) {
    const k = keyCode();
    if (k < 0 || !value(k)) return false;
  }
  // Trailing bytes make the frame malformed (§1): the general path says so.
  const whole = pos === end;
  src = EMPTY; // the frame's chunk is not kept alive by the reader
  return whole;
}

function isStr(v: Scalar, max: number): boolean {
  return typeof v === 'string' && v.length <= max;
}

function isInt(v: Scalar, min: number, max: number): boolean {
  return typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;
}

/** Absent (missing or nil) or a valid value; msgpack nil arrives as null, as msgpackr gives it. */
function optStr(v: Scalar, max: number): boolean {
  return v === undefined || v === null || isStr(v, max);
}

function optInt(v: Scalar, min: number, max: number): boolean {
  return v === undefined || v === null || isInt(v, min, max);
}

function optBool(v: Scalar): boolean {
  return v === undefined || v === null || typeof v === 'boolean';
}

/**
 * A SEND in the plain shape (`body[start, stop)`), checked as validate.ts checks it; undefined for anything else
 * (another command, exotic values, or a SEND validate.ts would refuse: the general path then answers it).
 */
export function decodeSend(body: Buffer, start = 0, stop = body.length): SendCmd | undefined {
  const plainSend = decodePlainSend(body, start, stop);
  if (plainSend !== undefined) return plainSend;
  plainViews = true;
  const plain = readMap(body, start, stop);
  plainViews = false;
  if (!plain) return undefined;
  const v = vals;
  if (v[Key.t] !== 'SEND') return undefined;
  const dest = v[Key.dest];
  const b = v[Key.body];
  if (!isStr(dest, 1024) || !(b instanceof Uint8Array)) return undefined;
  if (
    !optInt(v[Key.bt], 0, 2) ||
    !optBool(v[Key.persistent]) ||
    !optStr(v[Key.pid], 256) ||
    !optInt(v[Key.seq], 0, MAX_SAFE) ||
    !optInt(v[Key.rid], 0, MAX_SAFE) ||
    !optInt(v[Key.priority], 0, 9) ||
    !optInt(v[Key.ttl], 0, MAX_SAFE) ||
    !optStr(v[Key.correlationId], 4096) ||
    !optStr(v[Key.replyTo], 1024) ||
    !optStr(v[Key.tx], 256) ||
    !optStr(v[Key.mid], 512) ||
    !optInt(v[Key.ts], 0, MAX_SAFE) ||
    !optInt(v[Key.exp], 0, MAX_SAFE) ||
    !optBool(v[Key.rd]) ||
    // headers and path: a map and a list (checked as they were read), nil, or absent; no other scalar
    (v[Key.headers] !== undefined && v[Key.headers] !== null) ||
    (v[Key.path] !== undefined && v[Key.path] !== null)
  ) {
    return undefined;
  }
  // One shape for every SEND (absent fields undefined, nil ones null, as msgpackr gives them): reads stay monomorphic.
  return {
    t: 'SEND',
    dest: dest as string,
    body: b as Uint8Array,
    bt: v[Key.bt] as SendCmd['bt'],
    persistent: v[Key.persistent] as boolean | undefined,
    pid: v[Key.pid] as string | undefined,
    seq: v[Key.seq] as number | undefined,
    rid: v[Key.rid] as number | undefined,
    headers: headersVal ?? (v[Key.headers] as unknown as undefined),
    priority: v[Key.priority] as number | undefined,
    ttl: v[Key.ttl] as number | undefined,
    correlationId: v[Key.correlationId] as string | undefined,
    replyTo: v[Key.replyTo] as string | undefined,
    tx: v[Key.tx] as string | undefined,
    path: pathVal ?? (v[Key.path] as unknown as undefined),
    mid: v[Key.mid] as string | undefined,
    ts: v[Key.ts] as number | undefined,
    exp: v[Key.exp] as number | undefined,
    rd: v[Key.rd] as boolean | undefined,
  };
}

/** A MESSAGE in the plain shape; undefined for anything else. */
export function decodeMessage(body: Buffer): MessageCmd | undefined {
  if (!readMap(body, 0, body.length)) return undefined;
  const v = vals;
  if (v[Key.t] !== 'MESSAGE' || v[Key.headers] !== undefined || v[Key.path] !== undefined) return undefined;
  const b = v[Key.body];
  if (!Buffer.isBuffer(b)) return undefined;
  const cmd: MessageCmd = {
    t: 'MESSAGE',
    sid: v[Key.sid] as number,
    tag: v[Key.tag] as number,
    id: v[Key.id] as string,
    dest: v[Key.dest] as string,
    body: b,
    bt: v[Key.bt] as BodyType,
    persistent: v[Key.persistent] as boolean,
    priority: v[Key.priority] as number,
    timestamp: v[Key.timestamp] as number,
    expires: v[Key.expires] as number,
    deliveryCount: v[Key.deliveryCount] as number,
    redelivered: v[Key.redelivered] as boolean,
  };
  const c = v[Key.correlationId];
  if (c !== undefined) cmd.correlationId = c as string;
  const r = v[Key.replyTo];
  if (r !== undefined) cmd.replyTo = r as string;
  if (headersVal !== undefined) cmd.headers = headersVal;
  if (pathVal !== undefined) cmd.path = pathVal;
  return cmd;
}
