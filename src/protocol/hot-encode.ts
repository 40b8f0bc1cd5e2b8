import type { BodyType, Headers, SendCmd } from './commands.js';

/**
 * Hand-written msgpack for the two commands every message crosses: SEND (client → broker) and MESSAGE (broker →
 * client). msgpackr builds a generic object per frame and copies each body into its own buffer; these write straight
 * into the outgoing frame buffer and read fields (bodies as views, never copies) straight off the received frame.
 *
 * The bytes are plain msgpack maps (PROTOCOL.md §1), so any decoder reads what the encoders write. The decoders take
 * only the plain shape the bundled client and broker write — scalar values, ASCII strings, at most 15 entries — and
 * answer `undefined` for anything else: such a frame then takes the general path (msgpackr and validate.ts), which
 * gives it the same meaning or the same error it always had. A fast-path result is one validate.ts would accept.
 */

/** The fields of a delivery the MESSAGE encoder reads (the broker's message model has them all). */
export interface MessageFields {
  id: string;
  dest: string;
  body: Uint8Array;
  bt: BodyType;
  persistent: boolean;
  priority: number;
  timestamp: number;
  expires: number;
  deliveryCount: number;
  headers?: Headers | undefined;
  correlationId?: string | undefined;
  replyTo?: string | undefined;
  path?: readonly string[] | undefined;
  /** Producer id and sequence, and whether the id is exactly `${pid}:${pseq}` (then written from them). */
  pid?: string | undefined;
  pseq?: number | undefined;
  pidId?: boolean | undefined;
}

/** The bytes of a key (fixstr), written once. */
function key(name: string): Buffer {
  const k = Buffer.allocUnsafe(1 + name.length);
  k[0] = 0xa0 | name.length;
  k.write(name, 1, 'latin1');
  return k;
}

const K_T = key('t');
const V_MESSAGE = key('MESSAGE');
const V_SEND = key('SEND');
const K = {
  sid: key('sid'),
  tag: key('tag'),
  id: key('id'),
  dest: key('dest'),
  bt: key('bt'),
  persistent: key('persistent'),
  priority: key('priority'),
  timestamp: key('timestamp'),
  expires: key('expires'),
  deliveryCount: key('deliveryCount'),
  redelivered: key('redelivered'),
  headers: key('headers'),
  correlationId: key('correlationId'),
  replyTo: key('replyTo'),
  path: key('path'),
  body: key('body'),
  pid: key('pid'),
  seq: key('seq'),
  rid: key('rid'),
  ttl: key('ttl'),
  tx: key('tx'),
  mid: key('mid'),
  ts: key('ts'),
  exp: key('exp'),
  rd: key('rd'),
};

/** Copy a few bytes (a key): a loop beats Buffer.copy's native call at this size. */
function put(out: Buffer, off: number, bytes: Buffer): number {
  const n = bytes.length;
  for (let i = 0; i < n; i++) out[off + i] = bytes[i]!;
  return off + n;
}

/** Room a string can take: its UTF-8 (at most 3 bytes per UTF-16 unit) and a str32 header. */
function strBound(s: string): number {
  return 5 + 3 * s.length;
}

/**
 * A string, UTF-8, with the smallest header its worst case fits (the header is written after the bytes, once
 * their length is known; a header larger than strictly needed is still valid msgpack).
 */
function writeStr(out: Buffer, off: number, s: string): number {
  const len = s.length;
  if (len < 32) {
    // Short ASCII (ids, destinations): written by hand, no native call.
    let i = 0;
    for (; i < len; i++) {
      const c = s.charCodeAt(i);
      if (c > 0x7f) break;
      out[off + 1 + i] = c;
    }
    if (i === len) {
      out[off] = 0xa0 | len;
      return off + 1 + len;
    }
  } else if (len < 256) {
    let i = 0;
    for (; i < len; i++) {
      const c = s.charCodeAt(i);
      if (c > 0x7f) break;
      out[off + 2 + i] = c;
    }
    if (i === len) {
      out[off] = 0xd9;
      out[off + 1] = len;
      return off + 2 + len;
    }
  }
  const max = 3 * len;
  if (max < 32) {
    const n = out.write(s, off + 1);
    out[off] = 0xa0 | n;
    return off + 1 + n;
  }
  if (max < 0x100) {
    const n = out.write(s, off + 2);
    out[off] = 0xd9;
    out[off + 1] = n;
    return off + 2 + n;
  }
  if (max < 0x10000) {
    const n = out.write(s, off + 3);
    out[off] = 0xda;
    out.writeUInt16BE(n, off + 1);
    return off + 3 + n;
  }
  const n = out.write(s, off + 5);
  out[off] = 0xdb;
  out.writeUInt32BE(n, off + 1);
  return off + 5 + n;
}

