import type { Headers, SendCmd } from './commands.js';
import { asciiAt, headersEnd, readHeaders } from './hot-headers.js';

/**
 * The SEND the bundled client writes for a plain message (hot-encode.ts `encodeSend`: t, dest, bt, persistent,
 * pid, seq, and perhaps rid, priority, ttl, headers, then body; a network bridge's forward adds path, mid, ts, exp
 * and rd), read in one function with the cursor in local variables:
 * nearly every frame a producer sends has this shape, and the general fast reader (hot-decode.ts, a table of keys
 * and a value per key in a shared array) took four times as long over it.
 *
 * Keys may come in any order; any other key, a nil, a non-ASCII or over-long string, an integer out of range or
 * any other value type answers undefined, and the frame goes to hot-decode.ts's reader (and from there, perhaps,
 * to msgpackr and validate.ts), which gives it the meaning it always had. What is taken here is what validate.ts
 * accepts, with the same fields.
 */

/** The last destination and producer id read, by their bytes: they repeat frame after frame. */
class Repeated {
  private bytes: Buffer = Buffer.alloc(0);
  private str = '';

  /** The ASCII string at `buf[s, s + n)`, the same string as last time when the bytes are; undefined if not ASCII. */
  get(buf: Buffer, s: number, n: number): string | undefined {
    const b = this.bytes;
    if (b.length === n) {
      let j = 0;
      while (j < n && b[j] === buf[s + j]) j++;
      if (j === n) return this.str;
    }
    const v = asciiAt(buf, s, n);
    if (v !== undefined) {
      this.bytes = Buffer.from(buf.subarray(s, s + n));
      this.str = v;
    }
    return v;
  }
}

const dests = new Repeated();
const pids = new Repeated();

const K_T = 1;
const K_DEST = 2;
const K_BT = 3;
const K_PERSISTENT = 4;
const K_PID = 5;
const K_SEQ = 6;
const K_RID = 7;
const K_PRIORITY = 8;
const K_TTL = 9;
const K_BODY = 10;
const K_HEADERS = 11;
const K_PATH = 12;
const K_MID = 13;
const K_TS = 14;
const K_EXP = 15;
const K_RD = 16;

/** The key at `buf[s, s + n)` (a fixstr's bytes) as one of the K_ codes, or 0. */
function keyAt(buf: Buffer, s: number, n: number): number {
  const c = buf[s];
  switch (n) {
    case 1:
      return c === 0x74 ? K_T : 0; // t
    case 2:
      if (c === 0x62 && buf[s + 1] === 0x74) return K_BT; // bt
      if (c === 0x74 && buf[s + 1] === 0x73) return K_TS; // ts
      return c === 0x72 && buf[s + 1] === 0x64 ? K_RD : 0; // rd
    case 3:
      if (c === 0x70 && buf[s + 1] === 0x69 && buf[s + 2] === 0x64) return K_PID;
      if (c === 0x73 && buf[s + 1] === 0x65 && buf[s + 2] === 0x71) return K_SEQ;
      if (c === 0x72 && buf[s + 1] === 0x69 && buf[s + 2] === 0x64) return K_RID;
      if (c === 0x74 && buf[s + 1] === 0x74 && buf[s + 2] === 0x6c) return K_TTL;
      if (c === 0x6d && buf[s + 1] === 0x69 && buf[s + 2] === 0x64) return K_MID;
      if (c === 0x65 && buf[s + 1] === 0x78 && buf[s + 2] === 0x70) return K_EXP;
      return 0;
    case 4:
      if (c === 0x64 && buf[s + 1] === 0x65 && buf[s + 2] === 0x73 && buf[s + 3] === 0x74) return K_DEST;
      if (c === 0x62 && buf[s + 1] === 0x6f && buf[s + 2] === 0x64 && buf[s + 3] === 0x79) return K_BODY;
      if (c === 0x70 && buf[s + 1] === 0x61 && buf[s + 2] === 0x74 && buf[s + 3] === 0x68) return K_PATH;
      return 0;
    case 7:
      return same(buf, s, HEADERS) ? K_HEADERS : 0;
    case 8:
      return same(buf, s, PRIORITY) ? K_PRIORITY : 0;
    case 10:
      return same(buf, s, PERSISTENT) ? K_PERSISTENT : 0;
    default:
      return 0;
  }
}

const PRIORITY = Buffer.from('priority', 'latin1');
const PERSISTENT = Buffer.from('persistent', 'latin1');
const HEADERS = Buffer.from('headers', 'latin1');

function same(buf: Buffer, s: number, k: Buffer): boolean {
  for (let j = 0; j < k.length; j++) if (buf[s + j] !== k[j]) return false;
  return true;
}

