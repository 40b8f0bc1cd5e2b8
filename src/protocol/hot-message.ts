import type { BodyType, Headers, MessageCmd } from './commands.js';
import { asciiAt, headersEnd, readHeaders } from './hot-headers.js';

/**
 * The MESSAGE the broker writes (hot-encode.ts `encodeMessage`), read on the client in one function with the cursor
 * in local variables, straight off the received chunk: nearly every frame a consumer receives has this shape, and
 * the general fast reader (hot-decode.ts: a table of keys, a value per key in a shared array, a Buffer per frame)
 * was a fifth of a consumer's busy time.
 *
 * The broker writes the fields that repeat from one delivery to the next first (map header, t, sid, dest, bt,
 * persistent, priority, deliveryCount, redelivered). When a frame starts with exactly the bytes of the last frame's
 * run of those fields, their values are the last frame's, taken without reading them again.
 *
 * Keys may come in any order; a path (network bridges), a non-ASCII string, a string, map or number of a kind the
 * broker does not write, a missing field or any other key answers undefined, and the frame goes to hot-decode.ts's
 * reader (and from there, perhaps, to msgpackr), which gives it the meaning it always had.
 */

const EMPTY = Buffer.alloc(0);

/** Where the value just read ends (the readers below return the value and leave its end here). */
let at = 0;

/** A msgpack string (fixstr, str8, str16) of ASCII at `p`, or undefined. */
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