/** A number as msgpack writes it: the smallest integer type that holds it, else float64. */
function writeNum(out: Buffer, off: number, v: number): number {
  if (Number.isInteger(v)) {
    if (v >= 0) {
      if (v < 0x80) {
        out[off] = v;
        return off + 1;
      }
      if (v < 0x100) {
        out[off] = 0xcc;
        out[off + 1] = v;
        return off + 2;
      }
      if (v < 0x10000) {
        out[off] = 0xcd;
        out.writeUInt16BE(v, off + 1);
        return off + 3;
      }
      if (v < 0x100000000) {
        out[off] = 0xce;
        out.writeUInt32BE(v, off + 1);
        return off + 5;
      }
    } else if (v >= -0x80000000) {
      if (v >= -32) {
        out[off] = v & 0xff;
        return off + 1;
      }
      out[off] = 0xd2;
      out.writeInt32BE(v, off + 1);
      return off + 5;
    }
  }
  out[off] = 0xcb;
  out.writeDoubleBE(v, off + 1);
  return off + 9;
}

function writeBin(out: Buffer, off: number, b: Uint8Array): number {
  const n = b.length;
  if (n < 0x100) {
    out[off] = 0xc4;
    out[off + 1] = n;
    off += 2;
  } else if (n < 0x10000) {
    out[off] = 0xc5;
    out.writeUInt16BE(n, off + 1);
    off += 3;
  } else {
    out[off] = 0xc6;
    out.writeUInt32BE(n, off + 1);
    off += 5;
  }
  out.set(b, off);
  return off + n;
}

function writeMapHeader(out: Buffer, off: number, n: number): number {
  if (n < 16) {
    out[off] = 0x80 | n;
    return off + 1;
  }
  out[off] = 0xde;
  out.writeUInt16BE(n, off + 1);
  return off + 3;
}

function writeHeaders(out: Buffer, off: number, h: Headers): number {
  const keys = Object.keys(h);
  off = writeMapHeader(out, off, keys.length);
  for (const k of keys) {
    off = writeStr(out, off, k);
    const v = h[k];
    if (typeof v === 'string') off = writeStr(out, off, v);
    else if (typeof v === 'number') off = writeNum(out, off, v);
    else if (typeof v === 'boolean') out[off++] = v ? 0xc3 : 0xc2;
    else out[off++] = 0xc0;
  }
  return off;
}

function headersBound(h: Headers): number {
  let n = 3;
  for (const k of Object.keys(h)) {
    const v = h[k];
    n += strBound(k) + (typeof v === 'string' ? strBound(v) : 9);
  }
  return n;
}

/**
 * {@link headersBound} for headers a client hands over, or -1 when they are not the plain map of scalars the
 * encoder writes exactly as msgpackr would (anything else — undefined values, nested objects, a Map, more entries
 * than a map16 holds — goes through msgpackr, and the broker answers it as it always did).
 */
function clientHeadersBound(h: unknown): number {
  if (typeof h !== 'object' || h === null) return -1;
  const proto = Object.getPrototypeOf(h) as unknown;
  if (proto !== Object.prototype && proto !== null) return -1;
  const o = h as Record<string, unknown>;
  const keys = Object.keys(o);
  if (keys.length > 0xffff) return -1;
  let n = 3;
  for (const k of keys) {
    const v = o[k];
    if (typeof v === 'string') n += strBound(k) + strBound(v);
    else if (v === null || typeof v === 'number' || typeof v === 'boolean') n += strBound(k) + 9;
    else return -1;
  }
  return n;
}