/**
 * The leading run of the last plain SEND read: the fields before `seq` that repeat from one send of a producer to
 * the next (map header, t, dest, bt, persistent, pid), as bytes, and what they said. A frame that starts with the
 * same bytes has the same values, taken without reading them again.
 */
let lead: Buffer = Buffer.alloc(0);
let leadEntries = 0;
let lDest = '';
let lBt: number | undefined;
let lPersistent: boolean | undefined;
let lPid: string | undefined;
/** Longest leading run kept (a destination can be 1024 characters; such a run is simply read each time). */
const MAX_LEAD = 512;
/** Fields of the leading run, by K_ code. */
const LEADING = (1 << K_T) | (1 << K_DEST) | (1 << K_BT) | (1 << K_PERSISTENT) | (1 << K_PID);

// The fields of the frame just read (one frame is read at a time, synchronously).
let dest = '';
let body: Uint8Array | undefined;
let bt: number | undefined;
let persistent: boolean | undefined;
let pid: string | undefined;
let seq: number | undefined;
let rid: number | undefined;
let priority: number | undefined;
let ttl: number | undefined;
let headers: Headers | undefined;
let path: readonly string[] | undefined;
let mid: string | undefined;
let ts: number | undefined;
let exp: number | undefined;
let rd: boolean | undefined;

/** A forward's broker path, as validate.ts takes it: at most 64 names of 1 to 256 characters. */
const MAX_PATH = 64;
/** The last path read and its bytes: a bridge's forwards all carry the same one. */
let pathBytes: Buffer = Buffer.alloc(0);
let lastPath: readonly string[] = [];
/** End of the path {@link readPath} read. */
let pathEnd = 0;

/** The array of ASCII strings at `buf[p]` (a broker path), or undefined: then the general reader decides. */
function readPath(buf: Buffer, p: number, stop: number): readonly string[] | undefined {
  const start = p;
  const t = buf[p]!;
  let n: number;
  if ((t & 0xf0) === 0x90) {
    n = t & 0x0f;
    p++;
  } else if (t === 0xdc && p + 2 < stop) {
    n = (buf[p + 1]! << 8) | buf[p + 2]!;
    p += 3;
  } else return undefined;
  if (n > MAX_PATH) return undefined;
  // Bounds first: the cached path is taken when the bytes are the same.
  let q = p;
  for (let i = 0; i < n; i++) {
    if (q >= stop) return undefined;
    const h = buf[q]!;
    let len: number;
    if ((h & 0xe0) === 0xa0) {
      len = h & 0x1f;
      q += 1;
    } else if (h === 0xd9 && q + 1 < stop) {
      len = buf[q + 1]!;
      q += 2;
    } else return undefined;
    if (len === 0 || len > 256 || q + len > stop) return undefined;
    q += len;
  }
  pathEnd = q;
  const b = pathBytes;
  if (b.length === q - start) {
    let j = 0;
    while (j < b.length && b[j] === buf[start + j]) j++;
    if (j === b.length) return lastPath;
  }
  const out: string[] = new Array<string>(n);
  for (let i = 0; i < n; i++) {
    const h = buf[p]!;
    const len = (h & 0xe0) === 0xa0 ? h & 0x1f : buf[p + 1]!;
    p += (h & 0xe0) === 0xa0 ? 1 : 2;
    const v = asciiAt(buf, p, len);
    if (v === undefined) return undefined;
    out[i] = v;
    p += len;
  }
  pathBytes = Buffer.from(buf.subarray(start, q));
  lastPath = out;
  return out;
}

/** End of the integer {@link readUint} read. */
let uintEnd = 0;

/** The integer from 0 to 2^53 - 1 at `buf[p]` (as hot-encode.ts writes a timestamp: float64 beyond 32 bits), or -1. */
function readUint(buf: Buffer, p: number, stop: number): number {
  const t = buf[p]!;
  let v: number;
  if (t < 0x80) {
    v = t;
    uintEnd = p + 1;
  } else if (t === 0xcc && p + 1 < stop) {
    v = buf[p + 1]!;
    uintEnd = p + 2;
  } else if (t === 0xcd && p + 2 < stop) {
    v = (buf[p + 1]! << 8) | buf[p + 2]!;
    uintEnd = p + 3;
  } else if (t === 0xce && p + 4 < stop) {
    v = buf.readUInt32BE(p + 1);
    uintEnd = p + 5;
  } else if (t === 0xcb && p + 8 < stop) {
    v = buf.readDoubleBE(p + 1);
    uintEnd = p + 9;
    if (!Number.isInteger(v) || v < 0 || v > Number.MAX_SAFE_INTEGER) return -1;
  } else return -1;
  return v;
}