/** A msgpack number at `p` as the broker's encoder writes numbers (hot-encode.ts `writeNum`), or NaN. */
function numAt(buf: Buffer, p: number, stop: number): number {
  const t = buf[p]!;
  if (t < 0x80) {
    at = p + 1;
    return t;
  }
  if (t >= 0xe0) {
    at = p + 1;
    return t - 0x100;
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

/** The last destination read, by its bytes (it repeats frame after frame, outside the cached run too). */
let destBytes: Buffer = EMPTY;
let destStr = '';

function destAt(buf: Buffer, p: number, stop: number): string | undefined {
  const t = buf[p]!;
  if ((t & 0xe0) !== 0xa0 && t !== 0xd9) return strAt(buf, p, stop);
  const s = t === 0xd9 ? p + 2 : p + 1;
  const n = t === 0xd9 ? (s <= stop ? buf[p + 1]! : -1) : t & 0x1f;
  const b = destBytes;
  if (n >= 0 && b.length === n && s + n <= stop) {
    let j = 0;
    while (j < n && b[j] === buf[s + j]) j++;
    if (j === n) {
      at = s + n;
      return destStr;
    }
  }
  const v = strAt(buf, p, stop);
  if (v !== undefined) {
    destBytes = Buffer.from(buf.subarray(s, s + n));
    destStr = v;
  }
  return v;
}

const K_T = 1;
const K_SID = 2;
const K_DEST = 3;
const K_BT = 4;
const K_PERSISTENT = 5;
const K_PRIORITY = 6;
const K_DELIVERY_COUNT = 7;
const K_REDELIVERED = 8;
const K_TAG = 9;
const K_ID = 10;
const K_TIMESTAMP = 11;
const K_EXPIRES = 12;
const K_HEADERS = 13;
const K_CORRELATION_ID = 14;
const K_REPLY_TO = 15;
const K_BODY = 16;

const NAMES: [string, number][] = [
  ['t', K_T], ['sid', K_SID], ['dest', K_DEST], ['bt', K_BT], ['persistent', K_PERSISTENT], ['priority', K_PRIORITY],
  ['deliveryCount', K_DELIVERY_COUNT], ['redelivered', K_REDELIVERED], ['tag', K_TAG], ['id', K_ID],
  ['timestamp', K_TIMESTAMP], ['expires', K_EXPIRES], ['headers', K_HEADERS], ['correlationId', K_CORRELATION_ID],
  ['replyTo', K_REPLY_TO], ['body', K_BODY],
];
/** Keys by length and first byte (`length << 8 | byte`): no two of them share a slot. */
const SLOT = new Uint8Array(32 << 8);
const KEY_BYTES: Buffer[] = [];
for (const [name, code] of NAMES) {
  const slot = (name.length << 8) | name.charCodeAt(0);
  if (SLOT[slot] !== 0) throw new Error(`hot-message: two keys share slot ${name}`);
  SLOT[slot] = code;
  KEY_BYTES[code] = Buffer.from(name, 'latin1');
}
/** Bit of each leading (repeating) field, and of every field a MESSAGE must have. */
const LEADING = (1 << K_T) | (1 << K_SID) | (1 << K_DEST) | (1 << K_BT) | (1 << K_PERSISTENT) | (1 << K_PRIORITY) | (1 << K_DELIVERY_COUNT) | (1 << K_REDELIVERED);
const REQUIRED = LEADING | (1 << K_TAG) | (1 << K_ID) | (1 << K_TIMESTAMP) | (1 << K_EXPIRES) | (1 << K_BODY);

/** The key (a fixstr) at `buf[p]` as one of the K_ codes, or 0; its end in `at`. */
function keyAt(buf: Buffer, p: number, stop: number): number {
  const kb = buf[p]!;
  if ((kb & 0xe0) !== 0xa0) return 0;
  const n = kb & 0x1f;
  const s = p + 1;
  if (n === 0 || s + n >= stop) return 0;
  const code = SLOT[(n << 8) | buf[s]!]!;
  if (code === 0) return 0;
  const k = KEY_BYTES[code]!;
  for (let j = 1; j < n; j++) if (k[j] !== buf[s + j]) return 0;
  at = s + n;
  return code;
}

/** "MESSAGE" as a fixstr. */
const MESSAGE_BYTES = Buffer.from('\xa7MESSAGE', 'latin1');

/** The last frame's leading run of repeating fields, as bytes (map header included), and what they said. */
let lead: Buffer = EMPTY;
let leadEntries = 0;
let leadMap = 0;
let lSid = 0;
let lDest = '';
let lBt = 0;
let lPersistent = false;
let lPriority = 0;
let lCount = 0;
let lRedelivered = false;
/** Longest leading run kept (a destination name can be 1024 characters; such a run is simply read each time). */
const MAX_LEAD = 256;

/**
 * The plain MESSAGE at `buf[start, stop)`, or undefined (the general readers decide then). Its body is a Buffer
 * view of `buf`, as applications get it.
 */
export function decodePlainMessage(buf: Buffer, start: number, stop: number): MessageCmd | undefined {
  let p = start;
  if (p >= stop) return undefined;
  let entries: number;
  let i = 0;
  let seen = 0;
  let sid = 0;
  let dest = '';
  let bt = 0;
  let persistent = false;
  let priority = 0;
  let deliveryCount = 0;
  let redelivered = false;
  const l = lead.length;
  let cached = false;
  if (l > 0 && stop - start > l && buf[start] === lead[0]) {
    let j = 1;
    while (j < l && buf[start + j] === lead[j]) j++;
    cached = j === l;
  }
  if (cached) {
    entries = leadMap;
    i = leadEntries;
    seen = LEADING;
    sid = lSid;
    dest = lDest;
    bt = lBt;
    persistent = lPersistent;
    priority = lPriority;
    deliveryCount = lCount;
    redelivered = lRedelivered;
    p = start + l;
  } else {
    const head = buf[p]!;
    if ((head & 0xf0) === 0x80) {
      entries = head & 0x0f;
      p++;
    } else if (head === 0xde && p + 2 < stop) {
      entries = (buf[p + 1]! << 8) | buf[p + 2]!;
      p += 3;
    } else return undefined;
  }
  /** End of the leading run in this frame while only leading fields have been read, else -1. */
  let leadEnd = cached ? -1 : p;
  let leadCount = 0;
  let tag = 0;
  let id = '';
  let timestamp = 0;
  let expires = 0;
  let headers: Headers | undefined;
  let correlationId: string | undefined;
  let replyTo: string | undefined;
  let body: Buffer | undefined;
  for (; i < entries; i++) {
    if (p >= stop) return undefined;
    const k = keyAt(buf, p, stop);
    if (k === 0) return undefined;
    p = at;
    if (p >= stop) return undefined;
    const bit = 1 << k;
    // A repeated key: msgpackr takes the last one; this reader leaves such a frame to it.
    if ((seen & bit) !== 0) return undefined;
    seen |= bit;
    const t = buf[p]!;
    switch (k) {
      case K_T:
        if (t !== 0xa7 || p + 8 > stop) return undefined;
        for (let j = 1; j < 8; j++) if (buf[p + j] !== MESSAGE_BYTES[j]) return undefined;
        p += 8;
        break;
      case K_DEST: {
        const s = destAt(buf, p, stop);
        if (s === undefined) return undefined;
        dest = s;
        p = at;
        break;
      }
      case K_ID:
      case K_CORRELATION_ID:
      case K_REPLY_TO: {
        const s = strAt(buf, p, stop);
        if (s === undefined) return undefined;
        if (k === K_ID) id = s;
        else if (k === K_CORRELATION_ID) correlationId = s;
        else replyTo = s;
        p = at;
        break;
      }
      case K_PERSISTENT:
      case K_REDELIVERED:
        if (t !== 0xc2 && t !== 0xc3) return undefined;
        if (k === K_PERSISTENT) persistent = t === 0xc3;
        else redelivered = t === 0xc3;
        p++;
        break;
      case K_HEADERS: {
        const h = readHeaders(buf, p, stop);
        if (h === undefined) return undefined;
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
        } else return undefined;
        if (p + len > stop) return undefined;
        body = buf.subarray(p, p + len);
        p += len;
        break;
      }
      default: {
        // numbers: sid, bt, priority, deliveryCount, tag, timestamp, expires
        const v = numAt(buf, p, stop);
        if (Number.isNaN(v)) return undefined;
        p = at;
        if (k === K_SID) sid = v;
        else if (k === K_BT) bt = v;
        else if (k === K_PRIORITY) priority = v;
        else if (k === K_DELIVERY_COUNT) deliveryCount = v;
        else if (k === K_TAG) tag = v;
        else if (k === K_TIMESTAMP) timestamp = v;
        else expires = v;
      }
    }
    if (leadEnd >= 0) {
      if ((bit & LEADING) !== 0) {
        leadEnd = p;
        leadCount = i + 1;
      } else leadEnd = -1 - leadEnd; // frozen: the run ended before this key
    }
  }
  if (p !== stop || (seen & REQUIRED) !== REQUIRED) return undefined;
  if (!cached) {
    const end = leadEnd >= 0 ? leadEnd : -1 - leadEnd;
    // Kept only when the run holds every leading field (a later frame taking it then has them all).
    if (leadCount === 8 && end - start <= MAX_LEAD) {
      lead = Buffer.from(buf.subarray(start, end));
      leadEntries = leadCount;
      leadMap = entries;
      lSid = sid;
      lDest = dest;
      lBt = bt;
      lPersistent = persistent;
      lPriority = priority;
      lCount = deliveryCount;
      lRedelivered = redelivered;
    }
  }
  return {
    t: 'MESSAGE',
    sid,
    tag,
    id,
    dest,
    body: body!,
    bt: bt as BodyType,
    persistent,
    priority,
    timestamp,
    expires,
    deliveryCount,
    redelivered,
    headers,
    correlationId,
    replyTo,
    path: undefined,
  };
}