/** Room for a broker path (array header and its strings), or -1 when it is not an array of strings. */
function pathBound(p: unknown): number {
  if (!Array.isArray(p) || p.length > 0xffff) return -1;
  let n = 3;
  for (const s of p as unknown[]) {
    if (typeof s !== 'string') return -1;
    n += strBound(s);
  }
  return n;
}

function writePath(out: Buffer, off: number, p: readonly string[]): number {
  if (p.length < 16) out[off++] = 0x90 | p.length;
  else {
    out[off] = 0xdc;
    out.writeUInt16BE(p.length, off + 1);
    off += 3;
  }
  for (const s of p) off = writeStr(out, off, s);
  return off;
}

/** At least the bytes {@link encodeMessage} writes for `m` (no frame header). */
export function messageBound(m: MessageFields): number {
  let n = 160 + strBound(m.id) + strBound(m.dest) + 5 + m.body.length;
  if (m.headers !== undefined) n += headersBound(m.headers);
  if (m.correlationId !== undefined) n += strBound(m.correlationId);
  if (m.replyTo !== undefined) n += strBound(m.replyTo);
  if (m.path !== undefined) for (const p of m.path) n += strBound(p) + 5;
  return n;
}

/**
 * The leading fields of the last MESSAGE written (map header, t, sid, dest, bt, persistent, priority, deliveryCount,
 * redelivered), as bytes, and the values they were written from: consecutive deliveries of one subscription share
 * them, so they are copied in one go instead of being encoded field by field.
 */
let prefix: Buffer | null = null;
let pN = -1;
let pSid = -1;
let pDest = '';
let pBt = -1;
let pPersistent = false;
let pPriority = -1;
let pCount = -1;
/** Longest prefix kept (a destination name can be 1024 characters; such a prefix is simply not kept). */
const MAX_PREFIX = 256;

/** The bytes of the last producer id seen in a `pid:seq` message id, without its msgpack header. */
let idPid = '';
let idPidBytes: Buffer = Buffer.alloc(0);

/** Decimal digits of a non-negative safe integer. */
function digitCount(v: number): number {
  let n = 1;
  while (v >= 10) {
    v = Math.floor(v / 10);
    n++;
  }
  return n;
}

/**
 * The id `${pid}:${pseq}` written from its parts: the producer id's bytes are kept from one message to the next and
 * the sequence is written digit by digit, so the id string itself is never read (reading a concatenated string
 * flattens it into a fresh copy first). False, with nothing written, when the producer id is not plain ASCII.
 */
function writePidId(out: Buffer, off: number, pid: string, pseq: number): number {
  if (pid !== idPid) {
    const b = Buffer.from(pid, 'utf8');
    if (b.length !== pid.length) return -1;
    idPid = pid;
    idPidBytes = b;
  }
  const digits = digitCount(pseq);
  const len = idPidBytes.length + 1 + digits;
  if (len < 32) out[off++] = 0xa0 | len;
  else if (len < 0x100) {
    out[off++] = 0xd9;
    out[off++] = len;
  } else return -1;
  off = put(out, off, idPidBytes);
  out[off++] = 0x3a; // ':'
  let e = off + digits;
  let v = pseq;
  for (let i = 0; i < digits; i++) {
    const q = Math.floor(v / 10);
    out[--e] = 0x30 + (v - q * 10);
    v = q;
  }
  return off + digits;
}

/**
 * A MESSAGE frame body for delivery `tag` of `m` on subscription `sid`, at `out[off]` (room: {@link messageBound});
 * returns the offset after it. The body is copied once, from the stored message into the outgoing buffer. The
 * fields are written in an order that puts those that repeat from one delivery to the next first (a msgpack map's
 * order carries no meaning).
 */