/** Read the plain client SEND at `buf[start, stop)` into the fields above; false when it is not one. */
function readPlainSend(buf: Buffer, start: number, stop: number): boolean {
  let p = start;
  if (p >= stop) return false;
  const head = buf[p]!;
  if ((head & 0xf0) !== 0x80) return false;
  const n = head & 0x0f;
  let isSend = false;
  let hasDest = false;
  body = undefined;
  bt = undefined;
  persistent = undefined;
  pid = undefined;
  seq = undefined;
  rid = undefined;
  priority = undefined;
  ttl = undefined;
  headers = undefined;
  path = undefined;
  mid = undefined;
  ts = undefined;
  exp = undefined;
  rd = undefined;
  let i = 0;
  const l = lead.length;
  let cached = false;
  if (l > 0 && stop - start > l) {
    let j = 0;
    while (j < l && buf[start + j] === lead[j]) j++;
    cached = j === l;
  }
  if (cached) {
    isSend = true;
    hasDest = true;
    dest = lDest;
    bt = lBt;
    persistent = lPersistent;
    pid = lPid;
    i = leadEntries;
    p = start + l;
  } else p++;
  /** End of the leading run while only leading fields have been read; once another is read, -1 - that end. */
  let leadEnd = cached ? -1 : p;
  let leadCount = 0;
  // What the leading run says (taken as it ends: a field after it must not leak into the cache).
  let sDest = '';
  let sBt: number | undefined;
  let sPersistent: boolean | undefined;
  let sPid: string | undefined;
  for (; i < n; i++) {
    if (p >= stop) return false;
    const kb = buf[p]!;
    if ((kb & 0xe0) !== 0xa0) return false;
    const kl = kb & 0x1f;
    if (p + 1 + kl >= stop) return false;
    const k = keyAt(buf, p + 1, kl);
    p += 1 + kl;
    const t = buf[p]!;
    switch (k) {
      case K_T:
        // "SEND" as a fixstr
        if (t !== 0xa4 || p + 5 > stop || buf[p + 1] !== 0x53 || buf[p + 2] !== 0x45 || buf[p + 3] !== 0x4e || buf[p + 4] !== 0x44) return false;
        isSend = true;
        p += 5;
        break;
      case K_DEST:
      case K_PID:
      case K_MID: {
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
        } else return false;
        if (p + len > stop || len > (k === K_DEST ? 1024 : k === K_MID ? 512 : 256)) return false;
        // A forward's message id differs from frame to frame: not worth comparing with the last.
        const v = k === K_MID ? asciiAt(buf, p, len) : (k === K_DEST ? dests : pids).get(buf, p, len);
        if (v === undefined) return false;
        if (k === K_MID) mid = v;
        else if (k === K_DEST) {
          dest = v;
          hasDest = true;
        } else pid = v;
        p += len;
        break;
      }
      case K_PERSISTENT:
      case K_RD:
        if (t !== 0xc2 && t !== 0xc3) return false;
        if (k === K_RD) rd = t === 0xc3;
        else persistent = t === 0xc3;
        p++;
        break;
      case K_PATH: {
        const v = readPath(buf, p, stop);
        if (v === undefined) return false;
        path = v;
        p = pathEnd;
        break;
      }
      case K_TS:
      case K_EXP: {
        const v = readUint(buf, p, stop);
        if (v < 0) return false;
        if (k === K_TS) ts = v;
        else exp = v;
        p = uintEnd;
        break;
      }
      case K_BT:
      case K_PRIORITY:
        // positive fixints only: bt 0..2, priority 0..9
        if (t > (k === K_BT ? 2 : 9)) return false;
        if (k === K_BT) bt = t;
        else priority = t;
        p++;
        break;
      case K_SEQ:
      case K_RID:
      case K_TTL: {
        // unsigned integers up to 32 bits (a larger one is written as a float64: the general reader's)
        let v: number;
        if (t < 0x80) {
          v = t;
          p += 1;
        } else if (t === 0xcc && p + 1 < stop) {
          v = buf[p + 1]!;
          p += 2;
        } else if (t === 0xcd && p + 2 < stop) {
          v = (buf[p + 1]! << 8) | buf[p + 2]!;
          p += 3;
        } else if (t === 0xce && p + 4 < stop) {
          v = buf.readUInt32BE(p + 1);
          p += 5;
        } else return false;
        if (k === K_SEQ) seq = v;
        else if (k === K_RID) rid = v;
        else ttl = v;
        break;
      }
      case K_HEADERS: {
        // a map of scalars (nil, like any other value, is the general reader's)
        const h = readHeaders(buf, p, stop);
        if (h === undefined) return false;
        headers = h;
        p = headersEnd;
        break;
      }
      case K_BODY: {
        let len: number;
        if (t === 0xc4 && p + 1 < stop) {
          len = buf[p + 1]!;
          p += 2;
        } else if (t === 0xc5 && p + 2 < stop) {
          len = (buf[p + 1]! << 8) | buf[p + 2]!;
          p += 3;
        } else if (t === 0xc6 && p + 4 < stop) {
          len = buf.readUInt32BE(p + 1);
          p += 5;
        } else return false;
        if (p + len > stop) return false;
        body = new Uint8Array(buf.buffer, buf.byteOffset + p, len);
        p += len;
        break;
      }
      default:
        return false;
    }
    if (leadEnd >= 0) {
      if (((1 << k) & LEADING) !== 0) {
        leadEnd = p;
        leadCount = i + 1;
        sDest = dest;
        sBt = bt;
        sPersistent = persistent;
        sPid = pid;
      } else leadEnd = -1 - leadEnd;
    }
  }
  if (p !== stop || !isSend || !hasDest || body === undefined) return false;
  if (!cached && leadCount > 0) {
    const end = leadEnd >= 0 ? leadEnd : -1 - leadEnd;
    // Kept when the run holds t and dest (the others may be absent: the same bytes then lack them too).
    if (end - start <= MAX_LEAD && leadHas(buf, start, leadCount)) {
      lead = Buffer.from(buf.subarray(start, end));
      leadEntries = leadCount;
      lDest = sDest;
      lBt = sBt;
      lPersistent = sPersistent;
      lPid = sPid;
    }
  }
  return true;
}