export function encodeMessage(out: Buffer, off: number, sid: number, tag: number, m: MessageFields): number {
  const n =
    13 + (m.headers !== undefined ? 1 : 0) + (m.correlationId !== undefined ? 1 : 0) + (m.replyTo !== undefined ? 1 : 0) + (m.path !== undefined ? 1 : 0);
  if (
    prefix !== null &&
    n === pN &&
    sid === pSid &&
    m.dest === pDest &&
    m.bt === pBt &&
    m.persistent === pPersistent &&
    m.priority === pPriority &&
    m.deliveryCount === pCount
  ) {
    out.set(prefix, off);
    off += prefix.length;
  } else {
    const start = off;
    off = writeMapHeader(out, off, n);
    off = put(out, off, K_T);
    off = put(out, off, V_MESSAGE);
    off = put(out, off, K.sid);
    off = writeNum(out, off, sid);
    off = put(out, off, K.dest);
    off = writeStr(out, off, m.dest);
    off = put(out, off, K.bt);
    off = writeNum(out, off, m.bt);
    off = put(out, off, K.persistent);
    out[off++] = m.persistent ? 0xc3 : 0xc2;
    off = put(out, off, K.priority);
    off = writeNum(out, off, m.priority);
    off = put(out, off, K.deliveryCount);
    off = writeNum(out, off, m.deliveryCount);
    off = put(out, off, K.redelivered);
    out[off++] = m.deliveryCount > 1 ? 0xc3 : 0xc2;
    if (off - start <= MAX_PREFIX) {
      prefix = Buffer.from(out.subarray(start, off));
      pN = n;
      pSid = sid;
      pDest = m.dest;
      pBt = m.bt;
      pPersistent = m.persistent;
      pPriority = m.priority;
      pCount = m.deliveryCount;
    } else prefix = null;
  }
  off = put(out, off, K.tag);
  off = writeNum(out, off, tag);
  off = put(out, off, K.id);
  const at = m.pidId === true && m.pid !== undefined && m.pseq !== undefined ? writePidId(out, off, m.pid, m.pseq) : -1;
  off = at >= 0 ? at : writeStr(out, off, m.id);
  off = put(out, off, K.timestamp);
  off = writeNum(out, off, m.timestamp);
  off = put(out, off, K.expires);
  off = writeNum(out, off, m.expires);
  if (m.headers !== undefined) {
    off = put(out, off, K.headers);
    off = writeHeaders(out, off, m.headers);
  }
  if (m.correlationId !== undefined) {
    off = put(out, off, K.correlationId);
    off = writeStr(out, off, m.correlationId);
  }
  if (m.replyTo !== undefined) {
    off = put(out, off, K.replyTo);
    off = writeStr(out, off, m.replyTo);
  }
  if (m.path !== undefined) {
    off = put(out, off, K.path);
    off = writePath(out, off, m.path);
  }
  off = put(out, off, K.body);
  return writeBin(out, off, m.body);
}

/**
 * At least the bytes {@link encodeSend} writes for `cmd`, or -1 when it carries something the fast encoder leaves to
 * msgpackr (headers that are not a plain map of scalars, a path that is not a list of strings, a network field of
 * the wrong type: msgpackr writes those as it always did, and the broker refuses them as it always did).
 */
export function sendBound(cmd: SendCmd): number {
  let n = 100 + strBound(cmd.dest) + 5 + cmd.body.length;
  if (cmd.pid !== undefined) n += strBound(cmd.pid);
  if (cmd.correlationId !== undefined) n += strBound(cmd.correlationId);
  if (cmd.replyTo !== undefined) n += strBound(cmd.replyTo);
  if (cmd.tx !== undefined) n += strBound(cmd.tx);
  if (cmd.headers !== undefined) {
    const h = clientHeadersBound(cmd.headers);
    if (h < 0) return -1;
    n += 10 + h;
  }
  // What a network bridge forwards (bridge.ts `forward`): the path, the origin's id, timestamp and expiry.
  if (cmd.path !== undefined) {
    const p = pathBound(cmd.path);
    if (p < 0) return -1;
    n += 10 + p;
  }
  if (cmd.mid !== undefined) {
    if (typeof cmd.mid !== 'string') return -1;
    n += 5 + strBound(cmd.mid);
  }
  if ((cmd.ts !== undefined && typeof cmd.ts !== 'number') || (cmd.exp !== undefined && typeof cmd.exp !== 'number')) return -1;
  if (cmd.rd !== undefined && typeof cmd.rd !== 'boolean') return -1;
  return n;
}

/** A SEND frame body at `out[off]` (room: {@link sendBound}, which must not be -1); returns the offset after it. */
export function encodeSend(out: Buffer, off: number, cmd: SendCmd): number {
  const n =
    2 +
    (cmd.bt !== undefined ? 1 : 0) +
    (cmd.persistent !== undefined ? 1 : 0) +
    (cmd.pid !== undefined ? 1 : 0) +
    (cmd.seq !== undefined ? 1 : 0) +
    (cmd.rid !== undefined ? 1 : 0) +
    (cmd.priority !== undefined ? 1 : 0) +
    (cmd.ttl !== undefined ? 1 : 0) +
    (cmd.correlationId !== undefined ? 1 : 0) +
    (cmd.replyTo !== undefined ? 1 : 0) +
    (cmd.tx !== undefined ? 1 : 0) +
    (cmd.headers !== undefined ? 1 : 0) +
    (cmd.path !== undefined ? 1 : 0) +
    (cmd.mid !== undefined ? 1 : 0) +
    (cmd.ts !== undefined ? 1 : 0) +
    (cmd.exp !== undefined ? 1 : 0) +
    (cmd.rd !== undefined ? 1 : 0) +
    1;
  off = writeMapHeader(out, off, n);
  off = put(out, off, K_T);
  off = put(out, off, V_SEND);
  off = put(out, off, K.dest);
  off = writeStr(out, off, cmd.dest);
  if (cmd.bt !== undefined) {
    off = put(out, off, K.bt);
    off = writeNum(out, off, cmd.bt);
  }
  if (cmd.persistent !== undefined) {
    off = put(out, off, K.persistent);
    out[off++] = cmd.persistent ? 0xc3 : 0xc2;
  }
  if (cmd.pid !== undefined) {
    off = put(out, off, K.pid);
    off = writeStr(out, off, cmd.pid);
  }
  if (cmd.seq !== undefined) {
    off = put(out, off, K.seq);
    off = writeNum(out, off, cmd.seq);
  }
  if (cmd.rid !== undefined) {
    off = put(out, off, K.rid);
    off = writeNum(out, off, cmd.rid);
  }
  if (cmd.priority !== undefined) {
    off = put(out, off, K.priority);
    off = writeNum(out, off, cmd.priority);
  }
  if (cmd.ttl !== undefined) {
    off = put(out, off, K.ttl);
    off = writeNum(out, off, cmd.ttl);
  }
  if (cmd.correlationId !== undefined) {
    off = put(out, off, K.correlationId);
    off = writeStr(out, off, cmd.correlationId);
  }
  if (cmd.replyTo !== undefined) {
    off = put(out, off, K.replyTo);
    off = writeStr(out, off, cmd.replyTo);
  }
  if (cmd.tx !== undefined) {
    off = put(out, off, K.tx);
    off = writeStr(out, off, cmd.tx);
  }
  if (cmd.headers !== undefined) {
    off = put(out, off, K.headers);
    off = writeHeaders(out, off, cmd.headers);
  }
  if (cmd.path !== undefined) {
    off = put(out, off, K.path);
    off = writePath(out, off, cmd.path);
  }
  if (cmd.mid !== undefined) {
    off = put(out, off, K.mid);
    off = writeStr(out, off, cmd.mid);
  }
  if (cmd.ts !== undefined) {
    off = put(out, off, K.ts);
    off = writeNum(out, off, cmd.ts);
  }
  if (cmd.exp !== undefined) {
    off = put(out, off, K.exp);
    off = writeNum(out, off, cmd.exp);
  }
  if (cmd.rd !== undefined) {
    off = put(out, off, K.rd);
    out[off++] = cmd.rd ? 0xc3 : 0xc2;
  }
  off = put(out, off, K.body);
  return writeBin(out, off, cmd.body);
}