/**
 * True when the first `count` entries of the map at `buf[start]` include t and dest, each once: a run that repeats
 * a key is not kept (its values would be the last occurrence's, which the cache would still give, but such a frame
 * is no producer's usual shape).
 */
function leadHas(buf: Buffer, start: number, count: number): boolean {
  let p = start + 1;
  let seen = 0;
  for (let i = 0; i < count; i++) {
    const kl = buf[p]! & 0x1f;
    const k = keyAt(buf, p + 1, kl);
    if ((seen & (1 << k)) !== 0) return false;
    seen |= 1 << k;
    p += 1 + kl;
    const t = buf[p]!;
    if (k === K_T) p += 5;
    else if (k === K_DEST || k === K_PID) p += (t & 0xe0) === 0xa0 ? 1 + (t & 0x1f) : t === 0xd9 ? 2 + buf[p + 1]! : 3 + ((buf[p + 1]! << 8) | buf[p + 2]!);
    else p += 1;
  }
  return (seen & ((1 << K_T) | (1 << K_DEST))) === ((1 << K_T) | (1 << K_DEST));
}

/**
 * The plain client SEND at `buf[start, stop)`, or undefined (the general readers decide then).
 */
export function decodePlainSend(buf: Buffer, start: number, stop: number): SendCmd | undefined {
  if (!readPlainSend(buf, start, stop)) return undefined;
  // The shape decodeSend gives every SEND (hot-decode.ts), so code that reads commands stays monomorphic.
  return {
    t: 'SEND',
    dest,
    body: body!,
    bt: bt as SendCmd['bt'],
    persistent,
    pid,
    seq,
    rid,
    headers,
    priority,
    ttl,
    correlationId: undefined,
    replyTo: undefined,
    tx: undefined,
    // A copy: SendCmd's path is a mutable list, and the one read is shared by the forwards that carry the same.
    path: path === undefined ? undefined : [...path],
    mid,
    ts,
    exp,
    rd,
  };
}

/**
 * What the broker's send takes (model/message.ts `SendInput`, the same fields in the same order, as
 * model/wire.ts `sendInputOf` makes it from a SEND), for a plain SEND outside a transaction.
 */
export interface PlainSendInput {
  dest: string;
  body: Uint8Array;
  bt: 0 | 1 | 2;
  persistent: boolean;
  pid: string | undefined;
  seq: number | undefined;
  headers: Headers | undefined;
  priority: number | undefined;
  ttl: number | undefined;
  correlationId: undefined;
  replyTo: undefined;
  path: readonly string[] | undefined;
  id: string | undefined;
  timestamp: number | undefined;
  expires: number | undefined;
  redelivered: boolean | undefined;
}

/** The `rid` of the last SEND {@link decodePlainSendInput} took (undefined: no receipt asked). */
export let plainSendRid: number | undefined;

/**
 * The plain client SEND at `buf[start, stop)` straight as the broker's input (no command object in between, one
 * allocation less per message), its rid in {@link plainSendRid}; undefined when it is not one.
 */
export function decodePlainSendInput(buf: Buffer, start: number, stop: number): PlainSendInput | undefined {
  if (!readPlainSend(buf, start, stop)) return undefined;
  plainSendRid = rid;
  return {
    dest,
    body: body!,
    bt: (bt ?? 0) as 0 | 1 | 2,
    persistent: persistent === true,
    pid,
    seq,
    headers,
    priority,
    ttl,
    correlationId: undefined,
    replyTo: undefined,
    path,
    id: mid,
    timestamp: ts,
    expires: exp,
    redelivered: rd,
  };
}
